"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from . import __version__, console, mcp_endpoint
from .api import (
    api_keys,
    auth,
    domains,
    drafts,
    errors,
    inbox_events,
    inboxes,
    links,
    lists,
    messages,
    metrics,
    ops,
    pods,
    sending,
    threads,
    webhooks,
    websocket,
)
from .api.guard import RequestGuard
from .config import Settings, get_settings
from .runtime import run_services
from .schemas.common import ErrorResponse, ValidationErrorResponse
from .telemetry.middleware import RequestTelemetry

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ValidationErrorResponse, "description": "Validation error"},
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "Forbidden"},
    404: {"model": ErrorResponse, "description": "Not found (also outside the key's scope)"},
    409: {"model": ErrorResponse, "description": "Conflict"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    422: {"model": ErrorResponse, "description": "Unprocessable"},
    500: {"model": ErrorResponse, "description": "Internal error"},
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with run_services(settings) as services, mcp_endpoint.running(app):
            app.state.db = services.db
            app.state.link_secret = services.link_secret
            app.state.hub = services.hub
            app.state.smtp_listener = services.smtp
            app.state.domain_env = services.domain_env
            app.state.worker_processes = services.worker_processes
            yield

    app = FastAPI(
        title="agentmail-server",
        version=__version__,
        description="Self-hosted server for AgentMail's /v0 API",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_request_bytes)
    # Outermost, so refusals by the guard are timed and logged with their request id too.
    app.add_middleware(RequestTelemetry)
    app.include_router(ops.router)
    # Processes without the api role (smtp, worker) answer only health, readiness and metrics.
    if settings.has_role("api"):
        for module in (auth, api_keys, pods, inboxes, lists, sending, messages, threads, drafts, links, webhooks,
                       inbox_events, metrics, domains, websocket):
            app.include_router(module.router, responses=ERROR_RESPONSES)
        console.mount(app)
        mcp_endpoint.mount(app)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    # FastAPI documents its own 422 body for every route; ours are converted to 400 ValidationError.
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path in schema.get("paths", {}).values():
        for op in path.values():
            resp = op.get("responses", {}).get("422")
            if resp:
                resp["content"] = {"application/json": {"schema": ref}}
    app.openapi_schema = schema
    return schema
