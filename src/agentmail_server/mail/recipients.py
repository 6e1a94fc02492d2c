"""The SMTP listener's memory of the addresses it accepted, forgotten whenever inboxes may have changed.

Looking a recipient up was the costliest step of receiving a message: a read transaction, about as
much event-loop CPU as storing the message itself. The listener now keeps the addresses it accepted
(and the inbox each one means). Any committed change to inboxes, domains, pods or organizations, in
any process, clears what every process keeps: this process right after its commit, the others
through the `agentmail_recipients` channel (a NOTIFY inside the transaction on PostgreSQL, a
datagram after the commit on SQLite). So a paused or deleted inbox, or a domain that stops taking
inbound mail, refuses the next RCPT, as without the cache.

Only acceptances are kept: an unknown address is looked up every time, so a new inbox receives at
once. Entries also expire after `TTL` seconds, for changes that reach the database another way (SQL
typed by hand, a lost notification).
"""

from __future__ import annotations

import time
from itertools import chain
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import ORMExecuteState, Session

from ..db import host_notify
from ..db.tables import Domain, Inbox, Organization, Pod

NOTIFY_CHANNEL = "agentmail_recipients"
TTL = 30.0
MAX_ENTRIES = 10_000
_WATCHED = (Inbox, Domain, Pod, Organization)
_CHANGED = "agentmail.recipients_changed"


class RecipientCache:
    def __init__(self, ttl: float = TTL, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        # Bumped by every clear: a lookup that began before a change must not store its answer after it.
        self.generation = 0
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, address: str) -> str | None:
        """The inbox an accepted address means, if it was accepted lately and nothing changed since."""
        hit = self._entries.get(address)
        if hit is None:
            return None
        inbox_id, expires = hit
        if expires < time.monotonic():
            del self._entries[address]
            return None
        return inbox_id

    def put(self, address: str, inbox_id: str, generation: int) -> None:
        """Remember an acceptance, unless something changed since the lookup began (`generation`)."""
        if generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[address] = (inbox_id, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


CACHE = RecipientCache()


def heard(_channel: str = NOTIFY_CHANNEL, _payload: str = "") -> None:
    """Another process changed inboxes or domains (or its notifications may have been missed)."""
    CACHE.clear()


def install() -> None:
    """Watch every session of this process for changes that may change RCPT answers (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "do_orm_execute", _on_execute)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not session.info.get(_CHANGED) and any(
            isinstance(obj, _WATCHED) for obj in chain(session.new, session.dirty, session.deleted)):
        _changed(session)


def _on_execute(state: ORMExecuteState) -> None:
    # Bulk UPDATE and DELETE statements on the watched tables, which the flush never sees.
    if (state.is_update or state.is_delete) and not state.session.info.get(_CHANGED):
        mapper = state.bind_mapper
        if mapper is not None and issubclass(mapper.class_, _WATCHED):
            _changed(state.session)


def _changed(session: Session) -> None:
    session.info[_CHANGED] = True
    if session.get_bind().dialect.name == "postgresql":
        # Now, inside the transaction: other processes hear of it only if it commits. (Not in a
        # before_commit hook: a change found by the flush that commit itself runs comes after those.)
        session.connection().execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))
    event.listen(session, "after_commit", _after_commit, once=True)
    event.listen(session, "after_rollback", _after_rollback, once=True)


def _after_commit(session: Session) -> None:
    session.info.pop(_CHANGED, None)
    CACHE.clear()
    host_notify.send_after_commit(session, NOTIFY_CHANNEL, [""])
    if event.contains(session, "after_rollback", _after_rollback):
        event.remove(session, "after_rollback", _after_rollback)


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
    if event.contains(session, "after_commit", _after_commit):
        event.remove(session, "after_commit", _after_commit)
