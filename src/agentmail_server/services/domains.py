"""Custom domains (REFERENCE §2.10): CRUD at organization and pod scope, DNS verification, zone files."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.pagination import Page, check_limit, paginate
from ..db.tables import DkimKey, Domain, Inbox
from ..db.types import utcnow
from ..events.outbox import emit_event
from ..mail import dkim
from ..mail.dns import lookup
from ..mail.domain_records import DomainSetup, LookupFailed, check_record, zone_file
from ..schemas.domains import DomainWire
from . import dkim_keys
from .errors import Conflict, Forbidden, Invalid, NotFound, Unprocessable
from .pods import check_client_id
from .principal import Principal, Scope
from .scoping import resolve_scope

log = logging.getLogger("agentmail_server.domains")

DKIM_SELECTOR = "agentmail"
FLAGS = ("feedback_enabled", "inbound_enabled", "subdomains_enabled", "tracking_enabled")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# MX hosts of hosted mailbox providers: a domain already receiving mail there would lose it.
CONFLICTING_PROVIDERS = {
    "google.com": "Google Workspace", "googlemail.com": "Google Workspace",
    "outlook.com": "Microsoft 365", "office365.com": "Microsoft 365",
}


@dataclass(frozen=True)
class DomainEnv:
    """What verification and record generation need from the server's configuration."""

    default_domain: str
    mx_host: str
    tracking_host: str
    resolver: dns.asyncresolver.Resolver
    max_per_organization: int


async def setup_of(session: AsyncSession, domain: Domain, env: DomainEnv) -> DomainSetup:
    key = await session.scalar(select(DkimKey).where(DkimKey.domain == domain.id, DkimKey.selector == DKIM_SELECTOR))
    if key is None:  # only a concurrent delete gets here
        raise NotFound("Domain not found")
    return DomainSetup(
        domain=domain.id, mx_host=env.mx_host, dkim_selector=DKIM_SELECTOR,
        dkim_txt=dkim.record_value(key.public_key), inbound_enabled=domain.inbound_enabled,
        subdomains_enabled=domain.subdomains_enabled, tracking_enabled=domain.tracking_enabled,
        tracking_host=env.tracking_host,
    )


async def describe(db: Database, env: DomainEnv, domain: Domain) -> DomainWire:
    async with db.read() as session:
        return DomainWire.describe(domain, await setup_of(session, domain, env))


def normalize(name: str) -> str:
    domain = name.strip().lower().rstrip(".")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise Invalid("domain is not a valid domain name", path=["domain"]) from None
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not all(_LABEL.match(label) for label in labels):
        raise Invalid("domain must be a valid domain name such as example.com", path=["domain"])
    return domain


def _in_scope(scope: Scope) -> Any:
    # A pod sees its own domains and the organization's (which every pod may use).
    cond = Domain.organization_id == scope.organization_id
    if scope.pod_id is not None:
        cond = cond & or_(Domain.pod_id == scope.pod_id, Domain.pod_id.is_(None))
    return cond


async def _scope(session: AsyncSession, principal: Principal, pod_id: str | None) -> Scope:
    scope = await resolve_scope(session, principal, pod_id=pod_id)
    if scope.inbox_id is not None:
        raise NotFound("Domain not found")
    return scope


async def _find(session: AsyncSession, scope: Scope, domain_id: str, *, writable: bool = False) -> Domain:
    try:
        name = normalize(domain_id)
    except Invalid:
        raise NotFound("Domain not found") from None
    row = await session.get(Domain, name)
    if row is None or not (await session.scalar(select(func.count()).where(Domain.id == name, _in_scope(scope)))):
        raise NotFound("Domain not found")
    if writable and scope.pod_id is not None and row.pod_id != scope.pod_id:
        # The organization's domains are usable from a pod but managed at the organization.
        raise NotFound("Domain not found")
    return row


async def _conflicting_provider(env: DomainEnv, domain: str) -> str | None:
    answers = await lookup(env.resolver, domain, "MX")
    for answer in answers or []:
        host = answer.exchange.to_text().rstrip(".").lower()  # type: ignore[attr-defined]
        for suffix, provider in CONFLICTING_PROVIDERS.items():
            if host == suffix or host.endswith("." + suffix):
                return provider
    return None


