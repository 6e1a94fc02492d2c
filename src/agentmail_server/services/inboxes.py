"""Inboxes: addresses hosted here, owned by a pod."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.pagination import MAX_FILTERED_LIMIT, Page, check_limit, offset_page, paginate
from ..db.tables import Inbox
from ..db.types import utcnow
from . import domains
from .errors import Forbidden, Invalid, NotFound
from .pods import check_client_id
from .principal import Principal
from .scoping import find_inbox, resolve_scope

USERNAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
# RFC 5322 specials and control characters would need quoting in a From header; refuse them instead.
DISPLAY_NAME_FORBIDDEN = re.compile(r'[()<>@,;:\\"\[\]\x00-\x1f\x7f]')
MAX_METADATA_KEYS = 256
MAX_METADATA_LENGTH = 256
STATUSES = ("active", "paused")


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.match(name) or ".." in name:
        raise Invalid(
            "username must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting and ending "
            "with a letter or digit",
            path=["username"],
        )
    return name


def _check_display_name(display_name: str | None) -> str | None:
    if display_name is None:
        return None
    if len(display_name) > 256:
        raise Invalid("display_name must be at most 256 characters", path=["display_name"])
    if DISPLAY_NAME_FORBIDDEN.search(display_name):
        raise Invalid(
            'display_name must not contain ( ) < > @ , ; : \\ " [ ] or control characters',
            path=["display_name"],
        )
    return display_name


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise Invalid("status must be 'active' or 'paused'", path=["status"])


def _check_metadata(metadata: dict[str, Any], *, allow_null: bool) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        raise Invalid(f"metadata may have at most {MAX_METADATA_KEYS} keys", path=["metadata"])
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_LENGTH:
            raise Invalid(f"metadata keys must be 1-{MAX_METADATA_LENGTH} characters", path=["metadata", key])
        if value is None and allow_null:
            continue
        if isinstance(value, str):
            if len(value) > MAX_METADATA_LENGTH:
                raise Invalid(
                    f"metadata values must be at most {MAX_METADATA_LENGTH} characters", path=["metadata", key]
                )
        elif not isinstance(value, (bool, int, float)):
            raise Invalid("metadata values must be strings, numbers or booleans", path=["metadata", key])


def _check_domain(domain: str | None, default_domain: str) -> str:
    """The inbox's domain name; whether this pod may use it is checked against its domains later."""
    if domain is None:
        return default_domain
    wanted = domain.strip().lower().rstrip(".")
    if wanted == default_domain:
        return wanted
    try:
        return domains.normalize(wanted)
    except Invalid:
        raise NotFound(f"Domain {wanted} not found") from None


async def list_inboxes(
    db: Database, principal: Principal, *, pod_id: str | None, limit: int | None,
    page_token: str | None, ascending: bool,
) -> Page[Inbox]:
    principal.require("inbox_read")
    size = check_limit(limit)
    async with db.read() as session:
        scope = await resolve_scope(session, principal, pod_id=pod_id)
        stmt = select(Inbox).where(scope.where(Inbox, inbox_column="id"))
        return await paginate(
            session, stmt, endpoint=f"inboxes:{pod_id or ''}", order=[Inbox.created_at, Inbox.id],
            limit=size, page_token=page_token, ascending=ascending,
        )


async def search_inboxes(
    db: Database, principal: Principal, *, pod_id: str | None, q: str, limit: int | None,
    page_token: str | None,
) -> Page[Inbox]:
    """Word-prefix match on address and display name; the exact address first."""
    principal.require("inbox_read")
    query = q.strip().lower()
    if not 2 <= len(query) <= 256:
        raise Invalid("q must be 2-256 characters", path=["q"])
    size = check_limit(limit, maximum=MAX_FILTERED_LIMIT)
    terms = query.split()

    def like(term: str) -> str:
        return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    async with db.read() as session:
        scope = await resolve_scope(session, principal, pod_id=pod_id)
        stmt = (
            select(Inbox)
            .where(scope.where(Inbox, inbox_column="id"))
            .where(*[or_(Inbox.id.like(like(t), escape="\\"),
                         func.lower(Inbox.display_name).like(like(t), escape="\\")) for t in terms])
            .order_by(Inbox.created_at.desc(), Inbox.id)
        )
        candidates = list((await session.scalars(stmt)).all())
    # Each query word must start a word of the address or the display name: "sup" finds
    # support@…, "port" does not.
    starts = [re.compile(r"(?:^|[^a-z0-9])" + re.escape(t)) for t in terms]

    def rank(inbox: Inbox) -> int | None:
        if inbox.id == query:
            return 0
        text = f"{inbox.id} {(inbox.display_name or '').lower()}"
        if not all(start.search(text) for start in starts):
            return None
        return 1 if inbox.id.startswith(query) else 2

    ranked = [(r, i) for i, inbox in enumerate(candidates) if (r := rank(inbox)) is not None]
    ranked.sort(key=lambda pair: pair[0])
    ordered = [candidates[i] for _, i in ranked]
    return offset_page(ordered, endpoint=f"inbox-search:{pod_id or ''}:{query}", limit=size,
                       page_token=page_token)


