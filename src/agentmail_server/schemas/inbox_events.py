"""Wire models of the label audit log (MODELS.md: InboxEvent, ListInboxEventsResponse)."""

from __future__ import annotations

from typing import Literal

from ..db.tables import InboxEvent as InboxEventRow
from .common import PageResponse, ResponseModel, Timestamp


def event_id(row_id: int) -> str:
    """Zero-padded so that sorting event ids as strings keeps the log's order."""
    return f"{row_id:020d}"


class InboxEvent(ResponseModel):
    organization_id: str
    pod_id: str
    inbox_id: str
    event_id: str
    event_type: Literal["label.added", "label.removed"]
    message_id: str
    label: str
    event_at: Timestamp
    created_at: Timestamp

    @classmethod
    def of(cls, row: InboxEventRow) -> InboxEvent:
        return cls(
            organization_id=row.organization_id, pod_id=row.pod_id, inbox_id=row.inbox_id,
            event_id=event_id(row.id), event_type=row.event_type,  # type: ignore[arg-type]
            message_id=row.message_id, label=row.label, event_at=row.event_at, created_at=row.created_at,
        )


class ListInboxEventsResponse(PageResponse):
    events: list[InboxEvent]
