"""The event types (REFERENCE §2.14.1) and which API key permissions let a key see them."""

from __future__ import annotations

RESTRICTED_RECEIVED: dict[str, str] = {
    "message.received.spam": "label_spam_read",
    "message.received.blocked": "label_blocked_read",
    "message.received.unauthenticated": "label_unauthenticated_read",
}

# The SDKs' EventType enum, in its order.
EVENT_TYPES: tuple[str, ...] = (
    "message.received",
    "message.received.spam",
    "message.received.blocked",
    "message.received.unauthenticated",
    "message.security.completed",
    "message.security.review",
    "message.security.override",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complained",
    "message.rejected",
    "message.opened",
    "domain.verified",
    "calendar.event.created",
    "calendar.event.updated",
    "calendar.event.deleted",
    "calendar.event.responded",
    "calendar.event.starting",
    "calendar.event.ending",
)


def required_permissions(event_type: str) -> tuple[str, ...]:
    """The permission flags a key needs to receive `event_type` (all of them)."""
    if event_type in RESTRICTED_RECEIVED:
        return ("message_read", RESTRICTED_RECEIVED[event_type])
    if event_type.startswith("message."):
        return ("message_read",)
    if event_type.startswith("domain."):
        return ("domain_read",)
    if event_type.startswith("calendar."):
        return ("calendar_event_read",)
    return ()


# What a subscription without event_types gets: everything except the restricted received variants,
# which are delivered only when listed explicitly (REFERENCE §2.14.1 recommendation).
DEFAULT_EVENT_TYPES: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t not in RESTRICTED_RECEIVED)
