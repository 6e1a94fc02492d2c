"""Inboxes at the key's scope and under a pod (REFERENCE §2.5)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query, Response

from ..config import Settings
from ..db.engine import Database
from ..db.pagination import Page
from ..db.tables import Inbox as InboxRow
from ..schemas.resources import (
    CreateInboxRequest,
    Inbox,
    ListInboxesResponse,
    SearchInboxesResponse,
    UpdateInboxRequest,
)
from ..services import inboxes
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal, get_settings
from .params import ListParams, list_params

router = APIRouter(route_class=WireRoute, tags=["inboxes"])


def _listing(result: Page[InboxRow]) -> ListInboxesResponse:
    return ListInboxesResponse(
        count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
        inboxes=[Inbox.of(row) for row in result.items],
    )


async def _create(db: Database, settings: Settings, principal: Principal, body: CreateInboxRequest | None,
                  pod_id: str | None) -> Inbox:
    body = body or CreateInboxRequest()
    row = await inboxes.create_inbox(
        db, principal, pod_id=pod_id, default_domain=settings.default_domain, username=body.username,
        domain=body.domain, display_name=body.display_name, client_id=body.client_id, status=body.status,
        metadata=body.metadata,
    )
    return Inbox.of(row)


async def _update(db: Database, principal: Principal, inbox_id: str, body: UpdateInboxRequest | None,
                  pod_id: str | None) -> Inbox:
    fields = {name: getattr(body, name) for name in body.model_fields_set} if body else {}
    return Inbox.of(await inboxes.update_inbox(db, principal, inbox_id, pod_id=pod_id, fields=fields))


# --- /v0/inboxes ----------------------------------------------------------------------------


@router.get("/v0/inboxes", response_model=ListInboxesResponse)
async def list_inboxes(
    page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListInboxesResponse:
    return _listing(await inboxes.list_inboxes(
        db, principal, pod_id=None, limit=page.limit, page_token=page.page_token, ascending=page.ascending
    ))


@router.post("/v0/inboxes", response_model=Inbox)
async def create_inbox(
    body: CreateInboxRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db), settings: Settings = Depends(get_settings),
) -> Inbox:
    return await _create(db, settings, principal, body, None)


@router.get("/v0/inboxes/search", response_model=SearchInboxesResponse)
async def search_inboxes(
    q: str = Query(...), limit: int | None = Query(None), page_token: str | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> SearchInboxesResponse:
    return _listing(await inboxes.search_inboxes(
        db, principal, pod_id=None, q=q, limit=limit, page_token=page_token or None
    ))


@router.get("/v0/inboxes/{inbox_id}", response_model=Inbox)
async def get_inbox(
    inbox_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Inbox:
    return Inbox.of(await inboxes.get_inbox(db, principal, inbox_id))


@router.patch("/v0/inboxes/{inbox_id}", response_model=Inbox)
async def update_inbox(
    inbox_id: str, body: UpdateInboxRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> Inbox:
    return await _update(db, principal, inbox_id, body, None)


@router.delete("/v0/inboxes/{inbox_id}", status_code=204, response_class=Response)
async def delete_inbox(
    inbox_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    await inboxes.delete_inbox(db, principal, inbox_id)
    return Response(status_code=204)


# --- /v0/pods/{pod_id}/inboxes --------------------------------------------------------------


@router.get("/v0/pods/{pod_id}/inboxes", response_model=ListInboxesResponse)
async def list_pod_inboxes(
    pod_id: str, page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListInboxesResponse:
    return _listing(await inboxes.list_inboxes(
        db, principal, pod_id=pod_id, limit=page.limit, page_token=page.page_token, ascending=page.ascending
    ))


@router.post("/v0/pods/{pod_id}/inboxes", response_model=Inbox)
async def create_pod_inbox(
    pod_id: str, body: CreateInboxRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db), settings: Settings = Depends(get_settings),
) -> Inbox:
    return await _create(db, settings, principal, body, pod_id)


@router.get("/v0/pods/{pod_id}/inboxes/search", response_model=SearchInboxesResponse)
async def search_pod_inboxes(
    pod_id: str, q: str = Query(...), limit: int | None = Query(None), page_token: str | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> SearchInboxesResponse:
    return _listing(await inboxes.search_inboxes(
        db, principal, pod_id=pod_id, q=q, limit=limit, page_token=page_token or None
    ))


@router.get("/v0/pods/{pod_id}/inboxes/{inbox_id}", response_model=Inbox)
async def get_pod_inbox(
    pod_id: str, inbox_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Inbox:
    return Inbox.of(await inboxes.get_inbox(db, principal, inbox_id, pod_id=pod_id))


@router.patch("/v0/pods/{pod_id}/inboxes/{inbox_id}", response_model=Inbox)
async def update_pod_inbox(
    pod_id: str, inbox_id: str, body: UpdateInboxRequest | None = Body(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> Inbox:
    return await _update(db, principal, inbox_id, body, pod_id)


@router.delete("/v0/pods/{pod_id}/inboxes/{inbox_id}", status_code=204, response_class=Response)
async def delete_pod_inbox(
    pod_id: str, inbox_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    await inboxes.delete_inbox(db, principal, inbox_id, pod_id=pod_id)
    return Response(status_code=204)
