"""API key permission flags (REFERENCE §1.14)."""

from __future__ import annotations

PERMISSIONS: tuple[str, ...] = (
    "inbox_read", "inbox_create", "inbox_update", "inbox_delete",
    "message_read", "message_reply", "message_send", "message_update", "message_delete",
    "agent_armor_release",
    "label_spam_read", "label_blocked_read", "label_unauthenticated_read", "label_trash_read",
    "draft_read", "draft_create", "draft_update", "draft_delete", "draft_send",
    "webhook_read", "webhook_create", "webhook_update", "webhook_delete",
    "domain_read", "domain_create", "domain_update", "domain_delete",
    "list_entry_read", "list_entry_create", "list_entry_delete",
    "metrics_read",
    "api_key_read", "api_key_create", "api_key_update", "api_key_delete",
    "app_connect", "app_share_owner", "account_update",
    "pod_read", "pod_create", "pod_update", "pod_delete",
    "calendar_read", "calendar_update",
    "calendar_event_read", "calendar_event_create", "calendar_event_update", "calendar_event_delete",
    "file_read", "file_create", "file_update", "file_delete",
)

# Never implied by an unrestricted key: they must be granted explicitly.
EXPLICIT_ONLY = frozenset({"agent_armor_release", "app_connect"})


def granted(permissions: dict[str, bool] | None, flag: str) -> bool:
    if permissions is None:
        return flag not in EXPLICIT_ONLY
    return bool(permissions.get(flag))


def escalates(parent: dict[str, bool] | None, child: dict[str, bool] | None) -> list[str]:
    """Flags the child would hold that the parent does not.

    An unrestricted parent lacks the explicit-only flags too (REFERENCE §1.14), so it cannot hand
    them out either.
    """
    if child is None:
        if parent is None:
            return []
        return [flag for flag in PERMISSIONS if granted(None, flag) and not granted(parent, flag)]
    return [flag for flag, on in child.items() if on and not granted(parent, flag)]
