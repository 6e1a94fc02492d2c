"""Thread membership and summaries, shared by inbound ingest and (later) sending."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.tables import Blob, Inbox, Message, Thread, ThreadRef
from ..db.types import utcnow
from ..mail.parse import ParsedMessage
from ..mail.threading import base_subject, related_ids, subjects_match
from .ids import new_uuid


async def resolve_thread(
    session: AsyncSession, *, organization_id: str, pod_id: str, inbox_id: str, message_id: str,
    in_reply_to: str | None, references: list[str], subject: str | None,
) -> Thread:
    """The thread a new message joins (JWZ links + base-subject guard), merging threads it bridges.

    The caller must hold the inbox's lock for the transaction so concurrent arrivals serialise.
    """
    links = related_ids(message_id, in_reply_to, references)
    wanted = list(dict.fromkeys([message_id, *links]))
    base = base_subject(subject)
    # One query answers both questions: which threads the ids already belong to (the candidates),
    # and which of the ids the inbox has seen (no new ref row needed for those).
    rows = (await session.execute(
        select(ThreadRef.message_id, Thread).join(Thread, Thread.id == ThreadRef.thread_id)
        .where(ThreadRef.inbox_id == inbox_id, ThreadRef.message_id.in_(wanted))
        .order_by(Thread.created_at, Thread.id)
    )).all()
    owners = {ref: owner.id for ref, owner in rows}
    candidates = list({owner.id: owner for _, owner in rows}.values())
    matching = [t for t in candidates if subjects_match(t.base_subject, base)]
    if matching:
        thread = matching[0]
        for other in matching[1:]:
            await _merge(session, into=thread, other=other)
        merged = {t.id for t in matching}
    else:
        # Inserted by add_message with its summary filled in (or by an earlier autoflush).
        thread = Thread(id=new_uuid(), organization_id=organization_id, pod_id=pod_id, inbox_id=inbox_id,
                        subject=subject, base_subject=base, last_message_id=message_id)
        session.add(thread)
        merged = set()
    # A reply may have left a phantom ref for this id in a thread the subject guard rejected; the
    # message itself now lives here.
    if owners.get(message_id, thread.id) not in merged | {thread.id}:
        await session.execute(update(ThreadRef).where(ThreadRef.inbox_id == inbox_id,
                                                       ThreadRef.message_id == message_id)
                              .values(thread_id=thread.id))
    _add_refs(session, thread, [ref for ref in wanted if ref not in owners])
    return thread


async def _merge(session: AsyncSession, *, into: Thread, other: Thread) -> None:
    await session.execute(update(Message).where(Message.thread_id == other.id).values(thread_id=into.id))
    await session.execute(update(ThreadRef).where(ThreadRef.thread_id == other.id).values(thread_id=into.id))
    await session.execute(delete(Thread).where(Thread.id == other.id))


ATTACHMENT_NAMESPACE = uuid.UUID("6f1d3c2e-5b8a-4c1e-9a57-2f4e8d0b7c31")


def new_message(
    *, inbox: Inbox, thread_id: str, message_id: str, parsed: ParsedMessage, blob: Blob, direction: str,
    labels: list[str], timestamp: datetime, inbound_id: str | None = None, envelope_from: str = "",
) -> Message:
    """A message row from parsed bytes: received and sent copies are stored the same way."""
    row_id = new_uuid()
    return Message(
        id=row_id, organization_id=inbox.organization_id, pod_id=inbox.pod_id, inbox_id=inbox.id,
        thread_id=thread_id, message_id=message_id, header_message_id=parsed.message_id, blob_id=blob.id,
        inbound_id=inbound_id, direction=direction, labels=labels, timestamp=timestamp,
        from_=parsed.from_ or envelope_from, from_email=parsed.from_email or (envelope_from.lower() or None),
        to=parsed.to, cc=parsed.cc, bcc=parsed.bcc, reply_to=parsed.reply_to, subject=parsed.subject,
        preview=parsed.preview, text=parsed.text, html=parsed.html, extracted_text=parsed.extracted_text,
        extracted_html=parsed.extracted_html, in_reply_to=parsed.in_reply_to, references=parsed.references,
        headers=parsed.headers, size=blob.size,
        attachments=[
            {
                "attachment_id": str(uuid.uuid5(ATTACHMENT_NAMESPACE, f"{row_id}:{a.part}")),
                "filename": a.filename, "size": a.size, "content_type": a.content_type,
                "content_disposition": a.content_disposition, "content_id": a.content_id, "part": a.part,
            }
            for a in parsed.attachments
        ],
    )


async def adopt(session: AsyncSession, thread: Thread, message_id: str, links: list[str]) -> None:
    """Record that `message_id` (and the ids it links to) belong to `thread`: replies we send stay there."""
    wanted = list(dict.fromkeys([message_id, *links]))
    existing = set((await session.scalars(
        select(ThreadRef.message_id).where(ThreadRef.inbox_id == thread.inbox_id, ThreadRef.message_id.in_(wanted))
    )).all())
    _add_refs(session, thread, [ref for ref in wanted if ref not in existing])


def _add_refs(session: AsyncSession, thread: Thread, refs: list[str]) -> None:
    session.add_all([ThreadRef(inbox_id=thread.inbox_id, message_id=ref, thread_id=thread.id) for ref in refs])


def _unique(items: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


# What a thread's summary is computed from: never the bodies, which can be megabytes per message.
_SUMMARY_COLUMNS = (
    Message.id, Message.message_id, Message.direction, Message.timestamp, Message.subject, Message.preview,
    Message.labels, Message.from_, Message.to, Message.cc, Message.bcc, Message.attachments, Message.size,
)


async def add_message(session: AsyncSession, thread: Thread, message: Message) -> Thread:
    """Add `message` to `thread` and bring the thread's summary up to date (both flushed)."""
    if inspect(thread).pending:
        # A thread resolve_thread just made holds only this message: its INSERT carries the summary,
        # with no query and no UPDATE. Flushed before the message, as the unit of work does not order
        # INSERTs by foreign key.
        summarise(thread, [message])
        await session.flush()
        session.add(message)
        await session.flush()
        return thread
    session.add(message)
    refreshed = await refresh_thread(session, thread)
    assert refreshed is not None
    return refreshed


