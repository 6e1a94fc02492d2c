"""API keys at the key's own scope, a pod, or an inbox (REFERENCE §2.3)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, Response

from ..db.engine import Database
from ..schemas.resources import (
    BearerApiKey,
    CreateApiKeyRequest,
    CreateApiKeyResponse,
    ListApiKeysResponse,
    UpdateApiKeyRequest,
)
from ..services import api_keys
from ..services.errors import Invalid
from ..services.principal import Principal
from ..services.scoping import scope_for
from .deps import WireRoute, get_db, get_principal
from .params import ListParams, list_params

router = APIRouter(route_class=WireRoute, tags=["api-keys"])
NO_CONTENT = {"status_code": 204, "response_class": Response}


async def _list(db: Database, principal: Principal, page: ListParams, key_type: str | None,
                pod_id: str | None = None, inbox_id: str | None = None) -> ListApiKeysResponse:
    scope = await scope_for(db, principal, pod_id=pod_id, inbox_id=inbox_id)
    result = await api_keys.list_keys(
        db, principal, scope, key_type=key_type, limit=page.limit, page_token=page.page_token,
        ascending=page.ascending, endpoint=f"api-keys:{pod_id or ''}:{inbox_id or ''}",
    )
    return ListApiKeysResponse(
        count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
        api_keys=[BearerApiKey.of(row) for row in result.items],
    )


async def _create(db: Database, principal: Principal, body: CreateApiKeyRequest | None,
                  pod_id: str | None = None, inbox_id: str | None = None) -> CreateApiKeyResponse:
    body = body or CreateApiKeyRequest()
    if body.public_key is not None:
        raise Invalid("Public-key (AgentID) credentials are not supported by this server", path=["public_key"])
    scope = await scope_for(db, principal, pod_id=pod_id, inbox_id=inbox_id)
    created = await api_keys.create_key(
        db, principal, scope, name=body.name,
        permissions=body.permissions.flags() if body.permissions is not None else None,
        expires_at=body.expires_at,
    )
    return CreateApiKeyResponse.of(created.row, created.secret)


async def _update(db: Database, principal: Principal, api_key_id: str, body: UpdateApiKeyRequest | None,
                  pod_id: str | None = None, inbox_id: str | None = None) -> BearerApiKey:
    body = body or UpdateApiKeyRequest()
    fields: dict[str, object] = {}
    if "name" in body.model_fields_set:
        fields["name"] = body.name
    if "permissions" in body.model_fields_set:
        fields["permissions"] = body.permissions.flags() if body.permissions is not None else None
    scope = await scope_for(db, principal, pod_id=pod_id, inbox_id=inbox_id)
    return BearerApiKey.of(await api_keys.update_key(db, principal, scope, api_key_id, fields=fields))


async def _delete(db: Database, principal: Principal, api_key_id: str,
                  pod_id: str | None = None, inbox_id: str | None = None) -> Response:
    scope = await scope_for(db, principal, pod_id=pod_id, inbox_id=inbox_id)
    await api_keys.delete_key(db, principal, scope, api_key_id)
    return Response(status_code=204)


# --- /v0/api-keys ---------------------------------------------------------------------------


@router.get("/v0/api-keys", response_model=ListApiKeysResponse)
async def list_keys(
    type: Literal["bearer", "public_key"] | None = Query(None), page: ListParams = Depends(list_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> ListApiKeysResponse:
    return await _list(db, principal, page, type)


@router.post("/v0/api-keys", response_model=CreateApiKeyResponse)
async def create_key(
    body: CreateApiKeyRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> CreateApiKeyResponse:
    return await _create(db, principal, body)


@router.get("/v0/api-keys/{api_key_id}", response_model=BearerApiKey)
async def get_key(
    api_key_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> BearerApiKey:
    return BearerApiKey.of(await api_keys.get_key(db, principal, principal.scope, api_key_id))


@router.patch("/v0/api-keys/{api_key_id}", response_model=BearerApiKey)
async def update_key(
    api_key_id: str, body: UpdateApiKeyRequest | None = Body(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> BearerApiKey:
    return await _update(db, principal, api_key_id, body)


@router.delete("/v0/api-keys/{api_key_id}", **NO_CONTENT)
async def delete_key(
    api_key_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    return await _delete(db, principal, api_key_id)


# --- /v0/pods/{pod_id}/api-keys -------------------------------------------------------------


@router.get("/v0/pods/{pod_id}/api-keys", response_model=ListApiKeysResponse)
async def list_pod_keys(
    pod_id: str, page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListApiKeysResponse:
    return await _list(db, principal, page, None, pod_id=pod_id)


@router.post("/v0/pods/{pod_id}/api-keys", response_model=CreateApiKeyResponse)
async def create_pod_key(
    pod_id: str, body: CreateApiKeyRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> CreateApiKeyResponse:
    return await _create(db, principal, body, pod_id=pod_id)


@router.patch("/v0/pods/{pod_id}/api-keys/{api_key_id}", response_model=BearerApiKey)
async def update_pod_key(
    pod_id: str, api_key_id: str, body: UpdateApiKeyRequest | None = Body(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> BearerApiKey:
    return await _update(db, principal, api_key_id, body, pod_id=pod_id)


@router.delete("/v0/pods/{pod_id}/api-keys/{api_key_id}", **NO_CONTENT)
async def delete_pod_key(
    pod_id: str, api_key_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    return await _delete(db, principal, api_key_id, pod_id=pod_id)


# --- /v0/inboxes/{inbox_id}/api-keys --------------------------------------------------------


@router.get("/v0/inboxes/{inbox_id}/api-keys", response_model=ListApiKeysResponse)
async def list_inbox_keys(
    inbox_id: str, page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListApiKeysResponse:
    return await _list(db, principal, page, None, inbox_id=inbox_id)


@router.post("/v0/inboxes/{inbox_id}/api-keys", response_model=CreateApiKeyResponse)
async def create_inbox_key(
    inbox_id: str, body: CreateApiKeyRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> CreateApiKeyResponse:
    return await _create(db, principal, body, inbox_id=inbox_id)


@router.patch("/v0/inboxes/{inbox_id}/api-keys/{api_key_id}", response_model=BearerApiKey)
async def update_inbox_key(
    inbox_id: str, api_key_id: str, body: UpdateApiKeyRequest | None = Body(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> BearerApiKey:
    return await _update(db, principal, api_key_id, body, inbox_id=inbox_id)


@router.delete("/v0/inboxes/{inbox_id}/api-keys/{api_key_id}", **NO_CONTENT)
async def delete_inbox_key(
    inbox_id: str, api_key_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    return await _delete(db, principal, api_key_id, inbox_id=inbox_id)
