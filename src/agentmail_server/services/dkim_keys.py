"""DKIM keys per domain: generated here, kept in the database, shown as DNS records.

The default domain's key is made on first start (any process; the unique (domain, selector) pair
lets concurrent first starts agree on one key). Verified custom domains (issue 7) sign with the key
kept on their domains row; mail from any other domain is signed with the default domain's key,
which still gives receivers a valid, if unaligned, signature.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.tables import DkimKey
from ..mail import dkim
from . import domains
from .ids import new_uuid


@dataclass(frozen=True)
class DnsRecord:
    domain: str
    selector: str
    type: str
    name: str
    value: str


def dns_record(key: DkimKey) -> DnsRecord:
    return DnsRecord(domain=key.domain, selector=key.selector, type="TXT",
                     name=dkim.record_name(key.selector, key.domain), value=dkim.record_value(key.public_key))


async def _find(session: AsyncSession, domain: str, selector: str | None = None) -> DkimKey | None:
    stmt = select(DkimKey).where(DkimKey.domain == domain.lower())
    if selector is not None:
        stmt = stmt.where(DkimKey.selector == selector)
    return await session.scalar(stmt.order_by(DkimKey.created_at.desc()).limit(1))


async def ensure(db: Database, domain: str, selector: str) -> DkimKey:
    """The key for (domain, selector), generated and stored if there is none yet."""
    async with db.read() as session:
        existing = await _find(session, domain, selector)
    if existing is not None:
        return existing
    pair = await asyncio.to_thread(dkim.generate_key)  # ~50 ms of CPU: off the event loop
    row = DkimKey(id=new_uuid(), domain=domain.lower(), selector=selector, algorithm=dkim.ALGORITHM,
                  private_key=pair.private_pem, public_key=pair.public_b64)
    try:
        async with db.write() as session:
            if await _find(session, domain, selector) is None:
                session.add(row)
                return row
    except IntegrityError:
        pass  # another process stored one first: use theirs
    async with db.read() as session:
        stored = await _find(session, domain, selector)
    assert stored is not None
    return stored


@dataclass(frozen=True)
class Sender:
    """How mail from one inbox domain goes out: who signs it, and where its bounces come back."""

    dkim_domain: str | None
    selector: str | None
    private_pem: str | None
    bounce_domain: str


async def sender_for(session: AsyncSession, organization_id: str, domain: str, default_domain: str) -> Sender:
    """A verified custom domain (issue 7) signs its own mail (d=<domain>, aligned for DMARC) and takes
    bounces at mail.<domain>, the Return-Path host its DNS records point here. Everything else,
    including custom domains not yet verified (their key is not published, so a signature would
    fail), is signed with the default domain's key and bounces to the default domain."""
    custom = await domains.signing_domain(session, organization_id, domain.lower())
    own = await _find(session, custom.id) if custom is not None else None
    if custom is not None and own is not None:
        return Sender(own.domain, own.selector, own.private_key, f"mail.{custom.id}")
    key = await _find(session, default_domain)
    if key is None:
        return Sender(None, None, None, default_domain)
    return Sender(key.domain, key.selector, key.private_key, default_domain)
