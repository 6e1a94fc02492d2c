"""The server's own MCP endpoint, `/mcp`, driven by the `mcp` SDK's streamable HTTP client.

The client is configured as AgentMail's official relay (`agentmail-mcp` 1.0.0) configures itself for
the hosted server: an httpx client sending `x-api-key`, redirects not followed. The relay itself
cannot be pointed here: its endpoint is the constant https://mcp.agentmail.to/mcp, with no option,
environment variable or argument to change it. So MCP hosts use the URL directly, as tested here.

Every result is compared with what the REST API answers for the same thing (raw HTTP, checked strictly
against the wire models), and the tools must be exactly the official agentmail-toolkit's (names,
descriptions, input schemas), which AgentMail's hosted MCP server is built from.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from agentmail_server.schemas.messages import ListThreadsResponse, Thread, UpdateMessageResponse
from agentmail_server.schemas.resources import CreateApiKeyResponse, Inbox, ListInboxesResponse, Pod
from agentmail_server.schemas.sending import SendMessageResponse

from .conftest import _in_ci, make_http
from .wire import check, error, ok

try:
    from agentmail_toolkit.tools import tools as TOOLKIT_TOOLS
except ImportError:
    if _in_ci():  # under CI it must be there (scripts/bootstrap installs it)
        raise
    TOOLKIT_TOOLS = None

DOMAIN = "agentmail.localhost"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def mcp(server: Any, api_key: str | None = None, *, bearer: bool = False) -> AsyncIterator[ClientSession]:
    key = api_key or server.api_key
    headers = {"Authorization": f"Bearer {key}"} if bearer else {"x-api-key": key}
    async with httpx.AsyncClient(headers=headers, follow_redirects=False, timeout=30) as client, \
            streamable_http_client(f"{server.base_url}/mcp", http_client=client) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A successful call's JSON: one text block, the same object as its structured content."""
    result = await session.call_tool(tool, arguments)
    assert not result.isError, result.content
    (content,) = result.content
    body = json.loads(content.text)
    assert result.structuredContent == body
    return body  # type: ignore[no-any-return]


async def fails(session: ClientSession, tool: str, status: int, **arguments: Any) -> str:
    """A call answered with a tool error (never a protocol error): its text, ending in the HTTP status."""
    result = await session.call_tool(tool, arguments)
    assert result.isError, result.content
    (content,) = result.content
    assert content.text.endswith(f"(HTTP {status})"), content.text
    return content.text


async def eventually(probe: Any, what: str) -> Any:
    try:
        async with asyncio.timeout(20):
            while True:
                found = await probe()
                if found:
                    return found
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def _pdf(text: str) -> bytes | None:
    try:
        import pymupdf
    except ImportError:
        return None
    with pymupdf.open() as document:
        document.new_page().insert_text((72, 72), text)
        return document.tobytes()  # type: ignore[no-any-return]


# --- the tool list ---------------------------------------------------------------------------


async def test_tools_are_the_toolkits(server):
    async with mcp(server) as session:
        tools = (await session.list_tools()).tools
    names = [tool.name for tool in tools]
    assert {"list_inboxes", "get_inbox", "create_inbox", "delete_inbox", "list_threads", "get_thread",
            "get_attachment", "send_message", "reply_to_message", "forward_message", "update_message"} <= set(names)
    if TOOLKIT_TOOLS is None:
        if _in_ci():
            pytest.fail("agentmail-toolkit must be installed under CI (scripts/bootstrap installs it)")
        pytest.skip("agentmail-toolkit not installed: names checked, schemas not compared")
    assert names == [tool.name for tool in TOOLKIT_TOOLS]
    for ours, theirs in zip(tools, TOOLKIT_TOOLS, strict=True):
        assert ours.description == theirs.description, ours.name
        assert ours.inputSchema == theirs.params_schema.model_json_schema(), ours.name
    hints = {tool.name: tool.annotations for tool in tools}
    assert hints["list_threads"].readOnlyHint and not hints["send_message"].readOnlyHint
    assert hints["delete_inbox"].destructiveHint


# --- inboxes, sending, threads, labels, attachments ------------------------------------------


