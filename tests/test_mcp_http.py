"""The server's own MCP endpoint, `/mcp`, driven by the `mcp` SDK's streamable HTTP client.

The client is configured as AgentMail's official relay (`agentmail-mcp`) configures itself for the
hosted server: an httpx client sending `x-api-key`, redirects not followed.

The tools must be those of AgentMail's hosted MCP server: names in its order, titles, annotations,
camelCase inputs with its constraints, and output schemas. Every result is checked against the
tool's declared output schema (jsonschema) and compared with what the REST API answers for the same
resource, renamed to camelCase and trimmed to the declared fields by this file's own code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jsonschema
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from agentmail_server.schemas.resources import CreateApiKeyResponse, Inbox, Pod
from agentmail_server.telemetry.middleware import RequestTelemetry

from .conftest import make_http
from .wire import error, ok

DOMAIN = "agentmail.localhost"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"

TOOLS = [
    "list_inboxes", "search_inboxes", "get_inbox", "create_inbox", "update_inbox", "delete_inbox",
    "list_threads", "search_threads", "get_thread", "get_attachment", "update_thread", "delete_thread",
    "list_messages", "search_messages", "send_message", "reply_to_message", "forward_message", "update_message",
    "get_message", "create_draft", "list_drafts", "get_draft", "update_draft", "send_draft", "delete_draft",
    "unblock_recipient", "agent_verify",
]
# (readOnly, destructive, idempotent, openWorld), as the hosted server annotates each tool.
R, RX, C, W, S = (True, False, True, False), (True, False, True, True), (False, False, False, False), \
    (False, True, True, False), (False, True, False, True)
HINTS = {
    "list_inboxes": R, "search_inboxes": R, "get_inbox": R, "create_inbox": C, "update_inbox": W,
    "delete_inbox": W, "list_threads": RX, "search_threads": RX, "get_thread": RX, "get_attachment": RX,
    "update_thread": W, "delete_thread": (False, True, False, False), "list_messages": RX, "search_messages": RX,
    "send_message": S, "reply_to_message": S, "forward_message": S, "update_message": W, "get_message": RX,
    "create_draft": C, "list_drafts": R, "get_draft": R, "update_draft": W, "send_draft": S, "delete_draft": W,
    "unblock_recipient": W, "agent_verify": C,
}

# Output schemas as served, filled by the first session: every result is validated against them.
SCHEMAS: dict[str, dict[str, Any]] = {}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def mcp(server: Any, api_key: str | None = None, *, bearer: bool = False,
              in_url: bool = False) -> AsyncIterator[ClientSession]:
    key = api_key or server.api_key
    headers = {} if in_url else {"Authorization": f"Bearer {key}"} if bearer else {"x-api-key": key}
    url = f"{server.base_url}/mcp" + (f"?apiKey={key}" if in_url else "")
    async with httpx.AsyncClient(headers=headers, follow_redirects=False, timeout=30) as client, \
            streamable_http_client(url, http_client=client) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        if not SCHEMAS:
            SCHEMAS.update({tool.name: tool.outputSchema for tool in (await session.list_tools()).tools})
        yield session


def conforms(tool: str, content: Any) -> None:
    validator = jsonschema.Draft7Validator(SCHEMAS[tool], format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(content)]
    assert not errors, (tool, errors)


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A successful call: one text block holding the same object as the structured content, which conforms."""
    result = await session.call_tool(tool, arguments)
    assert not result.isError, result.content
    (content,) = result.content
    body = json.loads(content.text)
    assert result.structuredContent == body
    conforms(tool, body)
    return body  # type: ignore[no-any-return]


async def fails(session: ClientSession, tool: str, status: int, **arguments: Any) -> str:
    """A call answered with a tool error (never a protocol error): its text, ending in the HTTP status."""
    result = await session.call_tool(tool, arguments)
    assert result.isError, result.content
    assert result.structuredContent is None
    (content,) = result.content
    assert content.text.endswith(f"(HTTP {status})"), content.text
    return content.text


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camelized(value: Any) -> Any:
    if isinstance(value, list):
        return [camelized(item) for item in value]
    if isinstance(value, dict):
        # metadata's keys are the caller's own, never renamed
        return {_camel(k): v if k == "metadata" else camelized(v) for k, v in value.items()}
    return value


