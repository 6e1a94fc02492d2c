"""An MCP stdio server exposing the official agentmail-toolkit tools, pointed at a given AgentMail base URL.

    AGENTMAIL_API_KEY=... python -m tests.mcp_toolkit_server http://127.0.0.1:8000

AgentMail's own MCP server (hosted at mcp.agentmail.to) builds its tools from agentmail-toolkit; the
published stdio package (`agentmail-mcp`, PyPI 1.0.0 / npm 1.1.0) is only a bridge to that hosted
endpoint, whose URL is a constant with no override, so it cannot be pointed at another server. This
script is the same arrangement run locally: the toolkit's tool names, descriptions and parameter schemas
served over MCP's stdio transport, each call made with the `agentmail` SDK against `base_url`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import mcp.types as types
from agentmail import AgentMail, AgentMailEnvironment
from agentmail_toolkit import AgentMailToolkit
from agentmail_toolkit.util import api_error_message
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server


def build(base_url: str, api_key: str) -> Server:
    ws = "ws" + base_url.removeprefix("http")
    toolkit = AgentMailToolkit(client=AgentMail(api_key=api_key,
                                                environment=AgentMailEnvironment(http=base_url, websockets=ws)))
    tools = {tool.name: tool for tool in toolkit.get_tools()}
    server: Server = Server("agentmail-toolkit-stdio")

    @server.list_tools()  # type: ignore[misc, no-untyped-call]
    async def list_tools() -> list[types.Tool]:
        return [types.Tool(name=t.name, description=t.description, inputSchema=t.params_schema.model_json_schema())
                for t in tools.values()]

    @server.call_tool()  # type: ignore[misc]
    async def call_tool(name: str, arguments: dict[str, Any]) -> list[types.TextContent]:
        tool = tools[name]
        try:
            result = await asyncio.to_thread(tool.func, **arguments)
        except Exception as exc:  # reported to the MCP client as a tool error, as the toolkit's adapters do
            raise RuntimeError(api_error_message(exc)) from exc
        text = "OK" if result is None else result.model_dump_json()
        return [types.TextContent(type="text", text=text)]

    return server


async def main(base_url: str) -> None:
    server = build(base_url, os.environ["AGENTMAIL_API_KEY"])
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
