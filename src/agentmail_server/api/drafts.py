"""Drafts (REFERENCE §2.8) and their attachments (§2.9) at organization, pod and inbox level."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ..config import Settings
from ..db.engine import Database
from ..schemas.drafts import CreateDraftRequest, Draft, DraftItem, ListDraftsResponse, UpdateDraftRequest
from ..schemas.messages import Attachment, AttachmentResponse, UpdateMessageRequest
from ..schemas.sending import SendMessageResponse
from ..services import drafts, sending
from ..services.messages import LabelChange
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal, get_settings
from .links import signed_url
from .mail_params import as_utc
from .params import ListParams, list_params, query_list
from .sending import IDEMPOTENCY_HEADER, attachment_fetcher

router = APIRouter(route_class=WireRoute, tags=["drafts"])
INBOX = "/v0/inboxes/{inbox_id}/drafts"
POD = "/v0/pods/{pod_id}/drafts"


@dataclass(frozen=True)
class DraftFilters:
    """labels / before / after (on updated_at) plus the shared paging parameters."""

    page: ListParams
    labels: list[str]
    before: datetime | None
    after: datetime | None


async def draft_filters(
    request: Request, page: ListParams = Depends(list_params),
    labels: list[str] | None = Query(None, description="Drafts carrying all of these labels"),
    before: datetime | None = Query(None), after: datetime | None = Query(None),
) -> DraftFilters:
    return DraftFilters(page=page, labels=query_list(request, "labels") or [], before=as_utc(before),
                        after=as_utc(after))


async def _list(db: Database, principal: Principal, f: DraftFilters, *, pod_id: str | None = None,
                inbox_id: str | None = None) -> ListDraftsResponse:
    page = await drafts.list_drafts(db, principal, pod_id=pod_id, inbox_id=inbox_id, labels=f.labels,
                                    before=f.before, after=f.after, ascending=f.page.ascending,
                                    limit=f.page.limit, page_token=f.page.page_token)
    return ListDraftsResponse(count=len(page.items), limit=page.limit, next_page_token=page.next_page_token,
                              drafts=[DraftItem.of(d) for d in page.items])


async def _get(db: Database, principal: Principal, draft_id: str, *, pod_id: str | None = None,
               inbox_id: str | None = None) -> Draft:
    return Draft.of(await drafts.get_draft(db, principal, draft_id, pod_id=pod_id, inbox_id=inbox_id))


async def _attachment(request: Request, db: Database, principal: Principal, draft_id: str, attachment_id: str, *,
                      pod_id: str | None = None, inbox_id: str | None = None) -> AttachmentResponse:
    meta: dict[str, Any] = await drafts.draft_attachment(db, principal, draft_id, attachment_id, pod_id=pod_id,
                                                         inbox_id=inbox_id)
    # Draft files are Blobs of their own: the "blob" link kind carries the name and type.
    url, expires = signed_url(request, {"k": "blob", "b": meta["blob_id"], "f": meta.get("filename"),
                                        "t": meta.get("content_type")})
    return AttachmentResponse(**{k: meta.get(k) for k in Attachment.model_fields}, download_url=url,
                              expires_at=expires)


# --- /v0/drafts (the key's scope, read-only) ------------------------------------------------


@router.get("/v0/drafts", response_model=ListDraftsResponse)
async def list_drafts(
    filters: DraftFilters = Depends(draft_filters), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListDraftsResponse:
    return await _list(db, principal, filters)


@router.get("/v0/drafts/{draft_id}", response_model=Draft)
async def get_draft(
    draft_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Draft:
    return await _get(db, principal, draft_id)


@router.get("/v0/drafts/{draft_id}/attachments/{attachment_id}", response_model=AttachmentResponse)
async def get_draft_attachment(
    draft_id: str, attachment_id: str, request: Request, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> AttachmentResponse:
    return await _attachment(request, db, principal, draft_id, attachment_id)


# --- /v0/pods/{pod_id}/drafts (read-only) ---------------------------------------------------


@router.get(POD, response_model=ListDraftsResponse)
async def list_pod_drafts(
    pod_id: str, filters: DraftFilters = Depends(draft_filters), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListDraftsResponse:
    return await _list(db, principal, filters, pod_id=pod_id)


@router.get(POD + "/{draft_id}", response_model=Draft)
async def get_pod_draft(
    pod_id: str, draft_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Draft:
    return await _get(db, principal, draft_id, pod_id=pod_id)


@router.get(POD + "/{draft_id}/attachments/{attachment_id}", response_model=AttachmentResponse)
async def get_pod_draft_attachment(
    pod_id: str, draft_id: str, attachment_id: str, request: Request, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> AttachmentResponse:
    return await _attachment(request, db, principal, draft_id, attachment_id, pod_id=pod_id)


# --- /v0/inboxes/{inbox_id}/drafts ----------------------------------------------------------


@router.get(INBOX, response_model=ListDraftsResponse)
async def list_inbox_drafts(
    inbox_id: str, filters: DraftFilters = Depends(draft_filters), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListDraftsResponse:
    return await _list(db, principal, filters, inbox_id=inbox_id)


@router.post(INBOX, response_model=Draft)
async def create_draft(
    inbox_id: str, body: CreateDraftRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db), settings: Settings = Depends(get_settings),
) -> Draft:
    draft = await drafts.create_draft(db, principal, inbox_id, body or CreateDraftRequest(),
                                      fetch=attachment_fetcher(settings))
    return Draft.of(draft)


@router.get(INBOX + "/{draft_id}", response_model=Draft)
async def get_inbox_draft(
    inbox_id: str, draft_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Draft:
    return await _get(db, principal, draft_id, inbox_id=inbox_id)


@router.patch(INBOX + "/{draft_id}", response_model=Draft)
async def update_draft(
    inbox_id: str, draft_id: str, body: UpdateDraftRequest | None = Body(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Draft:
    draft = await drafts.update_draft(db, principal, inbox_id, draft_id, body or UpdateDraftRequest(),
                                      fetch=attachment_fetcher(settings))
    return Draft.of(draft)


@router.delete(INBOX + "/{draft_id}", status_code=204, response_class=Response)
async def delete_draft(
    inbox_id: str, draft_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    await drafts.delete_draft(db, principal, inbox_id, draft_id)
    return Response(status_code=204)


@router.post(INBOX + "/{draft_id}/send", response_model=SendMessageResponse)
async def send_draft(
    inbox_id: str, draft_id: str, request: Request, body: UpdateMessageRequest | None = Body(None),
    idempotency_key: str | None = IDEMPOTENCY_HEADER, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> SendMessageResponse:
    body = body or UpdateMessageRequest()
    key = sending.idempotency(idempotency_key, endpoint=f"draft-send:{inbox_id.lower()}:{draft_id.lower()}",
                              body=body.model_dump(mode="json", exclude_unset=True))
    change = LabelChange.of(body.add_labels, body.remove_labels, require=False)
    sent = await drafts.send_draft(db, principal, inbox_id, draft_id, change, key,
                                   rate_limit=request.app.state.settings.send_rate_limit_per_minute)
    return SendMessageResponse(message_id=sent.message_id, thread_id=sent.thread_id)


@router.get(INBOX + "/{draft_id}/attachments/{attachment_id}", response_model=AttachmentResponse)
async def get_inbox_draft_attachment(
    inbox_id: str, draft_id: str, attachment_id: str, request: Request,
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> AttachmentResponse:
    return await _attachment(request, db, principal, draft_id, attachment_id, inbox_id=inbox_id)
