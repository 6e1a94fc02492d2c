"""`/mcp`: AgentMail's MCP server, self-hosted (MCP's streamable HTTP transport).

The same tools as AgentMail's hosted MCP server (https://mcp.agentmail.to/mcp), so an MCP client
configured with a URL and an API key works against this server by changing only the URL. The
official `agentmail-mcp` package is a stdio relay to that hosted URL (a constant), so it cannot be
pointed here; MCP hosts that speak streamable HTTP (Claude Desktop, Cursor, the `mcp` SDK) connect
directly instead.

* Authentication: every request carries an API key, as `x-api-key: <key>` (what AgentMail's relay
  sends) or `Authorization: Bearer <key>`, checked as the REST API checks it; a missing or unknown
  key is a 401 in AgentMail's error shape. Tools act with that key's scope and permissions.
* Stateless: each POST is answered on its own (JSON, no session id), so any API process behind a
  load balancer can answer any request. There is nothing to stream, so GET and DELETE answer 405,
  as the transport's specification allows.
* The streamable HTTP session manager runs for the application's lifetime: `running(app)` is
  entered in app.py's lifespan.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from ..api.deps import bearer_token
from ..api.errors import error_body, error_response
from ..db.engine import Database
from ..services import api_keys
from ..services.errors import ServiceError, Unauthorized
from ..services.principal import Principal
from .server import build

PATH = "/mcp"
API_KEY_HEADER = "x-api-key"


async def authenticate(db: Database, headers: Headers) -> Principal:
    """The caller's key: `x-api-key` when present, else `Authorization: Bearer`."""
    key = headers.get(API_KEY_HEADER, "").strip()
    if not key:
        authorization = headers.get("authorization")
        if authorization is None:
            raise Unauthorized("Missing API key", code="missing_authorization",
                               fix="Send x-api-key: <api key> or Authorization: Bearer <api key>")
        key = bearer_token(authorization)
    return await api_keys.authenticate(db, key)


class McpEndpoint:
    """The ASGI app at /mcp: authenticate, then hand the request to the MCP transport."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["app"]
        try:
            principal = await authenticate(app.state.db, Headers(scope=scope))
        except ServiceError as exc:
            await error_response(exc)(scope, receive, send)
            return
        if scope["method"] != "POST":
            body = error_body("MethodNotAllowedError", "method_not_allowed", f"Method {scope['method']} not allowed")
            await JSONResponse(body, status_code=405, headers={"Allow": "POST"})(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        manager: StreamableHTTPSessionManager = app.state.mcp_sessions
        await manager.handle_request(scope, receive, send)


def mount(app: FastAPI) -> None:
    """Serve MCP at /mcp, and /mcp/ (the session manager itself starts with `running`)."""
    app.state.mcp_server = build()
    endpoint = McpEndpoint()
    for path in (PATH, PATH + "/"):
        app.add_route(path, endpoint, include_in_schema=False)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """Run /mcp's session manager while the application runs; nothing when /mcp is not mounted."""
    server = getattr(app.state, "mcp_server", None)
    if server is None:
        yield
        return
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # The SDK logs each request at INFO (twice, in stateless mode); the access log has them already.
        logging.getLogger("mcp.server").setLevel(logging.WARNING)
    # A manager runs once: each start of the application gets its own.
    manager = StreamableHTTPSessionManager(server, stateless=True, json_response=True)
    async with manager.run():
        app.state.mcp_sessions = manager
        try:
            yield
        finally:
            del app.state.mcp_sessions
