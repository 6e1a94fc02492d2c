"""The label audit log (REFERENCE §2.15), written by a flush hook so no code path can forget it.

Labels change in many places (ingest, sending, delivery outcomes, API updates, later features);
recording the log where rows are flushed keeps it complete without each of them calling us.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.pagination import Page, check_limit, paginate
from ..db.tables import InboxEvent, Message
from ..db.types import utcnow
from . import labels as label_rules
from .principal import Principal
from .scoping import resolve_scope

ADDED, REMOVED = "label.added", "label.removed"


def _changes(message: Message, is_new: bool) -> Iterable[tuple[str, str]]:
    if is_new:
        return [(ADDED, label) for label in message.labels]
    history = inspect(message).attrs.labels.history
    if not history.has_changes():
        return []
    before = {label for old in history.deleted for label in (old or [])}
    after = list(message.labels or [])
    return [(ADDED, x) for x in after if x not in before] + [(REMOVED, x) for x in sorted(before - set(after))]


def _record(session: Session, _context: Any, _instances: Any) -> None:
    now = utcnow()
    touched = [(m, True) for m in session.new if isinstance(m, Message)]
    touched += [(m, False) for m in session.dirty if isinstance(m, Message)]
    rows = [
        {"organization_id": message.organization_id, "pod_id": message.pod_id, "inbox_id": message.inbox_id,
         "event_type": kind, "message_id": message.message_id, "label": label, "event_at": now, "created_at": now}
        for message, is_new in touched for kind, label in _changes(message, is_new)
    ]
    if rows:
        # One multi-row INSERT on the flush's connection. As ORM objects each row was an INSERT of its
        # own: the unit of work fetches every generated id back, and nothing here needs them.
        session.connection().execute(insert(InboxEvent), rows)


def install() -> None:
    """Record label changes of every session in this process (idempotent)."""
    if not event.contains(Session, "before_flush", _record):
        event.listen(Session, "before_flush", _record)


async def list_events(
    db: Database, principal: Principal, inbox_id: str, *, limit: int | None, page_token: str | None,
    ascending: bool,
) -> Page[InboxEvent]:
    principal.require("message_read")
    async with db.read() as session:
        scope = await resolve_scope(session, principal, inbox_id=inbox_id)
        stmt = select(InboxEvent).where(InboxEvent.inbox_id == scope.inbox_id)
        hidden = label_rules.hidden(principal, {label: True for label in label_rules.RESTRICTED})
        if hidden:
            stmt = stmt.where(InboxEvent.label.not_in(hidden))
        return await paginate(session, stmt, endpoint=f"inbox-events:{scope.inbox_id}", order=[InboxEvent.id],
                              limit=check_limit(limit), page_token=page_token, ascending=ascending)
