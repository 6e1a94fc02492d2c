"""Routes: webhooks and polling webhooks (REFERENCE §2.12, §2.13), at organization, pod and inbox level.

Polling routes come first: `/v0/webhooks/polling…` would otherwise be taken for a webhook id.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ..config import Settings
from ..db.engine import Database
from ..events.frames import wire_body
from ..schemas.webhooks import (
    CreateInboxPollingWebhookRequest,
    CreateInboxWebhookRequest,
    CreatePodPollingWebhookRequest,
    CreatePodWebhookRequest,
    CreatePollingWebhookRequest,
    CreatePollingWebhookResponse,
    CreateWebhookRequest,
    ListPollingWebhooksResponse,
    ListWebhookAttemptsResponse,
    ListWebhookDeliveriesResponse,
    ListWebhooksResponse,
    PollingEventsResponse,
    PollingWebhook,
    UpdateInboxWebhookRequest,
    UpdatePodWebhookRequest,
    UpdateWebhookHeadersRequest,
    UpdateWebhookRequest,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookHeaderNamesResponse,
)
from ..services import webhooks
from ..services.principal import Principal
from .deps import WireRoute, bearer_token, get_db, get_principal, get_settings
from .params import ListParams, list_params

router = APIRouter(route_class=WireRoute, tags=["webhooks"])
NO_CONTENT = {"status_code": 204, "response_class": Response}


# --- polling webhooks: reading ----------------------------------------------------------------


@router.get(
    webhooks.POLLING_EVENTS_PATH, response_model=PollingEventsResponse, tags=["polling-webhooks"],
    summary="Read a polling webhook's events",
    description=(
        "Authorised by the polling webhook's token (`Authorization: Bearer <token>`), not by an API key. "
        "Answers the oldest unread events, at most `limit`, with an `iterator`; passing that iterator on "
        "the next read acknowledges them. Reading without an iterator (or with an older one) answers the "
        "unacknowledged events again. `done` is true when nothing more is waiting."
    ),
)
async def read_polling_events(
    request: Request,
    iterator: str | None = Query(None, description="The iterator of the previous read"),
    limit: int | None = Query(None, description=f"Events per read (default {webhooks.DEFAULT_POLL_LIMIT}, "
                                                f"max {webhooks.MAX_POLL_LIMIT})"),
    db: Database = Depends(get_db),
) -> Response:
    token = bearer_token(request.headers.get("authorization"))
    if not webhooks.is_polling_token(token):
        # With an API key this path is `GET /v0/webhooks/polling/{webhook_id}` for the client_id "events".
        principal = await get_principal(request)
        row = await webhooks.get_polling(db, principal, "events")
        return Response(PollingWebhook.of(row).model_dump_json(exclude_none=True), media_type="application/json")
    polled = await webhooks.read_events(db, token, iterator=iterator or None, limit=limit)
    # The events exactly as webhooks carry them (bodies over 64 KB dropped), without re-serialising.
    body = (
        '{"data":[' + ",".join(wire_body(p) for p in polled.payloads) + "],"
        f'"iterator":{json.dumps(polled.iterator)},"done":{"true" if polled.done else "false"}}}'
    )
    return Response(body, media_type="application/json")


# --- polling webhooks: management -------------------------------------------------------------


async def _list_polling(db: Database, principal: Principal, page: ListParams, *, pod_id: str | None = None,
                        inbox_id: str | None = None) -> ListPollingWebhooksResponse:
    result = await webhooks.list_polling(db, principal, pod_id=pod_id, inbox_id=inbox_id, limit=page.limit,
                                         page_token=page.page_token, ascending=page.ascending)
    return ListPollingWebhooksResponse(
        count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
        polling_webhooks=[PollingWebhook.of(row) for row in result.items],
    )


async def _create_polling(db: Database, principal: Principal, body: CreateInboxPollingWebhookRequest, *,
                          pod_id: str | None = None, inbox_id: str | None = None) -> CreatePollingWebhookResponse:
    row, token = await webhooks.create_polling(
        db, principal, pod_id=pod_id, inbox_id=inbox_id, client_id=body.client_id, event_types=body.event_types,
        pod_ids=getattr(body, "pod_ids", None), inbox_ids=getattr(body, "inbox_ids", None),
    )
    return CreatePollingWebhookResponse.with_token(row, token)


@router.get("/v0/webhooks/polling", response_model=ListPollingWebhooksResponse, tags=["polling-webhooks"])
async def list_polling(page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
                       db: Database = Depends(get_db)) -> ListPollingWebhooksResponse:
    return await _list_polling(db, principal, page)


@router.post("/v0/webhooks/polling", response_model=CreatePollingWebhookResponse, tags=["polling-webhooks"])
async def create_polling(body: CreatePollingWebhookRequest = Body(...), principal: Principal = Depends(get_principal),
                         db: Database = Depends(get_db)) -> CreatePollingWebhookResponse:
    return await _create_polling(db, principal, body)


@router.get("/v0/webhooks/polling/{webhook_id}", response_model=PollingWebhook, tags=["polling-webhooks"])
async def get_polling(webhook_id: str, principal: Principal = Depends(get_principal),
                      db: Database = Depends(get_db)) -> PollingWebhook:
    return PollingWebhook.of(await webhooks.get_polling(db, principal, webhook_id))


@router.delete("/v0/webhooks/polling/{webhook_id}", tags=["polling-webhooks"], **NO_CONTENT)
async def delete_polling(webhook_id: str, principal: Principal = Depends(get_principal),
                         db: Database = Depends(get_db)) -> Response:
    await webhooks.delete_polling(db, principal, webhook_id)
    return Response(status_code=204)


@router.get("/v0/pods/{pod_id}/webhooks/polling", response_model=ListPollingWebhooksResponse,
            tags=["polling-webhooks"])
async def list_pod_polling(pod_id: str, page: ListParams = Depends(list_params),
                           principal: Principal = Depends(get_principal),
                           db: Database = Depends(get_db)) -> ListPollingWebhooksResponse:
    return await _list_polling(db, principal, page, pod_id=pod_id)


@router.post("/v0/pods/{pod_id}/webhooks/polling", response_model=CreatePollingWebhookResponse,
             tags=["polling-webhooks"])
async def create_pod_polling(pod_id: str, body: CreatePodPollingWebhookRequest = Body(...),
                             principal: Principal = Depends(get_principal),
                             db: Database = Depends(get_db)) -> CreatePollingWebhookResponse:
    return await _create_polling(db, principal, body, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/webhooks/polling/{webhook_id}", response_model=PollingWebhook,
            tags=["polling-webhooks"])
async def get_pod_polling(pod_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                          db: Database = Depends(get_db)) -> PollingWebhook:
    return PollingWebhook.of(await webhooks.get_polling(db, principal, webhook_id, pod_id=pod_id))


@router.delete("/v0/pods/{pod_id}/webhooks/polling/{webhook_id}", tags=["polling-webhooks"], **NO_CONTENT)
async def delete_pod_polling(pod_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                             db: Database = Depends(get_db)) -> Response:
    await webhooks.delete_polling(db, principal, webhook_id, pod_id=pod_id)
    return Response(status_code=204)


@router.get("/v0/inboxes/{inbox_id}/webhooks/polling", response_model=ListPollingWebhooksResponse,
            tags=["polling-webhooks"])
async def list_inbox_polling(inbox_id: str, page: ListParams = Depends(list_params),
                             principal: Principal = Depends(get_principal),
                             db: Database = Depends(get_db)) -> ListPollingWebhooksResponse:
    return await _list_polling(db, principal, page, inbox_id=inbox_id)


@router.post("/v0/inboxes/{inbox_id}/webhooks/polling", response_model=CreatePollingWebhookResponse,
             tags=["polling-webhooks"])
async def create_inbox_polling(inbox_id: str, body: CreateInboxPollingWebhookRequest = Body(...),
                               principal: Principal = Depends(get_principal),
                               db: Database = Depends(get_db)) -> CreatePollingWebhookResponse:
    return await _create_polling(db, principal, body, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/webhooks/polling/{webhook_id}", response_model=PollingWebhook,
            tags=["polling-webhooks"])
async def get_inbox_polling(inbox_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                            db: Database = Depends(get_db)) -> PollingWebhook:
    return PollingWebhook.of(await webhooks.get_polling(db, principal, webhook_id, inbox_id=inbox_id))


@router.delete("/v0/inboxes/{inbox_id}/webhooks/polling/{webhook_id}", tags=["polling-webhooks"], **NO_CONTENT)
async def delete_inbox_polling(inbox_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                               db: Database = Depends(get_db)) -> Response:
    await webhooks.delete_polling(db, principal, webhook_id, inbox_id=inbox_id)
    return Response(status_code=204)


# --- webhooks -----------------------------------------------------------------------------------


async def _list(db: Database, principal: Principal, page: ListParams, *, pod_id: str | None = None,
                inbox_id: str | None = None) -> ListWebhooksResponse:
    result = await webhooks.list_webhooks(db, principal, pod_id=pod_id, inbox_id=inbox_id, limit=page.limit,
                                          page_token=page.page_token, ascending=page.ascending)
    return ListWebhooksResponse(count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
                                webhooks=[Webhook.of(row) for row in result.items])


async def _create(db: Database, principal: Principal, settings: Settings, body: CreateInboxWebhookRequest, *,
                  pod_id: str | None = None, inbox_id: str | None = None) -> Webhook:
    return Webhook.of(await webhooks.create_webhook(
        db, principal, settings, pod_id=pod_id, inbox_id=inbox_id, url=body.url, event_types=body.event_types,
        client_id=body.client_id, headers=body.headers, pod_ids=getattr(body, "pod_ids", None),
        inbox_ids=getattr(body, "inbox_ids", None),
    ))


async def _update(db: Database, principal: Principal, webhook_id: str, body: UpdateInboxWebhookRequest, *,
                  pod_id: str | None = None, inbox_id: str | None = None) -> Webhook:
    changes = webhooks.WebhookChanges(
        event_types=body.event_types, enabled=body.enabled,
        add_pod_ids=getattr(body, "add_pod_ids", None), remove_pod_ids=getattr(body, "remove_pod_ids", None),
        add_inbox_ids=getattr(body, "add_inbox_ids", None), remove_inbox_ids=getattr(body, "remove_inbox_ids", None),
    )
    return Webhook.of(await webhooks.update_webhook(db, principal, webhook_id, changes, pod_id=pod_id,
                                                    inbox_id=inbox_id))


async def _update_headers(db: Database, principal: Principal, webhook_id: str, body: UpdateWebhookHeadersRequest, *,
                          pod_id: str | None = None, inbox_id: str | None = None) -> Response:
    await webhooks.update_headers(db, principal, webhook_id, headers=body.headers, remove_headers=body.remove_headers,
                                  pod_id=pod_id, inbox_id=inbox_id)
    return Response(status_code=204)


@router.get("/v0/webhooks", response_model=ListWebhooksResponse)
async def list_webhooks(page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
                        db: Database = Depends(get_db)) -> ListWebhooksResponse:
    return await _list(db, principal, page)


@router.post("/v0/webhooks", response_model=Webhook)
async def create_webhook(body: CreateWebhookRequest = Body(...), principal: Principal = Depends(get_principal),
                         db: Database = Depends(get_db), settings: Settings = Depends(get_settings)) -> Webhook:
    return await _create(db, principal, settings, body)


@router.get("/v0/webhooks/{webhook_id}", response_model=Webhook)
async def get_webhook(webhook_id: str, principal: Principal = Depends(get_principal),
                      db: Database = Depends(get_db)) -> Webhook:
    return Webhook.of(await webhooks.get_webhook(db, principal, webhook_id))


@router.patch("/v0/webhooks/{webhook_id}", response_model=Webhook)
async def update_webhook(webhook_id: str, body: UpdateWebhookRequest | None = Body(None),
                         principal: Principal = Depends(get_principal), db: Database = Depends(get_db)) -> Webhook:
    return await _update(db, principal, webhook_id, body or UpdateWebhookRequest())


@router.delete("/v0/webhooks/{webhook_id}", **NO_CONTENT)
async def delete_webhook(webhook_id: str, principal: Principal = Depends(get_principal),
                         db: Database = Depends(get_db)) -> Response:
    await webhooks.delete_webhook(db, principal, webhook_id)
    return Response(status_code=204)


@router.get("/v0/webhooks/{webhook_id}/headers", response_model=WebhookHeaderNamesResponse)
async def get_headers(webhook_id: str, principal: Principal = Depends(get_principal),
                      db: Database = Depends(get_db)) -> WebhookHeaderNamesResponse:
    return WebhookHeaderNamesResponse(header_names=await webhooks.header_names(db, principal, webhook_id))


@router.patch("/v0/webhooks/{webhook_id}/headers", **NO_CONTENT)
async def update_headers(webhook_id: str, body: UpdateWebhookHeadersRequest = Body(...),
                         principal: Principal = Depends(get_principal), db: Database = Depends(get_db)) -> Response:
    return await _update_headers(db, principal, webhook_id, body)


@router.get("/v0/pods/{pod_id}/webhooks", response_model=ListWebhooksResponse)
async def list_pod_webhooks(pod_id: str, page: ListParams = Depends(list_params),
                            principal: Principal = Depends(get_principal),
                            db: Database = Depends(get_db)) -> ListWebhooksResponse:
    return await _list(db, principal, page, pod_id=pod_id)


@router.post("/v0/pods/{pod_id}/webhooks", response_model=Webhook)
async def create_pod_webhook(pod_id: str, body: CreatePodWebhookRequest = Body(...),
                             principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
                             settings: Settings = Depends(get_settings)) -> Webhook:
    return await _create(db, principal, settings, body, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/webhooks/{webhook_id}", response_model=Webhook)
async def get_pod_webhook(pod_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                          db: Database = Depends(get_db)) -> Webhook:
    return Webhook.of(await webhooks.get_webhook(db, principal, webhook_id, pod_id=pod_id))


@router.patch("/v0/pods/{pod_id}/webhooks/{webhook_id}", response_model=Webhook)
async def update_pod_webhook(pod_id: str, webhook_id: str, body: UpdatePodWebhookRequest | None = Body(None),
                             principal: Principal = Depends(get_principal), db: Database = Depends(get_db)) -> Webhook:
    return await _update(db, principal, webhook_id, body or UpdatePodWebhookRequest(), pod_id=pod_id)


@router.delete("/v0/pods/{pod_id}/webhooks/{webhook_id}", **NO_CONTENT)
async def delete_pod_webhook(pod_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                             db: Database = Depends(get_db)) -> Response:
    await webhooks.delete_webhook(db, principal, webhook_id, pod_id=pod_id)
    return Response(status_code=204)


@router.get("/v0/pods/{pod_id}/webhooks/{webhook_id}/headers", response_model=WebhookHeaderNamesResponse)
async def get_pod_headers(pod_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                          db: Database = Depends(get_db)) -> WebhookHeaderNamesResponse:
    return WebhookHeaderNamesResponse(
        header_names=await webhooks.header_names(db, principal, webhook_id, pod_id=pod_id)
    )


@router.patch("/v0/pods/{pod_id}/webhooks/{webhook_id}/headers", **NO_CONTENT)
async def update_pod_headers(pod_id: str, webhook_id: str, body: UpdateWebhookHeadersRequest = Body(...),
                             principal: Principal = Depends(get_principal), db: Database = Depends(get_db)) -> Response:
    return await _update_headers(db, principal, webhook_id, body, pod_id=pod_id)


@router.get("/v0/inboxes/{inbox_id}/webhooks", response_model=ListWebhooksResponse)
async def list_inbox_webhooks(inbox_id: str, page: ListParams = Depends(list_params),
                              principal: Principal = Depends(get_principal),
                              db: Database = Depends(get_db)) -> ListWebhooksResponse:
    return await _list(db, principal, page, inbox_id=inbox_id)


@router.post("/v0/inboxes/{inbox_id}/webhooks", response_model=Webhook)
async def create_inbox_webhook(inbox_id: str, body: CreateInboxWebhookRequest = Body(...),
                               principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
                               settings: Settings = Depends(get_settings)) -> Webhook:
    return await _create(db, principal, settings, body, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}", response_model=Webhook)
async def get_inbox_webhook(inbox_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                            db: Database = Depends(get_db)) -> Webhook:
    return Webhook.of(await webhooks.get_webhook(db, principal, webhook_id, inbox_id=inbox_id))


@router.patch("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}", response_model=Webhook)
async def update_inbox_webhook(inbox_id: str, webhook_id: str, body: UpdateInboxWebhookRequest | None = Body(None),
                               principal: Principal = Depends(get_principal),
                               db: Database = Depends(get_db)) -> Webhook:
    return await _update(db, principal, webhook_id, body or UpdateInboxWebhookRequest(), inbox_id=inbox_id)


@router.delete("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}", **NO_CONTENT)
async def delete_inbox_webhook(inbox_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                               db: Database = Depends(get_db)) -> Response:
    await webhooks.delete_webhook(db, principal, webhook_id, inbox_id=inbox_id)
    return Response(status_code=204)


@router.get("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}/headers", response_model=WebhookHeaderNamesResponse)
async def get_inbox_headers(inbox_id: str, webhook_id: str, principal: Principal = Depends(get_principal),
                            db: Database = Depends(get_db)) -> WebhookHeaderNamesResponse:
    return WebhookHeaderNamesResponse(
        header_names=await webhooks.header_names(db, principal, webhook_id, inbox_id=inbox_id)
    )


@router.patch("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}/headers", **NO_CONTENT)
async def update_inbox_headers(inbox_id: str, webhook_id: str, body: UpdateWebhookHeadersRequest = Body(...),
                               principal: Principal = Depends(get_principal),
                               db: Database = Depends(get_db)) -> Response:
    return await _update_headers(db, principal, webhook_id, body, inbox_id=inbox_id)


# --- delivery log (our own extension, read-only) ------------------------------------------------

DELIVERIES_DOC = (
    "Our own extension (not in AgentMail's API): the webhook's deliveries, newest first unless "
    "`ascending`, each with its event, status, attempt count, the next attempt's time while pending, and "
    "the last attempt's status code or error. Scoped like reading the webhook (404 outside the key's scope)."
)
ATTEMPTS_DOC = (
    "Our own extension (not in AgentMail's API): every HTTP attempt of one delivery, newest first unless "
    "`ascending`, with the receiver's status code or the error, the duration and the start of the answer."
)


async def _deliveries(db: Database, principal: Principal, webhook_id: str, page: ListParams, *,
                      pod_id: str | None = None, inbox_id: str | None = None) -> ListWebhookDeliveriesResponse:
    result = await webhooks.list_deliveries(db, principal, webhook_id, pod_id=pod_id, inbox_id=inbox_id,
                                            limit=page.limit, page_token=page.page_token, ascending=page.ascending)
    return ListWebhookDeliveriesResponse(
        count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
        deliveries=[WebhookDelivery.of(v.row, event_id=v.event_id, event_type=v.event_type) for v in result.items],
    )


async def _attempts(db: Database, principal: Principal, webhook_id: str, delivery_id: str, page: ListParams, *,
                    pod_id: str | None = None, inbox_id: str | None = None) -> ListWebhookAttemptsResponse:
    result = await webhooks.list_attempts(db, principal, webhook_id, delivery_id, pod_id=pod_id, inbox_id=inbox_id,
                                          limit=page.limit, page_token=page.page_token, ascending=page.ascending)
    return ListWebhookAttemptsResponse(count=len(result.items), limit=result.limit,
                                       next_page_token=result.next_page_token,
                                       attempts=[WebhookAttempt.of(row) for row in result.items])


@router.get("/v0/webhooks/{webhook_id}/deliveries", response_model=ListWebhookDeliveriesResponse,
            summary="List a webhook's deliveries", description=DELIVERIES_DOC)
async def list_deliveries(webhook_id: str, page: ListParams = Depends(list_params),
                          principal: Principal = Depends(get_principal),
                          db: Database = Depends(get_db)) -> ListWebhookDeliveriesResponse:
    return await _deliveries(db, principal, webhook_id, page)


@router.get("/v0/webhooks/{webhook_id}/deliveries/{delivery_id}/attempts", response_model=ListWebhookAttemptsResponse,
            summary="List a delivery's attempts", description=ATTEMPTS_DOC)
async def list_attempts(webhook_id: str, delivery_id: str, page: ListParams = Depends(list_params),
                        principal: Principal = Depends(get_principal),
                        db: Database = Depends(get_db)) -> ListWebhookAttemptsResponse:
    return await _attempts(db, principal, webhook_id, delivery_id, page)


@router.get("/v0/pods/{pod_id}/webhooks/{webhook_id}/deliveries", response_model=ListWebhookDeliveriesResponse,
            summary="List a pod webhook's deliveries", description=DELIVERIES_DOC)
async def list_pod_deliveries(pod_id: str, webhook_id: str, page: ListParams = Depends(list_params),
                              principal: Principal = Depends(get_principal),
                              db: Database = Depends(get_db)) -> ListWebhookDeliveriesResponse:
    return await _deliveries(db, principal, webhook_id, page, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/attempts",
            response_model=ListWebhookAttemptsResponse, summary="List a pod webhook delivery's attempts",
            description=ATTEMPTS_DOC)
async def list_pod_attempts(pod_id: str, webhook_id: str, delivery_id: str, page: ListParams = Depends(list_params),
                            principal: Principal = Depends(get_principal),
                            db: Database = Depends(get_db)) -> ListWebhookAttemptsResponse:
    return await _attempts(db, principal, webhook_id, delivery_id, page, pod_id=pod_id)


@router.get("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}/deliveries", response_model=ListWebhookDeliveriesResponse,
            summary="List an inbox webhook's deliveries", description=DELIVERIES_DOC)
async def list_inbox_deliveries(inbox_id: str, webhook_id: str, page: ListParams = Depends(list_params),
                                principal: Principal = Depends(get_principal),
                                db: Database = Depends(get_db)) -> ListWebhookDeliveriesResponse:
    return await _deliveries(db, principal, webhook_id, page, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/attempts",
            response_model=ListWebhookAttemptsResponse, summary="List an inbox webhook delivery's attempts",
            description=ATTEMPTS_DOC)
async def list_inbox_attempts(inbox_id: str, webhook_id: str, delivery_id: str, page: ListParams = Depends(list_params),
                              principal: Principal = Depends(get_principal),
                              db: Database = Depends(get_db)) -> ListWebhookAttemptsResponse:
    return await _attempts(db, principal, webhook_id, delivery_id, page, inbox_id=inbox_id)
