"""Messages of an inbox (REFERENCE §2.6; sending lives with its own issue)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ..db.engine import Database
from ..db.tables import Message as MessageRow
from ..schemas.messages import (
    AttachmentResponse,
    BatchGetMessagesRequest,
    BatchGetMessagesResponse,
    BatchUpdateMessagesRequest,
    BatchUpdateMessagesResponse,
    ListMessagesResponse,
    Message,
    MessageItem,
    RawMessageResponse,
    SearchHighlights,
    SearchMessageItem,
    SearchMessagesResponse,
    UpdateMessageRequest,
    UpdateMessageResponse,
)
from ..services import messages, search
from ..services.mail_filters import MailFilters
from ..services.messages import LabelChange
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal
from .links import signed_url
from .mail_params import as_utc, message_filters

router = APIRouter(route_class=WireRoute, tags=["messages"])
BASE = "/v0/inboxes/{inbox_id}/messages"


def attachment_response(request: Request, message: MessageRow, meta: dict[str, object]) -> AttachmentResponse:
    url, expires = signed_url(request, {"k": "att", "m": message.id, "a": meta["attachment_id"]})
    return AttachmentResponse(**{k: meta.get(k) for k in AttachmentResponse.model_fields if k in meta},
                              download_url=url, expires_at=expires)


@router.get(BASE, response_model=ListMessagesResponse)
async def list_messages(
    inbox_id: str, limit: int | None = Query(None), page_token: str | None = Query(None),
    filters: MailFilters = Depends(message_filters), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListMessagesResponse:
    page = await messages.list_messages(db, principal, inbox_id, filters, limit=limit, page_token=page_token or None)
    return ListMessagesResponse(count=len(page.items), limit=page.limit, next_page_token=page.next_page_token,
                                messages=[MessageItem.of(m) for m in page.items])


@router.post(f"{BASE}/batch-get", response_model=BatchGetMessagesResponse)
async def batch_get(
    inbox_id: str, body: BatchGetMessagesRequest, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> BatchGetMessagesResponse:
    found = await messages.batch_get(db, principal, inbox_id, body.message_ids)
    return BatchGetMessagesResponse(limit=len(body.message_ids), count=len(found),
                                    messages=[Message.of(m, bodies=False) for m in found])


@router.post(f"{BASE}/batch-update", response_model=BatchUpdateMessagesResponse)
async def batch_update(
    inbox_id: str, body: BatchUpdateMessagesRequest, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> BatchUpdateMessagesResponse:
    change = LabelChange.of(body.add_labels, body.remove_labels)
    updated = await messages.batch_update(db, principal, inbox_id, body.message_ids, change)
    return BatchUpdateMessagesResponse(
        limit=len(body.message_ids), count=len(updated),
        updates=[UpdateMessageResponse(message_id=m.message_id, labels=list(m.labels)) for m in updated],
    )


@router.get(f"{BASE}/search", response_model=SearchMessagesResponse)
async def search_messages(
    inbox_id: str, q: str = Query(...), limit: int | None = Query(None), page_token: str | None = Query(None),
    before: datetime | None = Query(None), after: datetime | None = Query(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> SearchMessagesResponse:
    page = await search.search_messages(db, principal, inbox_id, q, limit=limit, page_token=page_token or None,
                                        before=as_utc(before), after=as_utc(after))
    return SearchMessagesResponse(
        count=len(page.items), limit=page.limit, next_page_token=page.next_page_token,
        messages=[SearchMessageItem(**MessageItem.fields_of(hit.item),  # type: ignore[arg-type]
                                    highlights=SearchHighlights.of(hit.highlights))
                  for hit in page.items],
    )


# Message-IDs may contain "/" (REFERENCE §1.3): the id is a path parameter and the suffix routes are
# registered before the bare one.
@router.get(BASE + "/{message_id:path}/raw", response_model=RawMessageResponse)
async def get_raw(
    inbox_id: str, message_id: str, request: Request, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> RawMessageResponse:
    message = await messages.get_message(db, principal, inbox_id, message_id)
    url, expires = signed_url(request, {"k": "raw", "m": message.id})
    return RawMessageResponse(message_id=message.message_id, size=message.size, download_url=url, expires_at=expires)


@router.get(BASE + "/{message_id:path}/attachments/{attachment_id}", response_model=AttachmentResponse)
async def get_attachment(
    inbox_id: str, message_id: str, attachment_id: str, request: Request,
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> AttachmentResponse:
    message = await messages.get_message(db, principal, inbox_id, message_id)
    return attachment_response(request, message, messages.find_attachment(message, attachment_id))


@router.get(BASE + "/{message_id:path}", response_model=Message)
async def get_message(
    inbox_id: str, message_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Message:
    return Message.of(await messages.get_message(db, principal, inbox_id, message_id))


@router.patch(BASE + "/{message_id:path}", response_model=UpdateMessageResponse)
async def update_message(
    inbox_id: str, message_id: str, body: UpdateMessageRequest | None = Body(None),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> UpdateMessageResponse:
    body = body or UpdateMessageRequest()
    change = LabelChange.of(body.add_labels, body.remove_labels)
    message = await messages.update_message(db, principal, inbox_id, message_id, change)
    return UpdateMessageResponse(message_id=message.message_id, labels=list(message.labels))


@router.delete(BASE + "/{message_id:path}", status_code=204, response_class=Response)
async def delete_message(
    inbox_id: str, message_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    await messages.delete_message(db, principal, inbox_id, message_id)
    return Response(status_code=204)
