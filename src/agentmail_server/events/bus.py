"""In-process notification that events were committed.

Listeners (the WebSocket hub, the webhook dispatcher) are woken with the ids of committed event
rows; the `events` table stays the truth, so a lost wake-up only adds latency. Cross-process
wake-ups on PostgreSQL (LISTEN/NOTIFY) feed the same bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class LocalBus:
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[int]] = set()

    def subscribe(self) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[int]) -> None:
        self._queues.discard(queue)

    def publish(self, event_ids: Iterable[int]) -> None:
        ids = list(event_ids)
        for queue in list(self._queues):
            for event_id in ids:
                queue.put_nowait(event_id)


BUS = LocalBus()