async def create_domain(
    db: Database, principal: Principal, env: DomainEnv, *, pod_id: str | None, domain: str,
    client_id: str | None, allow_conflicting_provider: bool, flags: dict[str, bool | None],
) -> Domain:
    principal.require("domain_create")
    name = normalize(domain)
    check_client_id(client_id)
    if name == env.default_domain or name.endswith("." + env.default_domain):
        raise Unprocessable(f"{name} is reserved by this server", code="reserved_domain")
    async with db.read() as session:
        scope = await _scope(session, principal, pod_id)
        if client_id is not None:
            again = await session.scalar(select(Domain).where(
                Domain.organization_id == scope.organization_id, Domain.client_id == client_id))
            if again is not None:
                return again
        existing = await session.get(Domain, name)
        if existing is not None:
            raise _taken(existing, scope)
        count = await session.scalar(select(func.count()).where(Domain.organization_id == scope.organization_id))
        if (count or 0) >= env.max_per_organization:
            raise Forbidden(f"At most {env.max_per_organization} domains per organization", code="limit_exceeded",
                            name="LimitExceededError")
    if not allow_conflicting_provider and (provider := await _conflicting_provider(env, name)):
        raise Unprocessable(f"{name} already receives mail at {provider}; set allow_conflicting_provider to "
                            "add it anyway", code="conflicting_provider")
    # The key first: signing finds keys by domain, and a failed create leaves only a key nobody uses.
    await dkim_keys.ensure(db, name, DKIM_SELECTOR)
    row = Domain(
        id=name, organization_id=scope.organization_id, pod_id=scope.pod_id, client_id=client_id,
        status="NOT_STARTED",
        feedback_enabled=_flag(flags, "feedback_enabled", True), inbound_enabled=_flag(flags, "inbound_enabled", True),
        subdomains_enabled=_flag(flags, "subdomains_enabled", False),
        tracking_enabled=_flag(flags, "tracking_enabled", False), record_status={},
    )
    try:
        async with db.write() as session:
            session.add(row)
    except IntegrityError:
        async with db.read() as session:
            if client_id is not None and (again := await session.scalar(select(Domain).where(
                    Domain.organization_id == scope.organization_id, Domain.client_id == client_id))):
                return again
            existing = await session.get(Domain, name)
            if existing is None:
                raise
            raise _taken(existing, scope) from None
    return row


def _flag(flags: dict[str, bool | None], name: str, default: bool) -> bool:
    value = flags.get(name)
    return default if value is None else value


def _taken(existing: Domain, scope: Scope) -> Forbidden:
    if existing.organization_id == scope.organization_id:
        return Forbidden(f"Domain {existing.id} already exists", code="already_exists", name="AlreadyExistsError")
    return Forbidden(f"Domain {existing.id} is registered by another organization", code="resource_taken",
                     name="IsTakenError")


async def list_domains(
    db: Database, principal: Principal, *, pod_id: str | None, limit: int | None, page_token: str | None,
    ascending: bool,
) -> Page[Domain]:
    principal.require("domain_read")
    async with db.read() as session:
        scope = await _scope(session, principal, pod_id)
        stmt = select(Domain).where(_in_scope(scope))
        return await paginate(session, stmt, endpoint=f"domains:{pod_id or ''}", order=[Domain.created_at, Domain.id],
                              limit=check_limit(limit), page_token=page_token, ascending=ascending)


async def get_domain(db: Database, principal: Principal, *, pod_id: str | None, domain_id: str) -> Domain:
    principal.require("domain_read")
    async with db.read() as session:
        return await _find(session, await _scope(session, principal, pod_id), domain_id)


async def update_domain(
    db: Database, principal: Principal, *, pod_id: str | None, domain_id: str, flags: dict[str, bool | None],
) -> Domain:
    principal.require("domain_update")
    changes = {k: v for k, v in flags.items() if v is not None}
    if not changes:
        raise Invalid("Provide at least one of " + ", ".join(FLAGS), path=["feedback_enabled"])
    async with db.write() as session:
        row = await _find(session, await _scope(session, principal, pod_id), domain_id, writable=True)
        adds_mx = any(changes.get(f) and not getattr(row, f) for f in ("inbound_enabled", "subdomains_enabled"))
        for name, value in changes.items():
            setattr(row, name, value)
        if adds_mx and row.status == "VERIFIED":
            # A new MX record must verify before the domain counts as verified again.
            row.status, row.reason = "PENDING", "dns_records_missing"
        row.updated_at = utcnow()
    return row


async def delete_domain(db: Database, principal: Principal, *, pod_id: str | None, domain_id: str) -> None:
    principal.require("domain_delete")
    async with db.write() as session:
        row = await _find(session, await _scope(session, principal, pod_id), domain_id, writable=True)
        in_use = await session.scalar(select(func.count()).where(
            Inbox.organization_id == row.organization_id,
            or_(Inbox.domain == row.id, Inbox.domain.endswith("." + row.id))))
        if in_use:
            # Its inboxes would go on receiving and signing with nothing to answer for the domain.
            raise Conflict(f"Domain {row.id} still has {in_use} inbox(es); delete them first", code="cannot_delete")
        await session.delete(row)
        # A domain added again later (perhaps by someone else) gets a fresh key.
        await session.execute(delete(DkimKey).where(DkimKey.domain == row.id))


