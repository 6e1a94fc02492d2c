"""ApiKeyPermissions: every flag optional; absent means not granted (MODELS.md)."""

from __future__ import annotations

from pydantic import ConfigDict

from .common import ResponseModel


class ApiKeyPermissions(ResponseModel):
    model_config = ConfigDict(extra="ignore")

    inbox_read: bool | None = None
    inbox_create: bool | None = None
    inbox_update: bool | None = None
    inbox_delete: bool | None = None
    message_read: bool | None = None
    message_reply: bool | None = None
    message_send: bool | None = None
    message_update: bool | None = None
    message_delete: bool | None = None
    agent_armor_release: bool | None = None
    label_spam_read: bool | None = None
    label_blocked_read: bool | None = None
    label_unauthenticated_read: bool | None = None
    label_trash_read: bool | None = None
    draft_read: bool | None = None
    draft_create: bool | None = None
    draft_update: bool | None = None
    draft_delete: bool | None = None
    draft_send: bool | None = None
    webhook_read: bool | None = None
    webhook_create: bool | None = None
    webhook_update: bool | None = None
    webhook_delete: bool | None = None
    domain_read: bool | None = None
    domain_create: bool | None = None
    domain_update: bool | None = None
    domain_delete: bool | None = None
    list_entry_read: bool | None = None
    list_entry_create: bool | None = None
    list_entry_delete: bool | None = None
    metrics_read: bool | None = None
    api_key_read: bool | None = None
    api_key_create: bool | None = None
    api_key_update: bool | None = None
    api_key_delete: bool | None = None
    app_connect: bool | None = None
    app_share_owner: bool | None = None
    account_update: bool | None = None
    pod_read: bool | None = None
    pod_create: bool | None = None
    pod_update: bool | None = None
    pod_delete: bool | None = None
    calendar_read: bool | None = None
    calendar_update: bool | None = None
    calendar_event_read: bool | None = None
    calendar_event_create: bool | None = None
    calendar_event_update: bool | None = None
    calendar_event_delete: bool | None = None
    file_read: bool | None = None
    file_create: bool | None = None
    file_update: bool | None = None
    file_delete: bool | None = None

    @classmethod
    def of(cls, flags: dict[str, bool] | None) -> ApiKeyPermissions | None:
        return None if flags is None else cls.model_validate(flags)

    def flags(self) -> dict[str, bool]:
        """Only the flags the caller set, as stored on the key."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if isinstance(v, bool)}
