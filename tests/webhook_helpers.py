"""Helpers shared by the webhook tests: organizations made in-process, and looks into the delivery tables."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import select

from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Webhook, WebhookAttempt, WebhookDelivery
from agentmail_server.services import organizations

from .server import Server

T = TypeVar("T")


def with_db(server: Server, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(server.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def new_organization(server: Server) -> tuple[str, str]:
    """(organization_id, api_key) of a fresh organization: much faster than the CLI in a subprocess."""
    async def work(db: Database) -> tuple[str, str]:
        created = await organizations.create_organization(db, name="webhook-tests")
        return created.organization.id, created.api_key

    return with_db(server, work)


def deliveries(server: Server, webhook_id: str) -> list[dict[str, Any]]:
    """The webhook's delivery rows, oldest first, each with its attempts."""
    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.read() as session:
            rows = (await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id).order_by(WebhookDelivery.id)
            )).all()
            out = []
            for row in rows:
                attempts = (await session.scalars(
                    select(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id).order_by(WebhookAttempt.id)
                )).all()
                out.append({
                    "status": row.status, "attempts": row.attempts, "next_attempt_at": row.next_attempt_at,
                    "tries": [(a.status_code, a.error) for a in attempts],
                })
            return out

    return with_db(server, work)


def webhook_row(server: Server, webhook_id: str) -> Webhook | None:
    async def work(db: Database) -> Webhook | None:
        async with db.read() as session:
            return await session.get(Webhook, webhook_id)

    return with_db(server, work)
