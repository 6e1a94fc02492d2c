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
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import select, update

from ..db.engine import Database
from ..db.tables import Blob, InboundMail, Message, OutboundRecipient
from ..db.types import utcnow
from ..mail.bounces import Report, ReportRecipient, bounce_token, classify, parse_report
from .delivery import Outcomes, apply, recipients_of, suppress

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


async def _apply_report(db: Database, message_pk: str, report: Report, items: list[ReportRecipient],
                        identified: bool) -> None:
    async with db.write() as session:
        message = await session.get(Message, message_pk)
        if message is None:
            return
        await db.serialize(session, f"inbox:{message.inbox_id}")
        rows = await recipients_of(session, message_pk)
        done = Outcomes(delivered=[], bounced=[], complained=[], complaint_type=report.feedback_type or "abuse")
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
                    await suppress(db, session, message, row.recipient, f"Complaint ({done.complaint_type})")
                continue
            if row.status in ("bounced", "complained"):
                continue
            status = item.status or "5.0.0"
            verdict = classify(status, item.diagnostic, stage="dsn")
            row.status = "bounced"
            row.last_status, row.last_response = status, (item.diagnostic or None)
            done.bounced.append((verdict, row.recipient, status))
            if verdict.suppress and identified:
                await suppress(db, session, message, row.recipient, f"Hard bounce ({status}): {item.diagnostic[:200]}")
        if done.bounced or done.complained:
            await apply(session, message, rows, done)


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
    for message_pk, known in by_message.items() if blob is not None else ():
        report = await asyncio.to_thread(parse_report, blob.data, known)
        if report.kind == "none":
            continue
        items, identified = _match(report, known)
        if not items:
            log.info("a bounce for message %s names none of its recipients; ignored", message_pk)
            continue
        await _apply_report(db, message_pk, report, items, identified)
    async with db.write() as session:
        await session.execute(update(InboundMail).where(InboundMail.id == inbound_id).values(processed_at=utcnow()))
