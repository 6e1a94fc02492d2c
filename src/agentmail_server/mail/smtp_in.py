"""The inbound SMTP listener (aiosmtpd): accept only hosted recipients, commit, then say 250."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from ..db import queue
from ..db.engine import Database
from ..db.tables import Blob, InboundMail, Inbox, OutboundRecipient
from ..services.ids import new_uuid
from ..telemetry.metrics import SMTP_MESSAGES, SMTP_SESSIONS
from .bounces import bounce_token

log = logging.getLogger("agentmail_server.smtp")

MAX_RECIPIENTS = 100
PROCESS_INBOUND = "process_inbound"
# DSNs and complaint reports sent to a message's VERP bounce address (services/feedback.py).
PROCESS_FEEDBACK = "process_feedback"


def hosted_candidates(address: str) -> list[str]:
    """The inbox ids an RCPT address may mean: itself, and without a +subaddress tag."""
    addr = address.strip().strip("<>").lower()
    local, at, domain = addr.rpartition("@")
    if not at:
        return []
    candidates = [addr]
    if "+" in local:
        candidates.append(f"{local.split('+', 1)[0]}@{domain}")
    return candidates


class InboundHandler:
    def __init__(self, db: Database, on_commit: Callable[[], None], *, max_inflight: int = 200) -> None:
        self.db = db
        self.on_commit = on_commit
        self.max_inflight = max_inflight
        self.inflight = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        hosted: list[str] = envelope.__dict__.setdefault("hosted_inboxes", [])
        if len(hosted) + len(envelope.__dict__.get("bounce_addresses", [])) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        token = bounce_token(address)
        if token is not None:
            try:
                async with self.db.read() as db_session:
                    known = await db_session.scalar(
                        select(OutboundRecipient.id).where(OutboundRecipient.bounce_token == token).limit(1))
            except Exception:
                log.exception("bounce address lookup failed")
                return "451 4.3.0 Temporary lookup failure, try again later"
            if known is not None:
                envelope.rcpt_tos.append(address)
                envelope.__dict__.setdefault("bounce_addresses", []).append(address)
                return "250 2.1.5 OK"
            # Not one of our tokens: it may still be an inbox called "bounces" with a tag.
        candidates = hosted_candidates(address)
        try:
            async with self.db.read() as db_session:
                rows = (
                    (await db_session.execute(select(Inbox.id, Inbox.status).where(Inbox.id.in_(candidates)))).all()
                    if candidates
                    else []
                )
        except Exception:
            log.exception("recipient lookup failed")
            return "451 4.3.0 Temporary lookup failure, try again later"
        found = {row.id: row.status for row in rows}
        inbox_id = next((c for c in candidates if c in found), None)
        if inbox_id is None:
            # Never an open relay: only addresses hosted here are accepted.
            return "550 5.1.1 Recipient address rejected: no such mailbox here"
        if found[inbox_id] == "paused":
            return "550 5.2.1 Mailbox is paused and not accepting mail"
        envelope.rcpt_tos.append(address)
        hosted.append(inbox_id)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content if envelope.original_content is not None else envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        hosted = list(dict.fromkeys(envelope.__dict__.get("hosted_inboxes", [])))
        reports = list(dict.fromkeys(envelope.__dict__.get("bounce_addresses", [])))
        if not hosted and not reports:
            SMTP_MESSAGES.labels(outcome="rejected").inc()
            return "554 5.5.1 No valid recipients"
        if self.inflight >= self.max_inflight:
            SMTP_MESSAGES.labels(outcome="deferred").inc()
            return "451 4.3.2 System busy, try again later"
        self.inflight += 1
        try:
            reply = await self._store(session, envelope, raw, hosted, reports)
        finally:
            self.inflight -= 1
        SMTP_MESSAGES.labels(outcome="accepted" if reply.startswith("250") else "deferred").inc()
        return reply

    async def _store(self, session: Session, envelope: Envelope, raw: bytes, hosted: list[str],
                     reports: list[str]) -> str:
        mail_from = envelope.mail_from or ""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        inbound_id = new_uuid()
        try:
            async with self.db.write() as db_session:
                blob = Blob(id=new_uuid(), sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), data=raw)
                db_session.add(blob)
                await db_session.flush()
                # One envelope row per kind of work: mail for inboxes, and reports for bounce addresses
                # (source "feedback"); both keep the blob alive until they are processed.
                work = (("smtp", hosted, PROCESS_INBOUND), ("feedback", reports, PROCESS_FEEDBACK))
                for source, rcpt_to, kind in work:
                    if not rcpt_to:
                        continue
                    row_id = inbound_id if source == "smtp" or not hosted else new_uuid()
                    db_session.add(
                        InboundMail(
                            id=row_id,
                            blob_id=blob.id,
                            mail_from=mail_from,
                            rcpt_to=rcpt_to,
                            peer=peer[:128],
                            helo=(session.host_name or "")[:255] or None,
                            tls=session.ssl is not None,
                            source=source,
                        )
                    )
                    queue.enqueue(db_session, kind, {"inbound_id": row_id})
        except Exception:
            # RFC 5321 §6.1: never 250-and-drop. The sender keeps the message and retries.
            log.exception("storing inbound mail failed")
            return "451 4.3.0 Temporary failure storing message, try again later"
        self.on_commit()
        return f"250 2.0.0 OK queued as {inbound_id}"


async def start_listener(
    handler: InboundHandler,
    *,
    host: str,
    port: int,
    max_message_bytes: int,
    tls_context: ssl.SSLContext | None = None,
    hostname: str | None = None,
) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()

    def factory() -> Any:
        SMTP_SESSIONS.inc()
        return SMTP(
            handler,
            data_size_limit=max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls_context,
            require_starttls=False,
            hostname=hostname,
            ident="agentmail-server ESMTP",
        )

    return await loop.create_server(factory, host=host, port=port)
