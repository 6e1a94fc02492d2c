"""emit_event: the one way events are recorded, inside the transaction of the change they describe."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.tables import Event


def emit_event(
    session: AsyncSession, *, event_type: str, organization_id: str, pod_id: str | None, inbox_id: str | None,
    body: dict[str, Any],
) -> Event:
    """Record an event whose wire payload is `{"type": "event", "event_type", "event_id", **body}`."""
    event_id = uuid.uuid4().hex
    payload = {"type": "event", "event_type": event_type, "event_id": event_id, **body}
    event = Event(event_id=event_id, event_type=event_type, organization_id=organization_id, pod_id=pod_id,
                  inbox_id=inbox_id, payload=payload)
    session.add(event)
    return event
