"""Pods (REFERENCE §2.4)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Response

from ..db.engine import Database
from ..schemas.resources import CreatePodRequest, ListPodsResponse, Pod
from ..services import pods
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal
from .params import ListParams, list_params

router = APIRouter(route_class=WireRoute, tags=["pods"])


@router.get("/v0/pods", response_model=ListPodsResponse)
async def list_pods(
    page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListPodsResponse:
    result = await pods.list_pods(
        db, principal, limit=page.limit, page_token=page.page_token, ascending=page.ascending
    )
    return ListPodsResponse(
        count=len(result.items), limit=result.limit, next_page_token=result.next_page_token,
        pods=[Pod.of(row) for row in result.items],
    )


@router.post("/v0/pods", response_model=Pod)
async def create_pod(
    body: CreatePodRequest | None = Body(None), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> Pod:
    body = body or CreatePodRequest()
    return Pod.of(await pods.create_pod(db, principal, name=body.name, client_id=body.client_id))


@router.get("/v0/pods/{pod_id}", response_model=Pod)
async def get_pod(pod_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)) -> Pod:
    return Pod.of(await pods.get_pod(db, principal, pod_id))


@router.delete("/v0/pods/{pod_id}", status_code=204, response_class=Response)
async def delete_pod(
    pod_id: str, principal: Principal = Depends(get_principal), db: Database = Depends(get_db)
) -> Response:
    await pods.delete_pod(db, principal, pod_id)
    return Response(status_code=204)
