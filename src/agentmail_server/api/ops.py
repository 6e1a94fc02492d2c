"""Operations endpoints outside /v0: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from .. import __version__
from ..telemetry import metrics

router = APIRouter(include_in_schema=False)


async def _database_ok(request: Request) -> str | None:
    try:
        async with request.app.state.db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # the point of a health check is to report any failure
        return str(exc) or type(exc).__name__
    return None


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Liveness: the process answers and reaches its database."""
    problem = await _database_ok(request)
    if problem:
        return JSONResponse({"status": "unhealthy", "database": problem}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "version": __version__})


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers and every role this process runs is up."""
    checks: dict[str, str] = {"database": await _database_ok(request) or "ok"}
    listener = request.app.state.smtp_listener
    if request.app.state.settings.has_role("smtp"):
        checks["smtp"] = "ok" if listener is not None and listener.is_serving() else "not listening"
    children = request.app.state.worker_processes
    if children is not None:
        running = children.running()
        checks["worker"] = "ok" if running == children.count else f"{running} of {children.count} processes running"
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JSONResponse({"name": "UnauthorizedError", "code": "unauthorized",
                                 "message": "Missing or wrong metrics token"}, status_code=401)
    try:
        await metrics.refresh_from_database(request.app.state.db)
    except Exception:
        pass  # still expose the in-process counters when the database is away
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
