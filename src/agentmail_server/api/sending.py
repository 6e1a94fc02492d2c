"""Send, reply, reply-all and forward (REFERENCE §2.6, §1.12)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Body, Depends, Header, Request

from ..config import Settings
from ..db.engine import Database
from ..schemas.sending import (
    ReplyAllMessageRequest,
    ReplyToMessageRequest,
    SendMessageRequest,
    SendMessageResponse,
)
from ..services import sending
from ..services.fetch import fetch_url
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal, get_settings

router = APIRouter(route_class=WireRoute, tags=["messages"])
BASE = "/v0/inboxes/{inbox_id}/messages"
IDEMPOTENCY_HEADER = Header(None, alias="Idempotency-Key", description="Replays the first answer for 24 h")


def attachment_fetcher(settings: Settings):  # type: ignore[no-untyped-def]
    return partial(fetch_url, allow_private=settings.attachment_url_allow_private,
                   max_bytes=settings.attachment_url_max_bytes)


async def _run(request: Request, db: Database, principal: Principal, inbox_id: str, *, permission: str,
               prepare, key: sending.Idempotency | None) -> SendMessageResponse:  # type: ignore[no-untyped-def]
    sent = await sending.send(db, principal, inbox_id, permission=permission, prepare=prepare, key=key,
                              rate_limit=request.app.state.settings.send_rate_limit_per_minute)
    return SendMessageResponse(message_id=sent.message_id, thread_id=sent.thread_id)


def _key(value: str | None, endpoint: str, inbox_id: str, body: object) -> sending.Idempotency | None:
    dumped = body.model_dump(mode="json", exclude_unset=True) if body is not None else {}  # type: ignore[attr-defined]
    return sending.idempotency(value, endpoint=f"{endpoint}:{inbox_id.lower()}", body=dumped)


@router.post(f"{BASE}/send", response_model=SendMessageResponse)
async def send_message(
    inbox_id: str, request: Request, body: SendMessageRequest | None = Body(None),
    idempotency_key: str | None = IDEMPOTENCY_HEADER, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db), settings: Settings = Depends(get_settings),
) -> SendMessageResponse:
    body = body or SendMessageRequest()
    key = _key(idempotency_key, "send", inbox_id, body)
    out = await sending.outgoing_from(body, fetch=attachment_fetcher(settings))
    return await _run(request, db, principal, inbox_id, permission="message_send",
                      prepare=sending.new_send_prepare(out), key=key)


@router.post(BASE + "/{message_id:path}/reply-all", response_model=SendMessageResponse)
async def reply_all(
    inbox_id: str, message_id: str, request: Request, body: ReplyAllMessageRequest | None = Body(None),
    idempotency_key: str | None = IDEMPOTENCY_HEADER, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db), settings: Settings = Depends(get_settings),
) -> SendMessageResponse:
    body = body or ReplyAllMessageRequest()
    key = _key(idempotency_key, f"reply-all:{message_id}", inbox_id, body)
    out = await sending.outgoing_from(body, fetch=attachment_fetcher(settings), recipients=False)
    prepare = sending.reply_prepare(message_id, out, reply_all=True, principal=principal)
    return await _run(request, db, principal, inbox_id, permission="message_reply", prepare=prepare, key=key)


@router.post(BASE + "/{message_id:path}/reply", response_model=SendMessageResponse)
async def reply(
    inbox_id: str, message_id: str, request: Request, body: ReplyToMessageRequest | None = Body(None),
    idempotency_key: str | None = IDEMPOTENCY_HEADER, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db), settings: Settings = Depends(get_settings),
) -> SendMessageResponse:
    body = body or ReplyToMessageRequest()
    key = _key(idempotency_key, f"reply:{message_id}", inbox_id, body)
    out = await sending.outgoing_from(body, fetch=attachment_fetcher(settings), recipients=not body.reply_all)
    prepare = sending.reply_prepare(message_id, out, reply_all=bool(body.reply_all), principal=principal)
    return await _run(request, db, principal, inbox_id, permission="message_reply", prepare=prepare, key=key)


@router.post(BASE + "/{message_id:path}/forward", response_model=SendMessageResponse)
async def forward(
    inbox_id: str, message_id: str, request: Request, body: SendMessageRequest | None = Body(None),
    idempotency_key: str | None = IDEMPOTENCY_HEADER, principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db), settings: Settings = Depends(get_settings),
) -> SendMessageResponse:
    body = body or SendMessageRequest()
    key = _key(idempotency_key, f"forward:{message_id}", inbox_id, body)
    out = await sending.outgoing_from(body, fetch=attachment_fetcher(settings))
    prepare = sending.forward_prepare(message_id, out, principal=principal)
    return await _run(request, db, principal, inbox_id, permission="message_send", prepare=prepare, key=key)
