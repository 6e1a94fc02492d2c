"""The job runner against a real database: a handler may finish its job in its own transaction."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from agentmail_server.db import queue
from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Job
from agentmail_server.workers.runner import JobRunner


@contextlib.asynccontextmanager
async def started(db: Database, handlers: dict[str, Any], **options: Any) -> AsyncIterator[JobRunner]:
    runner = JobRunner(db, handlers, **options)
    runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def _job(db: Database, job_id: int) -> Job:
    async with db.read() as session:
        job = await session.scalar(select(Job).where(Job.id == job_id))
    assert job is not None
    return job


async def _run_one(db: Database, handler: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Job, list[int]]:
    """Enqueue one job of a kind of its own, let a runner take it, and return it once it settled."""
    kind = f"test-{uuid.uuid4().hex[:8]}"
    async with db.write() as session:
        job = queue.enqueue(session, kind, {"n": 1})
    separately: list[int] = []
    real_finish = queue.finish

    async def finish(database: Database, job: Job) -> None:
        separately.append(job.id)
        await real_finish(database, job)

    monkeypatch.setattr(queue, "finish", finish)
    async with started(db, {kind: handler}, concurrency=1, poll_interval=0.05):
        for _ in range(200):
            row = await _job(db, job.id)
            if row.status != "queued" and row.status != "running":
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # a second finish, if any, would land now
    return await _job(db, job.id), separately


async def test_a_handler_finishes_its_job_in_its_own_transaction(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async def handler(_payload: dict[str, Any]) -> None:
        async with db.write() as session:
            await queue.finish_in(session)

    job, separately = await _run_one(db, handler, monkeypatch)
    assert job.status == "done" and job.finished_at is not None and job.locked_until is None
    assert separately == []  # no second transaction to mark it


async def test_a_handler_that_does_not_finish_is_finished_by_the_runner(db: Database,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    async def handler(_payload: dict[str, Any]) -> None:
        async with db.write():
            pass

    job, separately = await _run_one(db, handler, monkeypatch)
    assert job.status == "done"
    assert separately == [job.id]


async def test_a_finish_rolled_back_with_its_transaction_is_not_taken_as_done(db: Database,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[int] = []

    async def handler(_payload: dict[str, Any]) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            async with db.write() as session:
                await queue.finish_in(session)
                raise RuntimeError("the work failed after finish_in, inside the same transaction")

    monkeypatch.setattr("agentmail_server.workers.runner.backoff", lambda _attempt: timedelta(0))
    job, separately = await _run_one(db, handler, monkeypatch)
    # The failed attempt's finish rolled back with its work: the job was retried, and finished then.
    assert len(attempts) == 2
    assert job.status == "done" and job.attempts == 2
    assert separately == [job.id]


async def test_finish_in_outside_a_runner_does_nothing(db: Database) -> None:
    async with db.write() as session:
        job = queue.enqueue(session, f"test-{uuid.uuid4().hex[:8]}", {})
    async with db.write() as session:
        await queue.finish_in(session)
    assert (await _job(db, job.id)).status == "queued"


def test_notify_payload_round_trip() -> None:
    assert queue.parse_notify_payload(queue.notify_payload({"b": 1, "a": 2})) == {"a": 2, "b": 1}
    assert queue.parse_notify_payload("process_inbound") is None  # an older process: "some"
    assert queue.parse_notify_payload("") == {}


async def test_one_committed_job_wakes_one_worker(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker of the lane used to wake and claim: on SQLite, write transactions that found nothing."""
    kind = f"test-{uuid.uuid4().hex[:8]}"
    done = asyncio.Event()
    claims: list[bool] = []
    real_claim = queue.claim

    async def claim(database: Database, kinds: list[str], *, lease: timedelta) -> Job | None:
        job = await real_claim(database, kinds, lease=lease)
        claims.append(job is not None)
        return job

    async def handler(_payload: dict[str, Any]) -> None:
        done.set()

    monkeypatch.setattr(queue, "claim", claim)
    async with started(db, {kind: handler}, concurrency=4, poll_interval=60):
        for _ in range(100):  # the four workers' first look, then asleep
            if len(claims) >= 4:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        claims.clear()
        async with db.write() as session:
            queue.enqueue(session, kind, {})
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0.3)
        # The woken worker took it and looked once more; the other three slept on.
        assert claims == [True, False]


async def test_a_job_committed_during_a_claim_is_not_left_for_the_poll(db: Database,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    kind = f"test-{uuid.uuid4().hex[:8]}"
    done = asyncio.Event()
    real_claim = queue.claim
    raced = False

    async def claim(database: Database, kinds: list[str], *, lease: timedelta) -> Job | None:
        nonlocal raced
        job = await real_claim(database, kinds, lease=lease)
        if not raced:  # the claim looked before this commit, and the only worker is not idle now
            raced = True
            async with db.write() as session:
                queue.enqueue(session, kind, {})
        return job

    async def handler(_payload: dict[str, Any]) -> None:
        done.set()

    monkeypatch.setattr(queue, "claim", claim)
    async with started(db, {kind: handler}, concurrency=1, poll_interval=60):
        await asyncio.wait_for(done.wait(), 5)  # not after the 60 s poll