async def test_inboxes_send_threads_and_labels_match_the_rest_api(server, http):
    sender_name, recipient_name = _name("mcp-from"), _name("mcp-to")
    subject = f"over MCP {uuid.uuid4().hex[:8]}"
    pdf = _pdf("Quarterly numbers inside")
    attachment = pdf if pdf is not None else b"plain attachment\n"
    filename = "report.pdf" if pdf is not None else "notes.txt"

    async with mcp(server) as session:
        created = await call(session, "create_inbox", username=sender_name, display_name="MCP Agent")
        assert check(Inbox, created).inbox_id == f"{sender_name}@{DOMAIN}"
        sender = created["inbox_id"]
        assert http.get(f"/v0/inboxes/{sender}").json() == created
        recipient = (await call(session, "create_inbox", username=recipient_name))["inbox_id"]
        assert await call(session, "get_inbox", inbox_id=recipient) == http.get(f"/v0/inboxes/{recipient}").json()

        listed = check(ListInboxesResponse, await call(session, "list_inboxes", limit=2))
        assert [i.inbox_id for i in listed.inboxes] == [recipient, sender]
        assert listed.model_dump(mode="json", exclude_none=True) == http.get(
            "/v0/inboxes", params={"limit": 2}).json()
        assert (await call(session, "list_inboxes"))["limit"] == 10  # the toolkit's default page size

        sent = check(SendMessageResponse, await call(
            session, "send_message", inbox_id=sender, to=[f"Recipient <{recipient}>"], subject=subject,
            text="Hello over MCP", labels=["outreach"],
            attachments=[{"filename": filename, "content": base64.b64encode(attachment).decode()}]))
        stored = http.get(f"/v0/inboxes/{sender}/messages/{sent.message_id}").json()
        assert stored["subject"] == subject and stored["thread_id"] == sent.thread_id
        assert {"sent", "outreach"} <= set(stored["labels"])

        async def arrived() -> dict[str, Any] | None:
            page = await call(session, "list_threads", inbox_id=recipient)
            return page if page["count"] else None

        page = check(ListThreadsResponse, await eventually(arrived, "the thread in the recipient's inbox"))
        (item,) = page.threads
        assert item.subject == subject
        assert page.model_dump(mode="json", exclude_none=True) == http.get(
            f"/v0/inboxes/{recipient}/threads", params={"limit": 10}).json()
        # A thread nobody answered yet is listed on the sending side only under the sent label.
        assert (await call(session, "list_threads", inbox_id=sender))["count"] == 0
        outbound = await call(session, "list_threads", inbox_id=sender, labels=["sent"])
        assert [t["thread_id"] for t in outbound["threads"]] == [sent.thread_id]
        assert (await call(session, "list_threads", inbox_id=recipient, after="2999-01-01T00:00:00Z"))["count"] == 0

        thread = await call(session, "get_thread", inbox_id=recipient, thread_id=item.thread_id)
        assert check(Thread, thread).messages[0].text.strip() == "Hello over MCP"
        assert thread == http.get(f"/v0/inboxes/{recipient}/threads/{item.thread_id}").json()
        (received,) = thread["messages"]
        (attached,) = received["attachments"]

        got = await call(session, "get_attachment", inbox_id=recipient, thread_id=item.thread_id,
                         attachment_id=attached["attachment_id"])
        rest = http.get(f"/v0/inboxes/{recipient}/threads/{item.thread_id}/attachments/"
                        f"{attached['attachment_id']}").json()
        assert {k: v for k, v in got.items() if k not in ("download_url", "expires_at", "text")} == \
               {k: v for k, v in rest.items() if k not in ("download_url", "expires_at")}
        assert got["download_url"].startswith(f"{server.base_url}/v0/_blobs/")
        with make_http(server, "") as keyless:  # a signed link: no API key needed
            assert keyless.get(got["download_url"]).content == attachment
        if pdf is not None:  # extracted text, as the hosted tool gives for PDF and DOCX files
            assert "Quarterly numbers inside" in got["text"]
        else:
            assert "text" not in got

        updated = check(UpdateMessageResponse, await call(
            session, "update_message", inbox_id=recipient, message_id=received["message_id"],
            remove_labels=["unread"], add_labels=["seen-by-agent"]))
        assert "unread" not in updated.labels and "seen-by-agent" in updated.labels
        assert http.get(f"/v0/inboxes/{recipient}/messages/{received['message_id']}").json()["labels"] == \
               updated.labels

        reply = await call(session, "reply_to_message", inbox_id=recipient, message_id=received["message_id"],
                           text="Got it")
        assert reply["thread_id"] == item.thread_id
        forwarded = await call(session, "forward_message", inbox_id=recipient, message_id=received["message_id"],
                               to=[sender], text="FYI")
        fwd = http.get(f"/v0/inboxes/{recipient}/messages/{forwarded['message_id']}").json()
        assert fwd["subject"] == f"Fwd: {subject}" and fwd["to"] == [sender] and len(fwd["attachments"]) == 1

        async def reply_arrived() -> bool:
            got = await call(session, "get_thread", inbox_id=sender, thread_id=sent.thread_id)
            return any(m["text"].startswith("Got it") for m in got["messages"] if "received" in m["labels"])

        await eventually(reply_arrived, "the reply back in the sender's thread")

        gone = _name("mcp-gone")
        await call(session, "create_inbox", username=gone)
        result = await session.call_tool("delete_inbox", {"inbox_id": f"{gone}@{DOMAIN}"})
        assert not result.isError and f"{gone}@{DOMAIN}" in result.content[0].text
        await fails(session, "get_inbox", 404, inbox_id=f"{gone}@{DOMAIN}")


