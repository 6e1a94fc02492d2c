"""Reading and curating threads at organization, pod or inbox scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.pagination import Page, check_limit, paginate
from ..db.tables import Message, Thread
from . import labels as label_rules
from .errors import Invalid, NotFound, Unprocessable
from .ids import is_uuid
from .mail_filters import MailFilters, conditions
from .messages import LabelChange, find_attachment, relabel
from .principal import Principal
from .scoping import resolve_scope

MAX_THREAD_PAGE = 100
MAX_THREAD_UPDATE = 100


async def find_thread(
    session: AsyncSession, principal: Principal, thread_id: str, *, pod_id: str | None = None,
    inbox_id: str | None = None,
) -> Thread:
    if not is_uuid(thread_id):
        raise Invalid("Invalid UUID", path=["thread_id"])
    scope = await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
    thread = await session.scalar(select(Thread).where(Thread.id == thread_id.lower(), scope.where(Thread)))
    if thread is None or label_rules.unreadable(principal, thread.labels):
        raise NotFound("Thread not found")
    return thread


async def list_threads(
    db: Database, principal: Principal, filters: MailFilters, *, pod_id: str | None, inbox_id: str | None,
    limit: int | None, page_token: str | None,
) -> Page[Thread]:
    principal.require("message_read")
    size = filters.limit(limit)
    async with db.read() as session:
        scope = await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
        stmt = select(Thread).where(scope.where(Thread), *conditions(Thread, filters, principal, db.dialect))
        if "sent" not in filters.labels:
            # Outbound conversations nobody answered stay out of the default listing (REFERENCE §2.7).
            stmt = stmt.where(Thread.received_timestamp.is_not(None))
        return await paginate(
            session, stmt, endpoint=f"threads:{scope.type}:{scope.id}", order=[Thread.timestamp, Thread.id],
            limit=size, page_token=page_token, ascending=filters.ascending,
        )


@dataclass
class ThreadPage:
    thread: Thread
    messages: list[Message]
    limit: int
    next_page_token: str | None


async def get_thread(
    db: Database, principal: Principal, thread_id: str, *, pod_id: str | None, inbox_id: str | None,
    limit: int | None, page_token: str | None,
) -> ThreadPage:
    principal.require("message_read")
    size = check_limit(limit, maximum=MAX_THREAD_PAGE) if limit is not None else MAX_THREAD_PAGE
    async with db.read() as session:
        thread = await find_thread(session, principal, thread_id, pod_id=pod_id, inbox_id=inbox_id)
        # Newest page first; each page is shown oldest → newest.
        page = await paginate(
            session, select(Message).where(Message.thread_id == thread.id), endpoint=f"thread:{thread.id}",
            order=[Message.timestamp, Message.id], limit=size, page_token=page_token, ascending=False,
        )
    return ThreadPage(thread=thread, messages=list(reversed(page.items)), limit=page.limit,
                      next_page_token=page.next_page_token)


async def update_thread(
    db: Database, principal: Principal, thread_id: str, change: LabelChange, *, pod_id: str | None,
    inbox_id: str | None,
) -> Thread:
    principal.require("message_update")
    async with db.write() as session:
        thread = await find_thread(session, principal, thread_id, pod_id=pod_id, inbox_id=inbox_id)
        await db.serialize(session, f"inbox:{thread.inbox_id}")
        if thread.message_count >= MAX_THREAD_UPDATE:
            raise Unprocessable(f"Threads with {MAX_THREAD_UPDATE} or more messages cannot be relabelled at once")
        messages = (await session.scalars(select(Message).where(Message.thread_id == thread.id))).all()
        await relabel(session, messages, change)
    return thread


async def delete_thread(
    db: Database, principal: Principal, thread_id: str, *, pod_id: str | None, inbox_id: str | None
) -> None:
    principal.require("message_delete")
    async with db.write() as session:
        thread = await find_thread(session, principal, thread_id, pod_id=pod_id, inbox_id=inbox_id)
        await db.serialize(session, f"inbox:{thread.inbox_id}")
        await session.execute(delete(Message).where(Message.thread_id == thread.id))
        await session.execute(delete(Thread).where(Thread.id == thread.id))


async def thread_attachment(
    db: Database, principal: Principal, thread_id: str, attachment_id: str, *, pod_id: str | None,
    inbox_id: str | None,
) -> tuple[Message, dict[str, object]]:
    principal.require("message_read")
    async with db.read() as session:
        thread = await find_thread(session, principal, thread_id, pod_id=pod_id, inbox_id=inbox_id)
        messages = (await session.scalars(select(Message).where(Message.thread_id == thread.id))).all()
    for message in messages:
        if any(a["attachment_id"] == attachment_id for a in message.attachments):
            return message, find_attachment(message, attachment_id)
    raise NotFound("Attachment not found")


