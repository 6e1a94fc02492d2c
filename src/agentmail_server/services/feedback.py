"""Reports that come back to a message's bounce address: DSNs, plain-text bounces, ARF complaints.

The SMTP listener accepts mail for bounces+<token>@… only when the token belongs to a sent
message, stores it, and queues process_feedback. Here the report is read (mail/bounces.py) and
applied to that message's recipients: bounced (Permanent or Transient by the reported status) or
complained, with the label and event, and the suppression a hard bounce or complaint calls for.

Matching a report to recipients: the report's addresses that are among the message's recipients.
When it names none of them, a single-recipient message is unambiguous; for a multi-recipient
message a complaint is recorded against all of them (providers redact the complainant) but
nothing is suppressed, and an unattributable bounce is logged and ignored. Applying a report
twice (a retried job) changes nothing the second time.

Unless the sender's domain turned `feedback_enabled` off, the report itself is also delivered to the
sending inbox as received mail, so an agent reading its inbox sees the bounce notice like a person
would (the inbound pipeline's Message-ID dedupe keeps a retried job from delivering it twice).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import queue
from ..db.engine import Database
from ..db.tables import Blob, InboundMail, Inbox, Message, OutboundRecipient
from ..db.text import storable
from ..db.types import utcnow
from ..mail.bounces import Report, ReportRecipient, bounce_token, classify, parse_report
from ..mail.smtp_in import PROCESS_INBOUND
from . import domains
from .delivery import Outcomes, apply, recipients_of, suppress
from .ids import new_uuid

log = logging.getLogger("agentmail_server.delivery")


def _match(report: Report, known: list[str]) -> tuple[list[ReportRecipient], bool]:
    """(the report's recipients as the message's own addresses, whether they were identified)."""
    by_lower = {address.lower(): address for address in known}
    matched: dict[str, ReportRecipient] = {}
    for item in report.recipients:
        address = by_lower.get(item.address.lower())
        if address is not None and address not in matched:
            matched[address] = ReportRecipient(address, item.status, item.diagnostic)
    if matched:
        return list(matched.values()), True
    status = report.recipients[0].status if report.recipients else ("5.0.0" if report.kind == "bounce" else "")
    diagnostic = report.recipients[0].diagnostic if report.recipients else ""
    if len(known) == 1:
        return [ReportRecipient(known[0], status, diagnostic)], True
    if report.kind == "complaint":
        return [ReportRecipient(address, "", "") for address in known], False
    return [], False


def _token(value: str | None) -> str:
    # ARF Feedback-Type is a token (abuse, fraud, virus, other); anything else in it is not ours to echo.
    return re.sub(r"[^A-Za-z0-9._-]", "", value or "")[:64]


async def _apply_report(db: Database, message_pk: str, report: Report, items: list[ReportRecipient],
                        identified: bool) -> str | None:
    """Apply the report; the inbox of the reported message, or None when it no longer exists."""
    async with db.write() as session:
        message = await session.get(Message, message_pk)
        if message is None:
            return None
        await db.serialize(session, f"inbox:{message.inbox_id}")
        rows = await recipients_of(session, message_pk)
        done = Outcomes(delivered=[], bounced=[], complained=[], complaint_type=_token(report.feedback_type) or "abuse")
        blocked: dict[str, str] = {}
        for item in items:
            row = rows.get(item.address)
            if row is None:
                continue
            if report.kind == "complaint":
                if row.status == "complained":
                    continue
                row.status = "complained"
                done.complained.append(row.recipient)
                if identified:
                    blocked[row.recipient] = f"Complaint ({done.complaint_type})"
                continue
            if row.status in ("bounced", "complained"):
                continue
            status = item.status or "5.0.0"
            verdict = classify(status, item.diagnostic, stage="dsn")
            row.status = "bounced"
            row.last_status, row.last_response = status, storable(item.diagnostic or None, limit=2000)
            done.bounced.append((verdict, row.recipient, status))
            if verdict.suppress and identified:
                blocked[row.recipient] = storable(f"Hard bounce ({status}): {item.diagnostic[:200]}") or ""
        for address in sorted(blocked):  # one lock order for every transaction (see delivery._record)
            await suppress(db, session, message, address, blocked[address])
        if done.bounced or done.complained:
            await apply(session, message, rows, done)
        return message.inbox_id


async def _wants_notices(session: AsyncSession, inbox_id: str) -> bool:
    inbox = await session.get(Inbox, inbox_id)
    if inbox is None:
        return False
    domain = await domains.domain_for_host(session, inbox.organization_id, inbox.domain)
    return True if domain is None else domain.feedback_enabled  # the server's own domain: on, as by default


async def process_feedback(db: Database, payload: dict[str, Any]) -> None:
    inbound_id = str(payload["inbound_id"])
    async with db.read() as session:
        inbound = await session.get(InboundMail, inbound_id)
        if inbound is None or inbound.processed_at is not None:
            return
        blob = await session.get(Blob, inbound.blob_id)
        tokens = [t for t in (bounce_token(a) for a in inbound.rcpt_to) if t]
        rows = (await session.scalars(
            select(OutboundRecipient).where(OutboundRecipient.bounce_token.in_(tokens))
        )).all() if tokens else []
    by_message: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_message[row.message_id].append(row.recipient)
    reported: set[str] = set()
    for message_pk, known in by_message.items() if blob is not None else ():
        report = await asyncio.to_thread(parse_report, blob.data, known)
        if report.kind == "none":
            continue
        items, identified = _match(report, known)
        if not items:
            log.info("a bounce for message %s names none of its recipients; ignored", message_pk)
            continue
        if (inbox_id := await _apply_report(db, message_pk, report, items, identified)) is not None:
            reported.add(inbox_id)
    async with db.write() as session:
        for inbox_id in sorted(reported):
            if await _wants_notices(session, inbox_id):
                notice = InboundMail(id=new_uuid(), blob_id=inbound.blob_id, mail_from=inbound.mail_from,
                                     rcpt_to=[inbox_id], peer=inbound.peer, helo=inbound.helo, tls=inbound.tls,
                                     source="smtp", received_at=inbound.received_at)
                session.add(notice)
                queue.enqueue(session, PROCESS_INBOUND, {"inbound_id": notice.id})
        await session.execute(update(InboundMail).where(InboundMail.id == inbound_id).values(processed_at=utcnow()))
