"""Work that runs on a timer in worker processes (each task must be safe with many workers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .tasks import cancel

log = logging.getLogger("agentmail_server.periodic")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    interval: float
    run: Callable[[], Awaitable[None]]


async def run_forever(task: PeriodicTask) -> None:
    while True:
        try:
            await task.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic task %s failed", task.name)
        await asyncio.sleep(task.interval)


class Periodic:
    def __init__(self, tasks: list[PeriodicTask]) -> None:
        self.tasks = tasks
        self._running: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._running = [asyncio.create_task(run_forever(t), name=f"periodic-{t.name}") for t in self.tasks]

    async def stop(self) -> None:
        await cancel(*self._running)
