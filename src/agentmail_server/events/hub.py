"""The WebSocket hub: fans committed events out to subscribed connections (issue 6).

The `events` table is the truth. Wake-ups (BUS: this process's commits and, on PostgreSQL, every
process's NOTIFYs) only say "look now"; the hub also looks every `ws_poll_seconds`, so a lost
wake-up costs latency, never an event.

What has been handled is tracked by row id, which also deduplicates the two wake-up sources:

* `_max_seen`: every committed row up to here has been looked at (or is in a gap below);
* `_gaps`: id ranges below `_max_seen` that were missing when a higher id was seen. On PostgreSQL
  sequence values are taken at insert time, so row 7 can commit (and be seen) before row 6; a gap
  is re-read on every pass for `ws_gap_seconds`, and a row that turns up in it is delivered then.
  Gaps left by rolled-back transactions simply expire.

Each event is serialised once (`frames.wire_body`) and queued to every connection whose key may
see it (scope wall and permissions, re-checked at delivery) and whose subscriptions want it.

Rows that turn up in a gap (committed out of id order) are remembered (`_late`, the newest
MAX_LATE), so that a `since` replay can resend those below its starting point: a client that saw row
10 while row 9 was uncommitted has not seen 9, wherever it reconnects (see `replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..db.engine import Database
from ..db.tables import ApiKey, Event
from ..db.types import utcnow
from ..services.api_keys import principal_for
from ..services.errors import Forbidden
from ..services.principal import Principal
from ..workers.tasks import cancel
from .bus import BUS
from .catalogue import required_permissions
from .frames import wire_body

log = logging.getLogger("agentmail_server.events.hub")

SCAN_BATCH = 1000
PAYLOAD_BATCH = 200
REPLAY_BATCH = 200
MAX_GAPS = 256
MAX_LATE = 4096  # late rows remembered for `since` replays
# Replies to client frames (subscribed, error, …) a client may leave unread on top of the event queue's
# cap before it is disconnected: events never fill the queue past that cap, so only replies can.
MAX_UNREAD_REPLIES = 100

# WebSocket close codes used by the server.
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_RESTART = 1012
CLOSE_TRY_LATER = 1013

# Asked per connection and event; the answer depends on the event type only.
_required = functools.cache(required_permissions)

_META = (Event.id, Event.organization_id, Event.pod_id, Event.inbox_id, Event.event_type)


@dataclass(frozen=True, order=True)
class EventRef:
    """An event row without its payload: enough to route it."""

    id: int
    organization_id: str
    pod_id: str | None
    inbox_id: str | None
    event_type: str


def _ref(row: Any) -> EventRef:
    return EventRef(id=row.id, organization_id=row.organization_id, pod_id=row.pod_id, inbox_id=row.inbox_id,
                    event_type=row.event_type)


@dataclass
class Subscriptions:
    """A connection's subscriptions: per target (whole scope, pod, inbox) the event types wanted."""

    whole: set[str] | None = None
    pods: dict[str, set[str]] = field(default_factory=dict)
    inboxes: dict[str, set[str]] = field(default_factory=dict)

    def count(self) -> int:
        return (self.whole is not None) + len(self.pods) + len(self.inboxes)

    def new_targets(self, *, pod_ids: Sequence[str], inbox_ids: Sequence[str]) -> int:
        if not pod_ids and not inbox_ids:
            return int(self.whole is None)
        return sum(p not in self.pods for p in pod_ids) + sum(i not in self.inboxes for i in inbox_ids)

    def add(self, types: Iterable[str], *, pod_ids: Sequence[str], inbox_ids: Sequence[str]) -> None:
        types = set(types)
        if not pod_ids and not inbox_ids:
            self.whole = (self.whole or set()) | types
        for pod_id in pod_ids:
            self.pods.setdefault(pod_id, set()).update(types)
        for inbox_id in inbox_ids:
            self.inboxes.setdefault(inbox_id, set()).update(types)

    def remove(self, types: Iterable[str] | None, *, pod_ids: Sequence[str], inbox_ids: Sequence[str]) -> None:
        drop = set(types) if types is not None else None

        def shrink(current: set[str] | None) -> set[str] | None:
            if current is None or drop is None:
                return None
            left = current - drop
            return left or None

        if not pod_ids and not inbox_ids:
            self.whole = shrink(self.whole)
        for table, ids in ((self.pods, pod_ids), (self.inboxes, inbox_ids)):
            for key in ids:
                left = shrink(table.get(key))
                if left is None:
                    table.pop(key, None)
                else:
                    table[key] = left

    def wants(self, ref: EventRef) -> bool:
        kind = ref.event_type
        if self.whole is not None and kind in self.whole:
            return True
        if ref.pod_id is not None and kind in self.pods.get(ref.pod_id, ()):
            return True
        return ref.inbox_id is not None and kind in self.inboxes.get(ref.inbox_id, ())


