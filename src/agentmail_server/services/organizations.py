"""Organizations: first-start bootstrap, creation from the CLI, and the org summary."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.tables import ApiKey, Inbox, Organization, Pod
from ..services.errors import Forbidden, NotFound
from .api_keys import hash_secret, new_key_row
from .ids import new_uuid
from .pods import DEFAULT_POD_NAME
from .principal import Principal


@dataclass
class NewOrganization:
    organization: Organization
    api_key_id: str
    api_key: str


@dataclass
class OrganizationSummary:
    organization: Organization
    inbox_count: int
    domain_count: int


async def _add_organization(
    session: AsyncSession, *, name: str | None, api_key: str | None, key_name: str
) -> NewOrganization:
    org_id = new_uuid()
    org = Organization(id=org_id, name=name)
    created = new_key_row(organization_id=org_id, name=key_name, secret=api_key)
    # Flushed one by one: without ORM relationships the unit of work does not order by foreign key.
    session.add(org)
    await session.flush()
    # The default pod's id is the organization's id (REFERENCE §2.4).
    session.add(Pod(id=org_id, organization_id=org_id, name=DEFAULT_POD_NAME))
    await session.flush()
    session.add(created.row)
    return NewOrganization(organization=org, api_key_id=created.row.id, api_key=created.secret)


async def create_organization(
    db: Database, *, name: str | None = None, api_key: str | None = None, key_name: str = "root"
) -> NewOrganization:
    """A new organization with its default pod and one unrestricted key."""
    async with db.write() as session:
        return await _add_organization(session, name=name, api_key=api_key, key_name=key_name)


async def bootstrap(db: Database, *, root_api_key: str | None) -> NewOrganization | None:
    """First start: create the default organization. Returns it when a key was added now.

    A configured root key is (re)ensured on every start, so compose files and scripts can rely on it.
    """
    async with db.write() as session:
        await db.serialize(session, "bootstrap")
        first = await session.scalar(select(Organization).order_by(Organization.created_at).limit(1))
        if first is None:
            return await _add_organization(session, name="default", api_key=root_api_key, key_name="root")
        if root_api_key is None:
            return None
        known = await session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == hash_secret(root_api_key)))
        if known:
            return None
        created = new_key_row(organization_id=first.id, name="root", secret=root_api_key)
        session.add(created.row)
        return NewOrganization(organization=first, api_key_id=created.row.id, api_key=root_api_key)


async def summary(db: Database, principal: Principal) -> OrganizationSummary:
    if principal.scope.type != "organization":
        raise Forbidden("An organization-scoped API key is required", code="unrestricted_key_required")
    async with db.read() as session:
        org = await session.get(Organization, principal.organization_id)
        if org is None:
            raise NotFound("Organization not found")
        inbox_count = await session.scalar(
            select(func.count()).select_from(Inbox).where(Inbox.organization_id == org.id)
        )
    return OrganizationSummary(organization=org, inbox_count=inbox_count or 0, domain_count=0)
