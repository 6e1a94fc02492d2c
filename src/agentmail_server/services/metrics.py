"""Metrics (REFERENCE §2.16): event counts, usage running totals, bounce/complaint rates.

Everything is derived from existing tables, aggregated in SQL so the work is bounded by the number
of buckets, not rows:

* **events** count rows of the `events` outbox by `event_type`. Each MetricEventType counts exactly
  the rows of that type: a reception is recorded once, under the first of its variants that
  applies (`message.received.spam` / `.blocked` / `.unauthenticated`, see services/ingest.py), so
  `message.received` counts clean receptions only and the four received keys add up to all
  receptions. No variant is folded into another.
* **usage** running totals come from the rows' `created_at`: `message_count`/`storage_bytes`
  (sum of raw message sizes) from `messages`, `thread_count` from `threads`, `inbox_count` from
  `inboxes`, `pod_count` from `pods`, `domain_count` from `domains` (a pod counts its own domains,
  not the organization's). Limitation: rows are counted while they exist,
  so deleting an inbox (or a message) lowers the whole history, not only the points after the
  deletion.
* **rates** divide the recipients of `message.bounced` (`message.complained`) events by the
  recipients of `message.sent` events over a rolling window (the SDK documents `sent` as "counted
  per recipient"; an event without a recipients array counts as one).

Buckets: every point is stamped with the END of the span it covers, the newest ending at the
query's (clamped) `end`, the older ones every `period` before it. A bucket stamped T holds rows
with T - period <= created_at < T; the oldest bucket is cut at `start`, which is inclusive, and
`end` is exclusive. Boundaries are whole milliseconds (the wire's precision).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, case, cast, extract, func, literal, literal_column, select

from ..db.engine import Database
from ..db.tables import Domain, Event, Inbox, Message, Pod, Thread
from ..db.types import utcnow
from ..schemas.metrics import (
    METRIC_EVENT_TYPES,
    RATE_TYPES,
    USAGE_TYPES,
    MetricBucket,
    QueryMetricsResponse,
    QueryRatesResponse,
    QueryUsageResponse,
    RatePoint,
    UsagePoint,
)
from .errors import Invalid
from .principal import Principal, Scope
from .scoping import resolve_scope

SECOND_MS = 1000
DAY_MS = 86_400 * SECOND_MS
HISTORY_MS = 90 * DAY_MS
# A client computing "now - 90 days" reaches us a little later; don't refuse it for that.
HISTORY_GRACE_MS = 5 * 60 * SECOND_MS
DEFAULT_RANGE_MS = DAY_MS
MAX_PERIOD = 86_400
MAX_BUCKETS = 1000
MAX_LIMIT = 1000
DEFAULT_USAGE_PERIOD = 600
DEFAULT_RATE_PERIOD = 3600
DEFAULT_RATE_WINDOW = 86_400

# Usage types each scope level reports (REFERENCE §2.16); others asked for are silently dropped.
USAGE_BY_LEVEL: dict[str, tuple[str, ...]] = {
    "inbox": ("storage_bytes", "message_count", "thread_count"),
    "pod": ("storage_bytes", "message_count", "thread_count", "inbox_count", "domain_count"),
    "organization": USAGE_TYPES,
}
# Where each usage type comes from: (table, what is summed per row). None = no data yet (always 0).
USAGE_SOURCES: dict[str, tuple[Any, str] | None] = {
    "message_count": (Message, "count"),
    "storage_bytes": (Message, "size"),
    "thread_count": (Thread, "count"),
    "inbox_count": (Inbox, "count"),
    "pod_count": (Pod, "count"),
    "domain_count": (Domain, "count"),
}
# Rate type -> (the event counted against message.sent, its payload section holding `recipients`).
RATE_SOURCES: dict[str, tuple[str, str]] = {
    "bounce": ("message.bounced", "bounce"),
    "complaint": ("message.complained", "complaint"),
}
SENT = ("message.sent", "send")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# julianday('1970-01-01') in milliseconds.
_JULIAN_UNIX_EPOCH_MS = 210_866_760_000_000


# --- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A validated [start, end) range in epoch milliseconds."""

    start_ms: int
    end_ms: int

    def buckets(self, period_ms: int) -> int:
        return -(-(self.end_ms - self.start_ms) // period_ms)


def _epoch_ms(value: datetime, name: str) -> int:
    try:
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return (aware - _EPOCH) // timedelta(milliseconds=1)
    except OverflowError:
        raise Invalid(f"{name} is out of range", path=[name]) from None


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def span(start: datetime | None, end: datetime | None) -> Span:
    """Defaults: the last 24 hours. A future `end` is clamped to now; `start` must be within 90 days."""
    now = _epoch_ms(utcnow(), "end")
    oldest = now - HISTORY_MS
    end_ms = now if end is None else min(_epoch_ms(end, "end"), now)
    if end_ms <= oldest:
        raise Invalid("end must be within the last 90 days", path=["end"])
    if start is None:
        start_ms = max(end_ms - DEFAULT_RANGE_MS, oldest)
    else:
        start_ms = _epoch_ms(start, "start")
        if start_ms < oldest - HISTORY_GRACE_MS:
            raise Invalid("start must be within the last 90 days", path=["start"])
    if start_ms >= end_ms:
        raise Invalid("start must be before end (a future end is clamped to now)", path=["start"])
    return Span(start_ms, end_ms)


def _bounded(value: int | None, name: str, *, default: int | None, low: int, high: int) -> int | None:
    if value is None:
        return default
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}", path=[name])
    return value