# --- authentication --------------------------------------------------------------------------

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def test_requests_without_a_valid_key_get_401(server):
    url = f"{server.base_url}/mcp"
    cases = [
        ({}, "missing_authorization"),
        ({"x-api-key": "am_us_" + "0" * 64}, "unknown_api_key"),
        ({"Authorization": "Bearer am_us_" + "0" * 64}, "unknown_api_key"),
        ({"Authorization": f"Basic {server.api_key}"}, "invalid_token_type"),
    ]
    with httpx.Client(timeout=30) as client:
        for headers, code in cases:
            for method in ("POST", "GET", "DELETE"):
                response = client.request(method, url, headers={**ACCEPT, **headers},
                                          json=INITIALIZE if method == "POST" else None)
                assert response.headers["content-type"].startswith("application/json")
                error(response, 401, code)


async def test_either_header_authenticates_and_nothing_is_streamed(server):
    with make_http(server, "") as client:
        for path in ("/mcp", "/mcp/"):
            for headers in ({"x-api-key": server.api_key}, {"Authorization": f"Bearer {server.api_key}"}):
                response = client.post(path, headers={**ACCEPT, **headers}, json=INITIALIZE)
                assert response.status_code == 200, response.text
                assert response.json()["result"]["serverInfo"]["name"] == "agentmail-server"
                assert "mcp-session-id" not in response.headers  # stateless: any API process can answer
                # No server-initiated messages, so no stream to open and no session to end.
                for method in ("GET", "DELETE"):
                    refused = client.request(method, path, headers={**ACCEPT, **headers})
                    assert error(refused, 405, "method_not_allowed") and refused.headers["allow"] == "POST"
    async with mcp(server, bearer=True) as session:
        listed = await call(session, "list_inboxes", limit=1)
        assert listed == make_http(server).get("/v0/inboxes", params={"limit": 1}).json()


# --- scopes and permissions ------------------------------------------------------------------


