"""AgentMail's official MCP relay, `agentmail-mcp` 1.0.0 from PyPI, unmodified, against `/mcp`.

The relay is the stdio MCP server that MCP hosts launch (`uvx agentmail-mcp`); it forwards every tool
listing and call to https://mcp.agentmail.to/mcp, a constant it offers no option to change. It is run
here exactly as a user runs it, with its standard network environment (`HTTPS_PROXY`,
`SSL_CERT_FILE`) leading to a fake of the outside world (tests/hosted_route.py) that delivers its
HTTPS requests for mcp.agentmail.to to this server. An MCP client then lists inboxes and sends a
message through the relay's stdio, and the results are checked against the REST API.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from .conftest import _in_ci
from .hosted_route import HostedRoute
from .test_mcp_http import call, hosted
from .test_mcp_http import mcp as direct_mcp

HOSTED_MCP = "mcp.agentmail.to"
RELAY = Path(sys.executable).with_name("agentmail-mcp")


@pytest.fixture
def route(server: Any) -> Iterator[HostedRoute]:
    if not RELAY.exists():
        if _in_ci():  # under CI it must be there (a test dependency in pyproject.toml)
            pytest.fail("agentmail-mcp is not installed")
        pytest.skip("agentmail-mcp not installed (pip install -e '.[test]')")
    proxy = HostedRoute([HOSTED_MCP], server.base_url.removeprefix("http://"))
    try:
        yield proxy
    finally:
        proxy.stop()
        shutil.rmtree(proxy.directory, ignore_errors=True)


def relay_environment(route: HostedRoute, api_key: str) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items()
            if name.upper() not in {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_DIR"}}
    return {**keep, "AGENTMAIL_API_KEY": api_key, "HTTPS_PROXY": route.url, "SSL_CERT_FILE": str(route.ca_file)}


@asynccontextmanager
async def relay(route: HostedRoute, api_key: str, *args: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=str(RELAY), args=list(args), env=relay_environment(route, api_key))
    with open(os.devnull, "w") as quiet:  # noqa: ASYNC230 - opening /dev/null never blocks
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def test_the_official_relay_lists_inboxes_and_sends_through_this_server(server, http, route):
    name = f"relay-{uuid.uuid4().hex[:10]}"
    sender = http.post("/v0/inboxes", json={"username": name}).json()["inbox_id"]
    recipient = http.post("/v0/inboxes", json={"username": name + "-to"}).json()["inbox_id"]
    subject = f"through the official relay {uuid.uuid4().hex[:8]}"

    async with relay(route, server.api_key) as session:
        tools = (await session.list_tools()).tools
        async with direct_mcp(server) as direct:
            assert tools == (await direct.list_tools()).tools  # discovered from /mcp, passed on as they are

        listed = await call(session, "list_inboxes", limit=50)
        assert {sender, recipient} <= {inbox["inboxId"] for inbox in listed["inboxes"]}
        assert listed == hosted("list_inboxes", http.get("/v0/inboxes", params={"limit": 50}).json())

        sent = await call(session, "send_message", inboxId=sender, to=[recipient], subject=subject,
                          text="Sent by an agent through the relay")
        stored = http.get(f"/v0/inboxes/{sender}/messages/{sent['messageId']}").json()
        assert stored["subject"] == subject and "sent" in stored["labels"]

        failed = await session.call_tool("get_inbox", {"inboxId": f"missing-{name}@nowhere.test"})
        assert failed.isError and failed.content[0].text.endswith("(HTTP 404)")  # errors pass through too
    assert route.tunnels >= 1 and route.refused == []


async def test_the_relays_tool_filter_and_a_bad_key(server, route):
    async with relay(route, server.api_key, "--tools", "list_inboxes,send_message") as session:
        assert [tool.name for tool in (await session.list_tools()).tools] == ["list_inboxes", "send_message"]
    # A wrong key: the relay cannot start its upstream session (our 401), exits, and the host sees it fail.
    with pytest.raises(Exception):  # noqa: B017 - how the stdio client reports the closed pipe varies
        async with relay(route, "am_not_a_key") as session:
            await session.list_tools()
