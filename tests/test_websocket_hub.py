"""The event hub in-process: id bookkeeping, out-of-order commits, double wake-ups and the exact
hand-over from a `since` replay to live delivery (on both backends where it applies)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import asyncpg
import pytest
from sqlalchemy import select

from agentmail_server.config import Settings
from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Event
from agentmail_server.events import listen
from agentmail_server.events.bus import BUS
from agentmail_server.events.catalogue import DEFAULT_EVENT_TYPES
from agentmail_server.events.hub import Connection, EventRef, Hub
from agentmail_server.events.outbox import NOTIFY_CHANNEL, emit_event
from agentmail_server.services import api_keys, organizations
from agentmail_server.services.principal import Principal


async def principal(db: Database) -> Principal:
    created = await organizations.create_organization(db, name="hub")
    return await api_keys.authenticate(db, created.api_key)


async def emit(db: Database, who: Principal, n: int = 1) -> list[str]:
    ids = []
    for i in range(n):
        async with db.write() as session:
            event = await emit_event(session, event_type="message.sent", organization_id=who.organization_id,
                                     pod_id=who.organization_id, inbox_id="a@agentmail.localhost",
                                     body={"send": {"n": i}})
            ids.append(event.event_id)
    return ids


def hub_for(db: Database, **settings: object) -> Hub:
    return Hub(db, Settings(database_url=db.url, **settings))  # type: ignore[arg-type]


def subscribed(hub: Hub, who: Principal) -> Connection:
    conn = hub.connect(who)
    conn.subs.add(DEFAULT_EVENT_TYPES, pod_ids=[], inbox_ids=[])
    return conn


def drain(conn: Connection) -> list[str]:
    out = []
    while not conn.queue.empty():
        frame = conn.queue.get_nowait()
        conn.taken()
        assert frame is not None
        out.append(json.loads(frame)["event_id"])
    return out


async def drain_replay(conn: Connection, replay: asyncio.Task[None]) -> list[str]:
    """Read `conn` like a client while `replay` runs, and what is left once it is done."""
    got: list[str] = []
    while not replay.done() or not conn.queue.empty():
        got += drain(conn)
        await asyncio.sleep(0.01)
    await replay
    return got + drain(conn)


async def row_id(db: Database, event_id: str) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(Event.id).where(Event.event_id == event_id)))


# --- pure bookkeeping -------------------------------------------------------------------------------


def test_gap_bookkeeping() -> None:
    hub = Hub(None, Settings(ws_gap_seconds=0.05))  # type: ignore[arg-type]
    hub._max_seen = 5
    hub._advance([6, 9, 10, 13])
    assert hub._max_seen == 13 and [g[:2] for g in hub._gaps] == [[7, 8], [11, 12]]
    hub._fill(7)
    hub._fill(12)
    assert [g[:2] for g in hub._gaps] == [[8, 8], [11, 11]]
    hub._fill(8)
    assert [g[:2] for g in hub._gaps] == [[11, 11]]
    time.sleep(0.06)
    hub._expire_gaps()
    assert hub._gaps == []


def test_connection_queue_limits() -> None:
    conn = Connection(Principal(api_key_id="k", scope=None, permissions=None), max_queued=2)  # type: ignore[arg-type]
    conn.offer(1, "a")
    conn.offer(2, "b")
    assert not conn.closed
    conn.offer(3, "c")  # a third live frame for a client that reads nothing: disconnected, not buffered
    assert conn.closed and conn.close_code == 1013


def test_routing_respects_scope_and_subscriptions() -> None:
    from agentmail_server.services.principal import Scope

    pod_key = Principal(api_key_id="k", scope=Scope("org", "pod1"), permissions=None)
    conn = Connection(pod_key, max_queued=10)
    ref = EventRef(id=1, organization_id="org", pod_id="pod1", inbox_id="a@x", event_type="message.received")
    assert not conn.wants(ref)  # no subscription yet
    conn.subs.add(["message.received"], pod_ids=[], inbox_ids=[])
    assert conn.wants(ref)
    assert not conn.wants(EventRef(2, "org", "pod2", "b@x", "message.received"))
    assert not conn.wants(EventRef(3, "other", "pod1", "a@x", "message.received"))
    assert not conn.wants(EventRef(4, "org", "pod1", "a@x", "message.sent"))
    conn.principal = Principal(api_key_id="k", scope=Scope("org", "pod1"), permissions={"inbox_read": True})
    assert not conn.wants(ref)  # permission withdrawn: re-checked at delivery


# --- against the database ---------------------------------------------------------------------------


async def test_double_wakeups_deliver_once(db: Database) -> None:
    who = await principal(db)
    hub = hub_for(db, ws_poll_seconds=5)
    await hub.start()
    try:
        conn = subscribed(hub, who)
        [event_id] = await emit(db, who)
        BUS.publish([await row_id(db, event_id)] * 3)  # as if NOTIFY and the local bus both fired
        frame = await asyncio.wait_for(conn.queue.get(), 5)
        assert frame is not None and json.loads(frame)["event_id"] == event_id
        await asyncio.sleep(0.2)
        await hub.sync()
        assert conn.queue.empty()
    finally:
        await hub.stop()


async def test_replay_hand_over_is_exact(db: Database) -> None:
    """Live events committed while the replay is blocked on a slow client: each arrives once, in order."""
    who = await principal(db)
    hub = hub_for(db, ws_send_queue_frames=3)
    await hub.load_position()
    first, *history = await emit(db, who, 5)
    await hub.sync()  # history is older than the connection: nobody gets it live
    conn = subscribed(hub, who)
    conn.hold_live()
    replay = asyncio.create_task(hub.replay(conn, await row_id(db, first)))
    for _ in range(100):
        if conn.queue.qsize() == 3:
            break
        await asyncio.sleep(0.01)
    assert conn.queue.qsize() == 3 and not replay.done()  # stuck behind the client
    live = await emit(db, who, 3)
    await hub.sync()  # dispatched while the replay still runs: held, not queued
    assert conn.queue.qsize() == 3 and not conn.closed
    assert await drain_replay(conn, replay) == history + live
    more = await emit(db, who, 1)
    await hub.sync()
    assert drain(conn) == more


async def test_out_of_order_commit_is_delivered(pg_db: Database) -> None:
    """PostgreSQL only: SQLite has one writer, so its ids commit in order."""
    db = pg_db
    who = await principal(db)
    hub = hub_for(db, ws_gap_seconds=0.3)
    await hub.load_position()
    conn = subscribed(hub, who)
    async with db.write() as slow:
        early = await emit_event(slow, event_type="message.sent", organization_id=who.organization_id,
                                 pod_id=who.organization_id, inbox_id="a@agentmail.localhost", body={"send": {}})
        later = await emit(db, who)
        await hub.sync()
        assert drain(conn) == later  # row N+1 is visible before row N
        assert [g[:2] for g in hub._gaps] == [[early.id, early.id]]
    await hub.sync()
    assert drain(conn) == [early.event_id]
    assert hub._gaps == []
    # A rolled-back insert leaves a gap for good: it is watched for a while, then forgotten.
    with pytest.raises(RuntimeError):
        async with db.write() as doomed:
            await emit_event(doomed, event_type="message.sent", organization_id=who.organization_id,
                             pod_id=None, inbox_id=None, body={"send": {}})
            raise RuntimeError("roll back")
    after = await emit(db, who)
    await hub.sync()
    assert drain(conn) == after and len(hub._gaps) == 1
    await asyncio.sleep(0.35)
    await hub.sync()
    assert hub._gaps == [] and conn.queue.empty()


# --- the PostgreSQL listener -----------------------------------------------------------------------


async def next_ids(queue: asyncio.Queue[int], count: int) -> list[int]:
    return [await asyncio.wait_for(queue.get(), 5) for _ in range(count)]


async def test_listener_relays_notifications_and_catches_up(pg_db: Database, monkeypatch) -> None:
    db = pg_db
    who = await principal(db)
    real_connect = asyncpg.connect
    calls = 0
    reconnect_gate = asyncio.Event()

    async def slow_reconnect(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls > 1:  # hold the reconnect until the test has committed an event nobody hears about
            await reconnect_gate.wait()
        return await real_connect(*args, **kwargs)

    monkeypatch.setattr(listen.asyncpg, "connect", slow_reconnect)
    queue = BUS.subscribe()
    listener = listen.Listener(db)
    await listener.start()
    try:
        # Local commit: published after commit here, and again by NOTIFY (consumers dedupe by id).
        [event_id] = await emit(db, who)
        own = await row_id(db, event_id)
        assert await next_ids(queue, 2) == [own, own]

        # Another process commits while our listening connection is down: its NOTIFY is lost.
        admin = await real_connect(listen.asyncpg_dsn(db.url))
        try:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = $1 AND datname = current_database()",
                                listen.APPLICATION_NAME)
            for _ in range(100):
                if calls > 1:
                    break
                await asyncio.sleep(0.02)
            assert calls == 2  # the listener noticed and is reconnecting
            async with admin.transaction():
                foreign = await admin.fetchval(
                    "INSERT INTO events (event_id, event_type, organization_id, payload, created_at) "
                    "VALUES ($1, 'message.sent', $2, '{}', now()) RETURNING id", uuid.uuid4().hex,
                    who.organization_id)
                await admin.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(foreign))
        finally:
            await admin.close()
        assert queue.empty()
        reconnect_gate.set()
        # After reconnecting, the newest id is published so that consumers re-read the table.
        assert await next_ids(queue, 1) == [foreign]
        assert listener.reconnects == 1
    finally:
        await listener.stop()
        BUS.unsubscribe(queue)
