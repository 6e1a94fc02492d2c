"""Allow/block lists (REFERENCE §2.11)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Response

from ..db.engine import Database
from ..schemas.lists import (
    CreateListEntryRequest,
    Direction,
    ListEntry,
    ListListEntriesResponse,
    ListType,
    PodListEntry,
    PodListListEntriesResponse,
)
from ..services import lists
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal
from .params import ListParams, list_params

router = APIRouter(route_class=WireRoute, tags=["lists"])
NO_CONTENT = {"status_code": 204, "response_class": Response}

# Entries are always listed by `entry` ascending (REFERENCE §1.8); ListParams.ascending is ignored.


# --- /v0/lists: the key's own level ---------------------------------------------------------


@router.get("/v0/lists/{direction}/{type}", response_model=ListListEntriesResponse)
async def list_entries(
    direction: Direction, type: ListType, page: ListParams = Depends(list_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> ListListEntriesResponse:
    result = await lists.list_entries(
        db, principal, direction=direction, list_type=type, limit=page.limit, page_token=page.page_token
    )
    return ListListEntriesResponse(
        count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
        entries=[ListEntry.of(row) for row in result.items],
    )


@router.post("/v0/lists/{direction}/{type}", response_model=ListEntry)
async def create_entry(
    direction: Direction, type: ListType, body: CreateListEntryRequest = Body(...),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> ListEntry:
    return ListEntry.of(await lists.create_entry(
        db, principal, direction=direction, list_type=type, entry=body.entry, reason=body.reason
    ))


@router.get("/v0/lists/{direction}/{type}/{entry}", response_model=ListEntry)
async def get_entry(
    direction: Direction, type: ListType, entry: str, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListEntry:
    return ListEntry.of(await lists.get_entry(db, principal, direction=direction, list_type=type, entry=entry))


@router.delete("/v0/lists/{direction}/{type}/{entry}", **NO_CONTENT)
async def delete_entry(
    direction: Direction, type: ListType, entry: str, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> Response:
    await lists.delete_entry(db, principal, direction=direction, list_type=type, entry=entry)
    return Response(status_code=204)


# --- /v0/pods/{pod_id}/lists and /v0/inboxes/{inbox_id}/lists --------------------------------


async def _list(db: Database, principal: Principal, page: ListParams, direction: str, list_type: str,
                pod_id: str | None = None, inbox_id: str | None = None) -> PodListListEntriesResponse:
    result = await lists.list_entries(
        db, principal, pod_id=pod_id, inbox_id=inbox_id, direction=direction, list_type=list_type,
        limit=page.limit, page_token=page.page_token,
    )
    return PodListListEntriesResponse(
        count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
        entries=[PodListEntry.of(row) for row in result.items],
    )


async def _create(db: Database, principal: Principal, body: CreateListEntryRequest, direction: str,
                  list_type: str, pod_id: str | None = None, inbox_id: str | None = None) -> PodListEntry:
    return PodListEntry.of(await lists.create_entry(
        db, principal, pod_id=pod_id, inbox_id=inbox_id, direction=direction, list_type=list_type,
        entry=body.entry, reason=body.reason,
    ))


@router.get("/v0/pods/{pod_id}/lists/{direction}/{type}", response_model=PodListListEntriesResponse)
async def list_pod_entries(
    pod_id: str, direction: Direction, type: ListType, page: ListParams = Depends(list_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> PodListListEntriesResponse:
    return await _list(db, principal, page, direction, type, pod_id=pod_id)


@router.post("/v0/pods/{pod_id}/lists/{direction}/{type}", response_model=PodListEntry)
async def create_pod_entry(
    pod_id: str, direction: Direction, type: ListType, body: CreateListEntryRequest = Body(...),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> PodListEntry:
    return await _create(db, principal, body, direction, type, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/lists/{direction}/{type}/{entry}", response_model=PodListEntry)
async def get_pod_entry(
    pod_id: str, direction: Direction, type: ListType, entry: str,
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> PodListEntry:
    return PodListEntry.of(await lists.get_entry(
        db, principal, pod_id=pod_id, direction=direction, list_type=type, entry=entry
    ))


@router.delete("/v0/pods/{pod_id}/lists/{direction}/{type}/{entry}", **NO_CONTENT)
async def delete_pod_entry(
    pod_id: str, direction: Direction, type: ListType, entry: str,
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> Response:
    await lists.delete_entry(db, principal, pod_id=pod_id, direction=direction, list_type=type, entry=entry)
    return Response(status_code=204)


@router.get("/v0/inboxes/{inbox_id}/lists/{direction}/{type}", response_model=PodListListEntriesResponse)
async def list_inbox_entries(
    inbox_id: str, direction: Direction, type: ListType, page: ListParams = Depends(list_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> PodListListEntriesResponse:
    return await _list(db, principal, page, direction, type, inbox_id=inbox_id)


@router.post("/v0/inboxes/{inbox_id}/lists/{direction}/{type}", response_model=PodListEntry)
async def create_inbox_entry(
    inbox_id: str, direction: Direction, type: ListType, body: CreateListEntryRequest = Body(...),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> PodListEntry:
    return await _create(db, principal, body, direction, type, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/lists/{direction}/{type}/{entry}", response_model=PodListEntry)
async def get_inbox_entry(
    inbox_id: str, direction: Direction, type: ListType, entry: str,
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> PodListEntry:
    return PodListEntry.of(await lists.get_entry(
        db, principal, inbox_id=inbox_id, direction=direction, list_type=type, entry=entry
    ))


@router.delete("/v0/inboxes/{inbox_id}/lists/{direction}/{type}/{entry}", **NO_CONTENT)
async def delete_inbox_entry(
    inbox_id: str, direction: Direction, type: ListType, entry: str,
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> Response:
    await lists.delete_entry(db, principal, inbox_id=inbox_id, direction=direction, list_type=type, entry=entry)
    return Response(status_code=204)
