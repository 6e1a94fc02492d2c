"""SQLite writers of all processes queue on a lock file beside the database (db/sqlite_driver.WriterLock)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from agentmail_server.db.engine import Database, _writer_lock_path
from agentmail_server.db.sqlite_driver import WriterLock


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}")
    async with db.write() as session:
        await session.execute(text("CREATE TABLE t (x INTEGER)"))
    yield db
    await db.dispose()


def _lock_path(db: Database) -> str:
    path = _writer_lock_path(db.write_engine.url.database)
    assert path is not None
    return path


def _taken(path: str) -> bool:
    """Whether some other open file holds the lock (as another process's writer would see it)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def _holding(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


async def test_a_write_transaction_holds_the_lock_until_it_commits_or_rolls_back(sqlite_db: Database) -> None:
    path = _lock_path(sqlite_db)
    assert Path(path).name == "lock.db-writer.lock"
    async with sqlite_db.write() as session:
        await session.execute(text("INSERT INTO t VALUES (1)"))
        assert _taken(path)
    assert not _taken(path)

    with pytest.raises(RuntimeError):
        async with sqlite_db.write() as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
            assert _taken(path)
            raise RuntimeError("rolled back")
    assert not _taken(path)

    with pytest.raises(Exception, match="no such table"):
        async with sqlite_db.write() as session:
            await session.execute(text("INSERT INTO missing VALUES (3)"))
    assert not _taken(path)

    async with sqlite_db.write():
        pass  # no statement: no BEGIN, no lock
    assert not _taken(path)

    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [1]
        assert not _taken(path)  # readers never queue


async def test_a_writer_waits_while_another_process_holds_the_lock(sqlite_db: Database) -> None:
    path = _lock_path(sqlite_db)

    async def write() -> None:
        async with sqlite_db.write() as session:
            await session.execute(text("INSERT INTO t VALUES (7)"))

    with _holding(path):
        task = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        assert not task.done()
        async with sqlite_db.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    await asyncio.wait_for(task, 10)
    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [7]


def test_a_lock_held_past_the_timeout_is_sqlites_own_busy_error(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db-writer.lock")
    lock = WriterLock(path, timeout=0.2)
    with _holding(path), pytest.raises(sqlite3.OperationalError, match="database is locked"):
        lock.acquire()
    assert not lock.held
    lock.acquire()
    assert lock.held and _taken(path)
    lock.release()
    assert not _taken(path)
    lock.close()


def test_only_databases_in_files_have_a_lock() -> None:
    assert _writer_lock_path(":memory:") is None
    assert _writer_lock_path(None) is None
    assert _writer_lock_path("file::memory:?cache=shared") is None
    assert _writer_lock_path("/var/lib/agentmail/mail.db") == "/var/lib/agentmail/mail.db-writer.lock"
