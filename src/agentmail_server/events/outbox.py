"""emit_event: the one way events are recorded, inside the transaction of the change they describe."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ..db import host_notify
from ..db.tables import Event
from . import webhooks
from .bus import BUS

NOTIFY_CHANNEL = "agentmail_events"
_PENDING = "agentmail.committed_events"
_DELIVERIES = "agentmail.committed_deliveries"


async def emit_event(
    session: AsyncSession, *, event_type: str, organization_id: str, pod_id: str | None, inbox_id: str | None,
    body: dict[str, Any],
) -> Event:
    """Record an event whose wire payload is `{"type": "event", "event_type", "event_id", **body}`.

    In the same transaction: the webhook deliveries it causes, and (PostgreSQL) a NOTIFY that every
    process receives only if the transaction commits.
    """
    event_id = uuid.uuid4().hex
    payload = {"type": "event", "event_type": event_type, "event_id": event_id, **body}
    event = Event(event_id=event_id, event_type=event_type, organization_id=organization_id, pod_id=pod_id,
                  inbox_id=inbox_id, payload=payload)
    session.add(event)
    await session.flush()
    deliveries = await webhooks.fan_out(session, event)
    if session.bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, f"{event.id}:{deliveries}")))
    _publish_after_commit(session.sync_session, event.id, deliveries=deliveries > 0)
    return event


def _publish_after_commit(session: Session, event_row_id: int, *, deliveries: bool) -> None:
    if deliveries:
        session.info[_DELIVERIES] = True
    pending = session.info.setdefault(_PENDING, [])
    if not pending:
        sa_event.listen(session, "after_commit", _after_commit, once=True)
        sa_event.listen(session, "after_rollback", _after_rollback, once=True)
    pending.append(event_row_id)


def _after_commit(session: Session) -> None:
    ids, deliveries = session.info.pop(_PENDING, []), session.info.pop(_DELIVERIES, False)
    BUS.publish(ids, deliveries=deliveries)
    # Other processes on a SQLite file: the payloads PostgreSQL's NOTIFY carries ("<row id>:<deliveries>").
    host_notify.send_after_commit(session, NOTIFY_CHANNEL, [f"{row_id}:{int(deliveries)}" for row_id in ids])
    if sa_event.contains(session, "after_rollback", _after_rollback):
        sa_event.remove(session, "after_rollback", _after_rollback)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_DELIVERIES, None)
    if sa_event.contains(session, "after_commit", _after_commit):
        sa_event.remove(session, "after_commit", _after_commit)
