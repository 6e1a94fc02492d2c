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
        # Each queue, and whether it wants only events that created webhook deliveries.
        self._queues: dict[asyncio.Queue[int], bool] = {}

    def subscribe(self, *, deliveries_only: bool = False) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        self._queues[queue] = deliveries_only
        return queue

    def unsubscribe(self, queue: asyncio.Queue[int]) -> None:
        self._queues.pop(queue, None)

    def publish(self, event_ids: Iterable[int], *, deliveries: bool = True) -> None:
        """`deliveries`: whether the events may have webhook deliveries to make (True when unknown,
        e.g. events committed by another process)."""
        ids = list(event_ids)
        for queue, deliveries_only in list(self._queues.items()):
            if deliveries_only and not deliveries:
                continue
            for event_id in ids:
                queue.put_nowait(event_id)


BUS = LocalBus()
