"""The one pagination helper: opaque, endpoint-bound page tokens over keyset or offset paging."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ..services.errors import Invalid
from .types import UTCDateTime

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_FILTERED_LIMIT = 100


@dataclass
class Page(Generic[T]):
    items: list[T]
    limit: int
    next_page_token: str | None


def check_limit(limit: int | None, *, maximum: int = MAX_LIMIT, filtered: bool = False) -> int:
    if limit is None:
        return min(DEFAULT_LIMIT, maximum)
    if limit < 1:
        raise Invalid("limit must be at least 1", path=["limit"])
    if limit > maximum:
        what = "for filtered queries" if filtered else ""
        raise Invalid(f"limit cannot exceed {maximum} {what}".strip(), path=["limit"])
    return limit


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), default=_json_default).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(type(value))


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$dt"}:
        return datetime.fromisoformat(value["$dt"])
    return value


_BAD_TOKEN = "Invalid page_token; restart the listing without page_token"


def _decode(token: str, endpoint: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Invalid(_BAD_TOKEN, path=["page_token"]) from None
    if not isinstance(payload, dict) or payload.get("e") != endpoint:
        raise Invalid(_BAD_TOKEN, path=["page_token"])
    return payload


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    endpoint: str,
    order: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    page_token: str | None,
    ascending: bool = False,
) -> Page[Any]:
    """Keyset paging over `order` (a unique column last). The token is bound to `endpoint` and order."""
    direction = "a" if ascending else "d"
    if page_token:
        payload = _decode(page_token, endpoint)
        after = payload.get("k")
        if payload.get("o") != direction or not isinstance(after, list) or len(after) != len(order):
            raise Invalid(_BAD_TOKEN, path=["page_token"])
        try:
            stmt = stmt.where(_after([_decode_value(v) for v in after], order, ascending))
        except (TypeError, ValueError):
            raise Invalid(_BAD_TOKEN, path=["page_token"]) from None
    stmt = stmt.order_by(*[col.asc() if ascending else col.desc() for col in order]).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    token = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        token = _encode({"e": endpoint, "o": direction, "k": [getattr(last, c.key) for c in order]})
    return Page(items=rows, limit=limit, next_page_token=token)


def _after(values: list[Any], order: Sequence[InstrumentedAttribute[Any]], ascending: bool) -> Any:
    for value, col in zip(values, order, strict=True):
        # TypeDecorators report python_type `object`; the UTC column holds datetimes.
        expected = datetime if isinstance(col.type, UTCDateTime) else col.type.python_type
        if not isinstance(value, expected) or isinstance(value, bool):
            raise TypeError("token value does not match the column")
        if isinstance(value, datetime) and value.tzinfo is None:
            raise TypeError("naive datetime in token")
    # (c1, c2, …) > (v1, v2, …) spelled out, since row-value comparison is not portable.
    clauses = []
    for i, col in enumerate(order):
        beyond = col > values[i] if ascending else col < values[i]
        clauses.append(and_(*[order[j] == values[j] for j in range(i)], beyond))
    return or_(*clauses)


def decode_offset(page_token: str | None, endpoint: str) -> int:
    """The position a ranked listing (search) resumes at."""
    if not page_token:
        return 0
    start = _decode(page_token, endpoint).get("n")
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise Invalid(_BAD_TOKEN, path=["page_token"])
    return start


def offset_token(endpoint: str, start: int) -> str:
    return _encode({"e": endpoint, "n": start})


def offset_page(items: list[T], *, endpoint: str, limit: int, page_token: str | None) -> Page[T]:
    """Paging over an already-ranked list, with the same opaque tokens."""
    start = decode_offset(page_token, endpoint)
    more = start + limit < len(items)
    return Page(items=items[start : start + limit], limit=limit,
                next_page_token=offset_token(endpoint, start + limit) if more else None)
