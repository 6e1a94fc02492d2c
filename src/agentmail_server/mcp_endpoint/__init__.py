"""`/mcp`: AgentMail's MCP server, self-hosted (MCP's streamable HTTP transport).

It serves the tools of AgentMail's hosted MCP server (https://mcp.agentmail.to/mcp), with the same
names, camelCase arguments, annotations and output schemas, each answering structuredContent plus
the same object as JSON text (tools.py, params.py, outputs.py, convert.py). So an MCP host set up
for the hosted server works here by changing only the URL, and the official `agentmail-mcp` relay
works when its HTTPS traffic for mcp.agentmail.to is routed here (tests/test_mcp_bridge.py).

Served: the inbox, thread, message, sending, draft and block-list tools, and agent_verify (which
always answers that verification does not apply: this server has no unverified organizations).
Left out: the hosted server's provider marketplace and account tools (list_providers,
search_providers, get_provider, list_accounts, connect_provider, get_provider_connection), since
this server has no providers or accounts, and its OAuth-only organization tools
(list_organizations, select_organization), since it has no OAuth sign-in: a key always belongs to
one organization.

* Authentication: every request carries an API key, checked as the REST API checks it, and tools
  act with that key's scope and permissions. As on the hosted server it may come as an `apiKey`
  query parameter (for hosts that take only a URL), an `x-api-key` header (what the relay sends)
  or `Authorization: Bearer <key>`, first found wins. A missing or unknown key is a 401 in
  AgentMail's error shape. Our access log records the path without the query string, so a key in
  the URL is not logged here; a proxy in front may log full URLs, so headers are the better choice.
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
from starlette.datastructures import Headers, QueryParams
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
API_KEY_PARAMETER = "apiKey"


def given_key(query: QueryParams, headers: Headers) -> str:
    """The caller's key, looked for where the hosted server looks: query, `x-api-key`, then Bearer."""
    key = (query.get(API_KEY_PARAMETER) or "").strip() or headers.get(API_KEY_HEADER, "").strip()
    if key:
        return key
    authorization = headers.get("authorization")
    if authorization is None:
        raise Unauthorized("Missing API key", code="missing_authorization",
                           fix="Send x-api-key: <api key> or Authorization: Bearer <api key>")
    return bearer_token(authorization)


async def authenticate(db: Database, scope: Scope) -> Principal:
    query = QueryParams(scope.get("query_string", b""))
    return await api_keys.authenticate(db, given_key(query, Headers(scope=scope)))


class McpEndpoint:
    """The ASGI app at /mcp: authenticate, then hand the request to the MCP transport."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["app"]
        try:
            principal = await authenticate(app.state.db, scope)
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
