"""Drafts: create, edit, list, send now or at `send_at` (REFERENCE §2.8).

Sending a draft is one `sending.send`: its prepare step reads the draft inside the send transaction,
turns it into an Outgoing (reply and forward drafts through `reply_prepare` / `forward_prepare`, so
threading matches a direct reply or forward) and deletes the draft there. The sent message and the
draft's disappearance therefore commit together: a draft that still exists was not sent.

Scheduled drafts go out exactly once however many worker processes run `sweep` (about once a second):

1. claim — a short transaction `UPDATE drafts SET send_status='sending' WHERE id=:id AND
   send_status='scheduled' AND send_at<=now`; only the process whose UPDATE hit the row goes on;
2. send — `sending.send` for the organization's system principal with Idempotency-Key
   `draft-<draft_id>` (fingerprint over the draft id); the prepare step re-checks the claim under a
   row lock and deletes the draft in the send transaction;
3. failure — `send_status='failed'`, `last_error`, `scheduled` label dropped (set a new send_at to
   retry).

A draft left in 'sending' (its worker died between claim and commit) is claimed again once it has
been 'sending' for longer than `SENDING_STALE`; if the first attempt did commit, the draft is gone
and, failing that, the idempotency key replays instead of sending a second time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.labels import has_label
from ..db.pagination import Page, check_limit, paginate
from ..db.tables import Blob, Draft, Inbox
from ..db.types import utcnow
from ..mail.build import Mailbox, OutAttachment
from . import labels as label_rules
from . import sending
from .addresses import mailboxes
from .errors import Conflict, Invalid, NotFound, RateLimited, ServiceError
from .ids import new_uuid
from .messages import LabelChange, find_message
from .pods import check_client_id
from .principal import Principal, Scope
from .scoping import find_inbox, resolve_scope

log = logging.getLogger("agentmail_server.drafts")

DRAFT = "draft"
SCHEDULED = "scheduled"
SYSTEM_LABELS = frozenset({DRAFT, SCHEDULED})
SENDING_STALE = timedelta(minutes=5)
SWEEP_BATCH = 100
NEEDS_RECIPIENT = "A scheduled draft (send_at) must specify to, cc, or bcc unless it is a reply (in_reply_to)"

Fetch = Callable[[str], Awaitable[bytes]] | None


def system_principal(organization_id: str) -> Principal:
    """Who sends a scheduled draft: the organization itself, with every (non explicit-only) permission."""
    return Principal(api_key_id=None, scope=Scope(organization_id=organization_id), permissions=None)


def send_key(draft_id: str) -> sending.Idempotency:
    key = sending.idempotency(f"draft-{draft_id}", endpoint="draft-scheduled-send", body={"draft_id": draft_id})
    assert key is not None
    return key


# --- helpers ---------------------------------------------------------------------------------


def _labels(caller: list[str], *, scheduled: bool) -> list[str]:
    return [DRAFT, *([SCHEDULED] if scheduled else []), *[x for x in caller if x not in SYSTEM_LABELS]]


def _caller_labels(draft: Draft) -> list[str]:
    return [x for x in draft.labels if x not in SYSTEM_LABELS]


def _display(items: list[Mailbox]) -> list[str]:
    return [m.display() for m in items]


async def _validated(fetch: Fetch, **fields: Any) -> sending.Outgoing:
    """Recipients, subject, labels and attachments checked (and decoded) exactly as a send checks them."""
    names = ("to", "cc", "bcc", "reply_to", "subject", "text", "html", "labels", "attachments")
    body = SimpleNamespace(**{name: fields.get(name) for name in names}, headers=None)
    return await sending.outgoing_from(body, fetch=fetch)


def _store_attachments(session: AsyncSession, items: list[OutAttachment]) -> list[dict[str, Any]]:
    metas = []
    for item in items:
        blob = Blob(id=new_uuid(), sha256=hashlib.sha256(item.data).hexdigest(), size=len(item.data), data=item.data)
        session.add(blob)
        metas.append({"attachment_id": new_uuid(), "filename": item.filename, "size": len(item.data),
                      "content_type": item.content_type, "content_disposition": item.disposition,
                      "content_id": item.content_id, "blob_id": blob.id})
    return metas


async def _drop_blobs(session: AsyncSession, metas: list[dict[str, Any]]) -> None:
    ids = [str(m["blob_id"]) for m in metas if m.get("blob_id")]
    if ids:
        await session.execute(delete(Blob).where(Blob.id.in_(ids)))


async def _find(
    session: AsyncSession, principal: Principal, draft_id: str, *, pod_id: str | None = None,
    inbox_id: str | None = None, lock: bool = False,
) -> Draft:
    scope = await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
    stmt = select(Draft).where(Draft.id == draft_id.strip().lower(), scope.where(Draft))
    if lock:
        stmt = stmt.with_for_update()
    draft = await session.scalar(stmt)
    if draft is None:
        raise NotFound("Draft not found")
    return draft


def _check_editable(draft: Draft) -> None:
    if draft.send_status == "sending":
        raise Conflict("The draft is being sent and can no longer be changed")


def _check_schedulable(draft: Draft) -> None:
    if draft.send_status == "scheduled" and draft.in_reply_to is None and not (draft.to or draft.cc or draft.bcc):
        raise Invalid(NEEDS_RECIPIENT, path=["send_at"])


# --- reading ---------------------------------------------------------------------------------


async def list_drafts(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    labels: list[str], before: datetime | None, after: datetime | None, ascending: bool, limit: int | None,
    page_token: str | None,
) -> Page[Draft]:
    principal.require("draft_read")
    size = check_limit(limit)
    async with db.read() as session:
        scope = await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
        stmt = select(Draft).where(scope.where(Draft))
        for label in labels:
            stmt = stmt.where(has_label(Draft.labels, label.strip().lower(), db.dialect))
        if after is not None:
            stmt = stmt.where(Draft.updated_at >= after)
        if before is not None:
            stmt = stmt.where(Draft.updated_at < before)
        return await paginate(
            session, stmt, endpoint=f"drafts:{scope.type}:{scope.id}", order=[Draft.updated_at, Draft.id],
            limit=size, page_token=page_token, ascending=ascending,
        )


async def get_draft(
    db: Database, principal: Principal, draft_id: str, *, pod_id: str | None = None, inbox_id: str | None = None
) -> Draft:
    principal.require("draft_read")
    async with db.read() as session:
        return await _find(session, principal, draft_id, pod_id=pod_id, inbox_id=inbox_id)


async def draft_attachment(
    db: Database, principal: Principal, draft_id: str, attachment_id: str, *, pod_id: str | None = None,
    inbox_id: str | None = None,
) -> dict[str, Any]:
    draft = await get_draft(db, principal, draft_id, pod_id=pod_id, inbox_id=inbox_id)
    for meta in draft.attachments:
        if meta["attachment_id"] == attachment_id:
            return meta
    raise NotFound("Attachment not found")


# --- writing ---------------------------------------------------------------------------------


async def _by_client_id(session: AsyncSession, inbox_id: str, client_id: str) -> Draft | None:
    return await session.scalar(select(Draft).where(Draft.inbox_id == inbox_id, Draft.client_id == client_id))


async def create_draft(db: Database, principal: Principal, inbox_id: str, body: Any, *, fetch: Fetch) -> Draft:
    """A new draft, or the existing one with the same client_id in this inbox (its body not applied)."""
    principal.require("draft_create")
    check_client_id(body.client_id)
    if body.client_id is not None:
        async with db.read() as session:
            inbox = await find_inbox(session, principal, inbox_id)
            existing = await _by_client_id(session, inbox.id, body.client_id)
        if existing is not None:
            return existing
    if body.in_reply_to is not None and body.forward_of is not None:
        raise Invalid("in_reply_to and forward_of are mutually exclusive", path=["forward_of"])
    if body.reply_all and body.in_reply_to is None:
        raise Invalid("reply_all requires in_reply_to", path=["reply_all"])
    if body.reply_all and any(v is not None for v in (body.to, body.cc, body.bcc)):
        raise Invalid("A reply_all draft addresses the whole thread: do not send to, cc or bcc", path=["to"])
    out = await _validated(fetch, to=body.to, cc=body.cc, bcc=body.bcc, reply_to=body.reply_to,
                           subject=body.subject, text=body.text, html=body.html, labels=body.labels,
                           attachments=body.attachments)
    if body.send_at is not None and body.in_reply_to is None and not out.recipients:
        raise Invalid(NEEDS_RECIPIENT, path=["send_at"])
    now = utcnow()
    try:
        async with db.write() as session:
            inbox = await find_inbox(session, principal, inbox_id)
            draft = Draft(
                id=new_uuid(), organization_id=inbox.organization_id, pod_id=inbox.pod_id, inbox_id=inbox.id,
                client_id=body.client_id, labels=_labels(out.labels, scheduled=body.send_at is not None),
                to=_display(out.to), cc=_display(out.cc), bcc=_display(out.bcc), reply_to=_display(out.reply_to),
                subject=out.subject, text=body.text, html=body.html, attachments=[], in_reply_to=None,
                forward_of=None, reply_all=bool(body.reply_all), references=[], thread_id=None,
                send_at=body.send_at, send_status="scheduled" if body.send_at is not None else None,
                created_at=now, updated_at=now,
            )
            if body.in_reply_to is not None:
                await _derive_reply(session, principal, inbox, draft, out, body.in_reply_to)
            elif body.forward_of is not None:
                await _derive_forward(session, principal, inbox, draft, out, body.forward_of)
            draft.attachments = _store_attachments(session, out.attachments)
            session.add(draft)
    except IntegrityError:
        # A concurrent create with the same client_id won the race: answer with its draft.
        if body.client_id is None:
            raise
        async with db.read() as session:
            existing = await _by_client_id(session, inbox.id, body.client_id)
        if existing is None:
            raise
        return existing
    return draft


async def _derive_reply(session: AsyncSession, principal: Principal, inbox: Inbox, draft: Draft,
                        out: sending.Outgoing, message_id: str) -> None:
    """Recipients, subject and threading exactly as a reply (or reply-all) to that message would get."""
    source = await find_message(session, principal, inbox.id, message_id)
    seed = sending.Outgoing(to=list(out.to), cc=list(out.cc), bcc=list(out.bcc))
    derived = await sending.reply_prepare(source.message_id, seed, reply_all=draft.reply_all,
                                          principal=principal)(session, inbox)
    draft.in_reply_to = source.message_id
    draft.to, draft.cc, draft.bcc = _display(derived.to), _display(derived.cc), _display(derived.bcc)
    draft.subject = out.subject or derived.subject
    draft.references = list(derived.references)
    draft.thread_id = derived.thread_id


async def _derive_forward(session: AsyncSession, principal: Principal, inbox: Inbox, draft: Draft,
                          out: sending.Outgoing, message_id: str) -> None:
    """Subject and threading as a forward of that message; the forwarded content is added when sent."""
    source = await find_message(session, principal, inbox.id, message_id)
    derived = await sending.forward_prepare(source.message_id, sending.Outgoing(subject=out.subject),
                                            principal=principal)(session, inbox)
    draft.forward_of = source.message_id
    draft.subject = derived.subject
    draft.references = list(derived.references)
    draft.thread_id = derived.thread_id


async def update_draft(
    db: Database, principal: Principal, inbox_id: str, draft_id: str, body: Any, *, fetch: Fetch
) -> Draft:
    """PATCH: omitted fields unchanged, null (or [] for recipients) clears; send_at (re)schedules or unschedules."""
    principal.require("draft_update")
    given = body.model_fields_set
    change = LabelChange.of(body.add_labels, body.remove_labels, require=False)
    out = await _validated(fetch, to=body.to, cc=body.cc, bcc=body.bcc, reply_to=body.reply_to,
                           subject=body.subject, attachments=body.add_attachments)
    async with db.write() as session:
        draft = await _find(session, principal, draft_id, inbox_id=inbox_id, lock=True)
        _check_editable(draft)
        if draft.reply_all and given & {"to", "cc", "bcc"}:
            raise Invalid("A reply_all draft addresses the whole thread: its to, cc and bcc cannot be set",
                          path=["to"])
        for name in ("to", "cc", "bcc", "reply_to"):
            if name in given:
                setattr(draft, name, _display(getattr(out, name)))
        if "subject" in given:
            draft.subject = out.subject
        if "text" in given:
            draft.text = body.text
        if "html" in given:
            draft.html = body.html
        attachments = list(draft.attachments)
        if body.remove_attachments:
            known = {str(a["attachment_id"]) for a in attachments}
            unknown = [i for i in body.remove_attachments if i not in known]
            if unknown:
                raise Invalid(f"Unknown attachment id {unknown[0]!r}", path=["remove_attachments"])
            removing = set(body.remove_attachments)
            await _drop_blobs(session, [a for a in attachments if a["attachment_id"] in removing])
            attachments = [a for a in attachments if a["attachment_id"] not in removing]
        draft.attachments = attachments + _store_attachments(session, out.attachments)
        if "send_at" in given:
            draft.send_at = body.send_at
            draft.send_status = "scheduled" if body.send_at is not None else None
            draft.last_error = None
        caller = label_rules.apply(_caller_labels(draft), change.add, change.remove)
        draft.labels = _labels(caller, scheduled=draft.send_status == "scheduled")
        _check_schedulable(draft)
        draft.updated_at = utcnow()
    return draft


async def delete_draft(db: Database, principal: Principal, inbox_id: str, draft_id: str) -> None:
    principal.require("draft_delete")
    async with db.write() as session:
        draft = await _find(session, principal, draft_id, inbox_id=inbox_id, lock=True)
        _check_editable(draft)
        await _drop_blobs(session, draft.attachments)
        await session.delete(draft)


# --- sending ---------------------------------------------------------------------------------


class _Skip(Exception):
    """The claimed draft was handled elsewhere meanwhile: roll back and do nothing."""


class _DraftSend:
    """The prepare step of a draft's send: build the message and delete the draft in the send's own
    transaction, so a refused or failed send (which rolls back) leaves the draft exactly as it was."""

    def __init__(self, draft_id: str, principal: Principal, change: LabelChange, *, claimed: bool) -> None:
        self.draft_id = draft_id.strip().lower()
        self.principal = principal
        self.change = change
        self.claimed = claimed
        self.deleted = False

    async def prepare(self, session: AsyncSession, inbox: Inbox) -> sending.Outgoing:
        draft = await session.scalar(
            select(Draft).where(Draft.id == self.draft_id, Draft.inbox_id == inbox.id).with_for_update()
        )
        if self.claimed and (draft is None or draft.send_status != "sending"):
            raise _Skip()
        if draft is None:
            raise NotFound("Draft not found")
        if not self.claimed:
            _check_editable(draft)
        wanted = [str(m["blob_id"]) for m in draft.attachments]
        blobs = {b.id: b for b in (await session.scalars(select(Blob).where(Blob.id.in_(wanted)))).all()}
        out = sending.Outgoing(
            to=mailboxes(draft.to, field="to"), cc=mailboxes(draft.cc, field="cc"),
            bcc=mailboxes(draft.bcc, field="bcc"), reply_to=mailboxes(draft.reply_to, field="reply_to"),
            subject=draft.subject, text=draft.text, html=draft.html,
            labels=label_rules.apply(_caller_labels(draft), self.change.add, self.change.remove),
            attachments=[
                OutAttachment(filename=m.get("filename"), content_type=str(m.get("content_type")),
                              disposition=str(m.get("content_disposition") or "attachment"),
                              content_id=m.get("content_id"), data=blobs[str(m["blob_id"])].data)
                for m in draft.attachments if str(m["blob_id"]) in blobs
            ],
        )
        if draft.in_reply_to is not None:
            out = await sending.reply_prepare(draft.in_reply_to, out, reply_all=draft.reply_all,
                                              principal=self.principal)(session, inbox)
            out.subject = draft.subject or out.subject
        elif draft.forward_of is not None:
            out = await sending.forward_prepare(draft.forward_of, out, principal=self.principal)(session, inbox)
        for blob in blobs.values():
            await session.delete(blob)
        await session.delete(draft)
        self.deleted = True
        return out


async def send_draft(
    db: Database, principal: Principal, inbox_id: str, draft_id: str, change: LabelChange,
    key: sending.Idempotency | None, *, rate_limit: int = 0,
) -> sending.Sent:
    """POST …/drafts/{id}/send: the draft becomes a message and is deleted, in one transaction."""
    job = _DraftSend(draft_id, principal, change, claimed=False)
    return await sending.send(db, principal, inbox_id, permission="draft_send", prepare=job.prepare, key=key,
                              rate_limit=rate_limit)


# --- scheduled sending -----------------------------------------------------------------------


async def _claim(db: Database, draft_id: str, status: str, *, stale: timedelta) -> bool:
    """Move one draft to 'sending'; True only for the one caller whose UPDATE hit the row."""
    now = utcnow()
    if status == "scheduled":
        conds = [Draft.send_status == "scheduled", Draft.send_at <= now]
    else:  # a claim whose worker died before its send committed
        conds = [Draft.send_status == "sending", Draft.updated_at < now - stale]
    async with db.write() as session:
        result = await session.execute(
            update(Draft).where(Draft.id == draft_id, *conds).values(send_status="sending", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


async def _unclaim(db: Database, draft_id: str) -> None:
    """Hand a claimed draft back to the sweep (the organization is over its send rate for now)."""
    async with db.write() as session:
        await session.execute(
            update(Draft).where(Draft.id == draft_id, Draft.send_status == "sending")
            .values(send_status="scheduled", updated_at=utcnow()).execution_options(synchronize_session=False)
        )


async def _mark_failed(db: Database, draft_id: str, error: str) -> None:
    async with db.write() as session:
        draft = await session.scalar(
            select(Draft).where(Draft.id == draft_id, Draft.send_status == "sending").with_for_update()
        )
        if draft is not None:
            draft.send_status = "failed"
            draft.last_error = error[:4000]
            draft.labels = [x for x in draft.labels if x != SCHEDULED]
            draft.updated_at = utcnow()


async def _forget(db: Database, draft_id: str) -> None:
    """After a replayed send: a claimed draft still present (it cannot normally be) is done with."""
    async with db.write() as session:
        draft = await session.scalar(
            select(Draft).where(Draft.id == draft_id, Draft.send_status == "sending").with_for_update()
        )
        if draft is not None:
            await _drop_blobs(session, draft.attachments)
            await session.delete(draft)


async def send_claimed(db: Database, draft_id: str, *, rate_limit: int = 0) -> sending.Sent | None:
    """Send a draft this process has claimed; None when it was not sent (failed, or handled elsewhere)."""
    async with db.read() as session:
        draft = await session.get(Draft, draft_id)
    if draft is None or draft.send_status != "sending":
        return None
    principal = system_principal(draft.organization_id)
    job = _DraftSend(draft_id, principal, LabelChange(add=[], remove=[]), claimed=True)
    try:
        sent = await sending.send(db, principal, draft.inbox_id, permission="draft_send", prepare=job.prepare,
                                  key=send_key(draft_id), rate_limit=rate_limit)
    except _Skip:
        return None
    except RateLimited:
        await _unclaim(db, draft_id)  # still due: a later sweep sends it once the window allows
        return None
    except ServiceError as exc:
        log.warning("scheduled draft %s was not sent: %s", draft_id, exc.message)
        await _mark_failed(db, draft_id, exc.message)
        return None
    if not job.deleted:  # replayed from the idempotency record: the first attempt had sent it
        await _forget(db, draft_id)
    return sent


async def sweep(db: Database, *, stale: timedelta = SENDING_STALE, rate_limit: int = 0) -> int:
    """Send every due scheduled draft (and retake stale claims); safe to run in many processes at once."""
    now = utcnow()
    async with db.read() as session:
        rows = (await session.execute(
            select(Draft.id, Draft.send_status).where(or_(
                and_(Draft.send_status == "scheduled", Draft.send_at <= now),
                and_(Draft.send_status == "sending", Draft.updated_at < now - stale),
            )).order_by(Draft.send_at, Draft.id).limit(SWEEP_BATCH)
        )).all()
    sent = 0
    for draft_id, status in rows:
        if await _claim(db, draft_id, status, stale=stale):
            try:
                if await send_claimed(db, draft_id, rate_limit=rate_limit) is not None:
                    sent += 1
            except Exception:
                # Left in 'sending': retaken after `stale` and, being idempotent, never sent twice.
                log.exception("sending scheduled draft %s failed", draft_id)
    return sent
