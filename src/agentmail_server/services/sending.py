"""Sending: send, reply, reply-all and forward (REFERENCE §2.6).

One transaction per send stores the sent copy in its thread, the work that delivers it (a local
inbound transaction for hosted recipients, a delivery job per external batch), the `message.sent`
event and the Idempotency-Key record. The caller gets 200 only after that commit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import queue
from ..db.engine import Database
from ..db.tables import Blob, Domain, IdempotencyRecord, InboundMail, Inbox, Message, Thread
from ..db.types import utcnow
from ..events.outbox import emit_event
from ..mail.build import Composition, Mailbox, OutAttachment, compose, new_message_id
from ..mail.parse import attachment_bytes, parse
from ..mail.smtp_in import PROCESS_INBOUND, hosted_candidates
from ..mail.threading import base_subject
from ..schemas.common import format_timestamp
from . import labels as label_rules
from . import lists
from .addresses import check_header_text, custom_headers, mailboxes
from .errors import Conflict, Forbidden, Invalid, RateLimited
from .ids import new_uuid
from .messages import find_message
from .principal import Principal
from .scoping import find_inbox
from .threads_store import add_message, adopt, new_message, resolve_thread

DELIVER_OUTBOUND = "deliver_outbound"
MAX_RECIPIENTS = 50
IDEMPOTENCY_TTL = timedelta(hours=24)
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9\-._~]{1,256}$")


@dataclass
class Outgoing:
    to: list[Mailbox] = field(default_factory=list)
    cc: list[Mailbox] = field(default_factory=list)
    bcc: list[Mailbox] = field(default_factory=list)
    reply_to: list[Mailbox] = field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    labels: list[str] = field(default_factory=list)
    attachments: list[OutAttachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    thread_id: str | None = None

    @property
    def recipients(self) -> list[Mailbox]:
        return [*self.to, *self.cc, *self.bcc]


@dataclass(frozen=True)
class Sent:
    message_id: str
    thread_id: str


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str


def idempotency(key: str | None, *, endpoint: str, body: dict[str, Any]) -> Idempotency | None:
    """The Idempotency-Key header checked, with the fingerprint of the request it guards."""
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise Invalid("Idempotency-Key must be 1-256 characters from A-Z a-z 0-9 - . _ ~", path=["Idempotency-Key"])
    canonical = json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, separators=(",", ":"))
    return Idempotency(key=key, fingerprint=hashlib.sha256(canonical.encode()).hexdigest())


# --- turning request bodies into Outgoing ----------------------------------------------------


async def _decode_attachments(
    items: list[Any] | None, fetch: Callable[[str], Awaitable[bytes]] | None
) -> list[OutAttachment]:
    result = []
    for i, item in enumerate(items or []):
        if (item.content is None) == (item.url is None):
            raise Invalid("Each attachment needs exactly one of content or url", path=["attachments", i])
        if item.content is not None:
            try:
                data = base64.b64decode(item.content, validate=True)
            except (binascii.Error, ValueError):
                raise Invalid("Attachment content must be base64", path=["attachments", i, "content"]) from None
        else:
            if fetch is None:
                raise Invalid("Attachment URLs are not enabled", path=["attachments", i, "url"])
            data = await fetch(item.url)
        for name in ("filename", "content_type", "content_id"):
            value = getattr(item, name)
            if value is not None:
                check_header_text(value, field=f"attachments.{i}.{name}")
        content_type = item.content_type or (
            mimetypes.guess_type(item.filename)[0] if item.filename else None
        ) or "application/octet-stream"
        if not re.match(r"^[\w.+-]+/[\w.+-]+$", content_type):
            raise Invalid("Invalid content_type", path=["attachments", i, "content_type"])
        disposition = item.content_disposition or ("inline" if item.content_id else "attachment")
        result.append(OutAttachment(filename=item.filename, content_type=content_type.lower(),
                                    disposition=disposition, content_id=item.content_id, data=data))
    return result


async def outgoing_from(body: Any, *, fetch: Callable[[str], Awaitable[bytes]] | None = None,
                        recipients: bool = True) -> Outgoing:
    """Validate the fields shared by send, reply, reply-all and forward bodies."""
    out = Outgoing(
        to=mailboxes(getattr(body, "to", None), field="to") if recipients else [],
        cc=mailboxes(getattr(body, "cc", None), field="cc") if recipients else [],
        bcc=mailboxes(getattr(body, "bcc", None), field="bcc") if recipients else [],
        reply_to=mailboxes(body.reply_to, field="reply_to"),
        subject=check_header_text(body.subject, field="subject") if getattr(body, "subject", None) else None,
        text=body.text, html=body.html,
        labels=label_rules.check_caller_labels(body.labels or [], field="labels"),
        headers=custom_headers(body.headers),
    )
    out.attachments = await _decode_attachments(body.attachments, fetch)
    return out


# --- the send transaction --------------------------------------------------------------------


class _Rejected(Exception):
    """A send refused by policy; carries plain values because the transaction is rolled back."""

    def __init__(self, inbox: Inbox, out: Outgoing, reason: str) -> None:
        self.reason = reason
        self.organization_id, self.pod_id, self.inbox_id = inbox.organization_id, inbox.pod_id, inbox.id
        self.domain = inbox.domain
        self.thread_id = out.thread_id or new_uuid()


RATE_WINDOW = timedelta(minutes=1)


async def _check_rate(session: AsyncSession, organization_id: str, limit: int) -> None:
    """At most `limit` sends per organization in any minute (0 = no limit)."""
    if not limit:
        return
    since = utcnow() - RATE_WINDOW
    recent = (await session.scalars(
        select(Message.timestamp).where(Message.organization_id == organization_id, Message.direction == "sent",
                                        Message.timestamp >= since)
        .order_by(Message.timestamp).limit(limit)
    )).all()
    if len(recent) >= limit:
        wait = int((recent[0] + RATE_WINDOW - utcnow()).total_seconds()) + 1
        raise RateLimited(f"Send limit of {limit} messages per minute reached", retry_after=max(wait, 1))


async def send(
    db: Database, principal: Principal, inbox_id: str, *, permission: str,
    prepare: Callable[[AsyncSession, Inbox], Awaitable[Outgoing]], key: Idempotency | None,
    rate_limit: int = 0,
) -> Sent:
    """Run one send. `prepare` builds the Outgoing inside the transaction (replies read their source)."""
    principal.require(permission)
    try:
        async with db.write() as session:
            inbox = await find_inbox(session, principal, inbox_id)
            if key is not None:
                await db.serialize(session, f"idempotency:{inbox.organization_id}:{key.key}")
                replay = await _replay(session, inbox.organization_id, key)
                if replay is not None:
                    return replay
            await db.serialize(session, f"inbox:{inbox.id}")
            await _check_rate(session, inbox.organization_id, rate_limit)
            out = await prepare(session, inbox)
            _check_recipients(inbox, out)
            await _check_policy(session, inbox, out)
            sent = await _store(session, inbox, out)
            if key is not None:
                await session.merge(IdempotencyRecord(
                    organization_id=inbox.organization_id, key=key.key, fingerprint=key.fingerprint,
                    response={"message_id": sent.message_id, "thread_id": sent.thread_id}, created_at=utcnow(),
                ))
            return sent
    except _Rejected as rejected:
        # Nothing of the refused send (nor of `prepare`) was committed; the refusal itself is an event.
        async with db.write() as session:
            await emit_event(session, event_type="message.rejected", organization_id=rejected.organization_id,
                       pod_id=rejected.pod_id, inbox_id=rejected.inbox_id,
                       body={"reject": {"inbox_id": rejected.inbox_id, "thread_id": rejected.thread_id,
                                        "message_id": new_message_id(rejected.domain), "timestamp": _ts(),
                                        "reason": rejected.reason}})
        raise Forbidden(rejected.reason, code="message_rejected", name="MessageRejectedError") from None


def _ts() -> str:
    return format_timestamp(utcnow())


async def _replay(session: AsyncSession, organization_id: str, key: Idempotency) -> Sent | None:
    record = await session.get(IdempotencyRecord, (organization_id, key.key))
    if record is None or utcnow() - record.created_at > IDEMPOTENCY_TTL:
        return None
    if record.fingerprint != key.fingerprint:
        raise Conflict("Idempotency-Key was already used for a different request", code="conflict")
    return Sent(message_id=record.response["message_id"], thread_id=record.response["thread_id"])


def _check_recipients(inbox: Inbox, out: Outgoing) -> None:
    recipients = out.recipients
    if not recipients:
        raise Invalid("to, cc, or bcc must be specified", path=["to"])
    if len(recipients) > MAX_RECIPIENTS:
        raise Invalid(f"At most {MAX_RECIPIENTS} recipients across to, cc and bcc", path=["to"])
    if any(r.email == inbox.id for r in recipients):
        raise Invalid("An inbox cannot send to its own address", path=["to"])
    if out.text is None and out.html is None and not out.attachments and out.subject is None:
        raise Invalid("Provide text, html, subject or attachments", path=["text"])


async def _check_policy(session: AsyncSession, inbox: Inbox, out: Outgoing) -> None:
    if inbox.status == "paused":
        raise _Rejected(inbox, out, "The inbox is paused")
    for recipient in out.recipients:
        allowed = await lists.verdict(session, organization_id=inbox.organization_id, pod_id=inbox.pod_id,
                                      inbox_id=inbox.id, direction="send", address=recipient.email)
        if not allowed:
            raise _Rejected(inbox, out, f"Recipient {recipient.email} is blocked by a send list")


async def _store(session: AsyncSession, inbox: Inbox, out: Outgoing) -> Sent:
    now = utcnow()
    message_id = new_message_id(inbox.domain)
    raw = compose(Composition(
        sender=Mailbox(inbox.display_name, inbox.id), message_id=message_id, date=now, to=out.to, cc=out.cc,
        reply_to=out.reply_to, subject=out.subject, text=out.text, html=out.html, attachments=out.attachments,
        headers=out.headers, in_reply_to=out.in_reply_to, references=out.references,
    ))
    parsed = await asyncio.to_thread(parse, raw)
    parsed.bcc = [m.display() for m in out.bcc]  # envelope-only: kept on the sent copy, never in the bytes
    blob = Blob(id=new_uuid(), sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), data=raw)
    session.add(blob)
    await session.flush()
    if out.thread_id is not None:
        thread = await session.get(Thread, out.thread_id)
        assert thread is not None
        await adopt(session, thread, message_id, [r for r in [out.in_reply_to, *out.references] if r])
    else:
        thread = await resolve_thread(session, organization_id=inbox.organization_id, pod_id=inbox.pod_id,
                                      inbox_id=inbox.id, message_id=message_id, in_reply_to=None, references=[],
                                      subject=out.subject)
    message = new_message(inbox=inbox, thread_id=thread.id, message_id=message_id, parsed=parsed, blob=blob,
                          direction="sent", labels=["sent", *out.labels], timestamp=now)
    await add_message(session, thread, message)
    await _route(session, inbox, blob, message, out)
    recipients = [r.email for r in out.recipients]
    await emit_event(session, event_type="message.sent", organization_id=inbox.organization_id, pod_id=inbox.pod_id,
               inbox_id=inbox.id,
               body={"send": {"inbox_id": inbox.id, "thread_id": thread.id, "message_id": message_id,
                              "timestamp": _ts(), "recipients": recipients}})
    return Sent(message_id=message_id, thread_id=thread.id)


async def _route(session: AsyncSession, inbox: Inbox, blob: Blob, message: Message, out: Outgoing) -> None:
    """Hosted recipients get the mail through the inbound pipeline (no SMTP hop); the rest are queued."""
    candidates = {r.email: hosted_candidates(r.email) for r in out.recipients}
    wanted = [c for cs in candidates.values() for c in cs]
    # An inbox on a send-only custom domain is not reached here: its domain's MX is somebody else's.
    hosted = set((await session.scalars(
        select(Inbox.id).outerjoin(Domain, Domain.id == Inbox.domain)
        .where(Inbox.id.in_(wanted), Domain.inbound_enabled.is_not(False)))).all()) if wanted else set()
    local: list[str] = []
    external: list[str] = []
    for email, options in candidates.items():
        target = next((c for c in options if c in hosted), None)
        if target is not None:
            local.append(target)
        else:
            external.append(email)
    if local:
        inbound_id = new_uuid()
        session.add(InboundMail(id=inbound_id, blob_id=blob.id, mail_from=inbox.id, rcpt_to=local, source="local",
                                peer=None, helo=None, tls=False))
        queue.enqueue(session, PROCESS_INBOUND, {"inbound_id": inbound_id})
    if external:
        queue.enqueue(session, DELIVER_OUTBOUND, {"message": message.id, "recipients": external})


# --- reply, reply-all and forward ------------------------------------------------------------


def _prefixed(prefix: str, subject: str | None) -> str:
    subject = subject or ""
    already = base_subject(subject) != subject.strip().casefold() and subject.lower().startswith(prefix.lower())
    return subject if already else f"{prefix} {subject}".strip()


def _quote_text(source: Message) -> str:
    lines = (source.text or "").splitlines()
    header = f"On {source.timestamp:%a, %d %b %Y at %H:%M}, {source.from_} wrote:"
    return "\n".join([header, *(f"> {line}" if line else ">" for line in lines)])


def _quote_html(source: Message) -> str:
    header = escape(f"On {source.timestamp:%a, %d %b %Y at %H:%M}, {source.from_} wrote:")
    body = source.html or f"<pre>{escape(source.text or '')}</pre>"
    return f'<div class="agentmail_quote"><p>{header}</p><blockquote>{body}</blockquote></div>'


def _header_id(source: Message) -> str:
    return source.header_message_id or source.message_id


def _addresses(items: list[str]) -> list[Mailbox]:
    return mailboxes(items, field="original") if items else []


def reply_prepare(message_id: str, out: Outgoing, *, reply_all: bool, principal: Principal):  # type: ignore[no-untyped-def]
    async def prepare(session: AsyncSession, inbox: Inbox) -> Outgoing:
        source = await find_message(session, principal, inbox.id, message_id)
        own = {inbox.id}
        if source.direction == "sent":
            counterpart = _addresses(source.to)
        else:
            counterpart = _addresses(source.reply_to) or _addresses([source.from_] if source.from_ else [])
        if reply_all:
            to = counterpart + ([] if source.direction == "sent" else _addresses(source.to))
            out.to = _dedupe([m for m in to if m.email not in own])
            out.cc = _dedupe([m for m in _addresses(source.cc) if m.email not in own])
            out.bcc = []
        elif not out.recipients:
            out.to = [m for m in counterpart if m.email not in own]
        out.subject = _prefixed("Re:", source.subject)
        out.in_reply_to = _header_id(source)
        out.references = list(dict.fromkeys([*source.references, _header_id(source)]))
        out.thread_id = source.thread_id
        if source.text or out.text is not None:
            out.text = f"{out.text or ''}\n\n{_quote_text(source)}\n" if source.text else out.text
        if out.html is not None:
            out.html = f"{out.html}\n{_quote_html(source)}"
        return out

    return prepare


def forward_prepare(message_id: str, out: Outgoing, *, principal: Principal):  # type: ignore[no-untyped-def]
    async def prepare(session: AsyncSession, inbox: Inbox) -> Outgoing:
        source = await find_message(session, principal, inbox.id, message_id)
        blob = await session.get(Blob, source.blob_id)
        out.subject = out.subject or _prefixed("Fwd:", source.subject)
        out.references = [_header_id(source)]
        out.thread_id = source.thread_id
        summary = "\n".join([
            "---------- Forwarded message ---------",
            f"From: {source.from_}",
            f"Date: {source.timestamp:%a, %d %b %Y at %H:%M}",
            f"Subject: {source.subject or ''}",
            f"To: {', '.join(source.to)}",
        ])
        out.text = f"{out.text or ''}\n\n{summary}\n\n{source.text or ''}".strip() + "\n"
        if out.html is not None or source.html:
            original = source.html or f"<pre>{escape(source.text or '')}</pre>"
            out.html = f"{out.html or ''}<div class=\"agentmail_forward\"><pre>{escape(summary)}</pre>{original}</div>"
        carried = []
        for meta in source.attachments:
            data = attachment_bytes(blob.data, str(meta["part"])) if blob else None
            if data is not None:
                carried.append(OutAttachment(filename=meta.get("filename"),
                                             content_type=str(meta.get("content_type") or "application/octet-stream"),
                                             disposition=str(meta.get("content_disposition") or "attachment"),
                                             content_id=meta.get("content_id"), data=data))
        out.attachments = carried + out.attachments
        return out

    return prepare


def _dedupe(items: list[Mailbox]) -> list[Mailbox]:
    seen: dict[str, Mailbox] = {}
    for m in items:
        seen.setdefault(m.email, m)
    return list(seen.values())


def new_send_prepare(out: Outgoing) -> Callable[[AsyncSession, Inbox], Awaitable[Outgoing]]:
    async def prepare(session: AsyncSession, inbox: Inbox) -> Outgoing:
        return out

    return prepare
