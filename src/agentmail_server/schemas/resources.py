"""Wire models for auth, organizations, API keys, pods and inboxes (MODELS.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from ..db import tables
from .common import Metadata, PageResponse, RequestModel, ResponseModel, Timestamp, UpdateMetadata
from .permissions import ApiKeyPermissions


class Identity(ResponseModel):
    scope_type: Literal["organization", "pod", "inbox"]
    scope_id: str
    organization_id: str
    pod_id: str | None = None
    inbox_id: str | None = None
    api_key_id: str | None = None


class Organization(ResponseModel):
    organization_id: str
    inbox_count: int
    domain_count: int
    inbox_limit: int | None = None
    domain_limit: int | None = None
    name: str | None = None
    updated_at: Timestamp
    created_at: Timestamp


class OrganizationLabs(ResponseModel):
    enabled: bool
    enabled_at: Timestamp | None = None
    available: bool


# --- API keys -------------------------------------------------------------------------------


class PublicJwk(RequestModel):
    kty: str
    crv: str
    x: str
    y: str


NAME = Field(default=None, max_length=256)


class CreateApiKeyRequest(RequestModel):
    """Bearer key creation; a `public_key` marks the (unsupported) public-key registration shape."""

    name: str | None = NAME
    permissions: ApiKeyPermissions | None = None
    expires_at: Timestamp | None = None
    public_key: PublicJwk | None = None
    client_id: str | None = None


class UpdateApiKeyRequest(RequestModel):
    name: str | None = NAME
    permissions: ApiKeyPermissions | None = None


class BearerApiKey(ResponseModel):
    type: Literal["bearer"] = "bearer"
    api_key_id: str
    prefix: str
    name: str
    pod_id: str | None = None
    inbox_id: str | None = None
    used_at: Timestamp | None = None
    permissions: ApiKeyPermissions | None = None
    created_at: Timestamp
    updated_at: Timestamp
    expires_at: Timestamp | None = None

    @classmethod
    def of(cls, row: tables.ApiKey) -> BearerApiKey:
        return cls(
            api_key_id=row.id, prefix=row.prefix, name=row.name, pod_id=row.pod_id, inbox_id=row.inbox_id,
            used_at=row.used_at, permissions=ApiKeyPermissions.of(row.permissions),
            created_at=row.created_at, updated_at=row.updated_at, expires_at=row.expires_at,
        )


class CreateApiKeyResponse(ResponseModel):
    api_key_id: str
    api_key: str
    prefix: str
    name: str
    pod_id: str | None = None
    inbox_id: str | None = None
    permissions: ApiKeyPermissions | None = None
    created_at: Timestamp
    expires_at: Timestamp | None = None

    @classmethod
    def of(cls, row: tables.ApiKey, secret: str) -> CreateApiKeyResponse:
        return cls(
            api_key_id=row.id, api_key=secret, prefix=row.prefix, name=row.name, pod_id=row.pod_id,
            inbox_id=row.inbox_id, permissions=ApiKeyPermissions.of(row.permissions),
            created_at=row.created_at, expires_at=row.expires_at,
        )


class ListApiKeysResponse(PageResponse):
    api_keys: list[BearerApiKey]


# --- Pods -----------------------------------------------------------------------------------


class CreatePodRequest(RequestModel):
    name: str | None = NAME
    client_id: str | None = None


class Pod(ResponseModel):
    pod_id: str
    name: str
    updated_at: Timestamp
    created_at: Timestamp
    client_id: str | None = None

    @classmethod
    def of(cls, row: tables.Pod) -> Pod:
        return cls(
            pod_id=row.id, name=row.name, updated_at=row.updated_at, created_at=row.created_at,
            client_id=row.client_id,
        )


class ListPodsResponse(PageResponse):
    pods: list[Pod]


# --- Inboxes --------------------------------------------------------------------------------


class CreateInboxRequest(RequestModel):
    username: str | None = None
    domain: str | None = None
    display_name: str | None = None
    client_id: str | None = None
    status: Literal["active", "paused"] | None = None
    metadata: Metadata | None = None


class UpdateInboxRequest(RequestModel):
    display_name: str | None = None
    status: Literal["active", "paused"] | None = None
    metadata: UpdateMetadata | None = None


class Inbox(ResponseModel):
    model_config = ConfigDict(extra="forbid")

    pod_id: str
    inbox_id: str
    email: str
    display_name: str | None = None
    client_id: str | None = None
    status: Literal["paused"] | None = None
    metadata: Metadata | None = None
    updated_at: Timestamp
    created_at: Timestamp

    @classmethod
    def of(cls, row: tables.Inbox) -> Inbox:
        return cls(
            pod_id=row.pod_id, inbox_id=row.id, email=row.id, display_name=row.display_name,
            client_id=row.client_id, status="paused" if row.status == "paused" else None,
            metadata=row.metadata_ or None, updated_at=row.updated_at, created_at=row.created_at,
        )


class ListInboxesResponse(PageResponse):
    inboxes: list[Inbox]


SearchInboxesResponse = ListInboxesResponse
