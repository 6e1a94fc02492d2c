"""GET /v0/auth/me and the organization."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..db.engine import Database
from ..schemas.resources import Identity, Organization, OrganizationLabs
from ..services import organizations
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal

router = APIRouter(route_class=WireRoute, tags=["auth"])


@router.get("/v0/auth/me", response_model=Identity)
async def me(principal: Principal = Depends(get_principal)) -> Identity:
    scope = principal.scope
    return Identity(
        scope_type=scope.type,  # type: ignore[arg-type]
        scope_id=scope.id,
        organization_id=scope.organization_id,
        pod_id=scope.pod_id,
        inbox_id=scope.inbox_id,
        api_key_id=principal.api_key_id,
    )


@router.get("/v0/organizations", response_model=Organization, tags=["organizations"])
async def get_organization(
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Organization:
    info = await organizations.summary(db, principal)
    org = info.organization
    return Organization(
        organization_id=org.id, inbox_count=info.inbox_count, domain_count=info.domain_count,
        name=org.name, created_at=org.created_at, updated_at=org.updated_at,
    )


@router.get("/v0/organizations/labs", response_model=OrganizationLabs, tags=["organizations"])
async def get_labs(principal: Principal = Depends(get_principal), db: Database = Depends(get_db)) -> OrganizationLabs:
    # Self-hosted: every Labs-gated feature is on (REFERENCE §2.2).
    info = await organizations.summary(db, principal)
    return OrganizationLabs(enabled=True, enabled_at=info.organization.created_at, available=True)


@router.post("/v0/organizations/labs", response_model=OrganizationLabs, tags=["organizations"])
async def join_labs(principal: Principal = Depends(get_principal), db: Database = Depends(get_db)) -> OrganizationLabs:
    return await get_labs(principal, db)
