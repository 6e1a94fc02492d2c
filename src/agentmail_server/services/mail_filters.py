"""List filters shared by the message and thread listings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, not_

from ..db.labels import has_label
from ..db.pagination import MAX_FILTERED_LIMIT, MAX_LIMIT, check_limit
from .labels import hidden
from .principal import Principal


@dataclass
class MailFilters:
    labels: list[str] = field(default_factory=list)
    before: datetime | None = None
    after: datetime | None = None
    ascending: bool = False
    include: dict[str, bool] = field(default_factory=dict)
    # column name -> words that must all appear (case-insensitive)
    text: dict[str, list[str]] = field(default_factory=dict)

    @property
    def filtered(self) -> bool:
        return bool(self.labels or any(self.text.values()))

    def limit(self, limit: int | None) -> int:
        return check_limit(limit, maximum=MAX_FILTERED_LIMIT if self.filtered else MAX_LIMIT,
                           filtered=self.filtered)


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def conditions(table: Any, filters: MailFilters, principal: Principal, dialect: str) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for label in filters.labels:
        conds.append(has_label(table.labels, label.lower(), dialect))
    for label in hidden(principal, filters.include):
        conds.append(not_(has_label(table.labels, label, dialect)))
    if filters.after is not None:
        conds.append(table.timestamp >= filters.after)
    if filters.before is not None:
        conds.append(table.timestamp < filters.before)
    for column_name, terms in filters.text.items():
        column = getattr(table, column_name)
        text = func.lower(cast(column, String))
        conds.extend(text.like(_like(term), escape="\\") for term in terms)
    return [and_(*conds)] if conds else []
