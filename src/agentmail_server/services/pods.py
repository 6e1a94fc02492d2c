"""Pods: tenant partitions inside an organization."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.pagination import Page, check_limit, paginate
from ..db.tables import ApiKey, Domain, Inbox, Pod, PollingWebhook, Webhook
from .errors import Conflict, Forbidden, Invalid
from .ids import new_uuid, valid_client_id
from .principal import Principal
from .scoping import find_pod

DEFAULT_POD_NAME = "My Pod"
# Tables whose rows belong to a pod; a pod may be deleted only when none of them has one.
POD_CONTENTS: list[type] = [Inbox, ApiKey, Domain, Webhook, PollingWebhook]


def check_client_id(client_id: str | None) -> None:
    if client_id is not None and not valid_client_id(client_id):
        raise Invalid(
            "client_id must be 1-256 characters from A-Z a-z 0-9 - . _ ~", path=["client_id"]
        )


async def list_pods(
    db: Database, principal: Principal, *, limit: int | None, page_token: str | None, ascending: bool
) -> Page[Pod]:
    principal.require("pod_read")
    size = check_limit(limit)
    stmt = select(Pod).where(Pod.organization_id == principal.organization_id)
    if principal.scope.pod_id is not None:
        stmt = stmt.where(Pod.id == principal.scope.pod_id)
    async with db.read() as session:
        return await paginate(
            session, stmt, endpoint="pods", order=[Pod.created_at, Pod.id], limit=size,
            page_token=page_token, ascending=ascending,
        )


async def create_pod(db: Database, principal: Principal, *, name: str | None, client_id: str | None) -> Pod:
    principal.require("pod_create")
    if principal.scope.type != "organization":
        raise Forbidden("Only organization-scoped keys can create pods")
    check_client_id(client_id)
    if name is not None and not name.strip():
        raise Invalid("name must not be empty", path=["name"])
    org_id = principal.organization_id
    if client_id is not None:
        async with db.read() as session:
            existing = await _by_client_id(session, org_id, client_id)
        if existing is not None:
            return existing
    pod = Pod(id=new_uuid(), organization_id=org_id, name=name or DEFAULT_POD_NAME, client_id=client_id)
    try:
        async with db.write() as session:
            session.add(pod)
    except IntegrityError:
        # A concurrent create with the same client_id won the race: answer with its pod.
        async with db.read() as session:
            existing = await _by_client_id(session, org_id, client_id or "")
        if existing is None:
            raise
        return existing
    return pod


async def _by_client_id(session: AsyncSession, org_id: str, client_id: str) -> Pod | None:
    return await session.scalar(select(Pod).where(Pod.organization_id == org_id, Pod.client_id == client_id))


async def get_pod(db: Database, principal: Principal, pod_id: str) -> Pod:
    principal.require("pod_read")
    async with db.read() as session:
        return await find_pod(session, principal, pod_id)


async def delete_pod(db: Database, principal: Principal, pod_id: str) -> None:
    principal.require("pod_delete")
    async with db.write() as session:
        pod = await find_pod(session, principal, pod_id)
        if pod.id == pod.organization_id:
            raise Conflict("The default pod cannot be deleted", code="cannot_delete")
        for table in POD_CONTENTS:
            if await session.scalar(select(exists().where(table.pod_id == pod.id))):  # type: ignore[attr-defined]
                raise Conflict(
                    f"Pod still has {table.__tablename__.replace('_', ' ')}; delete them first",  # type: ignore[attr-defined]
                    code="cannot_delete",
                )
        await session.delete(pod)
