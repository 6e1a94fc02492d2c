"""Threads at the key's scope, a pod, or an inbox (REFERENCE §2.7, §2.9)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ..db.engine import Database
from ..schemas.messages import (
    AttachmentResponse,
    ListThreadsResponse,
    Message,
    SearchHighlights,
    SearchThreadItem,
    SearchThreadsResponse,
    Thread,
    ThreadItem,
    UpdateThreadRequest,
    UpdateThreadResponse,
)
from ..services import search, threads
from ..services.mail_filters import MailFilters
from ..services.messages import LabelChange
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal
from .mail_params import as_utc, thread_filters
from .messages import attachment_response

router = APIRouter(route_class=WireRoute, tags=["threads"])


async def _list(db: Database, principal: Principal, filters: MailFilters, limit: int | None, page_token: str | None,
                pod_id: str | None = None, inbox_id: str | None = None) -> ListThreadsResponse:
    page = await threads.list_threads(db, principal, filters, pod_id=pod_id, inbox_id=inbox_id, limit=limit,
                                      page_token=page_token or None)
    return ListThreadsResponse(count=len(page.items), limit=page.limit, next_page_token=page.next_page_token,
                               threads=[ThreadItem.of(t) for t in page.items])


async def _search(db: Database, principal: Principal, q: str, limit: int | None, page_token: str | None,
                  before: datetime | None, after: datetime | None, pod_id: str | None = None,
                  inbox_id: str | None = None) -> SearchThreadsResponse:
    page = await search.search_threads(db, principal, q, pod_id=pod_id, inbox_id=inbox_id, limit=limit,
                                       page_token=page_token or None, before=as_utc(before), after=as_utc(after))
    return SearchThreadsResponse(
        count=len(page.items), limit=page.limit, next_page_token=page.next_page_token,
        threads=[SearchThreadItem(**ThreadItem.fields_of(hit.item),  # type: ignore[arg-type]
                                  highlights=SearchHighlights.of(hit.highlights))
                 for hit in page.items],
    )


async def _get(db: Database, principal: Principal, thread_id: str, limit: int | None, page_token: str | None,
               pod_id: str | None = None, inbox_id: str | None = None) -> Thread:
    page = await threads.get_thread(db, principal, thread_id, pod_id=pod_id, inbox_id=inbox_id, limit=limit,
                                    page_token=page_token or None)
    return Thread(**ThreadItem.fields_of(page.thread), count=len(page.messages), limit=page.limit,
                  next_page_token=page.next_page_token, messages=[Message.of(m) for m in page.messages])


async def _update(db: Database, principal: Principal, thread_id: str, body: UpdateThreadRequest | None,
                  pod_id: str | None = None, inbox_id: str | None = None) -> UpdateThreadResponse:
    body = body or UpdateThreadRequest()
    change = LabelChange.of(body.add_labels, body.remove_labels)
    thread = await threads.update_thread(db, principal, thread_id, change, pod_id=pod_id, inbox_id=inbox_id)
    return UpdateThreadResponse(thread_id=thread.id, labels=list(thread.labels))


async def _delete(db: Database, principal: Principal, thread_id: str, pod_id: str | None = None,
                  inbox_id: str | None = None) -> Response:
    await threads.delete_thread(db, principal, thread_id, pod_id=pod_id, inbox_id=inbox_id)
    return Response(status_code=204)


async def _attachment(db: Database, principal: Principal, request: Request, thread_id: str, attachment_id: str,
                      pod_id: str | None = None, inbox_id: str | None = None) -> AttachmentResponse:
    message, meta = await threads.thread_attachment(db, principal, thread_id, attachment_id, pod_id=pod_id,
                                                    inbox_id=inbox_id)
    return attachment_response(request, message, meta)


# --- /v0/threads ----------------------------------------------------------------------------


@router.get("/v0/threads", response_model=ListThreadsResponse)
async def list_threads(
    limit: int | None = Query(None), page_token: str | None = Query(None),
    filters: MailFilters = Depends(thread_filters), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListThreadsResponse:
    return await _list(db, principal, filters, limit, page_token)


@router.get("/v0/threads/search", response_model=SearchThreadsResponse)
async def search_threads(
    q: str = Query(...), limit: int | None = Query(None), page_token: str | None = Query(None),
    before: datetime | None = Query(None), after: datetime | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> SearchThreadsResponse:
    return await _search(db, principal, q, limit, page_token, before, after)


@router.get("/v0/threads/{thread_id}", response_model=Thread)
async def get_thread(
    thread_id: str, limit: int | None = Query(None), page_token: str | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> Thread:
    return await _get(db, principal, thread_id, limit, page_token)


@router.patch("/v0/threads/{thread_id}", response_model=UpdateThreadResponse)
async def update_thread(
    thread_id: str, body: UpdateThreadRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> UpdateThreadResponse:
    return await _update(db, principal, thread_id, body)


@router.delete("/v0/threads/{thread_id}", status_code=204, response_class=Response)
async def delete_thread(
    thread_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    return await _delete(db, principal, thread_id)


@router.get("/v0/threads/{thread_id}/attachments/{attachment_id}", response_model=AttachmentResponse)
async def get_thread_attachment(
    thread_id: str, attachment_id: str, request: Request, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> AttachmentResponse:
    return await _attachment(db, principal, request, thread_id, attachment_id)


# --- /v0/pods/{pod_id}/threads --------------------------------------------------------------


@router.get("/v0/pods/{pod_id}/threads", response_model=ListThreadsResponse)
async def list_pod_threads(
    pod_id: str, limit: int | None = Query(None), page_token: str | None = Query(None),
    filters: MailFilters = Depends(thread_filters), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListThreadsResponse:
    return await _list(db, principal, filters, limit, page_token, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/threads/search", response_model=SearchThreadsResponse)
async def search_pod_threads(
    pod_id: str, q: str = Query(...), limit: int | None = Query(None), page_token: str | None = Query(None),
    before: datetime | None = Query(None), after: datetime | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> SearchThreadsResponse:
    return await _search(db, principal, q, limit, page_token, before, after, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/threads/{thread_id}", response_model=Thread)
async def get_pod_thread(
    pod_id: str, thread_id: str, limit: int | None = Query(None), page_token: str | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> Thread:
    return await _get(db, principal, thread_id, limit, page_token, pod_id=pod_id)


@router.patch("/v0/pods/{pod_id}/threads/{thread_id}", response_model=UpdateThreadResponse)
async def update_pod_thread(
    pod_id: str, thread_id: str, body: UpdateThreadRequest | None = Body(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> UpdateThreadResponse:
    return await _update(db, principal, thread_id, body, pod_id=pod_id)


@router.delete("/v0/pods/{pod_id}/threads/{thread_id}", status_code=204, response_class=Response)
async def delete_pod_thread(
    pod_id: str, thread_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    return await _delete(db, principal, thread_id, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/threads/{thread_id}/attachments/{attachment_id}", response_model=AttachmentResponse)
async def get_pod_thread_attachment(
    pod_id: str, thread_id: str, attachment_id: str, request: Request, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> AttachmentResponse:
    return await _attachment(db, principal, request, thread_id, attachment_id, pod_id=pod_id)


# --- /v0/inboxes/{inbox_id}/threads ---------------------------------------------------------


@router.get("/v0/inboxes/{inbox_id}/threads", response_model=ListThreadsResponse)
async def list_inbox_threads(
    inbox_id: str, limit: int | None = Query(None), page_token: str | None = Query(None),
    filters: MailFilters = Depends(thread_filters), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListThreadsResponse:
    return await _list(db, principal, filters, limit, page_token, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/threads/search", response_model=SearchThreadsResponse)
async def search_inbox_threads(
    inbox_id: str, q: str = Query(...), limit: int | None = Query(None), page_token: str | None = Query(None),
    before: datetime | None = Query(None), after: datetime | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> SearchThreadsResponse:
    return await _search(db, principal, q, limit, page_token, before, after, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/threads/{thread_id}", response_model=Thread)
async def get_inbox_thread(
    inbox_id: str, thread_id: str, limit: int | None = Query(None), page_token: str | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> Thread:
    return await _get(db, principal, thread_id, limit, page_token, inbox_id=inbox_id)


@router.patch("/v0/inboxes/{inbox_id}/threads/{thread_id}", response_model=UpdateThreadResponse)
async def update_inbox_thread(
    inbox_id: str, thread_id: str, body: UpdateThreadRequest | None = Body(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> UpdateThreadResponse:
    return await _update(db, principal, thread_id, body, inbox_id=inbox_id)


@router.delete("/v0/inboxes/{inbox_id}/threads/{thread_id}", status_code=204, response_class=Response)
async def delete_inbox_thread(
    inbox_id: str, thread_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    return await _delete(db, principal, thread_id, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/threads/{thread_id}/attachments/{attachment_id}",
            response_model=AttachmentResponse)
async def get_inbox_thread_attachment(
    inbox_id: str, thread_id: str, attachment_id: str, request: Request,
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> AttachmentResponse:
    return await _attachment(db, principal, request, thread_id, attachment_id, inbox_id=inbox_id)
