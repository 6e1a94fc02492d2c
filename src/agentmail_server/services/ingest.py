"""Inbound processing: from a committed SMTP transaction to stored, threaded, labelled messages.

Runs as the `process_inbound` job after the 250 was sent, from the stored raw copy. Every step is
idempotent, so a retry after a crash (or a sender's resend) never stores a message twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dns.asyncresolver import Resolver
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import queue
from ..db.engine import Database
from ..db.tables import Blob, InboundMail, Inbox, Message
from ..db.types import utcnow
from ..events.outbox import emit_event
from ..mail.auth import authenticate
from ..mail.parse import ParsedMessage
from ..mail.parse_pool import ParsePool
from ..schemas.messages import Message as MessageWire
from ..schemas.messages import ThreadItem
from . import lists
from .threads_store import add_message, new_message, resolve_thread

log = logging.getLogger("agentmail_server.ingest")

# A received message fires exactly one event; the first restricted label it carries picks which.
RECEIVED_VARIANTS = ("blocked", "spam", "unauthenticated")


def upstream_spam(headers: dict[str, str]) -> bool:
    """The verdict of a spam filter in front of this server (SpamAssassin, rspamd, Exchange)."""
    lowered = {k.lower(): v.strip().lower() for k, v in headers.items()}
    if lowered.get("x-spam-flag", "").startswith("yes") or lowered.get("x-spam-status", "").startswith("yes"):
        return True
    scl = lowered.get("x-ms-exchange-organization-scl", "")
    return scl.lstrip("-").isdigit() and int(scl) >= 5


@dataclass(frozen=True)
class Delivery:
    inbound: InboundMail
    blob: Blob
    parsed: ParsedMessage
    authenticated: bool


@dataclass(frozen=True)
class InboundConfig:
    default_domain: str
    resolver: Resolver
    auth_mode: str
    authserv_id: str
    parser: ParsePool


def api_message_id(parsed: ParsedMessage, blob: Blob, domain: str) -> str:
    # Mail without a Message-ID gets one derived from its bytes, so a resend maps to the same id.
    return parsed.message_id or f"<{blob.sha256[:32]}@{domain}>"


async def process_inbound(db: Database, inbound_id: str, config: InboundConfig) -> None:
    async with db.read() as session:
        row = (await session.execute(
            select(InboundMail, Blob).join(Blob, Blob.id == InboundMail.blob_id).where(InboundMail.id == inbound_id)
        )).first()
    if row is None or row.InboundMail.processed_at is not None:
        return
    inbound, blob = row.InboundMail, row.Blob
    parsed = await config.parser.parse(blob.data)
    auth = await authenticate(
        blob.data, mail_from=inbound.mail_from, helo=inbound.helo, client_ip=inbound.peer,
        resolver=config.resolver, authserv_id=config.authserv_id,
        # Mail one hosted inbox sent to another never left this server: nothing to verify.
        mode="off" if inbound.source == "local" else config.auth_mode,
    )
    # Ours replaces whatever the sender put there: an inbound Authentication-Results is forgeable.
    parsed.headers = {"Authentication-Results": auth.header,
                      **{k: v for k, v in parsed.headers.items() if k.lower() != "authentication-results"}}
    delivery = Delivery(inbound=inbound, blob=blob, parsed=parsed, authenticated=auth.authenticated)
    addresses = list(dict.fromkeys(inbound.rcpt_to))
    for i, address in enumerate(addresses):
        async with db.write() as session:
            await db.serialize(session, f"inbox:{address}")
            await _deliver(session, delivery, address, config.default_domain)
            if i == len(addresses) - 1:
                # Done (and the job finished) with the last delivery's commit: fewer transactions,
                # and fsyncs, per message.
                await _mark_processed(session, inbound_id)
    if not addresses:
        async with db.write() as session:
            await _mark_processed(session, inbound_id)


async def _mark_processed(session: AsyncSession, inbound_id: str) -> None:
    await session.execute(update(InboundMail).where(InboundMail.id == inbound_id).values(processed_at=utcnow()))
    await queue.finish_in(session)


async def _deliver(session: AsyncSession, delivery: Delivery, address: str, default_domain: str) -> None:
    parsed, blob, inbound = delivery.parsed, delivery.blob, delivery.inbound
    inbox = await session.get(Inbox, address)
    if inbox is None or inbox.status == "paused":
        # Deleted or paused since the RCPT check: a paused inbox does not receive (REFERENCE §2.5).
        log.info("dropping inbound %s for %s (inbox %s)", inbound.id, address,
                 "paused" if inbox else "missing")
        return
    message_id = api_message_id(parsed, blob, default_domain)
    existing = await session.scalar(
        select(Message).where(Message.inbox_id == inbox.id, Message.message_id == message_id)
    )
    if existing is not None:
        if existing.inbound_id == inbound.id or await _same_bytes(session, existing, blob):
            return  # already delivered: a retried job or the sender's resend
        # A different message reusing a Message-ID: keep both, the newcomer under a derived id.
        message_id = f"<{blob.sha256[:16]}.{message_id.strip('<>')}>"
        if await session.scalar(select(Message.id).where(Message.inbox_id == inbox.id,
                                                         Message.message_id == message_id)):
            return

    thread = await resolve_thread(
        session, organization_id=inbox.organization_id, pod_id=inbox.pod_id, inbox_id=inbox.id,
        message_id=message_id, in_reply_to=parsed.in_reply_to, references=parsed.references,
        subject=parsed.subject,
    )
    is_reply = thread.sent_timestamp is not None
    labels = ["received", "unread"]
    sender = parsed.from_email or inbound.mail_from.lower()
    with session.no_autoflush:  # the list query needs none of the thread rows pending above
        allowed = await lists.verdict(
            session, organization_id=inbox.organization_id, pod_id=inbox.pod_id, inbox_id=inbox.id,
            direction="reply" if is_reply else "receive", address=sender,
        ) if sender else True
    if not allowed:
        labels.append("blocked")
    if upstream_spam(parsed.headers):
        labels.append("spam")
    if not delivery.authenticated:
        labels.append("unauthenticated")

    message = new_message(
        inbox=inbox, thread_id=thread.id, message_id=message_id, parsed=parsed, blob=blob, direction="received",
        labels=labels, timestamp=inbound.received_at, inbound_id=inbound.id, envelope_from=inbound.mail_from,
    )
    refreshed = await add_message(session, thread, message)
    event_type = next((f"message.received.{label}" for label in RECEIVED_VARIANTS if label in labels),
                      "message.received")
    await emit_event(
        session, event_type=event_type, organization_id=inbox.organization_id, pod_id=inbox.pod_id,
        inbox_id=inbox.id,
        body={
            "message": MessageWire.of(message).model_dump(mode="json", exclude_none=True, by_alias=True),
            "thread": ThreadItem.of(refreshed).model_dump(mode="json", exclude_none=True),
        },
    )


async def _same_bytes(session: AsyncSession, message: Message, blob: Blob) -> bool:
    if message.blob_id == blob.id:
        return True
    stored = await session.scalar(select(Blob.sha256).where(Blob.id == message.blob_id))
    return stored == blob.sha256
