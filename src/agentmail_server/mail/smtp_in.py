"""The inbound SMTP listener (aiosmtpd): accept only hosted recipients, commit, then say 250."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import queue
from ..db.engine import Database
from ..db.tables import Blob, Domain, InboundMail, Inbox, OutboundRecipient
from ..services.ids import new_uuid
from ..telemetry.metrics import SMTP_MESSAGES, SMTP_SESSIONS
from . import recipients
from .bounces import bounce_token

log = logging.getLogger("agentmail_server.smtp")

MAX_RECIPIENTS = 100
PROCESS_INBOUND = "process_inbound"
# DSNs and complaint reports sent to a message's VERP bounce address (services/feedback.py).
PROCESS_FEEDBACK = "process_feedback"


def _address_key(address: str) -> str:
    return address.strip().strip("<>").lower()


def hosted_candidates(address: str) -> list[str]:
    """The inbox ids an RCPT address may mean: itself, and without a +subaddress tag."""
    addr = _address_key(address)
    local, at, domain = addr.rpartition("@")
    if not at:
        return []
    candidates = [addr]
    if "+" in local:
        candidates.append(f"{local.split('+', 1)[0]}@{domain}")
    return candidates


class InboundHandler:
    def __init__(self, db: Database, *, max_inflight: int = 200) -> None:
        self.db = db
        self.max_inflight = max_inflight
        self.inflight = 0
        self._commits = GroupCommit(db)

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
        inbox_id = recipients.CACHE.get(_address_key(address))
        if inbox_id is None:
            inbox_id, refusal = await self._look_up(address)
            if refusal is not None:
                return refusal
        envelope.rcpt_tos.append(address)
        hosted.append(inbox_id)
        return "250 2.1.5 OK"

    async def _look_up(self, address: str) -> tuple[str, None] | tuple[None, str]:
        """The hosted inbox `address` means, or the reply refusing it. Acceptances are cached."""
        generation = recipients.CACHE.generation
        candidates = hosted_candidates(address)
        try:
            async with self.db.read() as db_session:
                rows = (
                    (await db_session.execute(
                        select(Inbox.id, Inbox.status, Domain.inbound_enabled)
                        .outerjoin(Domain, Domain.id == Inbox.domain)
                        .where(Inbox.id.in_(candidates)))).all()
                    if candidates
                    else []
                )
        except Exception:
            log.exception("recipient lookup failed")
            return None, "451 4.3.0 Temporary lookup failure, try again later"
        found = {row.id: row for row in rows}
        inbox_id = next((c for c in candidates if c in found), None)
        if inbox_id is None:
            # Never an open relay: only addresses hosted here are accepted.
            return None, "550 5.1.1 Recipient address rejected: no such mailbox here"
        if found[inbox_id].inbound_enabled is False:
            # A send-only custom domain publishes no MX; mail that finds its way here anyway is refused.
            return None, "550 5.7.1 Recipient domain does not accept inbound mail"
        if found[inbox_id].status == "paused":
            return None, "550 5.2.1 Mailbox is paused and not accepting mail"
        recipients.CACHE.put(_address_key(address), inbox_id, generation)
        return inbox_id, None

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
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        accepted = _Accepted(
            inbound_id=new_uuid(), raw=raw, mail_from=envelope.mail_from or "", hosted=hosted, reports=reports,
            peer=peer[:128], helo=(session.host_name or "")[:255] or None, tls=session.ssl is not None,
        )
        try:
            await self._commits.commit(accepted)
        except Exception:
            # RFC 5321 §6.1: never 250-and-drop. The sender keeps the message and retries.
            log.exception("storing inbound mail failed")
            return "451 4.3.0 Temporary failure storing message, try again later"
        return f"250 2.0.0 OK queued as {accepted.inbound_id}"


@dataclass
class _Accepted:
    """One DATA transaction waiting to be committed."""

    inbound_id: str
    raw: bytes
    mail_from: str
    hosted: list[str]
    reports: list[str]
    peer: str
    helo: str | None
    tls: bool

    def add_to(self, db_session: AsyncSession) -> None:
        blob = Blob(id=new_uuid(), sha256=hashlib.sha256(self.raw).hexdigest(), size=len(self.raw), data=self.raw)
        db_session.add(blob)
        # One envelope row per kind of work: mail for inboxes, and reports for bounce addresses
        # (source "feedback"); both keep the blob alive until they are processed.
        work = (("smtp", self.hosted, PROCESS_INBOUND), ("feedback", self.reports, PROCESS_FEEDBACK))
        for source, rcpt_to, kind in work:
            if not rcpt_to:
                continue
            row_id = self.inbound_id if source == "smtp" or not self.hosted else new_uuid()
            db_session.add(InboundMail(id=row_id, blob_id=blob.id, mail_from=self.mail_from, rcpt_to=rcpt_to,
                                       peer=self.peer, helo=self.helo, tls=self.tls, source=source))
            queue.enqueue(db_session, kind, {"inbound_id": row_id})


class GroupCommit:
    """Commits accepted messages in shared transactions (group commit).

    A message arriving while a commit is under way waits for the next one, which takes everything
    queued by then (up to `max_batch`), so concurrent sessions share one transaction, and one
    fsync, instead of queueing for the writer one by one. Each caller still returns only after the
    transaction holding its own rows has committed. When a shared transaction fails, its messages
    are committed one by one, so one bad message cannot fail the others.
    """

    def __init__(self, db: Database, max_batch: int = 64) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[tuple[_Accepted, asyncio.Future[None]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def commit(self, item: _Accepted) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="smtp-group-commit")
        # A caller that is cancelled (the sender hung up) cancels only its own future: the shared
        # transaction goes on for the others (and its own rows may still commit: a resend is deduplicated).
        await future

    async def _drain(self) -> None:
        batch: list[tuple[_Accepted, asyncio.Future[None]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                await self._commit_batch(batch)
        except BaseException as exc:  # cancelled (shutdown): nobody may wait forever, nor get a 250
            for _, future in batch + self._queue:
                _settle(future, exc if isinstance(exc, Exception) else RuntimeError("listener stopping"))
            self._queue = []
            raise

    async def _commit_batch(self, batch: list[tuple[_Accepted, asyncio.Future[None]]]) -> None:
        try:
            await self._write([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for item, future in batch:
                try:
                    await self._write([item])
                except Exception as one:
                    _settle(future, one)
                else:
                    _settle(future, None)
        else:
            for _, future in batch:
                _settle(future, None)

    async def _write(self, items: list[_Accepted]) -> None:
        async with self.db.write() as db_session:
            for item in items:
                item.add_to(db_session)


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


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