def trimmed(value: Any, schema: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [trimmed(item, schema.get("items", {})) for item in value]
    if isinstance(value, dict) and "properties" in schema:
        return {k: trimmed(v, schema["properties"][k]) for k, v in value.items() if k in schema["properties"]}
    return value


def hosted(tool: str, rest_body: dict[str, Any]) -> dict[str, Any]:
    """What `tool` must answer, given the REST API's JSON for the same thing."""
    return trimmed(camelized(rest_body), SCHEMAS[tool])  # type: ignore[no-any-return]


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


def _objects(schema: Any) -> list[dict[str, Any]]:
    """Every object schema nested in `schema`."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            found.append(schema)
        for value in schema.values():
            found.extend(_objects(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_objects(value))
    return found


# --- the tool list ---------------------------------------------------------------------------


async def test_the_tools_are_the_hosted_servers(server):
    async with mcp(server) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert list(tools) == TOOLS
    for name, tool in tools.items():
        title = " ".join(word.capitalize() for word in name.split("_"))
        assert tool.title == tool.annotations.title == title
        hints = tool.annotations
        assert (hints.readOnlyHint, hints.destructiveHint, hints.idempotentHint, hints.openWorldHint) == HINTS[name]
        assert tool.execution.taskSupport == "forbidden"
        assert tool.inputSchema["type"] == "object" and tool.inputSchema["$schema"] == DRAFT_07, name
        assert all(prop.get("description") for prop in tool.inputSchema["properties"].values()), name
        output = tool.outputSchema
        assert output["type"] == "object" and output["$schema"] == DRAFT_07, name
        assert all(o.get("additionalProperties") is False for o in _objects(output)), name
    inputs = {name: tool.inputSchema for name, tool in tools.items()}
    outputs = {name: tool.outputSchema for name, tool in tools.items()}

    # Inputs: camelCase names, required lists, defaults and constraints.
    assert inputs["list_inboxes"]["properties"]["limit"] == {**inputs["list_inboxes"]["properties"]["limit"],
                                                             "type": "number", "default": 10}
    assert "required" not in inputs["list_inboxes"]
    search = inputs["search_inboxes"]
    assert search["required"] == ["q"]
    assert {k: v for k, v in search["properties"]["q"].items() if k != "description"} == \
           {"type": "string", "minLength": 2, "maxLength": 256}
    assert {k: v for k, v in search["properties"]["limit"].items() if k != "description"} == \
           {"type": "integer", "default": 10, "exclusiveMinimum": 0, "maximum": 100}
    get_thread = inputs["get_thread"]
    assert list(get_thread["properties"]) == ["inboxId", "threadId", "limit", "pageToken"]
    assert get_thread["required"] == ["inboxId", "threadId"]
    assert {k: v for k, v in get_thread["properties"]["limit"].items() if k != "description"} == \
           {"type": "integer", "exclusiveMinimum": 0, "maximum": 100}
    assert list(inputs["list_threads"]["properties"]) == [
        "limit", "pageToken", "inboxId", "labels", "before", "after", "ascending", "senders", "recipients",
        "subject", "includeSpam", "includeTrash"]
    assert list(inputs["list_messages"]["properties"]) == [
        "limit", "pageToken", "inboxId", "labels", "before", "after", "ascending", "from", "to", "subject",
        "includeSpam", "includeTrash"]
    assert list(inputs["send_message"]["properties"]) == [
        "inboxId", "text", "html", "labels", "attachments", "to", "cc", "bcc", "subject", "replyTo"]
    assert inputs["send_message"]["required"] == ["inboxId", "to"]
    assert list(inputs["reply_to_message"]["properties"]) == [
        "inboxId", "text", "html", "labels", "attachments", "messageId", "replyAll", "to", "cc", "bcc", "replyTo"]
    assert inputs["forward_message"]["required"] == ["inboxId", "to", "messageId"]
    assert list(inputs["create_draft"]["properties"]) == [
        "inboxId", "text", "html", "labels", "attachments", "to", "cc", "bcc", "subject", "replyTo", "inReplyTo",
        "sendAt", "clientId"]
    assert inputs["create_draft"]["required"] == ["inboxId"]
    assert list(inputs["update_draft"]["properties"]) == [
        "inboxId", "draftId", "to", "cc", "bcc", "subject", "text", "html", "replyTo", "sendAt"]
    assert list(inputs["update_inbox"]["properties"]) == ["inboxId", "displayName", "metadata"]
    assert [branch["type"] for branch in inputs["update_inbox"]["properties"]["metadata"]["anyOf"]] == \
           ["object", "null"]
    assert list(inputs["create_inbox"]["properties"]) == ["username", "domain", "displayName", "clientId",
                                                          "metadata"]
    assert inputs["unblock_recipient"]["properties"]["entry"]["minLength"] == 1
    assert inputs["agent_verify"]["required"] == ["otpCode"]
    attachment = inputs["send_message"]["properties"]["attachments"]["items"]["anyOf"]
    assert [branch["required"] for branch in attachment] == [["content"], ["url"]]
    assert attachment[0]["properties"]["contentDisposition"]["enum"] == ["inline", "attachment"]

    # Outputs: the hosted shapes.
    inbox = outputs["get_inbox"]
    assert list(inbox["properties"]) == ["inboxId", "email", "displayName", "metadata", "updatedAt", "createdAt"]
    assert inbox["required"] == ["inboxId", "email", "updatedAt", "createdAt"]
    assert outputs["list_inboxes"]["required"] == ["count", "inboxes"]
    assert outputs["list_inboxes"]["properties"]["inboxes"]["items"]["properties"] == inbox["properties"]
    thread = outputs["get_thread"]
    assert thread["required"][-2:] == ["messages", "count"]
    assert list(thread["properties"])[-4:] == ["messages", "count", "limit", "nextPageToken"]
    message = thread["properties"]["messages"]["items"]
    assert list(message["properties"])[-5:] == ["replyTo", "text", "html", "extractedText", "extractedHtml"]
    assert message["required"] == ["inboxId", "threadId", "messageId", "labels", "timestamp", "from", "to", "size",
                                   "updatedAt", "createdAt"]
    assert "highlights" in outputs["search_messages"]["properties"]["messages"]["items"]["properties"]
    assert "highlights" not in outputs["list_messages"]["properties"]["messages"]["items"]["properties"]
    draft_item = outputs["list_drafts"]["properties"]["drafts"]["items"]
    assert "createdAt" not in draft_item["properties"]
    assert draft_item["properties"]["sendStatus"]["enum"] == ["scheduled", "sending", "failed"]
    assert outputs["get_draft"]["required"] == ["inboxId", "draftId", "labels", "updatedAt", "createdAt"]
    assert outputs["get_attachment"]["required"] == ["attachmentId", "size", "downloadUrl", "expiresAt"]
    for name in ("delete_inbox", "delete_thread", "delete_draft", "unblock_recipient"):
        assert outputs[name]["properties"] == {"success": {"type": "boolean", "const": True}}
    # Timestamps must be UTC with a Z, on real calendar dates.
    stamp = re.compile(inbox["properties"]["createdAt"]["pattern"])
    assert stamp.match("2024-02-29T10:00:00.123Z") and stamp.match("2026-07-10T12:00Z")
    assert not stamp.match("2023-02-29T10:00:00Z") and not stamp.match("2026-07-10T12:00:00+01:00")


async def test_initialize_names_the_server_and_explains_the_tools(server):
    with make_http(server, "") as client:
        response = client.post("/mcp", headers={**ACCEPT, "x-api-key": server.api_key}, json=INITIALIZE)
    result = response.json()["result"]
    assert result["serverInfo"]["name"] == "AgentMail"
    assert "search_inboxes" in result["instructions"] and "get_thread" in result["instructions"]


# --- inboxes ---------------------------------------------------------------------------------


async def test_inbox_tools_match_the_rest_api(server, http):
    name, label = _name("mcp-inbox"), uuid.uuid4().hex[:8]
    older = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-older")})).inbox_id
    async with mcp(server) as session:
        created = await call(session, "create_inbox", username=name, displayName=f"Agent {label}",
                             clientId=f"client-{name}", metadata={"team_name": "ops", "tier": 2})
        inbox = created["inboxId"]
        assert inbox == created["email"] == f"{name}@{DOMAIN}"
        rest = http.get(f"/v0/inboxes/{inbox}").json()
        assert created == hosted("get_inbox", rest)
        assert "podId" not in created and "clientId" not in created  # stored, but not in the hosted shape
        assert created["metadata"] == {"team_name": "ops", "tier": 2}  # the caller's keys, not camelCased
        again = await call(session, "create_inbox", username=_name("other"), clientId=f"client-{name}")
        assert again == created  # the same client ID returns the same inbox
        assert await call(session, "get_inbox", inboxId=inbox) == created

        listed = await call(session, "list_inboxes", limit=1)
        assert listed == hosted("list_inboxes", http.get("/v0/inboxes", params={"limit": 1}).json())
        assert listed["inboxes"] == [created]
        following = await call(session, "list_inboxes", limit=1, pageToken=listed["nextPageToken"])
        assert following == hosted("list_inboxes", http.get("/v0/inboxes", params={
            "limit": 1, "page_token": listed["nextPageToken"]}).json())
        assert following["inboxes"][0]["inboxId"] == older
        assert (await call(session, "list_inboxes"))["limit"] == 10  # the advertised default

        found = await call(session, "search_inboxes", q=label)
        assert [i["inboxId"] for i in found["inboxes"]] == [inbox]
        assert found == hosted("search_inboxes", http.get("/v0/inboxes/search", params={"q": label,
                                                                                           "limit": 10}).json())

        updated = await call(session, "update_inbox", inboxId=inbox, displayName="Renamed",
                             metadata={"tier": None, "region": "eu"})
        assert updated["displayName"] == "Renamed" and updated["metadata"] == {"team_name": "ops", "region": "eu"}
        assert updated == hosted("update_inbox", http.get(f"/v0/inboxes/{inbox}").json())
        cleared = await call(session, "update_inbox", inboxId=inbox, metadata=None)
        assert "metadata" not in cleared and cleared["displayName"] == "Renamed"

        assert await call(session, "delete_inbox", inboxId=inbox) == {"success": True}
        assert "not found" in (await fails(session, "get_inbox", 404, inboxId=inbox)).lower()
    error(http.get(f"/v0/inboxes/{inbox}"), 404)


# --- mail: sending, threads, messages, attachments, labels -----------------------------------


async def test_mail_tools_match_the_rest_api(server, http):
    sender = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-from")})).inbox_id
    recipient = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-to")})).inbox_id
    word = uuid.uuid4().hex[:10]
    subject = f"Quarterly {word}"
    pdf = _pdf("Quarterly numbers inside")
    attachment = pdf if pdf is not None else b"plain attachment\n"
    filename = "report.pdf" if pdf is not None else "notes.txt"

    async with mcp(server) as session:
        sent = await call(session, "send_message", inboxId=sender, to=[f"Recipient <{recipient}>"],
                          subject=subject, text=f"Hello over MCP {word}", labels=["outreach"],
                          attachments=[{"filename": filename, "contentType": "application/octet-stream",
                                        "content": base64.b64encode(attachment).decode()}])
        assert set(sent) == {"messageId", "threadId"}
        stored = http.get(f"/v0/inboxes/{sender}/messages/{sent['messageId']}").json()
        assert stored["subject"] == subject and stored["thread_id"] == sent["threadId"]
        assert {"sent", "outreach"} <= set(stored["labels"])

        async def arrived() -> dict[str, Any] | None:
            page = await call(session, "list_threads", inboxId=recipient)
            return page if page["count"] else None

        page = await eventually(arrived, "the thread in the recipient's inbox")
        assert page == hosted("list_threads", http.get(f"/v0/inboxes/{recipient}/threads",
                                                       params={"limit": 10}).json())
        (item,) = page["threads"]
        thread_id = item["threadId"]
        assert item["subject"] == subject and item["attachments"][0]["filename"] == filename
        # A thread nobody answered yet is listed on the sending side only under the sent label.
        assert (await call(session, "list_threads", inboxId=sender))["count"] == 0
        outbound = await call(session, "list_threads", inboxId=sender, labels=["sent"])
        assert [t["threadId"] for t in outbound["threads"]] == [sent["threadId"]]
        assert (await call(session, "list_threads", inboxId=recipient, after="2999-01-01T00:00:00Z"))["count"] == 0
        assert (await call(session, "list_threads", inboxId=recipient, subject=[word]))["count"] == 1
        assert (await call(session, "list_threads", inboxId=recipient, senders=["nobody-such"]))["count"] == 0

        thread = await call(session, "get_thread", inboxId=recipient, threadId=thread_id)
        assert thread == hosted("get_thread", http.get(f"/v0/inboxes/{recipient}/threads/{thread_id}").json())
        (received,) = thread["messages"]
        assert received["text"].strip() == f"Hello over MCP {word}" and "headers" not in received
        message_id = received["messageId"]
        assert (await call(session, "get_thread", inboxId=recipient, threadId=thread_id, limit=1))["limit"] == 1

        message = await call(session, "get_message", inboxId=recipient, messageId=message_id)
        assert message == hosted("get_message", http.get(f"/v0/inboxes/{recipient}/messages/{message_id}").json())
        assert message == received

        messages = await call(session, "list_messages", inboxId=recipient)
        assert messages == hosted("list_messages", http.get(f"/v0/inboxes/{recipient}/messages",
                                                            params={"limit": 10}).json())
        assert "text" not in messages["messages"][0]  # previews only
        assert (await call(session, "list_messages", inboxId=recipient, to=[recipient]))["count"] == 1
        assert (await call(session, "list_messages", inboxId=recipient, **{"from": ["nobody-such"]}))["count"] == 0

        found = await call(session, "search_messages", inboxId=recipient, q=word)
        assert found == hosted("search_messages", http.get(f"/v0/inboxes/{recipient}/messages/search",
                                                           params={"q": word, "limit": 10}).json())
        assert [m["messageId"] for m in found["messages"]] == [message_id]
        threads_found = await call(session, "search_threads", inboxId=recipient, q=word)
        assert threads_found == hosted("search_threads", http.get(f"/v0/inboxes/{recipient}/threads/search",
                                                                  params={"q": word, "limit": 10}).json())
        assert [t["threadId"] for t in threads_found["threads"]] == [thread_id]

        (attached,) = received["attachments"]
        got = await call(session, "get_attachment", inboxId=recipient, threadId=thread_id,
                         attachmentId=attached["attachmentId"])
        rest = http.get(f"/v0/inboxes/{recipient}/threads/{thread_id}/attachments/{attached['attachmentId']}").json()
        volatile = ("downloadUrl", "expiresAt", "text")  # a fresh signed link on each call
        assert {k: v for k, v in got.items() if k not in volatile} == \
               {k: v for k, v in hosted("get_attachment", rest).items() if k not in volatile}
        assert got["downloadUrl"].startswith(f"{server.base_url}/v0/_blobs/")
        with make_http(server, "") as keyless:  # a signed link: no API key needed
            assert keyless.get(got["downloadUrl"]).content == attachment
        if pdf is not None:  # extracted text, as the hosted tool gives for PDF and DOCX files
            assert "Quarterly numbers inside" in got["text"]
        else:
            assert "text" not in got

        updated = await call(session, "update_message", inboxId=recipient, messageId=message_id,
                             removeLabels=["unread"], addLabels=["seen-by-agent"])
        assert "unread" not in updated["labels"] and "seen-by-agent" in updated["labels"]
        assert updated == {"messageId": message_id,
                           "labels": http.get(f"/v0/inboxes/{recipient}/messages/{message_id}").json()["labels"]}
        relabeled = await call(session, "update_thread", inboxId=recipient, threadId=thread_id,
                               addLabels=["project-x"])
        assert relabeled == {"threadId": thread_id,
                             "labels": http.get(f"/v0/inboxes/{recipient}/threads/{thread_id}").json()["labels"]}
        assert "project-x" in relabeled["labels"]

        reply = await call(session, "reply_to_message", inboxId=recipient, messageId=message_id, text="Got it")
        assert reply["threadId"] == thread_id
        forwarded = await call(session, "forward_message", inboxId=recipient, messageId=message_id,
                               to=[sender], text="FYI", replyTo=[recipient])
        fwd = http.get(f"/v0/inboxes/{recipient}/messages/{forwarded['messageId']}").json()
        assert fwd["subject"] == f"Fwd: {subject}" and fwd["to"] == [sender] and len(fwd["attachments"]) == 1
        assert fwd["reply_to"] == [recipient]

        async def reply_arrived() -> bool:
            got = await call(session, "get_thread", inboxId=sender, threadId=sent["threadId"])
            return any(m["text"].startswith("Got it") for m in got["messages"] if "received" in m["labels"])

        await eventually(reply_arrived, "the reply back in the sender's thread")

        assert await call(session, "delete_thread", inboxId=recipient, threadId=thread_id) == {"success": True}
        error(http.get(f"/v0/inboxes/{recipient}/threads/{thread_id}"), 404)
        await fails(session, "get_thread", 404, inboxId=recipient, threadId=thread_id)


# --- drafts ----------------------------------------------------------------------------------


async def test_draft_tools_match_the_rest_api(server, http):
    inbox = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-drafts")})).inbox_id
    recipient = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-drafts-to")})).inbox_id
    copied = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-drafts-cc")})).inbox_id
    async with mcp(server) as session:
        draft = await call(session, "create_draft", inboxId=inbox, to=[recipient], subject="Draft one",
                           text="First words", labels=["mine"], clientId=_name("draft"),
                           attachments=[{"filename": "a.txt", "content": base64.b64encode(b"hi").decode()}])
        draft_id = draft["draftId"]
        rest = http.get(f"/v0/inboxes/{inbox}/drafts/{draft_id}").json()
        assert draft == hosted("get_draft", rest)
        assert "clientId" not in draft and draft["preview"] == "First words"
        assert await call(session, "get_draft", inboxId=inbox, draftId=draft_id) == draft

        later = "2999-01-01T09:00:00Z"
        scheduled = await call(session, "create_draft", inboxId=inbox, to=[recipient], subject="Later",
                               text="Not yet", sendAt=later)
        assert scheduled["sendStatus"] == "scheduled" and scheduled["sendAt"] == "2999-01-01T09:00:00.000Z"
        listed = await call(session, "list_drafts", inboxId=inbox)
        assert listed == hosted("list_drafts", http.get(f"/v0/inboxes/{inbox}/drafts", params={"limit": 10}).json())
        assert {d["draftId"] for d in listed["drafts"]} == {draft_id, scheduled["draftId"]}
        only = await call(session, "list_drafts", inboxId=inbox, labels=["scheduled"])
        assert [d["draftId"] for d in only["drafts"]] == [scheduled["draftId"]]

        edited = await call(session, "update_draft", inboxId=inbox, draftId=draft_id, subject="Draft two",
                            cc=[copied])
        assert edited["subject"] == "Draft two" and edited["cc"] == [copied] and edited["text"] == "First words"
        assert edited == hosted("update_draft", http.get(f"/v0/inboxes/{inbox}/drafts/{draft_id}").json())
        moved = await call(session, "update_draft", inboxId=inbox, draftId=scheduled["draftId"],
                           sendAt="2998-06-01T00:00:00Z")
        assert moved["sendAt"] == "2998-06-01T00:00:00.000Z"

        sent = await call(session, "send_draft", inboxId=inbox, draftId=draft_id)
        message = http.get(f"/v0/inboxes/{inbox}/messages/{sent['messageId']}").json()
        assert message["subject"] == "Draft two" and message["thread_id"] == sent["threadId"]
        await fails(session, "get_draft", 404, inboxId=inbox, draftId=draft_id)

        assert await call(session, "delete_draft", inboxId=inbox, draftId=scheduled["draftId"]) == {"success": True}
        error(http.get(f"/v0/inboxes/{inbox}/drafts/{scheduled['draftId']}"), 404)
        assert (await call(session, "list_drafts", inboxId=inbox))["count"] == 0


# --- block list ------------------------------------------------------------------------------


async def test_unblock_recipient_lifts_an_inbox_block(server, http):
    inbox = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-block")})).inbox_id
    blocked = f"{_name('blocked')}@{DOMAIN}"
    assert http.post(f"/v0/inboxes/{inbox}/lists/send/block", json={"entry": blocked}).status_code == 200
    async with mcp(server) as session:
        text = await fails(session, "send_message", 403, inboxId=inbox, to=[blocked], text="x")
        assert "block" in text.lower()
        assert await call(session, "unblock_recipient", inboxId=inbox, entry=blocked) == {"success": True}
        error(http.get(f"/v0/inboxes/{inbox}/lists/send/block/{blocked}"), 404)
        await call(session, "send_message", inboxId=inbox, to=[blocked], text="now it goes")
        await fails(session, "unblock_recipient", 404, inboxId=inbox, entry=blocked)
        await fails(session, "unblock_recipient", 400, inboxId=inbox, entry="")


# --- authentication --------------------------------------------------------------------------

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def test_requests_without_a_valid_key_get_401(server):
    url = f"{server.base_url}/mcp"
    cases = [
        ({}, "", "missing_authorization"),
        ({"x-api-key": "am_us_" + "0" * 64}, "", "unknown_api_key"),
        ({"Authorization": "Bearer am_us_" + "0" * 64}, "", "unknown_api_key"),
        ({"Authorization": f"Basic {server.api_key}"}, "", "invalid_token_type"),
        ({}, "?apiKey=am_us_" + "0" * 64, "unknown_api_key"),
        # The first key found is the one used, as on the hosted server: a bad one in the URL is not
        # rescued by a good header.
        ({"x-api-key": server.api_key}, "?apiKey=am_us_" + "0" * 64, "unknown_api_key"),
    ]
    with httpx.Client(timeout=30) as client:
        for headers, query, code in cases:
            for method in ("POST", "GET", "DELETE"):
                response = client.request(method, url + query, headers={**ACCEPT, **headers},
                                          json=INITIALIZE if method == "POST" else None)
                assert response.headers["content-type"].startswith("application/json")
                error(response, 401, code)


async def test_every_key_location_authenticates_and_nothing_is_streamed(server):
    with make_http(server, "") as client:
        for path in ("/mcp", "/mcp/"):
            for headers, query in (({"x-api-key": server.api_key}, {}),
                                   ({"Authorization": f"Bearer {server.api_key}"}, {}),
                                   ({}, {"apiKey": server.api_key})):
                response = client.post(path, headers={**ACCEPT, **headers}, params=query, json=INITIALIZE)
                assert response.status_code == 200, response.text
                assert response.json()["result"]["serverInfo"]["name"] == "AgentMail"
                assert "mcp-session-id" not in response.headers  # stateless: any API process can answer
                # No server-initiated messages, so no stream to open and no session to end.
                for method in ("GET", "DELETE"):
                    refused = client.request(method, path, headers={**ACCEPT, **headers}, params=query)
                    assert error(refused, 405, "method_not_allowed") and refused.headers["allow"] == "POST"
    expected = make_http(server).get("/v0/inboxes", params={"limit": 1}).json()
    for options in ({"bearer": True}, {"in_url": True}):
        async with mcp(server, **options) as session:
            assert await call(session, "list_inboxes", limit=1) == hosted("list_inboxes", expected)


async def test_a_key_in_the_url_stays_out_of_the_access_log(caplog):
    secret = "am_us_" + "7" * 64

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": "/mcp", "query_string": f"apiKey={secret}".encode(),
             "headers": []}
    with caplog.at_level(logging.INFO, logger="agentmail_server.access"):
        await RequestTelemetry(app)(scope, receive, send)
    (record,) = [r for r in caplog.records if r.name == "agentmail_server.access"]
    assert "/mcp" in record.getMessage()
    assert secret not in record.getMessage() and secret not in str(record.__dict__)


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
        assert [i["inboxId"] for i in listed["inboxes"]] == [inside]
        with make_http(server, pod_key) as rest:
            assert listed == hosted("list_inboxes", rest.get("/v0/inboxes", params={"limit": 100}).json())
        assert (await call(session, "search_inboxes", q=outside.split("@")[0]))["count"] == 0
        await fails(session, "get_inbox", 404, inboxId=outside)
        await fails(session, "list_threads", 404, inboxId=outside)
        await fails(session, "list_messages", 404, inboxId=outside)
        await fails(session, "list_drafts", 404, inboxId=outside)
        await fails(session, "send_message", 404, inboxId=outside, to=[inside], text="x")
        created = await call(session, "create_inbox", username=_name("mcp-pod-new"))
        assert http.get(f"/v0/inboxes/{created['inboxId']}").json()["pod_id"] == pod.pod_id

    async with mcp(server, inbox_key) as session:
        assert [i["inboxId"] for i in (await call(session, "list_inboxes"))["inboxes"]] == [inside]
        assert (await call(session, "list_threads", inboxId=inside))["count"] == 0
        await fails(session, "get_inbox", 404, inboxId=outside)
        await fails(session, "get_inbox", 404, inboxId=created["inboxId"])
        await fails(session, "create_inbox", 403, username=_name("mcp-denied"))
        await fails(session, "delete_inbox", 404, inboxId=outside)
        await fails(session, "create_draft", 404, inboxId=outside, text="x")

    async with mcp(server, read_only) as session:
        assert outside in {i["inboxId"] for i in (await call(session, "list_inboxes", limit=100))["inboxes"]}
        text = await fails(session, "send_message", 403, inboxId=outside, to=[inside], text="x")
        assert "message_send" in text
        await fails(session, "create_inbox", 403)
        await fails(session, "update_inbox", 403, inboxId=outside, displayName="no")
        await fails(session, "create_draft", 403, inboxId=outside, text="x")
        await fails(session, "unblock_recipient", 403, inboxId=outside, entry="a@b.test")
    assert http.get(f"/v0/inboxes/{outside}/messages").json()["count"] == 0
    assert http.get(f"/v0/inboxes/{outside}").json().get("display_name") != "no"


# --- bad arguments ---------------------------------------------------------------------------


async def test_bad_arguments_are_tool_errors(server, http):
    inbox = ok(Inbox, http.post("/v0/inboxes", json={"username": _name("mcp-bad")})).inbox_id
    async with mcp(server) as session:
        assert "inboxId: Field required" in await fails(session, "get_inbox", 400)
        assert "inbox_id: Unknown argument" in await fails(session, "get_inbox", 400, inbox_id=inbox)
        assert "limit: must be of type number" in await fails(session, "list_inboxes", 400, limit="many")
        assert "limit" in await fails(session, "list_inboxes", 400, limit=2.5)
        assert "limit" in await fails(session, "list_inboxes", 400, limit=0)
        assert "limit" in await fails(session, "list_inboxes", 400, limit=10**9)
        assert "q: must have at least 2 characters" in await fails(session, "search_inboxes", 400, q="a")
        assert "q: must have at most 256" in await fails(session, "search_inboxes", 400, q="a" * 257)
        assert "limit: must be at most 100" in await fails(session, "search_inboxes", 400, q="ab", limit=101)
        assert "limit: must be greater than 0" in await fails(session, "search_inboxes", 400, q="ab", limit=0)
        assert "limit: must be of type integer" in await fails(session, "search_inboxes", 400, q="ab", limit=1.5)
        await fails(session, "get_thread", 400, inboxId=inbox, threadId=str(uuid.uuid4()), limit=101)
        assert "subjet: Unknown argument" in await fails(
            session, "send_message", 400, inboxId=inbox, to=[inbox], subjet="typo")
        assert "to: must be of type array" in await fails(session, "send_message", 400, inboxId=inbox, to="x@y.z")
        await fails(session, "send_message", 400, inboxId=inbox, to=["not an address"], text="x")
        assert "subject" in await fails(session, "send_message", 400, inboxId=inbox, to=[inbox], subject="a\x00b")
        both = await fails(session, "send_message", 400, inboxId=inbox, to=[inbox],
                           attachments=[{"filename": "a.txt", "content": "aGk=", "url": "https://example.com/a"}])
        assert "attachments.0." in both
        await fails(session, "send_message", 400, inboxId=inbox, to=[inbox],
                    attachments=[{"filename": "a.txt", "content": "not base64!"}])
        await fails(session, "send_message", 400, inboxId=inbox, to=[inbox],
                    attachments=[{"filename": "a.txt", "contentDisposition": "sideways", "content": "aGk="}])
        await fails(session, "send_message", 400, inboxId=inbox, to=[])
        assert "thread" in await fails(session, "get_thread", 400, inboxId=inbox, threadId="nope")
        await fails(session, "get_thread", 404, inboxId=inbox, threadId=str(uuid.uuid4()))
        assert "before" in await fails(session, "list_threads", 400, inboxId=inbox, before="yesterday")
        await fails(session, "update_message", 400, inboxId=inbox, messageId="<x@y>")
        await fails(session, "update_message", 400, inboxId=inbox, messageId="<x@y>", addLabels=["sent"])
        await fails(session, "update_message", 404, inboxId=inbox, messageId="<x@y>", addLabels=["ok"])
        await fails(session, "reply_to_message", 404, inboxId=inbox, messageId="<x@y>", text="x")
        await fails(session, "get_message", 404, inboxId=inbox, messageId="<x@y>")
        await fails(session, "create_draft", 400, inboxId=inbox, sendAt="someday")
        await fails(session, "update_inbox", 400, inboxId=inbox)
        await fails(session, "create_inbox", 400, username="not valid!")
        await fails(session, "create_inbox", 400, username=None)
        await fails(session, "create_inbox", 404, domain="unknown.example")
        assert "Unknown tool" in await fails(session, "no_such_tool", 404)
        assert "Unknown tool" in await fails(session, "list_providers", 404)
        assert "not part of this self-hosted server" in await fails(session, "agent_verify", 404, otpCode="123456")
        # Still serving, and nothing was sent by any of the above.
        assert (await call(session, "get_inbox", inboxId=inbox))["inboxId"] == inbox
    assert http.get(f"/v0/inboxes/{inbox}/messages").json()["count"] == 0
