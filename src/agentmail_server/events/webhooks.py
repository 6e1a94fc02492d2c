"""Webhook fan-out and dispatch (issue 6, webhooks part)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.tables import Event


async def fan_out(session: AsyncSession, event: Event) -> None:
    """Create, in the event's own transaction, one pending delivery per matching webhook."""
    return None


class Dispatcher:
    """Delivers pending webhook deliveries (worker role)."""

    def __init__(self, db: object, settings: object) -> None:
        self.db = db
        self.settings = settings

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
