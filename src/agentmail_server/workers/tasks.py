"""Stopping background tasks: cancel, then wait until each has really finished."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel(*tasks: asyncio.Task[object] | None) -> None:
    live = [task for task in tasks if task is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            await task