async def _suggestions(session: AsyncSession, username: str, domain: str) -> list[str]:
    candidates = [f"{username}{n}" for n in (1, 2)] + [f"{username}-{secrets.token_hex(2)}" for _ in range(4)]
    candidates = [c for c in candidates if USERNAME.match(c)]
    taken = set(
        (await session.scalars(select(Inbox.id).where(Inbox.id.in_([f"{c}@{domain}" for c in candidates])))).all()
    )
    return [f"{c}@{domain}" for c in candidates if f"{c}@{domain}" not in taken][:3]


async def _taken_error(session: AsyncSession, principal: Principal, existing: Inbox) -> Forbidden:
    own = existing.organization_id == principal.organization_id
    return Forbidden(
        f"Inbox {existing.id} already exists" if own else f"The address {existing.id} is taken",
        code="already_exists" if own else "resource_taken",
        name="IsTakenError",
        suggestions=await _suggestions(session, existing.username, existing.domain),
    )


async def create_inbox(
    db: Database, principal: Principal, *, pod_id: str | None, default_domain: str,
    username: str | None, domain: str | None, display_name: str | None, client_id: str | None,
    status: str | None, metadata: dict[str, Any] | None,
) -> Inbox:
    principal.require("inbox_create")
    if principal.scope.inbox_id is not None:
        raise Forbidden("Inbox-scoped keys cannot create inboxes")
    check_client_id(client_id)
    _check_status(status)
    display_name = _check_display_name(display_name)
    if metadata is not None:
        _check_metadata(metadata, allow_null=False)
    host = _check_domain(domain, default_domain)
    local = _check_username(username) if username is not None else f"agent-{secrets.token_hex(5)}"

    async with db.read() as session:
        scope = await resolve_scope(session, principal, pod_id=pod_id)
        target_pod = scope.pod_id or scope.organization_id
        if host != default_domain:
            await domains.inbox_domain(session, organization_id=scope.organization_id, pod_id=target_pod, host=host)
        if client_id is not None:
            existing = await _by_client_id(session, target_pod, client_id)
            if existing is not None:
                return existing
        taken = await session.get(Inbox, f"{local}@{host}")
        if taken is not None:
            raise await _taken_error(session, principal, taken)

    inbox = Inbox(
        id=f"{local}@{host}", organization_id=scope.organization_id, pod_id=target_pod, username=local,
        domain=host, display_name=display_name, client_id=client_id, status=status or "active",
        metadata_=metadata or None,
    )
    try:
        async with db.write() as session:
            session.add(inbox)
    except IntegrityError:
        # Lost a race with a concurrent create: same client_id replays, same address is taken.
        async with db.read() as session:
            if client_id is not None and (again := await _by_client_id(session, target_pod, client_id)):
                return again
            taken = await session.get(Inbox, inbox.id)
            if taken is None:
                raise
            raise await _taken_error(session, principal, taken) from None
    return inbox


async def _by_client_id(session: AsyncSession, pod_id: str, client_id: str) -> Inbox | None:
    return await session.scalar(select(Inbox).where(Inbox.pod_id == pod_id, Inbox.client_id == client_id))


async def get_inbox(db: Database, principal: Principal, inbox_id: str, *, pod_id: str | None = None) -> Inbox:
    principal.require("inbox_read")
    async with db.read() as session:
        return await find_inbox(session, principal, inbox_id, pod_id=pod_id)


async def update_inbox(
    db: Database, principal: Principal, inbox_id: str, *, pod_id: str | None, fields: dict[str, Any]
) -> Inbox:
    principal.require("inbox_update")
    if not any(k in fields for k in ("display_name", "status", "metadata")):
        raise Invalid("Must provide display_name or metadata", path=[])
    if "display_name" in fields:
        fields["display_name"] = _check_display_name(fields["display_name"])
    if fields.get("status") is not None:
        _check_status(fields["status"])
    metadata = fields.get("metadata")
    if "metadata" in fields and metadata is not None:
        if not metadata:
            raise Invalid("metadata must not be empty; send null to clear it", path=["metadata"])
        _check_metadata(metadata, allow_null=True)
    async with db.write() as session:
        row = await find_inbox(session, principal, inbox_id, pod_id=pod_id)
        if "display_name" in fields:
            row.display_name = fields["display_name"]
        if fields.get("status") is not None:
            row.status = fields["status"]
        if "metadata" in fields:
            if metadata is None:
                row.metadata_ = None
            else:
                merged = dict(row.metadata_ or {})
                for key, value in metadata.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                if len(merged) > MAX_METADATA_KEYS:
                    raise Invalid(f"metadata may have at most {MAX_METADATA_KEYS} keys", path=["metadata"])
                row.metadata_ = merged or None
        row.updated_at = utcnow()
    return row


async def delete_inbox(db: Database, principal: Principal, inbox_id: str, *, pod_id: str | None = None) -> None:
    principal.require("inbox_delete")
    async with db.write() as session:
        row = await find_inbox(session, principal, inbox_id, pod_id=pod_id)
        # Keys pinned to the inbox, and (later) its mail, go with it via ON DELETE CASCADE.
        await session.delete(row)


