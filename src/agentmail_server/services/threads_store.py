"""Thread membership and summaries, shared by inbound ingest and (later) sending."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.tables import Message, Thread, ThreadRef
from ..db.types import utcnow
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
    existing = set((await session.scalars(
        select(ThreadRef.message_id).where(ThreadRef.inbox_id == inbox_id,
                                           ThreadRef.message_id.in_([*links, message_id]))
    )).all())
    for ref in _unique([message_id, *links]):
        if ref not in existing:
            session.add(ThreadRef(inbox_id=inbox_id, message_id=ref, thread_id=thread.id))
    if message_id in existing:
        # A reply may have created a phantom ref for this id in a thread the guard rejected; the
        # message itself now lives here.
        await session.execute(update(ThreadRef).where(ThreadRef.inbox_id == inbox_id,
                                                       ThreadRef.message_id == message_id)
                              .values(thread_id=thread.id))
    return thread


async def _merge(session: AsyncSession, *, into: Thread, other: Thread) -> None:
    await session.execute(update(Message).where(Message.thread_id == other.id).values(thread_id=into.id))
    await session.execute(update(ThreadRef).where(ThreadRef.thread_id == other.id).values(thread_id=into.id))
    await session.execute(delete(Thread).where(Thread.id == other.id))


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
