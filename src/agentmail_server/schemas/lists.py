"""Wire models for allow/block lists (MODELS.md "Lists (allow/block)")."""

from __future__ import annotations

from typing import Literal

from ..db import tables
from .common import PageResponse, RequestModel, ResponseModel, Timestamp

Direction = Literal["send", "receive", "reply"]
ListType = Literal["allow", "block"]
EntryType = Literal["email", "domain"]


class CreateListEntryRequest(RequestModel):
    entry: str
    reason: str | None = None


class ListEntry(ResponseModel):
    """An entry as the un-prefixed /v0/lists routes show it."""

    entry: str
    organization_id: str
    reason: str | None = None
    direction: Direction
    list_type: ListType
    entry_type: EntryType
    created_at: Timestamp
    read_only: bool | None = None

    @classmethod
    def of(cls, row: tables.ListEntry) -> ListEntry:
        return cls(
            entry=row.entry, organization_id=row.organization_id, reason=row.reason,
            direction=row.direction,  # type: ignore[arg-type]
            list_type=row.list_type,  # type: ignore[arg-type]
            entry_type=row.entry_type,  # type: ignore[arg-type]
            created_at=row.created_at, read_only=row.read_only,
        )


class PodListEntry(ListEntry):
    """An entry as the pod and inbox routes show it: where it lives, too."""

    pod_id: str
    inbox_id: str | None = None

    @classmethod
    def of(cls, row: tables.ListEntry) -> PodListEntry:
        base = ListEntry.of(row)
        assert row.pod_id is not None, "pod and inbox entries always carry their pod"
        return cls(**base.model_dump(), pod_id=row.pod_id, inbox_id=row.inbox_id)


class ListListEntriesResponse(PageResponse):
    entries: list[ListEntry]


class PodListListEntriesResponse(PageResponse):
    entries: list[PodListEntry]
