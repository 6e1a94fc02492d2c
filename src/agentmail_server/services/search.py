"""Message and thread search (REFERENCE §2.6, §2.7): ranked full-text, restricted mail never shown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import not_, select

from ..db.engine import Database
from ..db.labels import has_label
from ..db.pagination import MAX_FILTERED_LIMIT, Page, check_limit, decode_offset, offset_token
from ..db.search import matched_messages, query_words
from ..db.tables import Message, Thread
from .errors import Invalid
from .labels import RESTRICTED
from .principal import Principal
from .scoping import find_inbox, resolve_scope

# Threads are ranked by their best message; this many matching messages are considered.
MAX_THREAD_CANDIDATES = 2000
FRAGMENT_RADIUS = 60


@dataclass
class Hit:
    item: Message | Thread
    highlights: dict[str, list[str]]


def _words(q: str) -> list[str]:
    words = query_words(q)
    if not words or len(q) > 1024:
        raise Invalid("q must contain at least one word (at most 1024 characters)", path=["q"])
    return words


def _base(db: Database, words: list[str], before: datetime | None, after: datetime | None):  # type: ignore[no-untyped-def]
    stmt = select(Message).where(*[not_(has_label(Message.labels, label, db.dialect)) for label in RESTRICTED])
    if after is not None:
        stmt = stmt.where(Message.timestamp >= after)
    if before is not None:
        stmt = stmt.where(Message.timestamp < before)
    return matched_messages(stmt, db.dialect, words)


def highlight(value: str | None, words: list[str]) -> list[str]:
    """Fragments of `value` around matches, each matching word wrapped in **…**."""
    if not value:
        return []
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\w*", re.IGNORECASE)
    found = pattern.search(value)
    if not found:
        return []
    start = max(0, found.start() - FRAGMENT_RADIUS)
    end = min(len(value), found.end() + FRAGMENT_RADIUS)
    fragment = " ".join(value[start:end].split())
    return [pattern.sub(lambda m: f"**{m.group(0)}**", fragment)]


def message_highlights(message: Message, words: list[str]) -> dict[str, list[str]]:
    fields = {
        "from": message.from_,
        "recipients": ", ".join([*message.to, *message.cc]),
        "subject": message.subject,
        "text": message.text,
    }
    return {name: frags for name, value in fields.items() if (frags := highlight(value, words))}


async def search_messages(
    db: Database, principal: Principal, inbox_id: str, q: str, *, limit: int | None, page_token: str | None,
    before: datetime | None, after: datetime | None,
) -> Page[Hit]:
    principal.require("message_read")
    words = _words(q)
    size = check_limit(limit, maximum=MAX_FILTERED_LIMIT, filtered=True)
    async with db.read() as session:
        inbox = await find_inbox(session, principal, inbox_id)
        endpoint = f"message-search:{inbox.id}:{' '.join(words)}"
        start = decode_offset(page_token, endpoint)
        stmt = _base(db, words, before, after).where(Message.inbox_id == inbox.id).offset(start).limit(size + 1)
        rows = list((await session.scalars(stmt)).all())
    more = len(rows) > size
    hits = [Hit(item=m, highlights=message_highlights(m, words)) for m in rows[:size]]
    return Page(items=hits, limit=size, next_page_token=offset_token(endpoint, start + size) if more else None)


async def search_threads(
    db: Database, principal: Principal, q: str, *, pod_id: str | None, inbox_id: str | None, limit: int | None,
    page_token: str | None, before: datetime | None, after: datetime | None,
) -> Page[Hit]:
    principal.require("message_read")
    words = _words(q)
    size = check_limit(limit, maximum=MAX_FILTERED_LIMIT, filtered=True)
    async with db.read() as session:
        scope = await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
        endpoint = f"thread-search:{scope.type}:{scope.id}:{' '.join(words)}"
        start = decode_offset(page_token, endpoint)
        stmt = _base(db, words, before, after).where(scope.where(Message)).limit(MAX_THREAD_CANDIDATES)
        best: dict[str, Message] = {}
        for message in (await session.scalars(stmt)).all():
            best.setdefault(message.thread_id, message)
        ranked = list(best)[start : start + size + 1]
        threads = {
            t.id: t
            for t in (await session.scalars(select(Thread).where(Thread.id.in_(ranked[:size])))).all()
            if not any(label in RESTRICTED for label in t.labels)
        }
    hits = [Hit(item=threads[tid], highlights=message_highlights(best[tid], words)) for tid in ranked[:size]
            if tid in threads]
    more = len(ranked) > size
    return Page(items=hits, limit=size, next_page_token=offset_token(endpoint, start + size) if more else None)