def _limit(limit: int | None) -> int:
    value = _bounded(limit, "limit", default=MAX_LIMIT, low=1, high=MAX_LIMIT)
    assert value is not None
    return value


def _types(requested: Sequence[str] | None, allowed: tuple[str, ...], name: str) -> list[str]:
    """The requested types, validated and de-duplicated in request order; all of them when omitted."""
    if not requested:
        return list(allowed)
    unknown = [t for t in requested if t not in allowed]
    if unknown:
        raise Invalid(f"{name} contains unknown values {unknown}; allowed: {', '.join(allowed)}", path=[name])
    return list(dict.fromkeys(requested))


# --- SQL building blocks ------------------------------------------------------------------------


def _ms_of(column: Any, dialect: str) -> ColumnElement[int]:
    """A datetime column as epoch milliseconds, on either engine."""
    if dialect == "postgresql":
        return cast(func.round(extract("epoch", column) * 1000), BigInteger)
    # SQLite keeps datetimes as text; julianday() is computed from whole milliseconds, so scaling it
    # back and rounding is exact.
    return cast(func.round(func.julianday(column) * 86_400_000.0), BigInteger) - _JULIAN_UNIX_EPOCH_MS


def _bucket_end(t_ms: ColumnElement[int], end_ms: int, period_ms: int) -> ColumnElement[int]:
    """The end of the bucket holding t (t < end_ms): end - floor((end - 1 - t) / period) * period."""
    end = literal(end_ms, BigInteger)
    return end - ((end - 1 - t_ms) // literal(period_ms, BigInteger)) * literal(period_ms, BigInteger)


def _in_span(column: Any, t_ms: ColumnElement[int], start_ms: int, end_ms: int) -> list[ColumnElement[bool]]:
    # The plain column bounds (1 ms wider, usable by an index) narrow the rows; the millisecond bounds
    # are the exact rule, computed the same way as the bucket so both always agree.
    return [
        column >= _from_ms(start_ms - 1), column < _from_ms(end_ms + 1),
        t_ms >= literal(start_ms, BigInteger), t_ms < literal(end_ms, BigInteger),
    ]


def _recipients(section: str, dialect: str) -> ColumnElement[int]:
    """How many recipients an event's payload lists under `section` (1 when it has no such array)."""
    if dialect == "postgresql":
        path = f"events.payload #> '{{{section},recipients}}'"
        sql = f"CASE WHEN jsonb_typeof({path}) = 'array' THEN jsonb_array_length({path}) ELSE 1 END"
    else:
        path = f"events.payload, '$.{section}.recipients'"
        sql = f"CASE WHEN json_type({path}) = 'array' THEN json_array_length({path}) ELSE 1 END"
    return literal_column(sql, BigInteger)


async def _scope(db: Database, principal: Principal, pod_id: str | None, inbox_id: str | None
                 ) -> tuple[Scope, str]:
    principal.require("metrics_read")
    async with db.read() as session:
        scope = await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
        return scope, session.bind.dialect.name


def _ordered(points: Iterable[tuple[int, Any]], *, descending: bool, limit: int) -> list[tuple[int, Any]]:
    return sorted(points, key=lambda p: p[0], reverse=descending)[:limit]


# --- events -----------------------------------------------------------------------------------


async def query_events(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    event_types: Sequence[str] | None, start: datetime | None, end: datetime | None, period: int | None,
    limit: int | None, descending: bool,
) -> QueryMetricsResponse:
    """Counts per event type, one list per requested type (empty when nothing happened).

    With `period`: the count of each non-empty bucket. Without it: one total per type, stamped at the
    end of the range (REFERENCE §2.16; AgentMail's SDK docstring speaks of "individual event counts"
    instead, and the totals agree either way). At most `limit` entries per type, the first ones in
    the requested order.
    """
    types = _types(event_types, METRIC_EVENT_TYPES, "event_types")
    period = _bounded(period, "period", default=None, low=1, high=MAX_PERIOD)
    size = _limit(limit)
    window = span(start, end)
    scope, dialect = await _scope(db, principal, pod_id, inbox_id)

    t_ms = _ms_of(Event.created_at, dialect)
    key = literal(window.end_ms, BigInteger) if period is None else _bucket_end(t_ms, window.end_ms, period * SECOND_MS)
    rows = (
        select(Event.event_type.label("type"), key.label("key"))
        .where(scope.where(Event), Event.event_type.in_(types),
               *_in_span(Event.created_at, t_ms, window.start_ms, window.end_ms))
        .subquery()
    )
    counted = select(rows.c.type, rows.c.key, func.count().label("n")).group_by(rows.c.type, rows.c.key).subquery()
    order = counted.c.key.desc() if descending else counted.c.key.asc()
    ranked = select(
        counted.c.type, counted.c.key, counted.c.n,
        func.row_number().over(partition_by=counted.c.type, order_by=order).label("rank"),
    ).subquery()
    stmt = select(ranked.c.type, ranked.c.key, ranked.c.n).where(ranked.c.rank <= size)

    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    async with db.read() as session:
        for event_type, at, n in (await session.execute(stmt)).all():
            found[event_type].append((int(at), int(n)))
    return QueryMetricsResponse({
        t: [MetricBucket(timestamp=_from_ms(at), count=n)
            for at, n in _ordered(found.get(t, []), descending=descending, limit=size)]
        for t in types
    })


# --- usage ------------------------------------------------------------------------------------


def _usage_statement(table: Any, scope: Scope, dialect: str, window: Span, period_ms: int) -> Select[Any]:
    """Per bucket end: rows created and bytes; rows created before `start` are grouped under `start`."""
    t_ms = _ms_of(table.created_at, dialect)
    start = literal(window.start_ms, BigInteger)
    key = case((t_ms < start, start), else_=_bucket_end(t_ms, window.end_ms, period_ms))
    size = table.size if table is Message else literal(0, BigInteger)
    inbox_column = "id" if table is Inbox else "inbox_id"
    rows = (
        select(key.label("key"), size.label("size"))
        .where(scope.where(table, inbox_column=inbox_column), table.created_at < _from_ms(window.end_ms + 1),
               t_ms < literal(window.end_ms, BigInteger))
        .subquery()
    )
    return select(rows.c.key, func.count(), func.coalesce(func.sum(rows.c.size), 0)).group_by(rows.c.key)


async def query_usage(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    usage_types: Sequence[str] | None, start: datetime | None, end: datetime | None, period: int | None,
    limit: int | None, descending: bool,
) -> QueryUsageResponse:
    """Running totals at every bucket end from the oldest to `end` (flat where nothing changed)."""
    asked = _types(usage_types, USAGE_TYPES, "usage_types")
    period = _bounded(period, "period", default=DEFAULT_USAGE_PERIOD, low=1, high=MAX_PERIOD)
    assert period is not None
    size = _limit(limit)
    window = span(start, end)
    period_ms = period * SECOND_MS
    count = window.buckets(period_ms)
    if count > MAX_BUCKETS:
        raise Invalid(
            f"Range divided by period exceeds {MAX_BUCKETS} buckets ({count}); use a larger period or a "
            "shorter range", path=["period"],
        )
    scope, dialect = await _scope(db, principal, pod_id, inbox_id)
    types = [t for t in asked if t in USAGE_BY_LEVEL[scope.type]]

    # One query per table: {bucket end (or start, for older rows): (rows, bytes)}.
    per_table: dict[Any, dict[int, tuple[int, int]]] = {}
    async with db.read() as session:
        for t in types:
            source = USAGE_SOURCES[t]
            if source is None or source[0] in per_table:
                continue
            result = await session.execute(_usage_statement(source[0], scope, dialect, window, period_ms))
            per_table[source[0]] = {int(k): (int(n), int(b)) for k, n, b in result.all()}

    ends = [window.end_ms - k * period_ms for k in range(count - 1, -1, -1)]  # oldest first
    answer: dict[str, list[UsagePoint]] = {}
    for t in types:
        source = USAGE_SOURCES[t]
        series: list[tuple[int, int]] = []
        if source is None:
            series = [(at, 0) for at in ends]
        else:
            buckets = per_table[source[0]]
            pick = 1 if source[1] == "size" else 0
            total = buckets.get(window.start_ms, (0, 0))[pick]
            for at in ends:
                total += buckets.get(at, (0, 0))[pick]
                series.append((at, total))
        answer[t] = [UsagePoint(timestamp=_from_ms(at), value=v)
                     for at, v in _ordered(series, descending=descending, limit=size)]
    return QueryUsageResponse(answer)


# --- rates ------------------------------------------------------------------------------------


async def query_rates(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    rate_types: Sequence[str] | None, start: datetime | None, end: datetime | None, period: int | None,
    window: int | None, limit: int | None, descending: bool,
) -> QueryRatesResponse:
    """At each grid point T (every `period` back from `end`): bad / sent over [T - window, T)."""
    types = _types(rate_types, RATE_TYPES, "rate_types")
    period = _bounded(period, "period", default=DEFAULT_RATE_PERIOD, low=1, high=MAX_PERIOD)
    assert period is not None
    if window is None:
        window = DEFAULT_RATE_WINDOW
    if window < 1:
        raise Invalid("window must be a positive number of seconds", path=["window"])
    if window % period:
        raise Invalid("window must be a whole multiple of period", path=["window"])
    size = _limit(limit)
    rng = span(start, end)
    period_ms = period * SECOND_MS
    points = rng.buckets(period_ms)
    width = window // period  # buckets per window
    if points + width > MAX_BUCKETS:
        raise Invalid(
            f"Range plus window divided by period exceeds {MAX_BUCKETS} buckets ({points + width}); use a "
            "larger period, a shorter range or a shorter window", path=["period"],
        )
    scope, dialect = await _scope(db, principal, pod_id, inbox_id)

    wanted = {SENT[0]: SENT[1]} | {RATE_SOURCES[t][0]: RATE_SOURCES[t][1] for t in types}
    first_ms = rng.end_ms - (points - 1 + width) * period_ms  # the oldest window's start
    t_ms = _ms_of(Event.created_at, dialect)
    weight = case(*((Event.event_type == name, _recipients(section, dialect)) for name, section in wanted.items()),
                  else_=literal(1, BigInteger))
    rows = (
        select(Event.event_type.label("type"), _bucket_end(t_ms, rng.end_ms, period_ms).label("key"),
               weight.label("weight"))
        .where(scope.where(Event), Event.event_type.in_(list(wanted)),
               *_in_span(Event.created_at, t_ms, first_ms, rng.end_ms))
        .subquery()
    )
    stmt = select(rows.c.type, rows.c.key, func.sum(rows.c.weight)).group_by(rows.c.type, rows.c.key)
    per_bucket: dict[str, dict[int, int]] = defaultdict(dict)
    async with db.read() as session:
        for event_type, at, n in (await session.execute(stmt)).all():
            per_bucket[event_type][int(at)] = int(n)

    def rolling(event_type: str) -> list[int]:
        """Per grid point k (0 = newest): the total over buckets k .. k + width - 1."""
        counts = per_bucket.get(event_type, {})
        series = [counts.get(rng.end_ms - j * period_ms, 0) for j in range(points - 1 + width)]
        sums, running = [], sum(series[:width])
        for k in range(points):
            sums.append(running)
            running -= series[k]
            if k + width < len(series):
                running += series[k + width]
        return sums

    sent = rolling(SENT[0])
    answer: dict[str, list[RatePoint]] = {}
    for t in types:
        bad = rolling(RATE_SOURCES[t][0])
        grid = [(rng.end_ms - k * period_ms, (sent[k], bad[k])) for k in range(points)]
        answer[t] = [
            RatePoint(timestamp=_from_ms(at), sent=s, rate=(b / s) if s else None)
            for at, (s, b) in _ordered(grid, descending=descending, limit=size)
        ]
    return QueryRatesResponse(answer)
