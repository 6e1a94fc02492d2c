"""The deliver_outbound job: send a sent message to its external recipients, record what happened.

Each recipient has a row in outbound_recipients (made on the job's first run) that moves from
"pending" to "delivered" or "bounced" (and later perhaps "complained"), and a VERP bounce address
of its own: one SMTP transaction per recipient (on connections reused per destination), so a
bounce or complaint report can only ever speak for the recipient it was sent about — a recipient
cannot get a co-recipient suppressed by forging a DSN to a shared bounce address. A run tries every
pending recipient and commits each destination's outcomes before the next destination starts, so a
worker killed mid-run repeats at most the sends to the destination it was at (the job's lease expires
and another worker takes it; a remote may then get that message twice, never zero times). Temporary failures keep a
recipient pending and the job asks to run again after the next wait of the retry schedule; when the
schedule is used up the recipient bounces (Transient).

The message's system labels always mirror its rows: `delivered` if any recipient was delivered,
`bounced` / `complained` if any bounced / complained, `delayed` while any is still being retried.
Each outcome's event (message.delivered, message.bounced, message.complained) is emitted in the
same transaction as the row and label change it reports.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..db.engine import Database
from ..db.tables import Blob, Inbox, Message, OutboundRecipient
from ..db.types import utcnow
from ..events.outbox import emit_event
from ..mail import dkim, smtp_out
from ..mail.bounces import Verdict, bounce_address, classify, new_token
from ..mail.dns import make_resolver
from ..schemas.common import format_timestamp
from ..workers.runner import RetryAfter
from . import dkim_keys, lists
from .ids import new_uuid
from .messages import LabelChange, relabel

log = logging.getLogger("agentmail_server.delivery")

STATUS_LABELS = ("delivered", "bounced", "complained", "delayed")


@dataclass(frozen=True)
class DeliveryConfig:
    outbound: smtp_out.OutboundConfig
    schedule: list[timedelta]
    default_domain: str


def config_from(settings: Settings) -> DeliveryConfig:
    relay = None
    if settings.smtp_relay:
        relay = smtp_out.Relay.parse(
            settings.smtp_relay, username=settings.smtp_relay_username, password=settings.smtp_relay_password,
            tls=settings.smtp_relay_tls, verify=settings.smtp_relay_verify_certificate,
        )
    outbound = smtp_out.OutboundConfig(
        resolver=make_resolver(settings.dns_nameservers),
        helo=settings.smtp_helo_name or settings.smtp_hostname or socket.getfqdn(),
        port=settings.smtp_outbound_port, relay=relay,
        connect_timeout=settings.delivery_connect_timeout_seconds,
        command_timeout=settings.delivery_command_timeout_seconds,
        data_timeout=settings.delivery_data_timeout_seconds,
        pool=smtp_out.ConnectionPool(),
    )
    return DeliveryConfig(outbound=outbound, schedule=list(settings.delivery_retry_waits),
                          default_domain=settings.default_domain)


# --- applying outcomes (shared with feedback reports) -------------------------------------------


@dataclass
class Outcomes:
    """What one transaction (or one report) decided, for the labels and events it causes."""

    delivered: list[str]
    bounced: list[tuple[Verdict, str, str]]  # (verdict, address, RFC 3463 status)
    complained: list[str]
    complaint_type: str = "abuse"


async def recipients_of(session: AsyncSession, message_pk: str) -> dict[str, OutboundRecipient]:
    rows = (await session.scalars(select(OutboundRecipient).where(OutboundRecipient.message_id == message_pk))).all()
    return {row.recipient: row for row in rows}


async def suppress(db: Database, session: AsyncSession, message: Message, address: str, reason: str) -> None:
    """Put `address` on the organization's suppression list (read-only send block entry)."""
    # The lock lists.create_entry takes for this entry: two bounces (or a bounce and an API call) for
    # one address at once must not both insert it and fail the second transaction on the unique key.
    await db.serialize(session, f"list-entry:{message.organization_id}:{lists.ORG_SCOPE_KEY}:send:{address.lower()}")
    await lists.suppress(session, organization_id=message.organization_id, address=address, reason=reason)


async def apply(session: AsyncSession, message: Message, rows: dict[str, OutboundRecipient], done: Outcomes) -> None:
    """Bring the message's labels in line with its rows and emit the events for `done`."""
    statuses = {row.status for row in rows.values()}
    wanted = {
        "delivered": bool(statuses & {"delivered", "complained"}),
        "bounced": "bounced" in statuses,
        "complained": "complained" in statuses,
        "delayed": "pending" in statuses and any(r.attempts for r in rows.values() if r.status == "pending"),
    }
    add = [label for label in STATUS_LABELS if wanted[label] and label not in message.labels]
    remove = [label for label in STATUS_LABELS if not wanted[label] and label in message.labels]
    if add or remove:
        await relabel(session, [message], LabelChange(add=add, remove=remove))
    common = {"inbox_id": message.inbox_id, "thread_id": message.thread_id, "message_id": message.message_id,
              "timestamp": format_timestamp(utcnow())}
    scope = {"organization_id": message.organization_id, "pod_id": message.pod_id, "inbox_id": message.inbox_id}
    if done.delivered:
        await emit_event(session, event_type="message.delivered", **scope,
                         body={"delivery": {**common, "recipients": done.delivered}})
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for verdict, address, status in done.bounced:
        groups[(verdict.type, verdict.sub_type)].append({"address": address, "status": status})
    for (bounce_type, sub_type), recipients in groups.items():
        await emit_event(session, event_type="message.bounced", **scope,
                         body={"bounce": {**common, "type": bounce_type, "sub_type": sub_type,
                                          "recipients": recipients}})
    if done.complained:
        await emit_event(session, event_type="message.complained", **scope,
                         body={"complaint": {**common, "type": done.complaint_type, "sub_type": "General",
                                             "recipients": done.complained}})


