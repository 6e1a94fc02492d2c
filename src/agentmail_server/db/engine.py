"""Engines and sessions.

Writers and readers get separate session factories. On SQLite every write transaction starts with
BEGIN IMMEDIATE (a deferred transaction that later upgrades to a writer fails at once with
SQLITE_BUSY under WAL instead of waiting), and the in-process writer pool has one connection so
writers queue in asyncio instead of spinning on the file lock; the writers of different processes
queue on a lock file beside the database (sqlite_driver.WriterLock). On PostgreSQL both factories
share one engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from . import sqlite_driver


def _json_dumps(value: Any) -> str:
    # Stored as written, not \u-escaped, so text filters on addresses and subjects match non-ASCII.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _writer_lock_path(database: str | None) -> str | None:
    """The lock file the writers of every process share (None for a database only this process has)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-writer.lock"


def _sqlite_engine(url: str, *, begin: str, pool_size: int, writer: bool) -> AsyncEngine:
    parsed = make_url(url)
    args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    lock = _writer_lock_path(parsed.database) if writer else None
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_timeout=60, json_serializer=_json_dumps,
        async_creator=sqlite_driver.connector(*args, writer_lock=lock, **{**kwargs, "timeout": 30}),
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so our BEGIN is the only one.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self.write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1, writer=True)
            self.read_engine = _sqlite_engine(url, begin="BEGIN", pool_size=8, writer=False)
        else:
            self.write_engine = create_async_engine(
                url, pool_size=10, max_overflow=10, pool_pre_ping=True, json_serializer=_json_dumps
            )
            self.read_engine = self.write_engine
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block exits cleanly and rolls back otherwise."""
        async with self._writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session, session.begin():
            yield session

    async def serialize(self, session: AsyncSession, name: str) -> None:
        """Hold a named lock until `session`'s transaction ends (other processes wait for it).

        SQLite writers are already serialised by BEGIN IMMEDIATE; PostgreSQL needs an advisory lock.
        """
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
