"""Several server processes on one PostgreSQL: events reach WebSocket subscribers of every process
through LISTEN/NOTIFY, also after the listening connection was dropped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from agentmail_server.events.listen import APPLICATION_NAME, asyncpg_dsn

from .conftest import make_http
from .postgres import drop_database, fresh_database
from .server import Server
from .test_websocket import Raw, deliver, new_inbox, subject_of

# Polling would find the events too, only later: make it slow enough that only NOTIFY can be on time.
SLOW_POLL = {"AGENTMAIL_WS_POLL_SECONDS": "120"}
ON_TIME = 8.0
# One listening connection per process: `full`, the worker process it runs, and `api_only`.
LISTENERS = 3


@pytest.fixture
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    admin = request.getfixturevalue("postgres_admin_url")
    name, url = fresh_database(admin)
    full = Server(backend="postgres", database_url=url, workdir=tmp_path / "full", extra_env=SLOW_POLL)
    api_only = Server(backend="postgres", database_url=url, workdir=tmp_path / "api", api_key=full.api_key,
                      extra_env={**SLOW_POLL, "AGENTMAIL_ROLES": "api"})
    try:
        full.start()
        api_only.start()
        yield full, api_only
    finally:
        api_only.stop()
        full.stop()
        drop_database(admin, name)


async def _listeners(url: str, *, kill: bool = False) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        database = await conn.fetchval("SELECT current_database()")
        query = "FROM pg_stat_activity WHERE application_name = $1 AND datname = $2"
        if kill:
            await conn.execute(f"SELECT pg_terminate_backend(pid) {query}", APPLICATION_NAME, database)
        return int(await conn.fetchval(f"SELECT count(*) {query}", APPLICATION_NAME, database))
    finally:
        await conn.close()


def listeners(url: str, *, kill: bool = False) -> int:
    return asyncio.run(_listeners(url, kill=kill))


def test_events_cross_processes(pair: tuple[Server, Server]) -> None:
    full, api_only = pair
    assert listeners(full.database_url) == LISTENERS
    with make_http(full) as http, make_http(api_only) as http_b:
        inbox, other = new_inbox(http), new_inbox(http)
        # Mail accepted and processed by `full` reaches a subscriber of `api_only`.
        with Raw(api_only) as on_b, Raw(full) as on_a:
            on_b.subscribe(inbox_ids=[inbox])
            on_a.subscribe(inbox_ids=[other], event_types=["message.sent"])
            began = time.monotonic()
            subject = deliver(full, http, inbox)
            assert subject_of(on_b.event(timeout=ON_TIME)) == subject
            assert time.monotonic() - began < ON_TIME
            # A send through `api_only` reaches a subscriber of `full`.
            sent = http_b.post(f"/v0/inboxes/{other}/messages/send",
                               json={"to": [inbox], "subject": "across", "text": "x"})
            assert sent.status_code == 200, sent.text
            frame = on_a.event(timeout=ON_TIME)
            assert frame["send"]["message_id"] == sent.json()["message_id"]
            assert subject_of(on_b.event(timeout=ON_TIME)) == "across"
            on_b.quiet(0.3)

            # The listening connections are dropped: they come back, and events keep flowing.
            listeners(full.database_url, kill=True)
            subject = deliver(full, http, inbox)
            assert subject_of(on_b.event(timeout=ON_TIME)) == subject
            deadline = time.monotonic() + ON_TIME
            while listeners(full.database_url) < LISTENERS and time.monotonic() < deadline:
                time.sleep(0.1)
            assert listeners(full.database_url) == LISTENERS
            on_b.quiet(0.3)
