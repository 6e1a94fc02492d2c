"""Cross-process wake-ups: PostgreSQL LISTEN (or, on SQLite, datagrams from the processes sharing
the file) feeding the in-process bus and job runners.

`emit_event` NOTIFYs `agentmail_events` with the row id inside the writing transaction, so every
listening process hears about every committed event, its own included (which this process has
also published locally after commit): consumers deduplicate by row id (the hub does, structurally).
Likewise `queue.enqueue` NOTIFYs `agentmail_jobs` with the kinds of jobs committed, which wakes this
process's job runners (an api or smtp process queues work that a worker process runs), and a change
to inboxes or domains NOTIFYs `agentmail_recipients`, which clears the SMTP listener's recipient
cache (`mail/recipients.py`).

The connection is dedicated (not from the pool) and watched: when it drops, it is re-opened with
backoff, and the newest event id is then published so consumers read what they missed meanwhile
(the hub re-reads the table on any wake-up), and job runners look for work.

On SQLite the same channels and payloads arrive as datagrams (`db.host_notify`), sent after commit
by the other processes on the same database file (the worker process `serve` starts, for one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from ..db import host_notify, queue
from ..db.engine import Database
from ..mail import recipients
from ..workers.tasks import cancel
from .bus import BUS
from .outbox import NOTIFY_CHANNEL

log = logging.getLogger("agentmail_server.events.listen")

APPLICATION_NAME = "agentmail-listener"
HEALTH_CHECK_SECONDS = 10.0
BACKOFF_START = 0.2
BACKOFF_MAX = 10.0


def asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """Hears about events (published to BUS) and jobs (runners woken) committed by other processes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._endpoint: host_notify.Endpoint | None = None
        self.reconnects = 0
        # One table for both carriers: asyncpg's LISTEN callbacks and SQLite's datagrams.
        self._channels = {NOTIFY_CHANNEL: self._notified, queue.NOTIFY_CHANNEL: self._jobs_notified,
                          recipients.NOTIFY_CHANNEL: self._recipients_notified}

    async def start(self) -> None:
        if self.db.dialect != "postgresql":
            endpoint = host_notify.Endpoint(self.db.write_engine.url.database, self._datagram)
            try:
                endpoint.open()
            except OSError as exc:
                log.warning("no wake-ups from other processes on this database (%s): they are seen by polling", exc)
            else:
                self._endpoint = endpoint
            return None
        self._task = asyncio.create_task(self._run(), name="event-listener")
        # Normally connected within milliseconds; don't hold up startup if the database is slow.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=5)
        return None

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None
        return None

    def _datagram(self, channel: str, payload: str) -> None:
        handler = self._channels.get(channel)
        if handler is None:
            log.warning("ignoring a wake-up on unknown channel %r", channel)
            return
        handler(None, 0, channel, payload)

    async def _run(self) -> None:
        dsn = asyncpg_dsn(self.db.url)
        delay = BACKOFF_START
        first = True
        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME})
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                for channel, handler in self._channels.items():
                    await conn.add_listener(channel, handler)
                delay = BACKOFF_START
                if not first:
                    self.reconnects += 1
                    await self._catch_up(conn)
                    log.info("event listener reconnected")
                first = False
                self._connected.set()
                await self._watch(conn, lost)
                log.warning("event listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event listener: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            finally:
                self._connected.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()

    @staticmethod
    async def _watch(conn: Any, lost: asyncio.Event) -> None:
        """Return when the connection is gone (closed by the server, or failing a health check)."""
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), timeout=HEALTH_CHECK_SECONDS)
            except TimeoutError:
                try:
                    await asyncio.wait_for(conn.execute("SELECT 1"), timeout=5)
                except Exception:
                    return

    @staticmethod
    async def _catch_up(conn: Any) -> None:
        """Wake consumers after a reconnect: NOTIFYs sent while we were away are lost."""
        newest = await conn.fetchval("SELECT max(id) FROM events")
        if newest is not None:
            BUS.publish([int(newest)])
        queue.wake(None)
        recipients.heard()

    @staticmethod
    def _notified(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        # "<row id>:<webhook deliveries it made>", or a bare row id (deliveries unknown).
        row, _, deliveries = payload.partition(":")
        try:
            row_id = int(row)
            made = int(deliveries) if deliveries else None
        except ValueError:
            log.warning("ignoring malformed %s notification %r", NOTIFY_CHANNEL, payload)
            return
        BUS.publish([row_id], deliveries=made is None or made > 0)

    @staticmethod
    def _jobs_notified(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        queue.wake(queue.parse_notify_payload(payload))

    @staticmethod
    def _recipients_notified(_conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        recipients.heard()
