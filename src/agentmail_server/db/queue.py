"""Durable jobs: enqueue in the caller's transaction, claim with a lease, finish or retry.

Claiming is the one dialect-specific step: PostgreSQL uses FOR UPDATE SKIP LOCKED so any number
of workers in any number of processes take different jobs without blocking; SQLite serialises
writers, so a single UPDATE … RETURNING is already atomic. A worker that dies mid-job leaves its
lease to expire, after which another worker takes the job again (at-least-once).

Committed jobs wake workers at once: the job runners of this process after the commit, and those of
every other process through a NOTIFY sent inside the enqueuing transaction on PostgreSQL (so it is
heard only if the jobs commit) or a datagram sent after the commit on SQLite (`host_notify`).
Workers also poll, so a lost wake-up only adds latency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import host_notify
from .engine import Database
from .tables import Job
from .types import utcnow

NOTIFY_CHANNEL = "agentmail_jobs"
_KINDS = "agentmail.enqueued_kinds"
# This process's job runners: called with how many jobs of each kind were just committed (here or,
# through LISTEN, by another process); None means "unknown: any kind, any number".
Waker = Callable[[Mapping[str, int] | None], None]
_wakers: list[Waker] = []


def add_waker(wake: Waker) -> None:
    _wakers.append(wake)


def remove_waker(wake: Waker) -> None:
    if wake in _wakers:
        _wakers.remove(wake)


def wake(counts: Mapping[str, int] | None) -> None:
    for waker in list(_wakers):
        waker(counts)


def enqueue(session: AsyncSession, kind: str, payload: dict[str, Any], *, run_at: datetime | None = None) -> Job:
    job = Job(kind=kind, payload=payload, status="queued", attempts=0, run_at=run_at or utcnow())
    session.add(job)
    _wake_on_commit(session.sync_session, kind)
    return job


def _wake_on_commit(session: Session, kind: str) -> None:
    counts: Counter[str] = session.info.setdefault(_KINDS, Counter())
    if not counts:
        sa_event.listen(session, "before_commit", _notify, once=True)
        sa_event.listen(session, "after_commit", _after_commit, once=True)
        sa_event.listen(session, "after_rollback", _after_rollback, once=True)
    counts[kind] += 1


def notify_payload(counts: Mapping[str, int]) -> str:
    """The NOTIFY payload: "kind:count,…" (a bare "kind" from an older process means "some")."""
    return ",".join(f"{kind}:{count}" for kind, count in sorted(counts.items()))


def parse_notify_payload(payload: str) -> dict[str, int] | None:
    counts: dict[str, int] = {}
    for item in filter(None, payload.split(",")):
        kind, _, count = item.partition(":")
        if not count.isdigit():
            return None
        counts[kind] = counts.get(kind, 0) + int(count)
    return counts


def _notify(session: Session) -> None:
    # Runs inside the asyncio session's greenlet, so this synchronous execute is awaited there.
    counts = session.info.get(_KINDS)
    if counts and session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, notify_payload(counts))))


def _after_commit(session: Session) -> None:
    counts = session.info.pop(_KINDS, Counter())
    wake(counts)
    if counts:
        host_notify.send_after_commit(session, NOTIFY_CHANNEL, [notify_payload(counts)])
    if sa_event.contains(session, "after_rollback", _after_rollback):
        sa_event.remove(session, "after_rollback", _after_rollback)


def _after_rollback(session: Session) -> None:
    session.info.pop(_KINDS, None)
    for name, listener in (("before_commit", _notify), ("after_commit", _after_commit)):
        if sa_event.contains(session, name, listener):
            sa_event.remove(session, name, listener)


def _claimable(now: datetime, kinds: list[str]) -> Any:
    return and_(
        Job.kind.in_(kinds),
        or_(
            and_(Job.status == "queued", Job.run_at <= now),
            and_(Job.status == "running", Job.locked_until < now),
        ),
    )


async def claim(db: Database, kinds: list[str], *, lease: timedelta) -> Job | None:
    now = utcnow()
    async with db.write() as session:
        if db.dialect == "postgresql":
            job = await session.scalar(
                select(Job).where(_claimable(now, kinds)).order_by(Job.id).limit(1).with_for_update(skip_locked=True)
            )
            if job is None:
                return None
            job.status, job.attempts, job.locked_until = "running", job.attempts + 1, now + lease
            return job
        oldest = select(Job.id).where(_claimable(now, kinds)).order_by(Job.id).limit(1).scalar_subquery()
        return await session.scalar(
            update(Job)
            .where(Job.id == oldest)
            .values(status="running", attempts=Job.attempts + 1, locked_until=now + lease)
            .returning(Job)
        )


async def extend_lease(db: Database, job: Job, lease: timedelta) -> None:
    async with db.write() as session:
        await session.execute(
            update(Job).where(Job.id == job.id, Job.status == "running").values(locked_until=utcnow() + lease)
        )


def _done(job: Job) -> Any:
    return update(Job).where(Job.id == job.id).values(status="done", finished_at=utcnow(), locked_until=None)


async def finish(db: Database, job: Job) -> None:
    async with db.write() as session:
        await session.execute(_done(job))


@dataclass
class Running:
    """The job a runner is running in this context, and whether its handler has finished it."""

    job: Job
    finished: bool = False


RUNNING: ContextVar[Running | None] = ContextVar("agentmail_running_job", default=None)


async def finish_in(session: AsyncSession) -> None:
    """Mark the job being run as done inside the handler's own last transaction.

    Saves the runner's separate finishing transaction (on SQLite, a commit and its fsync) and
    leaves no window where the work is committed but the job is not. Outside a runner (a handler
    called directly) it does nothing.
    """
    running = RUNNING.get()
    if running is None:
        return
    await session.execute(_done(running.job))

    def _committed(_session: Session) -> None:
        running.finished = True

    sa_event.listen(session.sync_session, "after_commit", _committed, once=True)


async def retry_later(db: Database, job: Job, error: str, *, delay: timedelta | None,
                      reset_attempts: bool = False) -> None:
    """Put the job back for another attempt after `delay`, or mark it dead when `delay` is None.

    `reset_attempts` is for retries a handler schedules itself (it keeps its own count): they are
    progress, not failures, so the runner's failure budget starts again.
    """
    values: dict[str, Any] = {"last_error": error[:4000], "locked_until": None}
    if delay is None:
        values.update(status="dead", finished_at=utcnow())
    else:
        values.update(status="queued", run_at=utcnow() + delay)
    if reset_attempts:
        values.update(attempts=0)
    async with db.write() as session:
        await session.execute(update(Job).where(Job.id == job.id).values(**values))