async def zone_file_of(db: Database, principal: Principal, env: DomainEnv, *, pod_id: str | None,
                       domain_id: str) -> str:
    row = await get_domain(db, principal, pod_id=pod_id, domain_id=domain_id)
    async with db.read() as session:
        return zone_file(await setup_of(session, row, env))


async def verify_domain(db: Database, principal: Principal, env: DomainEnv, *, pod_id: str | None,
                        domain_id: str) -> Domain:
    principal.require("domain_update")
    row = await get_domain(db, principal, pod_id=pod_id, domain_id=domain_id)
    return await recheck(db, env, row.id)


async def recheck(db: Database, env: DomainEnv, name: str) -> Domain:
    """Check every record in DNS, store the outcome, and announce a newly verified domain."""
    async with db.read() as session:
        row = await session.get(Domain, name)
        if row is None:
            raise NotFound("Domain not found")
        setup = await setup_of(session, row, env)
    statuses: dict[str, Any] = {}
    status, reason = "VERIFIED", None
    try:
        for record in setup.records():
            check = await check_record(env.resolver, setup, record)
            statuses[record.key] = {"status": check.status, "reason": check.reason}
        found = {s["status"] for s in statuses.values()}
        if "INVALID" in found:
            status, reason = "INVALID", "dns_records_invalid"
        elif "MISSING" in found:
            status, reason = "PENDING", "dns_records_missing"
    except LookupFailed as failed:
        log.info("verifying %s: no DNS answer for %s", name, failed)
        status, reason, statuses = "FAILED", "dns_lookup_failed", dict(row.record_status)
    async with db.write() as session:
        # Locked: concurrent checks (every worker's periodic one, a manual verify) announce it once.
        current = await session.get(Domain, name, with_for_update=True)
        if current is None:
            raise NotFound("Domain not found")
        newly_verified = status == "VERIFIED" and current.status != "VERIFIED"
        now = utcnow()
        current.status, current.reason, current.record_status, current.checked_at = status, reason, statuses, now
        current.updated_at = now
        if newly_verified:
            current.verified_at = now
            await emit_event(session, event_type="domain.verified", organization_id=current.organization_id,
                             pod_id=current.pod_id, inbox_id=None,
                             body={"domain": DomainWire.describe(current, setup).wire()})
    return current


async def recheck_pending(db: Database, env: DomainEnv) -> None:
    """Periodic re-verification of domains that were asked to verify but are not verified yet."""
    async with db.read() as session:
        names = list((await session.scalars(select(Domain.id).where(
            Domain.status.in_(("PENDING", "INVALID", "FAILED", "VERIFYING"))))).all())
    for name in names:
        try:
            await recheck(db, env, name)
        except NotFound:
            continue


def _candidates(host: str) -> list[str]:
    """`host` and its parents down to the registrable level: a.b.example.com → …, b.example.com, example.com."""
    return [host] + [host.split(".", i)[-1] for i in range(1, host.count("."))]


async def inbox_domain(session: AsyncSession, *, organization_id: str, pod_id: str, host: str) -> None:
    """Whether an inbox in `pod_id` may live at `host` (REFERENCE §2.5); raises the documented errors."""
    candidates = _candidates(host)
    rows = {r.id: r for r in (await session.scalars(select(Domain).where(
        Domain.id.in_(candidates), Domain.organization_id == organization_id,
        or_(Domain.pod_id.is_(None), Domain.pod_id == pod_id))))}
    if host in rows:
        row = rows[host]
    else:
        parent = next((rows[c] for c in candidates[1:] if c in rows), None)
        if parent is None:
            raise NotFound(f"Domain {host} not found")
        if not parent.subdomains_enabled:
            raise Unprocessable(f"Subdomains of {parent.id} are not enabled", code="subdomains_disabled")
        row = parent
    if row.status != "VERIFIED":
        raise Forbidden(f"Domain {row.id} is not verified", code="domain_not_verified",
                        name="DomainNotVerifiedError")


async def domain_for_host(session: AsyncSession, organization_id: str, host: str, *,
                          verified: bool = False) -> Domain | None:
    """The organization's domain that `host` belongs to: itself, or a parent with subdomains enabled."""
    candidates = _candidates(host)
    stmt = select(Domain).where(Domain.id.in_(candidates), Domain.organization_id == organization_id)
    if verified:
        stmt = stmt.where(Domain.status == "VERIFIED")
    by_name = {r.id: r for r in (await session.scalars(stmt)).all()}
    if host in by_name:
        return by_name[host]
    return next((by_name[c] for c in candidates[1:] if c in by_name and by_name[c].subdomains_enabled), None)


async def signing_domain(session: AsyncSession, organization_id: str, host: str) -> Domain | None:
    """The verified domain whose key signs the organization's mail from `host`."""
    return await domain_for_host(session, organization_id, host, verified=True)
