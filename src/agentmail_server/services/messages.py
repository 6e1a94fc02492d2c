"""Reading and curating an inbox's messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.pagination import Page, paginate
from ..db.tables import Blob, Message, Thread
from ..db.types import utcnow
from ..mail.parse import attachment_bytes
from . import labels as label_rules
from .errors import Invalid, NotFound
from .mail_filters import MailFilters, conditions
from .principal import Principal
from .scoping import find_inbox
from .threads_store import refresh_thread

MAX_BATCH_GET = 500
MAX_BATCH_UPDATE = 50


def candidate_ids(message_id: str) -> list[str]:
    """Message-IDs as callers pass them: with angle brackets (canonical) or without."""
    mid = message_id.strip()
    return [mid] if mid.startswith("<") else [mid, f"<{mid}>"]


async def find_message(session: AsyncSession, principal: Principal, inbox_id: str, message_id: str) -> Message:
    inbox = await find_inbox(session, principal, inbox_id)
    row = await session.scalar(
        select(Message).where(Message.inbox_id == inbox.id, Message.message_id.in_(candidate_ids(message_id)))
        .order_by(Message.message_id.desc()).limit(1)
    )
    if row is None or label_rules.unreadable(principal, row.labels):
        raise NotFound("Message not found")
    return row


async def list_messages(
    db: Database, principal: Principal, inbox_id: str, filters: MailFilters, *, limit: int | None,
    page_token: str | None,
) -> Page[Message]:
    principal.require("message_read")
    size = filters.limit(limit)
    async with db.read() as session:
        inbox = await find_inbox(session, principal, inbox_id)
        stmt = select(Message).where(Message.inbox_id == inbox.id, *conditions(Message, filters, principal, db.dialect))
        return await paginate(
            session, stmt, endpoint=f"messages:{inbox.id}", order=[Message.timestamp, Message.id], limit=size,
            page_token=page_token, ascending=filters.ascending,
        )


async def get_message(db: Database, principal: Principal, inbox_id: str, message_id: str) -> Message:
    principal.require("message_read")
    async with db.read() as session:
        return await find_message(session, principal, inbox_id, message_id)


@dataclass
class LabelChange:
    add: list[str]
    remove: list[str]

    @classmethod
    def of(cls, add: str | list[str] | None, remove: str | list[str] | None, *, require: bool = True) -> LabelChange:
        change = cls(
            add=label_rules.check_caller_labels(label_rules.as_list(add), field="add_labels"),
            remove=label_rules.check_caller_labels(label_rules.as_list(remove), field="remove_labels"),
        )
        if require and not change.add and not change.remove:
            raise Invalid("Provide add_labels or remove_labels", path=["add_labels"])
        return change


async def relabel(session: AsyncSession, messages: Sequence[Message], change: LabelChange) -> None:
    """Apply `change` to every message, then re-summarise each thread they touch once."""
    now = utcnow()
    for message in messages:
        message.labels = label_rules.apply(message.labels, change.add, change.remove)
        message.updated_at = now
    for thread_id in dict.fromkeys(m.thread_id for m in messages):
        thread = await session.get(Thread, thread_id)
        if thread is not None:
            await refresh_thread(session, thread)


async def update_message(
    db: Database, principal: Principal, inbox_id: str, message_id: str, change: LabelChange
) -> Message:
    principal.require("message_update")
    async with db.write() as session:
        message = await find_message(session, principal, inbox_id, message_id)
        await db.serialize(session, f"inbox:{message.inbox_id}")
        await relabel(session, [message], change)
    return message


async def delete_message(db: Database, principal: Principal, inbox_id: str, message_id: str) -> None:
    principal.require("message_delete")
    async with db.write() as session:
        message = await find_message(session, principal, inbox_id, message_id)
        await db.serialize(session, f"inbox:{message.inbox_id}")
        thread = await session.get(Thread, message.thread_id)
        await session.delete(message)
        if thread is not None:
            await refresh_thread(session, thread)


def _check_ids(ids: list[str], maximum: int) -> None:
    if not ids:
        raise Invalid("message_ids must not be empty", path=["message_ids"])
    if len(ids) > maximum:
        raise Invalid(f"At most {maximum} message_ids", path=["message_ids"])
    if len(set(ids)) != len(ids):
        raise Invalid("message_ids must not contain duplicates", path=["message_ids"])


async def _visible_by_id(
    session: AsyncSession, principal: Principal, inbox_id: str, ids: list[str]
) -> dict[str, Message]:
    wanted = {c: mid for mid in ids for c in candidate_ids(mid)}
    rows = (await session.scalars(
        select(Message).where(Message.inbox_id == inbox_id, Message.message_id.in_(list(wanted)))
    )).all()
    return {wanted[r.message_id]: r for r in rows if not label_rules.unreadable(principal, r.labels)}


async def batch_get(db: Database, principal: Principal, inbox_id: str, ids: list[str]) -> list[Message]:
    principal.require("message_read")
    _check_ids(ids, MAX_BATCH_GET)
    async with db.read() as session:
        inbox = await find_inbox(session, principal, inbox_id)
        found = await _visible_by_id(session, principal, inbox.id, ids)
    return [found[i] for i in ids if i in found]


async def batch_update(
    db: Database, principal: Principal, inbox_id: str, ids: list[str], change: LabelChange
) -> list[Message]:
    principal.require("message_update")
    _check_ids(ids, MAX_BATCH_UPDATE)
    async with db.write() as session:
        inbox = await find_inbox(session, principal, inbox_id)
        await db.serialize(session, f"inbox:{inbox.id}")
        found = await _visible_by_id(session, principal, inbox.id, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            # Atomic: nothing changes unless every message exists.
            raise NotFound(f"Message not found: {missing[0]}")
        await relabel(session, [found[i] for i in ids], change)
    return [found[i] for i in ids]


async def raw_bytes(db: Database, message_row_id: str) -> tuple[Message, bytes]:
    async with db.read() as session:
        message = await session.get(Message, message_row_id)
        blob = await session.get(Blob, message.blob_id) if message else None
    if message is None or blob is None:
        raise NotFound("Message not found")
    return message, blob.data


async def blob_bytes(db: Database, blob_id: str) -> bytes:
    async with db.read() as session:
        blob = await session.get(Blob, blob_id)
    if blob is None:
        raise NotFound("File not found")
    return blob.data


def find_attachment(message: Message, attachment_id: str) -> dict[str, object]:
    for meta in message.attachments:
        if meta["attachment_id"] == attachment_id:
            return meta
    raise NotFound("Attachment not found")


async def attachment_content(db: Database, message_row_id: str, attachment_id: str) -> tuple[dict[str, object], bytes]:
    message, raw = await raw_bytes(db, message_row_id)
    meta = find_attachment(message, attachment_id)
    data = attachment_bytes(raw, str(meta["part"]))
    if data is None:
        raise NotFound("Attachment not found")
    return meta, data