async def refresh_thread(session: AsyncSession, thread: Thread) -> Thread | None:
    """Recompute the summary from the thread's messages; delete the thread when none remain."""
    await session.flush()
    messages = (await session.execute(
        select(*_SUMMARY_COLUMNS).where(Message.thread_id == thread.id).order_by(Message.timestamp, Message.id)
    )).all()
    if not messages:
        await session.execute(delete(Thread).where(Thread.id == thread.id))
        return None
    summarise(thread, messages)
    return thread


def summarise(thread: Thread, messages: Sequence[Any]) -> None:
    """`messages`: the thread's messages (rows or instances with _SUMMARY_COLUMNS), oldest first."""
    first, last = messages[0], messages[-1]
    received = [m.timestamp for m in messages if m.direction == "received"]
    sent = [m.timestamp for m in messages if m.direction == "sent"]
    attachments: dict[str, dict[str, Any]] = {}
    for m in messages:
        for a in m.attachments:
            attachments.setdefault(a["attachment_id"], a)
    thread.subject = first.subject
    thread.labels = sorted({label for m in messages for label in m.labels})
    thread.senders = _unique([m.from_ for m in messages if m.from_])
    thread.recipients = _unique([r for m in messages for r in (*m.to, *m.cc, *m.bcc)])
    thread.preview = last.preview
    thread.attachments = list(attachments.values())
    thread.last_message_id = last.message_id
    thread.message_count = len(messages)
    thread.size = sum(m.size for m in messages)
    thread.timestamp = last.timestamp
    thread.received_timestamp = max(received) if received else None
    thread.sent_timestamp = max(sent) if sent else None
    thread.updated_at = utcnow()
