"""Custom domains (REFERENCE §2.10) at organization and pod scope."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from ..db.engine import Database
from ..schemas.domains import (
    CreateDomainRequest,
    DomainItem,
    DomainWire,
    ListDomainsResponse,
    SetupLinkResponse,
    UpdateDomainRequest,
)
from ..services import domains
from ..services.domains import DomainEnv
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal
from .params import ListParams, list_params

router = APIRouter(route_class=WireRoute, tags=["domains"])
NO_CONTENT = {"status_code": 204, "response_class": Response}
# The JSON default class stays so error responses keep their documented JSON bodies.
ZONE_FILE = {"responses": {200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                 "description": "BIND zone file"}}}


async def get_env(request: Request) -> DomainEnv:
    return request.app.state.domain_env  # type: ignore[no-any-return]


async def _list(db: Database, principal: Principal, pod_id: str | None, page: ListParams) -> ListDomainsResponse:
    result = await domains.list_domains(db, principal, pod_id=pod_id, limit=page.limit, page_token=page.page_token,
                                        ascending=page.ascending)
    return ListDomainsResponse(count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
                               domains=[DomainItem.of(row) for row in result.items])


async def _create(db: Database, principal: Principal, env: DomainEnv, pod_id: str | None,
                  body: CreateDomainRequest) -> DomainWire:
    row = await domains.create_domain(
        db, principal, env, pod_id=pod_id, domain=body.domain, client_id=body.client_id,
        allow_conflicting_provider=bool(body.allow_conflicting_provider), flags=body.flags())
    return await domains.describe(db, env, row)


# --- /v0/domains -----------------------------------------------------------------------------


@router.get("/v0/domains", response_model=ListDomainsResponse)
async def list_domains(page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
                       db: Database = Depends(get_db)) -> ListDomainsResponse:
    return await _list(db, principal, None, page)


@router.post("/v0/domains", response_model=DomainWire)
async def create_domain(body: CreateDomainRequest = Body(...), principal: Principal = Depends(get_principal),
                        db: Database = Depends(get_db), env: DomainEnv = Depends(get_env)) -> DomainWire:
    return await _create(db, principal, env, None, body)


@router.get("/v0/domains/{domain_id}", response_model=DomainWire)
async def get_domain(domain_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
                     env: DomainEnv = Depends(get_env)) -> DomainWire:
    return await domains.describe(db, env, await domains.get_domain(db, principal, pod_id=None, domain_id=domain_id))


@router.patch("/v0/domains/{domain_id}", response_model=DomainWire)
async def update_domain(domain_id: str, body: UpdateDomainRequest = Body(...),
                        principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
                        env: DomainEnv = Depends(get_env)) -> DomainWire:
    row = await domains.update_domain(db, principal, pod_id=None, domain_id=domain_id, flags=body.flags())
    return await domains.describe(db, env, row)


@router.delete("/v0/domains/{domain_id}", **NO_CONTENT)
async def delete_domain(domain_id: str, principal: Principal = Depends(get_principal),
                        db: Database = Depends(get_db)) -> Response:
    await domains.delete_domain(db, principal, pod_id=None, domain_id=domain_id)
    return Response(status_code=204)


@router.get("/v0/domains/{domain_id}/setup-link", response_model=SetupLinkResponse)
async def setup_link(domain_id: str, principal: Principal = Depends(get_principal),
                     db: Database = Depends(get_db)) -> SetupLinkResponse:
    await domains.get_domain(db, principal, pod_id=None, domain_id=domain_id)
    # Domain Connect needs a registry of DNS providers; a self-hosted server publishes a zone file instead.
    return SetupLinkResponse(supported=False)


@router.post("/v0/domains/{domain_id}/verify", **NO_CONTENT)
async def verify_domain(domain_id: str, principal: Principal = Depends(get_principal),
                        db: Database = Depends(get_db), env: DomainEnv = Depends(get_env)) -> Response:
    await domains.verify_domain(db, principal, env, pod_id=None, domain_id=domain_id)
    return Response(status_code=204)


@router.get("/v0/domains/{domain_id}/zone-file", **ZONE_FILE)
async def zone_file(domain_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
                    env: DomainEnv = Depends(get_env)) -> PlainTextResponse:
    return PlainTextResponse(await domains.zone_file_of(db, principal, env, pod_id=None, domain_id=domain_id))


# --- /v0/pods/{pod_id}/domains ---------------------------------------------------------------


@router.get("/v0/pods/{pod_id}/domains", response_model=ListDomainsResponse)
async def list_pod_domains(pod_id: str, page: ListParams = Depends(list_params),
                           principal: Principal = Depends(get_principal),
                           db: Database = Depends(get_db)) -> ListDomainsResponse:
    return await _list(db, principal, pod_id, page)


@router.post("/v0/pods/{pod_id}/domains", response_model=DomainWire)
async def create_pod_domain(pod_id: str, body: CreateDomainRequest = Body(...),
                            principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
                            env: DomainEnv = Depends(get_env)) -> DomainWire:
    return await _create(db, principal, env, pod_id, body)


@router.get("/v0/pods/{pod_id}/domains/{domain_id}", response_model=DomainWire)
async def get_pod_domain(pod_id: str, domain_id: str, principal: Principal = Depends(get_principal),
                         db: Database = Depends(get_db), env: DomainEnv = Depends(get_env)) -> DomainWire:
    return await domains.describe(db, env, await domains.get_domain(db, principal, pod_id=pod_id, domain_id=domain_id))


@router.patch("/v0/pods/{pod_id}/domains/{domain_id}", response_model=DomainWire)
async def update_pod_domain(pod_id: str, domain_id: str, body: UpdateDomainRequest = Body(...),
                            principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
                            env: DomainEnv = Depends(get_env)) -> DomainWire:
    row = await domains.update_domain(db, principal, pod_id=pod_id, domain_id=domain_id, flags=body.flags())
    return await domains.describe(db, env, row)


@router.delete("/v0/pods/{pod_id}/domains/{domain_id}", **NO_CONTENT)
async def delete_pod_domain(pod_id: str, domain_id: str, principal: Principal = Depends(get_principal),
                            db: Database = Depends(get_db)) -> Response:
    await domains.delete_domain(db, principal, pod_id=pod_id, domain_id=domain_id)
    return Response(status_code=204)


@router.post("/v0/pods/{pod_id}/domains/{domain_id}/verify", **NO_CONTENT)
async def verify_pod_domain(pod_id: str, domain_id: str, principal: Principal = Depends(get_principal),
                            db: Database = Depends(get_db), env: DomainEnv = Depends(get_env)) -> Response:
    await domains.verify_domain(db, principal, env, pod_id=pod_id, domain_id=domain_id)
    return Response(status_code=204)


@router.get("/v0/pods/{pod_id}/domains/{domain_id}/zone-file", **ZONE_FILE)
async def pod_zone_file(pod_id: str, domain_id: str, principal: Principal = Depends(get_principal),
                        db: Database = Depends(get_db), env: DomainEnv = Depends(get_env)) -> PlainTextResponse:
    return PlainTextResponse(await domains.zone_file_of(db, principal, env, pod_id=pod_id, domain_id=domain_id))