async def test_scoped_keys_see_only_their_scope(server, http):
    pod = ok(Pod, http.post("/v0/pods", json={"name": _name("mcp-pod")}))
    inside = ok(Inbox, http.post(f"/v0/pods/{pod.pod_id}/inboxes", json={"username": _name("mcp-in")})).inbox_id
    outside = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-out")})).inbox_id
    pod_key = ok(CreateApiKeyResponse, http.post(f"/v0/pods/{pod.pod_id}/api-keys", json={"name": "pod"})).api_key
    inbox_key = ok(CreateApiKeyResponse, http.post(f"/v0/inboxes/{inside}/api-keys", json={"name": "in"})).api_key
    read_only = ok(CreateApiKeyResponse, http.post("/v0/api-keys", json={
        "name": "read only", "permissions": {"inbox_read": True, "message_read": True}})).api_key

    async with mcp(server, pod_key) as session:
        listed = await call(session, "list_inboxes", limit=100)
        assert [i["inbox_id"] for i in listed["inboxes"]] == [inside]
        with make_http(server, pod_key) as rest:
            assert listed == rest.get("/v0/inboxes", params={"limit": 100}).json()
        await fails(session, "get_inbox", 404, inbox_id=outside)
        await fails(session, "list_threads", 404, inbox_id=outside)
        await fails(session, "send_message", 404, inbox_id=outside, to=[inside], text="x")
        created = await call(session, "create_inbox", username=_name("mcp-pod-new"))
        assert created["pod_id"] == pod.pod_id

    async with mcp(server, inbox_key) as session:
        assert [i["inbox_id"] for i in (await call(session, "list_inboxes"))["inboxes"]] == [inside]
        assert (await call(session, "list_threads", inbox_id=inside))["count"] == 0
        await fails(session, "get_inbox", 404, inbox_id=outside)
        await fails(session, "get_inbox", 404, inbox_id=created["inbox_id"])
        await fails(session, "create_inbox", 403, username=_name("mcp-denied"))
        await fails(session, "delete_inbox", 404, inbox_id=outside)

    async with mcp(server, read_only) as session:
        assert outside in {i["inbox_id"] for i in (await call(session, "list_inboxes", limit=100))["inboxes"]}
        text = await fails(session, "send_message", 403, inbox_id=outside, to=[inside], text="x")
        assert "message_send" in text
        await fails(session, "create_inbox", 403)
    assert http.get(f"/v0/inboxes/{outside}/messages").json()["count"] == 0


# --- bad arguments ---------------------------------------------------------------------------


async def test_bad_arguments_are_tool_errors(server, http):
    inbox = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-bad")})).inbox_id
    async with mcp(server) as session:
        assert "inbox_id: Field required" in await fails(session, "get_inbox", 400)
        assert "limit" in await fails(session, "list_inboxes", 400, limit="many")
        assert "limit" in await fails(session, "list_inboxes", 400, limit=0)
        assert "limit" in await fails(session, "list_inboxes", 400, limit=10**9)
        assert "subjet: Unknown argument" in await fails(
            session, "send_message", 400, inbox_id=inbox, to=[inbox], subjet="typo")
        assert "to" in await fails(session, "send_message", 400, inbox_id=inbox, to="not-a-list")
        await fails(session, "send_message", 400, inbox_id=inbox, to=["not an address"], text="x")
        await fails(session, "send_message", 400, inbox_id=inbox, to=[inbox], subject="a\x00b")
        await fails(session, "send_message", 400, inbox_id=inbox, to=[inbox],
                    attachments=[{"filename": "a.txt", "content": "aGk=", "url": "https://example.com/a"}])
        await fails(session, "send_message", 400, inbox_id=inbox, to=[inbox],
                    attachments=[{"filename": "a.txt", "content": "not base64!"}])
        await fails(session, "send_message", 400, inbox_id=inbox, to=[])
        assert "thread_id" in await fails(session, "get_thread", 400, inbox_id=inbox, thread_id="nope")
        await fails(session, "get_thread", 404, inbox_id=inbox, thread_id=str(uuid.uuid4()))
        await fails(session, "list_threads", 400, inbox_id=inbox, before="yesterday")
        await fails(session, "update_message", 400, inbox_id=inbox, message_id="<x@y>")
        await fails(session, "update_message", 400, inbox_id=inbox, message_id="<x@y>", add_labels=["sent"])
        await fails(session, "update_message", 404, inbox_id=inbox, message_id="<x@y>", add_labels=["ok"])
        await fails(session, "reply_to_message", 404, inbox_id=inbox, message_id="<x@y>", text="x")
        await fails(session, "create_inbox", 400, username="not valid!")
        await fails(session, "create_inbox", 404, username=None, domain="unknown.example")
        assert "Unknown tool" in await fails(session, "no_such_tool", 404)
        assert "not part of this self-hosted server" in await fails(
            session, "agent_verify", 404, otp_code="123456")
        # Still serving, and nothing was sent by any of the above.
        assert (await call(session, "get_inbox", inbox_id=inbox))["inbox_id"] == inbox
    assert http.get(f"/v0/inboxes/{inbox}/messages").json()["count"] == 0