class Connection:
    """One WebSocket connection as the hub sees it: who, what it wants, and its outgoing frames."""

    def __init__(self, principal: Principal, *, max_queued: int) -> None:
        self.principal = principal
        self.subs = Subscriptions()
        self.max_queued = max_queued
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False
        self.close_code = 1000
        self.close_reason = ""
        self._drained = asyncio.Event()
        # While a `since` replay runs, live events wait here (row id, frame).
        self._held: list[tuple[int, str]] | None = None
        # No held event has a lower row id (set by `Hub.hold`; 0 when unknown).
        self.held_floor = 0

    @property
    def organization_id(self) -> str:
        return self.principal.organization_id

    def may_see(self, ref: EventRef) -> bool:
        """The scope wall and the key's permissions, independent of subscriptions."""
        principal = self.principal
        if not principal.scope.contains(organization_id=ref.organization_id, pod_id=ref.pod_id,
                                        inbox_id=ref.inbox_id):
            return False
        for flag in _required(ref.event_type):
            if not principal.can(flag):
                return False
        return True

    def wants(self, ref: EventRef) -> bool:
        # Asked for every connection of the organization on every event: the cheapest test first.
        return not self.closed and self.subs.wants(ref) and self.may_see(ref)

    # --- frames out ---

    def send(self, frame: str) -> None:
        """Queue a control frame (subscribed, error, …); never dropped for being slow.

        A client that keeps sending frames without reading the replies is disconnected (1008) rather
        than have its replies buffered without bound.
        """
        if self.closed:
            return
        if self.queue.qsize() >= self.max_queued + MAX_UNREAD_REPLIES:
            self.close(CLOSE_POLICY, "Too many unread replies")
            return
        self.queue.put_nowait(frame)

    def offer(self, row_id: int, frame: str) -> None:
        """Queue a live event; a connection too far behind is closed rather than buffered without bound."""
        if self.closed:
            return
        if self._held is not None:
            self._held.append((row_id, frame))
            if len(self._held) > self.max_queued:
                self.close(CLOSE_TRY_LATER, "Subscriber too slow")
            return
        if self.queue.qsize() >= self.max_queued:
            self.close(CLOSE_TRY_LATER, "Subscriber too slow")
            return
        self.queue.put_nowait(frame)

    async def wait_room(self, below: int) -> None:
        while not self.closed and self.queue.qsize() >= below:
            self._drained.clear()
            await self._drained.wait()

    async def put_replayed(self, frame: str) -> None:
        """Queue a replayed event, waiting while the client is behind (replay has backpressure)."""
        await self.wait_room(self.max_queued)
        if not self.closed:
            self.queue.put_nowait(frame)

    def taken(self) -> None:
        """The sender took a frame off the queue."""
        self._drained.set()

    def hold_live(self) -> bool:
        """Hold live events from now on (until `release_live`); False when already holding (or closed)."""
        if self._held is None and not self.closed:
            self._held = []
            self.held_floor = 0
            return True
        return False

    def release_live(self, skip: set[int]) -> None:
        """End a replay: queue the live events that arrived meanwhile, minus those already replayed."""
        held, self._held = self._held or [], None
        for row_id, frame in held:
            if row_id not in skip:
                self.offer(row_id, frame)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        self._held = None
        self.queue.put_nowait(None)
        self._drained.set()


