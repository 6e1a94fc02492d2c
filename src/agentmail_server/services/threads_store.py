"""Thread membership and summaries, shared by inbound ingest and (later) sending."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
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
    base = base_subject(subject)
    candidates = (await session.scalars(
        select(Thread).join(ThreadRef, ThreadRef.thread_id == Thread.id)
        .where(ThreadRef.inbox_id == inbox_id, ThreadRef.message_id.in_([*links, message_id]))
        .order_by(Thread.created_at, Thread.id)
    )).unique().all()
    matching = [t for t in candidates if subjects_match(t.base_subject, base)]
    if matching:
        thread = matching[0]
        for other in matching[1:]:
            await _merge(session, into=thread, other=other)
    else:
        thread = Thread(id=new_uuid(), organization_id=organization_id, pod_id=pod_id, inbox_id=inbox_id,
                        subject=subject, base_subject=base, last_message_id=message_id)
        session.add(thread)
        await session.flush()
    # A reply may have left a phantom ref for this id in a thread the subject guard rejected; the
    # message itself now lives here.
    await session.execute(update(ThreadRef).where(ThreadRef.inbox_id == inbox_id, ThreadRef.message_id == message_id,
                                                   ThreadRef.thread_id != thread.id).values(thread_id=thread.id))
    await adopt(session, thread, message_id, links)
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
    for ref in wanted:
        if ref not in existing:
            session.add(ThreadRef(inbox_id=thread.inbox_id, message_id=ref, thread_id=thread.id))


def _unique(items: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


async def refresh_thread(session: AsyncSession, thread: Thread) -> Thread | None:
    """Recompute the summary from the thread's messages; delete the thread when none remain."""
    await session.flush()
    messages = (await session.scalars(
        select(Message).where(Message.thread_id == thread.id).order_by(Message.timestamp, Message.id)
    )).all()
    if not messages:
        await session.execute(delete(Thread).where(Thread.id == thread.id))
        return None
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
    return thread
