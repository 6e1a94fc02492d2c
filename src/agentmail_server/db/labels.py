"""Label membership tests on JSON label arrays: the one dialect-specific piece of filtering."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB


def has_label(column: Any, label: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        # jsonb @> '["label"]' (GIN-indexable). The column's declared type is the portable JSON, whose
        # own contains() would be a LIKE, so coerce to JSONB explicitly.
        return type_coerce(column, JSONB).contains([label])
    values = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(values).where(values.c.value == label))
