"""Housekeeping: delete what has served its purpose, in small batches so no transaction grows large.

Every worker runs it; each step is an idempotent DELETE, so concurrent runs only repeat work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select

from ..db.engine import Database
from ..db.tables import Blob, Draft, Event, IdempotencyRecord, InboundMail, Job, Message
from ..db.types import utcnow
from .sending import IDEMPOTENCY_TTL

log = logging.getLogger("agentmail_server.janitor")

BATCH = 500
# A blob is written a moment before the row that points at it, in the same transaction; the grace
# period keeps a blob whose owner is still being created from ever looking unreferenced.
BLOB_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Retention:
    finished_jobs: timedelta = timedelta(days=7)
    inbound_envelopes: timedelta = timedelta(days=7)
    events: timedelta = timedelta(days=100)


async def _delete_batches(db: Database, table: Any, condition: Any) -> int:
    total = 0
    while True:
        async with db.write() as session:
            ids = list((await session.scalars(select(table.id).where(condition).limit(BATCH))).all())
            if ids:
                await session.execute(delete(table).where(table.id.in_(ids)))
        total += len(ids)
        if len(ids) < BATCH:
            return total


async def _draft_blob_ids(db: Database) -> set[str]:
    async with db.read() as session:
        rows = (await session.scalars(select(Draft.attachments))).all()
    return {a["blob_id"] for attachments in rows for a in attachments or [] if isinstance(a, dict) and a.get("blob_id")}


async def _sweep_blobs(db: Database, now: datetime) -> int:
    """Blobs nothing points at any more, walked in id order (draft attachments are checked in Python:
    a NOT IN list of every draft's blobs would outgrow the drivers' parameter limits)."""
    in_drafts = await _draft_blob_ids(db)
    unreferenced = (
        (Blob.created_at < now - BLOB_GRACE)
        & ~exists().where(Message.blob_id == Blob.id)
        & ~exists().where(InboundMail.blob_id == Blob.id)
    )
    total, after = 0, ""
    while True:
        async with db.write() as session:
            ids = list((await session.scalars(
                select(Blob.id).where(unreferenced, Blob.id > after).order_by(Blob.id).limit(BATCH))).all())
            doomed = [blob_id for blob_id in ids if blob_id not in in_drafts]
            if doomed:
                await session.execute(delete(Blob).where(Blob.id.in_(doomed)))
        total += len(doomed)
        if len(ids) < BATCH:
            return total
        after = ids[-1]


async def sweep(db: Database, retention: Retention) -> dict[str, int]:
    now = utcnow()
    removed = {
        "jobs": await _delete_batches(
            db, Job, (Job.status.in_(("done", "dead"))) & (Job.finished_at < now - retention.finished_jobs)),
        "idempotency_keys": 0,
        "inbound_mail": await _delete_batches(
            db, InboundMail,
            InboundMail.processed_at.is_not(None) & (InboundMail.processed_at < now - retention.inbound_envelopes)),
        "events": await _delete_batches(db, Event, Event.created_at < now - retention.events),
    }
    async with db.write() as session:
        expired = IdempotencyRecord.created_at < now - IDEMPOTENCY_TTL
        result = await session.execute(delete(IdempotencyRecord).where(expired))
        removed["idempotency_keys"] = result.rowcount or 0  # type: ignore[attr-defined]
    removed["blobs"] = await _sweep_blobs(db, now)
    if any(removed.values()):
        log.info("janitor removed %s", removed)
    return removed
