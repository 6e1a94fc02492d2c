"""The one job runner: claim → run → finish, or retry with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..db import queue
from ..db.engine import Database
from .tasks import cancel

log = logging.getLogger("agentmail_server.jobs")

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Permanent(Exception):
    """A failure that retrying cannot fix: the job is marked dead at once."""


class RetryAfter(Exception):
    """Not a failure: the handler wants to run again after `delay` (its own retry schedule, e.g.
    outbound mail after a 4xx). The runner's failure count is reset."""

    def __init__(self, delay: timedelta, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay}")
        self.delay = delay
        self.reason = reason


def in_lane(handler: Handler, name: str, workers: int) -> Handler:
    """Give this handler's jobs `workers` workers of their own (shared by handlers of the same lane
    name) instead of the common pool, so slow work (a remote SMTP server may take minutes to answer)
    never holds up the rest (inbound mail)."""
    handler.lane = (name, workers)  # type: ignore[attr-defined]
    return handler


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempt, 600))


@dataclass
class _Lane:
    """Workers sharing a set of job kinds, and the idle ones' wake-up events."""

    kinds: frozenset[str]
    workers: int
    idle: list[asyncio.Event] = field(default_factory=list)
    # Jobs committed while no worker was idle: a worker's claim running at that moment may not have
    # seen them, so that many workers about to sleep claim once more (busy ones claim anyway).
    missed: int = 0

    def wake(self, count: int | None) -> None:
        woken = len(self.idle) if count is None else min(count, len(self.idle))
        for _ in range(woken):
            self.idle.pop(0).set()
        left = self.workers if count is None else count - woken
        self.missed = min(self.missed + left, self.workers)


class JobRunner:
    def __init__(
        self, db: Database, handlers: dict[str, Handler], *, concurrency: int = 2,
        lease: timedelta = timedelta(seconds=15), poll_interval: float = 1.0, max_attempts: int = 12,
    ) -> None:
        self.db = db
        self.handlers = handlers
        self.concurrency = concurrency
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        # A committed job wakes one idle worker of its lane, not all of them: on SQLite every claim
        # is a write transaction queued for the single writer, and the extra ones would find nothing.
        self._lanes: list[_Lane] = []
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self, counts: Mapping[str, int] | None = None) -> None:
        """A hint that jobs were committed (how many of each kind, or None: unknown); workers also
        poll, so a lost wake-up only adds latency."""
        for lane in self._lanes:
            if counts is None:
                lane.wake(None)
            elif count := sum(n for kind, n in counts.items() if kind in lane.kinds):
                lane.wake(count)

    def start(self) -> None:
        lanes: dict[str, tuple[int, list[str]]] = {"": (self.concurrency, [])}
        for kind, handler in self.handlers.items():
            name, workers = getattr(handler, "lane", ("", self.concurrency))
            lanes.setdefault(name, (workers, []))[1].append(kind)
        self._lanes = []
        for name, (workers, kinds) in lanes.items():
            if not kinds:
                continue
            lane = _Lane(frozenset(kinds), workers)
            self._lanes.append(lane)
            self._tasks += [asyncio.create_task(self._worker(kinds, lane), name=f"jobs-{name or 'main'}-{i}")
                            for i in range(workers)]
        queue.add_waker(self.wake)

    async def stop(self) -> None:
        queue.remove_waker(self.wake)
        await cancel(*self._tasks)
        self._tasks = []

    async def _worker(self, kinds: list[str], lane: _Lane) -> None:
        wake = asyncio.Event()
        while True:
            try:
                job = await queue.claim(self.db, kinds, lease=self.lease)
            except Exception:
                log.exception("claiming a job failed")
                job = None
            if job is not None:
                await self._run(job)
                continue
            if lane.missed:
                lane.missed -= 1  # committed while this worker was claiming: look again
                continue
            wake.clear()
            lane.idle.append(wake)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_interval)
            finally:
                if wake in lane.idle:
                    lane.idle.remove(wake)

    async def _heartbeat(self, job: Any) -> None:
        # Keeps the lease short (a dead worker's job is retaken within seconds) without letting a
        # long-running job be taken by a second worker while the first is still alive.
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            with contextlib.suppress(Exception):
                await queue.extend_lease(self.db, job, self.lease)

    async def _run(self, job: Any) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(job))
        running = queue.Running(job)
        token = queue.RUNNING.set(running)
        try:
            await self.handlers[job.kind](job.payload)
        except asyncio.CancelledError:
            raise
        except RetryAfter as exc:
            with contextlib.suppress(Exception):
                await queue.retry_later(self.db, job, str(exc), delay=exc.delay, reset_attempts=True)
            return
        except Exception as exc:
            final = isinstance(exc, Permanent) or job.attempts >= self.max_attempts
            log.warning("job %s %s attempt %d failed: %r", job.id, job.kind, job.attempts, exc,
                        exc_info=not isinstance(exc, Permanent))
            with contextlib.suppress(Exception):
                await queue.retry_later(self.db, job, repr(exc), delay=None if final else backoff(job.attempts))
            return
        finally:
            queue.RUNNING.reset(token)
            heartbeat.cancel()
        if running.finished:
            return
        try:
            await queue.finish(self.db, job)
        except Exception:
            # The work is done but not marked: the lease expires and it runs again, which handlers
            # tolerate (they are idempotent).
            log.exception("marking job %s done failed", job.id)
