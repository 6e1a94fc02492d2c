"""Wire models for webhooks and polling webhooks (MODELS.md "Webhooks", "Polling webhooks")."""

from __future__ import annotations

from typing import Any, Literal

from ..db import tables
from .common import PageResponse, RequestModel, ResponseModel, Timestamp

# --- webhooks -------------------------------------------------------------------------------


class CreateInboxWebhookRequest(RequestModel):
    url: str
    event_types: list[str]
    client_id: str | None = None
    headers: dict[str, str] | None = None


class CreatePodWebhookRequest(CreateInboxWebhookRequest):
    inbox_ids: list[str] | None = None


class CreateWebhookRequest(CreatePodWebhookRequest):
    pod_ids: list[str] | None = None


class UpdateInboxWebhookRequest(RequestModel):
    event_types: list[str] | None = None
    enabled: bool | None = None


class UpdatePodWebhookRequest(UpdateInboxWebhookRequest):
    add_inbox_ids: list[str] | None = None
    remove_inbox_ids: list[str] | None = None


class UpdateWebhookRequest(UpdatePodWebhookRequest):
    add_pod_ids: list[str] | None = None
    remove_pod_ids: list[str] | None = None


class UpdateWebhookHeadersRequest(RequestModel):
    headers: dict[str, str] | None = None
    remove_headers: list[str] | None = None


class Webhook(ResponseModel):
    webhook_id: str
    url: str
    event_types: list[str] | None = None
    pod_ids: list[str] | None = None
    inbox_ids: list[str] | None = None
    pod_id: str | None = None
    inbox_id: str | None = None
    secret: str
    enabled: bool
    updated_at: Timestamp
    created_at: Timestamp
    client_id: str | None = None

    @classmethod
    def of(cls, row: tables.Webhook) -> Webhook:
        return cls(
            webhook_id=row.id, url=row.url, event_types=list(row.event_types), pod_ids=list(row.pod_ids) or None,
            inbox_ids=list(row.inbox_ids) or None, pod_id=row.pod_id, inbox_id=row.inbox_id, secret=row.secret,
            enabled=row.enabled, updated_at=row.updated_at, created_at=row.created_at, client_id=row.client_id,
        )


class ListWebhooksResponse(PageResponse):
    webhooks: list[Webhook]


class WebhookHeaderNamesResponse(ResponseModel):
    header_names: list[str]


# --- delivery log (our own extension) -------------------------------------------------------


class WebhookDelivery(ResponseModel):
    """One event for one webhook and where its delivery stands.

    status: `pending` (next attempt at `next_attempt_at`), `succeeded` (a 2xx), `failed` (the retry
    schedule ran out) or `cancelled` (the webhook was disabled first).
    """

    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed", "cancelled"]
    attempts: int
    next_attempt_at: Timestamp | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    finished_at: Timestamp | None = None
    created_at: Timestamp

    @classmethod
    def of(cls, row: tables.WebhookDelivery, *, event_id: str, event_type: str) -> WebhookDelivery:
        return cls(
            delivery_id=str(row.id), webhook_id=row.webhook_id, event_id=event_id, event_type=event_type,
            status=row.status,  # type: ignore[arg-type]
            attempts=row.attempts, next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            last_status_code=row.last_status_code, last_error=row.last_error, finished_at=row.finished_at,
            created_at=row.created_at,
        )


class ListWebhookDeliveriesResponse(PageResponse):
    deliveries: list[WebhookDelivery]


class WebhookAttempt(ResponseModel):
    """One HTTP attempt: the receiver's status code (absent when no answer came), or the error."""

    attempt_id: str
    delivery_id: str
    attempted_at: Timestamp
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    response_body: str | None = None

    @classmethod
    def of(cls, row: tables.WebhookAttempt) -> WebhookAttempt:
        return cls(
            attempt_id=str(row.id), delivery_id=str(row.delivery_id), attempted_at=row.attempted_at,
            status_code=row.status_code, error=row.error, duration_ms=row.duration_ms,
            response_body=row.response_body,
        )


class ListWebhookAttemptsResponse(PageResponse):
    attempts: list[WebhookAttempt]


# --- polling webhooks -----------------------------------------------------------------------


class CreateInboxPollingWebhookRequest(RequestModel):
    client_id: str
    event_types: list[str]


class CreatePodPollingWebhookRequest(CreateInboxPollingWebhookRequest):
    inbox_ids: list[str] | None = None


class CreatePollingWebhookRequest(CreatePodPollingWebhookRequest):
    pod_ids: list[str] | None = None


class PollingWebhook(ResponseModel):
    webhook_id: str
    client_id: str
    event_types: list[str]
    pod_ids: list[str] | None = None
    inbox_ids: list[str] | None = None
    pod_id: str | None = None
    inbox_id: str | None = None
    updated_at: Timestamp
    created_at: Timestamp

    @classmethod
    def of(cls, row: tables.PollingWebhook) -> PollingWebhook:
        return cls(**_polling_fields(row))


class CreatePollingWebhookResponse(PollingWebhook):
    token: str

    @classmethod
    def with_token(cls, row: tables.PollingWebhook, token: str) -> CreatePollingWebhookResponse:
        return cls(**_polling_fields(row), token=token)


def _polling_fields(row: tables.PollingWebhook) -> dict[str, Any]:
    return {
        "webhook_id": row.id, "client_id": row.client_id, "event_types": list(row.event_types),
        "pod_ids": list(row.pod_ids) or None, "inbox_ids": list(row.inbox_ids) or None, "pod_id": row.pod_id,
        "inbox_id": row.inbox_id, "updated_at": row.updated_at, "created_at": row.created_at,
    }


class ListPollingWebhooksResponse(PageResponse):
    polling_webhooks: list[PollingWebhook]


class PollingEventsResponse(ResponseModel):
    """What `GET /v0/webhooks/polling/events` answers (our own endpoint; shaped like Svix polling)."""

    data: list[dict[str, Any]]
    iterator: str
    done: bool