# --- the job ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Work:
    """What a run needs, read in one short transaction (no transaction is held over the network)."""

    message_pk: str
    senders: dict[str, str]  # each pending recipient's VERP envelope sender
    raw: bytes
    signer: dkim_keys.Sender


async def _prepare(db: Database, config: DeliveryConfig, message_pk: str, recipients: list[str]) -> _Work | None:
    async with db.write() as session:
        message = await session.get(Message, message_pk)
        if message is None:
            log.info("message %s was deleted before delivery; nothing to send", message_pk)
            return None
        rows = await recipients_of(session, message_pk)
        for address in dict.fromkeys(recipients):
            if address not in rows:
                rows[address] = OutboundRecipient(id=new_uuid(), message_id=message_pk, recipient=address,
                                                  bounce_token=new_token(), status="pending", attempts=0)
                session.add(rows[address])
        pending = [row for row in rows.values() if row.status == "pending"]
        if not pending:
            return None
        blob = await session.get(Blob, message.blob_id)
        inbox = await session.get(Inbox, message.inbox_id)
        if blob is None or inbox is None:
            return None
        who = await dkim_keys.sender_for(session, inbox.organization_id, inbox.domain, config.default_domain)
        senders = {row.recipient: bounce_address(row.bounce_token, who.bounce_domain) for row in pending}
        return _Work(message_pk=message_pk, senders=senders, raw=blob.data, signer=who)


def _destinations(pending: list[str], relayed: bool) -> dict[str, list[str]]:
    """Recipients by destination (their domain's MX, or the smarthost for all), in the order sent."""
    groups: dict[str, list[str]] = defaultdict(list)
    for address in pending:
        groups["" if relayed else address.rpartition("@")[2].lower()].append(address)
    return groups


async def _record(db: Database, config: DeliveryConfig, message_pk: str, results: list[smtp_out.Result]) -> None:
    async with db.write() as session:
        message = await session.get(Message, message_pk)
        if message is None:
            return
        await db.serialize(session, f"inbox:{message.inbox_id}")
        rows = await recipients_of(session, message_pk)
        done = Outcomes(delivered=[], bounced=[], complained=[])
        hard: dict[str, str] = {}
        for result in results:
            row = rows.get(result.address)
            if row is None or row.status != "pending":
                continue  # decided meanwhile (a DSN for an earlier attempt, say)
            row.attempts += 1
            row.last_code, row.last_status, row.last_response = result.code, result.status, result.text
            row.remote_host = result.host[:255] if result.host else None
            if result.outcome == "delivered":
                row.status = "delivered"
                done.delivered.append(row.recipient)
                continue
            if result.outcome == "deferred" and row.attempts <= len(config.schedule):
                continue  # retried on the schedule
            stage = result.stage if result.outcome == "bounced" else "expired"
            status = result.status if result.outcome == "bounced" or result.status.startswith("4") else "4.4.7"
            verdict = classify(status, result.text, stage=stage, code=result.code)
            row.status = "bounced"
            done.bounced.append((verdict, row.recipient, status))
            if verdict.suppress:
                hard[row.recipient] = f"Hard bounce ({status}): {result.text[:200]}"
        # In address order: two transactions suppressing the same addresses lock them in one order.
        for address in sorted(hard):
            await suppress(db, session, message, address, hard[address])
        await apply(session, message, rows, done)


async def _next_retry(db: Database, config: DeliveryConfig, message_pk: str) -> timedelta | None:
    async with db.read() as session:
        rows = await recipients_of(session, message_pk)
    attempts = [row.attempts for row in rows.values() if row.status == "pending"]
    if not attempts:
        return None
    done = min(attempts)
    return config.schedule[min(done, len(config.schedule)) - 1] if done and config.schedule else timedelta(0)


async def deliver(db: Database, config: DeliveryConfig, payload: dict[str, Any]) -> None:
    message_pk = str(payload["message"])
    work = await _prepare(db, config, message_pk, [str(r) for r in payload.get("recipients", [])])
    if work is None:
        return
    who = work.signer
    # One signature per run, whichever recipients it goes to (a 7-bit downgrade is signed apart).
    signed: dict[bytes, bytes] = {}

    async def sign(data: bytes) -> bytes:
        if not (who.dkim_domain and who.selector and who.private_pem):
            log.warning("no DKIM key for %s: sending unsigned", who.bounce_domain)
            return data
        if data not in signed:
            signed[data] = await asyncio.to_thread(dkim.sign, data, domain=who.dkim_domain, selector=who.selector,
                                                   private_pem=who.private_pem)
        return signed[data]

    for domain, recipients in _destinations(list(work.senders), config.outbound.relay is not None).items():
        results: list[smtp_out.Result] = []
        unreachable: smtp_out.Result | None = None
        for address in recipients:
            if unreachable is not None:
                # The destination itself failed (no route, no server answering): the same holds for
                # its other recipients in this run, without waiting out the timeouts again.
                results.append(replace(unreachable, address=address))
                continue
            envelope = smtp_out.Envelope(sender=work.senders[address], recipients=[address], message=work.raw,
                                         finish=sign)
            results += await smtp_out.deliver(config.outbound, domain, envelope)
            unreachable = next((r for r in results if r.stage in ("route", "connect")), None)
        # Recorded per destination, as when it was one transaction: one event for the recipients it
        # reached, and a worker killed meanwhile repeats at most this destination's sends.
        await _record(db, config, message_pk, results)
    delay = await _next_retry(db, config, message_pk)
    if delay is not None:
        raise RetryAfter(delay, f"temporary delivery failure; next attempt in {delay}")