class Hub:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._by_org: dict[str, set[Connection]] = defaultdict(set)
        self._wakeups: asyncio.Queue[int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._max_seen = 0
        self._gaps: list[list[Any]] = []  # [lo, hi, noticed (monotonic)] sorted by lo
        # The lowest row id a dispatch under way or to come may offer: set from the position and the
        # gaps when each pass begins and again when it has ended (it never decreases). See `hold`.
        self._floor = 1
        # Rows found in a gap, oldest first: row id -> the position once the pass that found it had read
        # everything then committed. Any row committed before it lies at or below that position.
        self._late: dict[int, int] = {}

    # --- lifecycle ---

    async def start(self) -> None:
        self._wakeups = BUS.subscribe()
        await self.load_position()
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def load_position(self) -> None:
        """Start after the newest committed event: earlier ones are history (see `replay`)."""
        async with self.db.read() as session:
            self._max_seen = int(await session.scalar(select(func.max(Event.id))) or 0)
        self._gaps = []
        self._floor = self._max_seen + 1
        self._late = {}

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._wakeups is not None:
            BUS.unsubscribe(self._wakeups)
            self._wakeups = None
        for conns in list(self._by_org.values()):
            for conn in list(conns):
                conn.close(CLOSE_RESTART, "Server shutting down")

    # --- connections ---

    def connect(self, principal: Principal) -> Connection:
        conns = self._by_org[principal.organization_id]
        limit = self.settings.ws_max_connections_per_org
        if len(conns) >= limit:
            raise Forbidden(f"Organization has reached the limit of {limit} WebSocket connections",
                            code="limit_exceeded", name="LimitExceededError", resource="websocket_connections",
                            limit=limit)
        conn = Connection(principal, max_queued=self.settings.ws_send_queue_frames)
        conns.add(conn)
        return conn

    def disconnect(self, conn: Connection) -> None:
        conn.close()
        conns = self._by_org.get(conn.organization_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_org[conn.organization_id]

    def connection_count(self, organization_id: str | None = None) -> int:
        if organization_id is not None:
            return len(self._by_org.get(organization_id, ()))
        return sum(len(c) for c in self._by_org.values())

    # --- the loop ---

    async def _run(self) -> None:
        assert self._wakeups is not None
        poll = self.settings.ws_poll_seconds
        recheck_every = self.settings.ws_key_recheck_seconds
        next_recheck = time.monotonic() + recheck_every
        while True:
            timeout = min(poll, max(0.0, next_recheck - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeups.get(), timeout=timeout)
            while not self._wakeups.empty():
                self._wakeups.get_nowait()
            try:
                await self.sync()
                if time.monotonic() >= next_recheck:
                    next_recheck = time.monotonic() + recheck_every
                    await self._recheck_keys()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event hub pass failed; retrying")
                await asyncio.sleep(min(poll, 1.0))

    async def sync(self) -> None:
        """Read what was committed since the last pass (and late rows in gaps) and dispatch it.

        If reading fails, the position is put back so that the next pass reads the same rows again
        (frames are queued only after every read succeeded, so a retry cannot duplicate them).
        """
        saved = self._max_seen, [gap[:] for gap in self._gaps]
        # Whatever this pass offers lies in a gap or above the position as they are now.
        self._floor = self._next_floor()
        try:
            await self._sync()
        except BaseException:
            self._max_seen, self._gaps = saved
            raise
        self._floor = self._next_floor()  # what the next pass starts from: nothing is under way now

    def _next_floor(self) -> int:
        return min([self._max_seen + 1, *(lo for lo, _, _ in self._gaps)])

    async def _sync(self) -> None:
        refs: list[EventRef] = []
        late: Sequence[Any] = []
        async with self.db.read() as session:
            if self._gaps:
                ranges = [Event.id.between(lo, hi) for lo, hi, _ in self._gaps]
                late = (await session.execute(select(*_META).where(or_(*ranges)).order_by(Event.id))).all()
                for row in late:
                    self._fill(row.id)
                refs.extend(_ref(row) for row in late)
            while True:
                rows = (await session.execute(
                    select(*_META).where(Event.id > self._max_seen).order_by(Event.id).limit(SCAN_BATCH)
                )).all()
                self._advance([row.id for row in rows])
                refs.extend(_ref(row) for row in rows)
                if len(rows) < SCAN_BATCH:
                    break
            for row in late:
                self._remember_late(row.id)
            # Payloads in the same read transaction: a second one cost every frame its BEGIN and COMMIT.
            wanted = self._wanted(sorted(refs)) if refs and self._by_org else []
            payloads = await self._payloads(session, wanted)
        self._expire_gaps()
        self._dispatch(wanted, payloads)

    def _advance(self, ids: list[int]) -> None:
        now = time.monotonic()
        for row_id in ids:
            if row_id > self._max_seen + 1:
                self._gaps.append([self._max_seen + 1, row_id - 1, now])
            self._max_seen = max(self._max_seen, row_id)
        if len(self._gaps) > MAX_GAPS:
            del self._gaps[: len(self._gaps) - MAX_GAPS]

    def _fill(self, row_id: int) -> None:
        for i, (lo, hi, noticed) in enumerate(self._gaps):
            if lo <= row_id <= hi:
                parts = [[a, b, noticed] for a, b in ((lo, row_id - 1), (row_id + 1, hi)) if a <= b]
                self._gaps[i : i + 1] = parts
                return

    def _remember_late(self, row_id: int) -> None:
        self._late[row_id] = self._max_seen
        while len(self._late) > MAX_LATE:
            del self._late[next(iter(self._late))]

    def _expire_gaps(self) -> None:
        cutoff = time.monotonic() - self.settings.ws_gap_seconds
        self._gaps = [gap for gap in self._gaps if gap[2] > cutoff]

    def _wanted(self, refs: list[EventRef]) -> list[EventRef]:
        return [ref for ref in refs if any(conn.wants(ref) for conn in self._by_org.get(ref.organization_id, ()))]

    @staticmethod
    async def _payloads(session: AsyncSession, refs: list[EventRef]) -> dict[int, dict[str, Any]]:
        payloads: dict[int, dict[str, Any]] = {}
        for start in range(0, len(refs), PAYLOAD_BATCH):
            chunk = [ref.id for ref in refs[start : start + PAYLOAD_BATCH]]
            rows = await session.execute(select(Event.id, Event.payload).where(Event.id.in_(chunk)))
            payloads.update({row.id: row.payload for row in rows})
        return payloads

    def _dispatch(self, wanted: list[EventRef], payloads: dict[int, dict[str, Any]]) -> None:
        """Queue every frame in one go: nothing here awaits or fails (a `since` hand-over relies on it)."""
        for ref in wanted:
            payload = payloads.get(ref.id)
            if payload is None:  # purged meanwhile
                continue
            frame = wire_body(payload)
            # Subscriptions may have changed while the payloads loaded: decide again.
            for conn in list(self._by_org.get(ref.organization_id, ())):
                if conn.wants(ref):
                    conn.offer(ref.id, frame)

    # --- since replay ---

    def hold(self, conn: Connection) -> None:
        """Hold the connection's live events (for a replay), noting the lowest row id they can have."""
        if conn.hold_live():
            conn.held_floor = self._floor

    async def replay(self, conn: Connection, after_row_id: int) -> None:
        """Send the events after `after_row_id` that the connection wants, in order, then go live.

        Live events arriving meanwhile are held and released afterwards, minus those the replay read,
        so the client sees neither a gap nor a duplicate at the hand-over. Only ids from the held
        events' floor up are remembered for that: older rows cannot be among them.

        First come the late rows (committed out of id order, PostgreSQL) below `after_row_id` that this
        hub remembers: the client may have seen `after_row_id` while one of them was uncommitted. It
        may also have seen some of them, so delivery is at least once there (clients deduplicate on
        event_id); rows still uncommitted now arrive live when they commit, like any late row.
        """
        self.hold(conn)
        floor = conn.held_floor
        read: set[int] = set()

        async def send(rows: Sequence[Any]) -> None:
            for row in rows:
                if row.id >= floor:
                    read.add(row.id)
                if conn.wants(_ref(row)):
                    await conn.put_replayed(wire_body(row.payload))

        # A late row committed after the client saw `after_row_id` (itself committed by then) was found by
        # a pass that also read `after_row_id` or had already: its recorded position is at least that.
        late = sorted(row_id for row_id, position in self._late.items() if row_id < after_row_id <= position)
        for start in range(0, len(late), REPLAY_BATCH):
            if conn.closed:
                break
            async with self.db.read() as session:
                rows = (await session.execute(
                    select(*_META, Event.payload)
                    .where(conn.principal.scope.where(Event), Event.id.in_(late[start : start + REPLAY_BATCH]))
                    .order_by(Event.id)
                )).all()
            await send(rows)
        last = after_row_id
        while not conn.closed:
            async with self.db.read() as session:
                rows = (await session.execute(
                    select(*_META, Event.payload)
                    .where(conn.principal.scope.where(Event), Event.id > last)
                    .order_by(Event.id).limit(REPLAY_BATCH)
                )).all()
            if rows:
                last = rows[-1].id
            await send(rows)
            if len(rows) < REPLAY_BATCH:
                break
        # Let the client catch up before the held live events join the queue (they are not awaited).
        await conn.wait_room(max(1, conn.max_queued // 2))
        conn.release_live(read)

    async def find_row_id(self, principal: Principal, event_id: str) -> int | None:
        """The row id of an event the key may see (the position a `since` replay starts after)."""
        async with self.db.read() as session:
            return await session.scalar(  # type: ignore[no-any-return]
                select(Event.id).where(Event.event_id == event_id, principal.scope.where(Event))
            )

    # --- keys changing under open connections ---

    async def _recheck_keys(self) -> None:
        conns = [c for group in self._by_org.values() for c in group if c.principal.api_key_id]
        if not conns:
            return
        ids = sorted({c.principal.api_key_id for c in conns if c.principal.api_key_id})
        async with self.db.read() as session:
            rows = {row.id: row for row in (await session.scalars(select(ApiKey).where(ApiKey.id.in_(ids)))).all()}
        now = utcnow()
        for conn in conns:
            row = rows.get(conn.principal.api_key_id or "")
            if row is None or (row.expires_at is not None and row.expires_at <= now):
                conn.close(CLOSE_POLICY, "API key revoked or expired")
            else:
                conn.principal = principal_for(row)
