"""An MCP client drives AgentMail's tool set over MCP's stdio transport against this server.

The MCP server process is tests/mcp_toolkit_server.py: the official agentmail-toolkit tools (the ones
AgentMail's hosted MCP server is built from) behind the `mcp` SDK's stdio server. The official
`agentmail-mcp` package cannot be used here: it is a bridge to https://mcp.agentmail.to/mcp with no
way to change that URL (see the module docstring there). The client is the `mcp` SDK's own
ClientSession, speaking JSON-RPC over the child process's stdin/stdout as any MCP host does.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import _in_ci
from .mail_helpers import wait_for

try:
    import agentmail_toolkit  # noqa: F401
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
except ImportError:
    if _in_ci():  # under CI both must be there (scripts/bootstrap installs them)
        raise
    pytest.skip("mcp / agentmail-toolkit not installed: run scripts/bootstrap", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent


def _params(server: Any, api_key: str | None = None) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAIL_")}
    env["AGENTMAIL_API_KEY"] = api_key or server.api_key
    return StdioServerParameters(command=sys.executable, args=["-m", "tests.mcp_toolkit_server", server.base_url],
                                 env=env, cwd=str(ROOT))


def _json(result: Any) -> dict[str, Any]:
    assert not result.isError, result.content
    (content,) = result.content
    return json.loads(content.text)  # type: ignore[no-any-return]


async def test_mcp_client_lists_tools_lists_inboxes_and_sends(server, http):
    sender = http.post("/v0/inboxes", json={"username": f"mcp-from-{uuid.uuid4().hex[:8]}"}).json()["inbox_id"]
    recipient = http.post("/v0/inboxes", json={"username": f"mcp-to-{uuid.uuid4().hex[:8]}"}).json()["inbox_id"]
    subject = f"sent over MCP {uuid.uuid4().hex[:8]}"

    async with stdio_client(_params(server)) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.serverInfo.name == "agentmail-toolkit-stdio"

        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"list_inboxes", "send_message", "list_threads", "get_thread", "reply_to_message"} <= set(tools)
        assert "inbox_id" in tools["send_message"].inputSchema["required"]

        listed = _json(await session.call_tool("list_inboxes", {"limit": 100}))
        assert {sender, recipient} <= {inbox["inbox_id"] for inbox in listed["inboxes"]}

        sent = _json(await session.call_tool("send_message", {
            "inbox_id": sender, "to": [recipient], "subject": subject, "text": "Hello over MCP"}))
        assert sent["message_id"] and sent["thread_id"]

        # A call the server refuses comes back as a tool error carrying the API's message and status.
        refused = await session.call_tool("get_inbox", {"inbox_id": f"nobody-{uuid.uuid4().hex[:6]}@agentmail.localhost"})
        assert refused.isError and "(HTTP 404)" in refused.content[0].text

    # Checked on the server itself, with raw HTTP: the message exists, sent, and reached the recipient.
    stored = http.get(f"/v0/inboxes/{sender}/messages/{sent['message_id']}")
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert body["subject"] == subject and "sent" in body["labels"] and body["to"] == [recipient]

    def delivered() -> list[dict[str, Any]]:
        messages = http.get(f"/v0/inboxes/{recipient}/messages").json()["messages"]
        return [m for m in messages if m["subject"] == subject]

    (received,) = wait_for(delivered, what="the MCP-sent message in the recipient's inbox")
    assert "received" in received["labels"]


async def test_bad_api_key_is_a_tool_error(server):
    async with stdio_client(_params(server, api_key="am_us_" + "0" * 64)) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("list_inboxes", {})
        assert result.isError and "(HTTP 401)" in result.content[0].text, result.content
