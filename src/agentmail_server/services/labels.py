"""Label rules shared by messages and threads (REFERENCE §1.10)."""

from __future__ import annotations

from collections.abc import Iterable

from .errors import Invalid
from .principal import Principal

# Set by the service itself; callers may neither add nor remove them.
PROTECTED = frozenset({
    "received", "sent", "bounced", "complained", "delayed", "delivered", "rejected", "opened", "scheduled", "draft",
})
# Mail carrying these is hidden unless asked for and permitted.
RESTRICTED = {
    "spam": "label_spam_read",
    "blocked": "label_blocked_read",
    "unauthenticated": "label_unauthenticated_read",
    "trash": "label_trash_read",
}
MAX_LABELS = 256
MAX_LABEL_LENGTH = 256


def as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def check_caller_labels(labels: Iterable[str], *, field: str) -> list[str]:
    result: list[str] = []
    for label in labels:
        name = label.strip().lower()
        if not name or len(name) > MAX_LABEL_LENGTH or any(c in name for c in "\r\n\x00"):
            raise Invalid(f"Invalid label {label!r}", path=[field])
        if name in PROTECTED:
            raise Invalid(f"Label {name!r} is managed by the service and cannot be changed", path=[field])
        result.append(name)
    return result


def apply(current: list[str], add: list[str], remove: list[str]) -> list[str]:
    """Add then remove (remove wins); order of existing labels kept."""
    labels = list(dict.fromkeys([*current, *add]))
    labels = [label for label in labels if label not in set(remove)]
    if len(labels) > MAX_LABELS:
        raise Invalid(f"At most {MAX_LABELS} labels per item", path=["add_labels"])
    return labels


def hidden(principal: Principal, include: dict[str, bool] | None = None) -> list[str]:
    """Restricted labels whose items this request must not see."""
    include = include or {}
    return [label for label, flag in RESTRICTED.items() if not (include.get(label) and principal.can(flag))]


def unreadable(principal: Principal, labels: Iterable[str]) -> bool:
    """True when an item carries a restricted label the key may not read (direct GETs answer 404)."""
    return any(label in RESTRICTED and not principal.can(RESTRICTED[label]) for label in labels)
