"""Routes: metrics (REFERENCE §2.16) at the key's scope, a pod's and an inbox's.

`GET …/metrics` (no suffix) is the deprecated alias of `…/metrics/events` that older SDKs call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request

from ..db.engine import Database
from ..schemas.metrics import QueryMetricsResponse, QueryRatesResponse, QueryUsageResponse
from ..services import metrics
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal
from .params import query_list

router = APIRouter(route_class=WireRoute, tags=["metrics"])


@dataclass(frozen=True)
class RangeParams:
    """start / end / period / limit / descending, shared by the three queries."""

    start: datetime | None
    end: datetime | None
    period: int | None
    limit: int | None
    descending: bool


async def range_params(
    start: datetime | None = Query(None, description="Start of the range (default: end - 24 h; within 90 days)"),
    end: datetime | None = Query(None, description="End of the range (default and maximum: now)"),
    period: int | None = Query(None, description="Bucket size in seconds, 1-86400"),
    limit: int | None = Query(None, description="Buckets per type, 1-1000 (default 1000)"),
    descending: bool = Query(False, description="Newest bucket first"),
) -> RangeParams:
    return RangeParams(start=start, end=end, period=period, limit=limit, descending=descending)



# The list parameters are declared for the OpenAPI document, then decoded in every encoding the
# clients use (JSON array string, repeated key, comma-separated, bare value; REFERENCE §1.4).


async def event_types(request: Request, event_types: list[str] | None = Query(None)) -> list[str] | None:
    return query_list(request, "event_types", split_commas=True)


async def usage_types(request: Request, usage_types: list[str] | None = Query(None)) -> list[str] | None:
    return query_list(request, "usage_types", split_commas=True)


async def rate_types(request: Request, rate_types: list[str] | None = Query(None)) -> list[str] | None:
    return query_list(request, "rate_types", split_commas=True)


async def _events(db: Database, principal: Principal, types: list[str] | None, q: RangeParams,
                  pod_id: str | None = None, inbox_id: str | None = None) -> QueryMetricsResponse:
    return await metrics.query_events(db, principal, pod_id=pod_id, inbox_id=inbox_id, event_types=types,
                                      start=q.start, end=q.end, period=q.period, limit=q.limit,
                                      descending=q.descending)


async def _usage(db: Database, principal: Principal, types: list[str] | None, q: RangeParams,
                 pod_id: str | None = None, inbox_id: str | None = None) -> QueryUsageResponse:
    return await metrics.query_usage(db, principal, pod_id=pod_id, inbox_id=inbox_id, usage_types=types,
                                     start=q.start, end=q.end, period=q.period, limit=q.limit,
                                     descending=q.descending)


async def _rates(db: Database, principal: Principal, types: list[str] | None, q: RangeParams, window: int | None,
                 pod_id: str | None = None, inbox_id: str | None = None) -> QueryRatesResponse:
    return await metrics.query_rates(db, principal, pod_id=pod_id, inbox_id=inbox_id, rate_types=types,
                                     start=q.start, end=q.end, period=q.period, window=window, limit=q.limit,
                                     descending=q.descending)


WINDOW = Query(None, description="Rolling window in seconds (default 86400; a multiple of period)")


# --- /v0/metrics: the key's own scope ---------------------------------------------------------


@router.get("/v0/metrics/events", response_model=QueryMetricsResponse)
async def query_events(
    types: list[str] | None = Depends(event_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryMetricsResponse:
    return await _events(db, principal, types, q)


@router.get("/v0/metrics", response_model=QueryMetricsResponse, deprecated=True)
async def query_metrics(
    types: list[str] | None = Depends(event_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryMetricsResponse:
    return await _events(db, principal, types, q)


@router.get("/v0/metrics/usage", response_model=QueryUsageResponse)
async def query_usage(
    types: list[str] | None = Depends(usage_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryUsageResponse:
    return await _usage(db, principal, types, q)


@router.get("/v0/metrics/rates", response_model=QueryRatesResponse)
async def query_rates(
    types: list[str] | None = Depends(rate_types), q: RangeParams = Depends(range_params), window: int | None = WINDOW,
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryRatesResponse:
    return await _rates(db, principal, types, q, window)


# --- /v0/pods/{pod_id}/metrics ----------------------------------------------------------------


@router.get("/v0/pods/{pod_id}/metrics/events", response_model=QueryMetricsResponse)
async def query_pod_events(
    pod_id: str, types: list[str] | None = Depends(event_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryMetricsResponse:
    return await _events(db, principal, types, q, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/metrics", response_model=QueryMetricsResponse, deprecated=True)
async def query_pod_metrics(
    pod_id: str, types: list[str] | None = Depends(event_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryMetricsResponse:
    return await _events(db, principal, types, q, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/metrics/usage", response_model=QueryUsageResponse)
async def query_pod_usage(
    pod_id: str, types: list[str] | None = Depends(usage_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryUsageResponse:
    return await _usage(db, principal, types, q, pod_id=pod_id)


@router.get("/v0/pods/{pod_id}/metrics/rates", response_model=QueryRatesResponse)
async def query_pod_rates(
    pod_id: str, types: list[str] | None = Depends(rate_types), q: RangeParams = Depends(range_params),
    window: int | None = WINDOW, principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryRatesResponse:
    return await _rates(db, principal, types, q, window, pod_id=pod_id)


# --- /v0/inboxes/{inbox_id}/metrics -----------------------------------------------------------


@router.get("/v0/inboxes/{inbox_id}/metrics/events", response_model=QueryMetricsResponse)
async def query_inbox_events(
    inbox_id: str, types: list[str] | None = Depends(event_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryMetricsResponse:
    return await _events(db, principal, types, q, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/metrics", response_model=QueryMetricsResponse, deprecated=True)
async def query_inbox_metrics(
    inbox_id: str, types: list[str] | None = Depends(event_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryMetricsResponse:
    return await _events(db, principal, types, q, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/metrics/usage", response_model=QueryUsageResponse)
async def query_inbox_usage(
    inbox_id: str, types: list[str] | None = Depends(usage_types), q: RangeParams = Depends(range_params),
    principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryUsageResponse:
    return await _usage(db, principal, types, q, inbox_id=inbox_id)


@router.get("/v0/inboxes/{inbox_id}/metrics/rates", response_model=QueryRatesResponse)
async def query_inbox_rates(
    inbox_id: str, types: list[str] | None = Depends(rate_types), q: RangeParams = Depends(range_params),
    window: int | None = WINDOW, principal: Principal = Depends(get_principal), db: Database = Depends(get_db),
) -> QueryRatesResponse:
    return await _rates(db, principal, types, q, window, inbox_id=inbox_id)
