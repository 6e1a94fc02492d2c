"""aiosqlite connections that cost one thread round trip per statement instead of four.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it as four separate
calls, and aiosqlite runs each on its connection's thread: four hand-offs between the event loop
and that thread per statement (each a queue put, a thread wake-up and a loop wake-up through its
self-pipe). On this workload that hand-off, not SQLite, was most of a statement's cost: a
processed inbound message runs about twenty statements. Here a cursor's `execute` runs the
statement, reads all its rows and closes the sqlite3 cursor in one call on the thread; the adapter
then reads the buffered rows without another hop. A BEGIN travels with the transaction's first
statement (a transaction without statements costs no hop at all). Everything else (errors, the
thread) is aiosqlite's own. The adapter's server-side cursors are not used by this project.

Writers of several processes (`serve` and its worker process share the file) also queue on a file
lock beside the database before their BEGIN IMMEDIATE: SQLite's own wait for another process's
write lock sleeps 1, 2, 5, … up to 100 ms between tries, so under steady contention a writer
overslept the transaction it waited for by tens of milliseconds, and the other process, never
sleeping, often took the lock again first. The file lock is only a queue: SQLite's locks still
decide, and a process that does not take it (the sqlite3 shell, an older server) is merely not
queued.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

_Result = tuple[Any, int, int | None, list[Any]]
_BEGIN = re.compile(r"\s*BEGIN\b(?:\s+(?:DEFERRED|IMMEDIATE|EXCLUSIVE))?(?:\s+TRANSACTION)?\s*;?\s*$", re.IGNORECASE)
_WRITER_BEGIN = re.compile(r"\s*BEGIN\s+(?:IMMEDIATE|EXCLUSIVE)\b", re.IGNORECASE)


class WriterLock:
    """An exclusive lock on `path` (flock), held by one write transaction at a time across processes.

    Used only on its connection's thread. Waiting polls every 2 ms at most (flock cannot wait with a
    timeout) and gives up after `timeout` seconds as SQLite's busy timeout does.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None
        self.held = False

    def acquire(self) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.timeout
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
            else:
                self.held = True
                return

    def release(self) -> None:
        if self.held and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self.held = False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock too
        self._fd, self.held = None, False


def _begin(conn: sqlite3.Connection, begin: str, lock: WriterLock | None) -> None:
    if lock is not None and not lock.held and _WRITER_BEGIN.match(begin):
        lock.acquire()
    try:
        conn.execute(begin)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _end(lock: WriterLock | None, finish: Callable[[], None]) -> None:
    """On the connection's thread: COMMIT or ROLLBACK, then the next writer's turn."""
    try:
        finish()
    finally:
        if lock is not None:
            lock.release()


def _run(conn: sqlite3.Connection, begin: str | None, lock: WriterLock | None, sql: str, parameters: Any,
         many: bool) -> _Result:
    """On the connection's thread: the pending BEGIN, the statement, all its rows, the cursor closed."""
    if begin is not None:
        _begin(conn, begin, lock)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters if parameters is not None else ())
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class BufferedCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy's adapter uses, with rows read at execute."""

    __slots__ = ("_connection", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    async def __aenter__(self) -> BufferedCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._rows = []

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> BufferedCursor:
        if not parameters and _BEGIN.match(sql):
            self._connection.defer_begin(sql)
            self.description, self.rowcount, self.lastrowid, self._rows = None, -1, None, []
            return self
        self.description, self.rowcount, self.lastrowid, self._rows = await self._connection.run(sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]) -> BufferedCursor:
        self.description, self.rowcount, self.lastrowid, self._rows = await self._connection.run(
            sql, list(seq_of_parameters), many=True)
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def close(self) -> None:
        self._rows = []


class OneHopConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection], writer_lock: WriterLock | None = None) -> None:
        super().__init__(connector, iter_chunk_size=64)
        # As SQLAlchemy does for the connections it opens itself: a forgotten connection must not
        # keep the process alive.
        self._thread.daemon = True
        self._begin: str | None = None
        self._writer_lock = writer_lock

    def cursor(self) -> BufferedCursor:  # type: ignore[override]
        return BufferedCursor(self)

    def defer_begin(self, sql: str) -> None:
        self._begin = sql

    async def run(self, sql: str, parameters: Any, *, many: bool = False) -> _Result:
        """One statement (with the pending BEGIN, if any) in one round trip to the connection's thread."""
        begin, self._begin = self._begin, None
        return await self._execute(lambda: _run(self._conn, begin, self._writer_lock, sql, parameters, many))

    def _nothing_ran(self) -> bool:
        """Drop a BEGIN that no statement followed: there is then no transaction to end."""
        begin, self._begin = self._begin, None
        return begin is not None

    async def commit(self) -> None:
        if not self._nothing_ran():
            await self._execute(_end, self._writer_lock, self._conn.commit)

    async def rollback(self) -> None:
        if not self._nothing_ran():
            await self._execute(_end, self._writer_lock, self._conn.rollback)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._writer_lock is not None:
                self._writer_lock.close()


def connector(*args: Any, writer_lock: str | None = None, **kwargs: Any) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: sqlite3.connect(*args, **kwargs) behind OneHopConnection.

    `writer_lock`: the path of the file lock its write transactions queue on (see WriterLock).
    """

    async def create() -> OneHopConnection:
        lock = WriterLock(writer_lock, kwargs.get("timeout", 5.0)) if writer_lock else None
        return await OneHopConnection(partial(sqlite3.connect, *args, **kwargs), lock)

    return create
