"""API keys: minting, authentication and CRUD within a scope."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..db.engine import Database
from ..db.pagination import Page, check_limit, paginate
from ..db.tables import ApiKey
from ..db.types import utcnow
from .errors import Forbidden, Invalid, NotFound, Unauthorized
from .ids import is_uuid, new_uuid
from .permissions import escalates
from .principal import Principal, Scope

# Production keys look like am_us_<hex>; never am_eu_, which sends unconfigured TS clients to the EU host.
KEY_PREFIX = "am_us_"
PREFIX_LENGTH = 12
DEFAULT_NAME = "default"
# Writing used_at on every request would turn every read into a write; a minute's accuracy is enough.
USED_AT_RESOLUTION = timedelta(seconds=60)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def mint_secret() -> str:
    return KEY_PREFIX + secrets.token_hex(32)


@dataclass
class CreatedKey:
    row: ApiKey
    secret: str


def new_key_row(
    *, organization_id: str, pod_id: str | None = None, inbox_id: str | None = None,
    name: str = DEFAULT_NAME, permissions: dict[str, bool] | None = None,
    expires_at: datetime | None = None, created_by: str | None = None, secret: str | None = None,
) -> CreatedKey:
    secret = secret or mint_secret()
    row = ApiKey(
        id=new_uuid(), organization_id=organization_id, pod_id=pod_id, inbox_id=inbox_id, name=name,
        prefix=secret[:PREFIX_LENGTH], secret_hash=hash_secret(secret), permissions=permissions,
        expires_at=expires_at, created_by=created_by,
    )
    return CreatedKey(row=row, secret=secret)


def principal_for(row: ApiKey) -> Principal:
    return Principal(
        api_key_id=row.id,
        scope=Scope(organization_id=row.organization_id, pod_id=row.pod_id, inbox_id=row.inbox_id),
        permissions=row.permissions,
        expires_at=row.expires_at,
    )


async def authenticate(db: Database, secret: str) -> Principal:
    digest = hash_secret(secret)
    async with db.read() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.secret_hash == digest))
    if row is None:
        raise Unauthorized("Unknown API key", code="unknown_api_key")
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("API key has expired", code="unauthorized")
    if row.used_at is None or now - row.used_at > USED_AT_RESOLUTION:
        async with db.write() as session:
            # Bookkeeping, not an edit of the key: updated_at keeps its value.
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == row.id)
                .values(used_at=now, updated_at=ApiKey.updated_at)
            )
    return principal_for(row)


def _check_grant(
    principal: Principal, permissions: dict[str, bool] | None
) -> dict[str, bool] | None:
    """The permissions a new or updated key gets; 403 if they exceed the caller's."""
    if permissions is None and principal.permissions is not None:
        # "Unrestricted" from a restricted key means "everything I have".
        return dict(principal.permissions)
    extra = escalates(principal.permissions, permissions)
    if extra:
        raise Forbidden(
            f"Cannot grant permissions this API key lacks: {', '.join(sorted(extra))}",
            code="permission_escalation",
        )
    return permissions


async def create_key(
    db: Database, principal: Principal, scope: Scope, *, name: str | None,
    permissions: dict[str, bool] | None, expires_at: datetime | None,
) -> CreatedKey:
    principal.require("api_key_create")
    granted = _check_grant(principal, permissions)
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        raise Invalid("expires_at must be in the future", path=["expires_at"])
    parent_expiry = principal.expires_at
    if parent_expiry is not None:
        if expires_at is None:
            expires_at = parent_expiry
        elif expires_at > parent_expiry:
            raise Forbidden("A key cannot outlive the key that creates it", code="permission_escalation")
    created = new_key_row(
        organization_id=scope.organization_id, pod_id=scope.pod_id, inbox_id=scope.inbox_id,
        name=name if name is not None else DEFAULT_NAME, permissions=granted, expires_at=expires_at,
        created_by=principal.api_key_id,
    )
    async with db.write() as session:
        session.add(created.row)
    return created


async def list_keys(
    db: Database, principal: Principal, scope: Scope, *, key_type: str | None, limit: int | None,
    page_token: str | None, ascending: bool, endpoint: str,
) -> Page[ApiKey]:
    principal.require("api_key_read")
    size = check_limit(limit)
    stmt = select(ApiKey).where(scope.where(ApiKey))
    if key_type == "public_key":
        # This server mints bearer keys only; public-key credentials never exist here.
        stmt = stmt.where(ApiKey.id.is_(None))
    async with db.read() as session:
        return await paginate(
            session, stmt, endpoint=endpoint, order=[ApiKey.created_at, ApiKey.id], limit=size,
            page_token=page_token, ascending=ascending,
        )


async def _scoped_key(session, scope: Scope, api_key_id: str) -> ApiKey:  # type: ignore[no-untyped-def]
    if not is_uuid(api_key_id):
        raise NotFound("API key not found")
    row = await session.scalar(select(ApiKey).where(ApiKey.id == api_key_id.lower(), scope.where(ApiKey)))
    if row is None:
        raise NotFound("API key not found")
    return row


async def get_key(db: Database, principal: Principal, scope: Scope, api_key_id: str) -> ApiKey:
    principal.require("api_key_read")
    async with db.read() as session:
        return await _scoped_key(session, scope, api_key_id)


async def update_key(
    db: Database, principal: Principal, scope: Scope, api_key_id: str, *, fields: dict[str, object]
) -> ApiKey:
    principal.require("api_key_update")
    async with db.write() as session:
        row = await _scoped_key(session, scope, api_key_id)
        if "name" in fields and fields["name"] is not None:
            row.name = str(fields["name"])
        if "permissions" in fields:
            row.permissions = _check_grant(principal, fields["permissions"])  # type: ignore[arg-type]
        row.updated_at = utcnow()
    return row


async def delete_key(db: Database, principal: Principal, scope: Scope, api_key_id: str) -> None:
    principal.require("api_key_delete")
    async with db.write() as session:
        row = await _scoped_key(session, scope, api_key_id)
        await session.delete(row)
