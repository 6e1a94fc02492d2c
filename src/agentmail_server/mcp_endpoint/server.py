"""The MCP server behind `/mcp`: tool listing and tool calls, with errors as MCP tool errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import mcp.types as types
from mcp.server.lowlevel import Server
from pydantic import ValidationError
from starlette.requests import Request

from .. import __version__
from ..api.errors import error_response, validation_body
from ..services.errors import ServiceError
from .tools import BY_NAME, TOOLS, Call, InvalidArguments

log = logging.getLogger("agentmail_server.mcp")

SERVER_NAME = "agentmail-server"
# Cap on an error's text, as AgentMail's toolkit does: a long validation list must not flood the model.
MAX_ERROR_LENGTH = 500


def tool_definitions() -> list[types.Tool]:
    return [
        types.Tool(
            name=tool.name,
            description=tool.description,
            inputSchema=tool.params.model_json_schema(),
            annotations=types.ToolAnnotations(
                readOnlyHint=tool.read_only, destructiveHint=tool.destructive,
                idempotentHint=tool.read_only or tool.idempotent, openWorldHint=tool.open_world,
            ),
        )
        for tool in TOOLS
    ]


def error_text(status: int, body: dict[str, Any]) -> str:
    """An AgentMail error body as one line: what failed (each invalid field), the fix, the HTTP status."""
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        detail = "; ".join(
            f"{'.'.join(str(part) for part in e['path'])}: {e['message']}" if e.get("path") else str(e["message"])
            for e in errors
        )
    else:
        detail = str(body.get("message") or body.get("name") or "Error")
    if body.get("fix"):
        detail = f"{detail} — {body['fix']}"
    if len(detail) > MAX_ERROR_LENGTH:
        detail = detail[:MAX_ERROR_LENGTH] + "…"
    return f"{detail} (HTTP {status})"


def _failure(status: int, body: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=error_text(status, body))],
                                isError=True)


def _service_failure(exc: ServiceError) -> types.CallToolResult:
    response = error_response(exc)  # the REST API's own mapping: same status, same body
    return _failure(response.status_code, json.loads(bytes(response.body)))


def _invalid_arguments(exc: ValidationError) -> types.CallToolResult:
    errors = [{"code": e["type"], "path": [*e["loc"], *((e.get("ctx") or {}).get("path") or [])],
               "message": e["msg"]} for e in exc.errors(include_url=False)]
    return _failure(400, validation_body(errors, "Invalid tool arguments"))


def _unknown_arguments(names: list[str]) -> types.CallToolResult:
    errors = [{"code": "unknown_argument", "path": [name], "message": "Unknown argument"} for name in names]
    return _failure(400, validation_body(errors, "Invalid tool arguments"))


async def call_tool(request: Request, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    tool = BY_NAME.get(name)
    if tool is None:
        return _failure(404, {"message": f"Unknown tool: {name}"})
    unknown = sorted(set(arguments) - set(tool.params.model_fields))
    if unknown:
        # The schemas do not forbid extra properties, but a misspelt argument must not be dropped silently.
        return _unknown_arguments(unknown)
    try:
        args = tool.params.model_validate(arguments)
    except ValidationError as exc:
        return _invalid_arguments(exc)
    try:
        result = await tool.run(Call(request=request, principal=request.state.principal), args)
    except InvalidArguments as exc:
        return _invalid_arguments(exc.error)
    except ServiceError as exc:
        return _service_failure(exc)
    except Exception:
        log.exception("MCP tool %s failed", name)
        return _failure(500, {"message": "Internal server error"})
    if isinstance(result, str):
        return types.CallToolResult(content=[types.TextContent(type="text", text=result)])
    text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structuredContent=result)


def build() -> Server[Any, Request]:
    server: Server[Any, Request] = Server(SERVER_NAME, __version__)
    definitions = tool_definitions()

    @server.list_tools()  # type: ignore[misc, no-untyped-call]
    async def _list_tools() -> list[types.Tool]:
        return definitions

    # Arguments are validated by call_tool itself, with AgentMail's error messages.
    @server.call_tool(validate_input=False)  # type: ignore[misc]
    async def _call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        request = server.request_context.request
        assert request is not None  # always set by the streamable HTTP transport
        return await call_tool(request, name, arguments)

    return server
