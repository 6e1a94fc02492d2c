"""Regression tests for review findings on the WebSocket channel: replies a client never reads, NUL in
`since` and in ids (PostgreSQL), frames that fail unexpectedly, and the `since` replay's memory and its
out-of-order commits (PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agentmail_server.api.websocket import _Session
from agentmail_server.config import Settings
from agentmail_server.db.engine import Database
from agentmail_server.events.hub import MAX_UNREAD_REPLIES, Connection
from agentmail_server.events.outbox import emit_event
from agentmail_server.services.principal import Principal

from .conftest import make_http
from .server import Server
from .test_websocket import Raw, new_inbox
from .test_websocket_hub import drain, drain_replay, emit, hub_for, principal, row_id, subscribed

# --- 4. replies a client never reads ----------------------------------------------------------


def test_unread_replies_are_capped() -> None:
    conn = Connection(Principal(api_key_id="k", scope=None, permissions=None), max_queued=3)  # type: ignore[arg-type]
    for i in range(3):
        conn.offer(i, "event")  # a queue full of events (a replay waits there, for instance)
    for _ in range(MAX_UNREAD_REPLIES):
        conn.send("reply")
    assert not conn.closed
    for _ in range(10_000):
        conn.send("reply")
    assert conn.closed and conn.close_code == 1008
    assert conn.queue.qsize() == 3 + MAX_UNREAD_REPLIES + 1  # and the end-of-stream marker


def test_a_client_sending_without_reading_is_disconnected(server: Server) -> None:
    """The server buffered a reply per frame without bound (600k frames: +70 MB)."""
    frames = 100_000  # far more replies than the socket buffers on both sides hold
    with Raw(server) as raw:
        sent = 0

        def flood() -> None:
            nonlocal sent
            try:
                for _ in range(frames):
                    raw.ws.send("x")
                    sent += 1
            except (ConnectionClosed, OSError):
                pass

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        sender.join(60)
        replies, code = 0, None
        try:
            while True:
                frame = json.loads(raw.ws.recv(timeout=10))
                assert frame["type"] == "error" and frame["code"] == "validation_error"
                replies += 1
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
        except TimeoutError:
            pass
        sender.join(10)
    assert code == 1008, f"still open ({code}) after {replies} replies to {sent} frames"
    assert replies < frames


# --- 5. NUL in `since` and in ids; frames that fail unexpectedly -------------------------------


def test_nul_in_since_is_an_unknown_event(server: Server) -> None:
    with pytest.raises(InvalidStatus) as exc:
        Raw(server, query={"since": "\x00abc"})
    assert exc.value.response.status_code == 404
    assert json.loads(exc.value.response.body)["code"] == "not_found"


def test_nul_in_ids_is_a_validation_error_and_the_session_goes_on(server: Server) -> None:
    with make_http(server) as http:
        inbox = new_inbox(http)
    with Raw(server) as raw:
        for key in ("inbox_ids", "pod_ids"):
            raw.send({"type": "subscribe", key: ["a\u0000b@x.com"]})
            frame = raw.error("validation_error")
            assert frame["errors"][0]["path"] == [key, 0]
        assert raw.subscribe(inbox_ids=[inbox])["inbox_ids"] == [inbox]


class _FailingDb:
    def read(self) -> Any:
        raise RuntimeError("database gone")


async def test_a_frame_failing_unexpectedly_answers_an_error_frame() -> None:
    conn = Connection(Principal(api_key_id="k", scope=None, permissions=None), max_queued=10)  # type: ignore[arg-type]
    hub = SimpleNamespace(db=_FailingDb(), settings=Settings())
    session = _Session(None, hub, conn, None)  # type: ignore[arg-type]
    await session._handle(json.dumps({"type": "subscribe", "inbox_ids": ["a@x.com"]}))
    frame = json.loads(conn.queue.get_nowait() or "")
    assert frame["type"] == "error" and frame["code"] == "internal_error" and not conn.closed


# --- 8. the `since` replay: bounded bookkeeping; rows committed out of order ----------------------



async def test_replay_remembers_only_ids_that_live_events_can_have(db: Database) -> None:
    """Every replayed row id used to be kept until the hand-over (~50 MB per million)."""
    who = await principal(db)
    hub = hub_for(db)
    await hub.load_position()
    first, *history = await emit(db, who, 450)
    await hub.sync()
    conn = subscribed(hub, who)
    skipped: list[set[int]] = []
    release = conn.release_live

    def spy(skip: set[int]) -> None:
        skipped.append(set(skip))
        release(skip)

    conn.release_live = spy  # type: ignore[method-assign]
    hub.hold(conn)
    replay = asyncio.create_task(hub.replay(conn, await row_id(db, first)))
    assert await drain_replay(conn, replay) == history
    assert skipped == [set()]  # all of it older than anything live


async def test_replay_hand_over_stays_exact_with_the_floor(db: Database) -> None:
    who = await principal(db)
    hub = hub_for(db, ws_send_queue_frames=3)
    await hub.load_position()
    first, *history = await emit(db, who, 5)
    await hub.sync()
    conn = subscribed(hub, who)
    hub.hold(conn)
    replay = asyncio.create_task(hub.replay(conn, await row_id(db, first)))
    for _ in range(100):
        if conn.queue.qsize() == 3:
            break
        await asyncio.sleep(0.01)
    live = await emit(db, who, 3)
    await hub.sync()  # held; the replay reads them too once the client catches up
    assert await drain_replay(conn, replay) == history + live


async def test_since_replay_resends_rows_committed_out_of_order(pg_db: Database) -> None:
    """A client saw row N+1 while row N was uncommitted; N commits while it is away: a replay
    `since` N+1 used to start after N+1 and never send N."""
    db = pg_db
    who = await principal(db)
    hub = hub_for(db, ws_gap_seconds=30)
    await hub.load_position()
    before = await emit(db, who, 1)
    await hub.sync()
    away = subscribed(hub, who)
    async with db.write() as slow:
        late = await emit_event(slow, event_type="message.sent", organization_id=who.organization_id,
                                pod_id=who.organization_id, inbox_id="a@agentmail.localhost", body={"send": {}})
        seen = await emit(db, who)
        await hub.sync()
        assert drain(away) == seen
        hub.disconnect(away)
    await hub.sync()  # the late row turns up while nobody listens
    after = await emit(db, who)
    await hub.sync()

    back = subscribed(hub, who)
    await hub.replay(back, await row_id(db, seen[0]))
    assert drain(back) == [late.event_id, *after]
    # A replay from before the late row sends it once, in id order.
    again = subscribed(hub, who)
    await hub.replay(again, await row_id(db, before[0]))
    assert drain(again) == [late.event_id, *seen, *after]
    # Nor does one from a row the late one did not overtake.
    last = subscribed(hub, who)
    await hub.replay(last, await row_id(db, after[0]))
    assert drain(last) == []
