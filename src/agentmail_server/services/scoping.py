"""Resolving the pod/inbox named in a route against the caller's key: the one place that does it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.tables import Inbox, Pod
from .errors import NotFound
from .principal import Principal, Scope


async def find_pod(session: AsyncSession, principal: Principal, pod_id: str) -> Pod:
    """The pod if it exists and the key may see it; 404 otherwise (REFERENCE §1.14)."""
    principal.narrow(pod_id=pod_id)
    pod = await session.get(Pod, pod_id)
    if pod is None or pod.organization_id != principal.organization_id:
        raise NotFound("Pod not found")
    return pod


async def find_inbox(
    session: AsyncSession, principal: Principal, inbox_id: str, *, pod_id: str | None = None
) -> Inbox:
    """The inbox if it exists inside the key's scope (and the route's pod); 404 otherwise."""
    address = inbox_id.strip().lower()
    scope = principal.narrow(pod_id=pod_id, inbox_id=address)
    row = await session.get(Inbox, address)
    if row is None or not scope.contains(
        organization_id=row.organization_id, pod_id=row.pod_id, inbox_id=row.id
    ):
        raise NotFound("Inbox not found")
    return row


async def resolve_scope(
    session: AsyncSession, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None
) -> Scope:
    """The scope a route operates in: the key's own, narrowed to the route's pod or inbox."""
    if inbox_id is not None:
        inbox = await find_inbox(session, principal, inbox_id, pod_id=pod_id)
        return Scope(organization_id=inbox.organization_id, pod_id=inbox.pod_id, inbox_id=inbox.id)
    if pod_id is not None:
        await find_pod(session, principal, pod_id)
        return principal.narrow(pod_id=pod_id)
    return principal.scope


async def scope_for(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None
) -> Scope:
    async with db.read() as session:
        return await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
