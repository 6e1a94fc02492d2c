"""Wire models for webhooks and polling webhooks (MODELS.md "Webhooks", "Polling webhooks")."""

from __future__ import annotations

from typing import Any

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
