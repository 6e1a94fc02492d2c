"""Sending through the official SDK: conversations between hosted inboxes, idempotency, refusals."""

from __future__ import annotations

import asyncio
import base64
import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from agentmail.inboxes import CreateInboxRequest
from sqlalchemy import select

from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Event, Job
from agentmail_server.schemas.sending import SendMessageResponse

from .conftest import database_url, make_http, make_sdk
from .mail_helpers import wait_for, wait_messages
from .server import Server
from .wire import error, ok


def _inbox(sdk, prefix: str, name: str | None = None) -> str:
    return sdk.inboxes.create(request=CreateInboxRequest(username=f"{prefix}-{uuid.uuid4().hex[:8]}",
                                                         display_name=name)).inbox_id


def _rows(server: Server, stmt):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        db = Database(server.database_url)
        try:
            async with db.read() as session:
                return list((await session.scalars(stmt)).all())
        finally:
            await db.dispose()

    return asyncio.run(run())


def _raw(http, inbox: str, message_id: str) -> bytes:
    info = http.get(f"/v0/inboxes/{inbox}/messages/{message_id}/raw").json()
    return httpx.get(info["download_url"]).content


def test_conversation_between_hosted_inboxes(sdk, http, server):
    alice, bob, carol = _inbox(sdk, "alice", "Alice"), _inbox(sdk, "bob", "Bob"), _inbox(sdk, "carol")
    first = sdk.inboxes.messages.send(alice, to=bob, cc=[carol], subject="Project kickoff", text="Shall we start?",
                                      labels=["project"])
    sent = sdk.inboxes.messages.get(alice, first.message_id)
    assert sorted(sent.labels) == ["project", "sent"] and sent.thread_id == first.thread_id
    assert sent.from_ == f"Alice <{alice}>" and sent.to == [bob] and sent.cc == [carol]

    [at_bob] = wait_messages(http, bob, 1)
    assert at_bob["message_id"] == first.message_id and sorted(at_bob["labels"]) == ["received", "unread"]
    assert at_bob["subject"] == "Project kickoff"

    reply = sdk.inboxes.messages.reply(bob, first.message_id, text="Yes, Monday.")
    assert reply.thread_id == at_bob["thread_id"]
    raw = _raw(http, bob, reply.message_id)
    assert f"In-Reply-To: {first.message_id}".encode() in raw
    assert f"References: {first.message_id}".encode() in raw
    got_reply = sdk.inboxes.messages.get(bob, reply.message_id)
    assert got_reply.to == [f"Alice <{alice}>"] and got_reply.subject == "Re: Project kickoff"
    assert got_reply.extracted_text.strip() == "Yes, Monday."

    def alice_has_reply():
        items = http.get(f"/v0/inboxes/{alice}/messages").json()["messages"]
        return next((m for m in items if m["message_id"] == reply.message_id), None)

    back = wait_for(alice_has_reply)
    assert back["thread_id"] == first.thread_id  # the reply joins Alice's own thread

    everyone = sdk.inboxes.messages.reply_all(alice, reply.message_id, text="Great, see you all.")
    got_all = sdk.inboxes.messages.get(alice, everyone.message_id)
    assert (set(got_all.to) == {f"Bob <{bob}>"} and got_all.cc is None) or alice not in (got_all.cc or [])
    raw_all = _raw(http, alice, everyone.message_id)
    assert f"In-Reply-To: {reply.message_id}".encode() in raw_all
    assert first.message_id.encode() in raw_all and reply.message_id.encode() in raw_all  # References chain

    fwd = sdk.inboxes.messages.forward(alice, first.message_id, to=carol, text="FYI")
    assert fwd.thread_id == first.thread_id
    got_fwd = sdk.inboxes.messages.get(alice, fwd.message_id)
    assert got_fwd.subject == "Fwd: Project kickoff" and "Shall we start?" in got_fwd.text

    thread = sdk.inboxes.threads.get(alice, first.thread_id)
    assert thread.message_count == 4
    assert {"sent", "received", "project"} <= set(thread.labels)
    carol_items = wait_messages(http, carol, 2)  # the cc of the first mail and the forward
    assert {m["subject"] for m in carol_items} == {"Project kickoff", "Fwd: Project kickoff"}
    # Carol was only cc'd on the kickoff: reply-all goes to its sender and its To, never to Carol herself.
    kickoff = next(m for m in carol_items if m["subject"] == "Project kickoff")
    carol_all = sdk.inboxes.messages.reply_all(carol, kickoff["message_id"], text="Count me in")
    got_carol = sdk.inboxes.messages.get(carol, carol_all.message_id)
    assert sorted(got_carol.to) == sorted([f"Alice <{alice}>", bob]) and got_carol.cc is None

    events = _rows(server, select(Event.event_type).where(Event.inbox_id == alice))
    assert events.count("message.sent") == 3 and "message.received" in events


def test_idempotency_key_replays_and_conflicts(sdk, http, server):
    alice, bob = _inbox(sdk, "ia"), _inbox(sdk, "ib")
    key = f"key-{uuid.uuid4().hex}"
    body = {"to": bob, "subject": "Once", "text": "only once"}
    first = ok(SendMessageResponse, http.post(f"/v0/inboxes/{alice}/messages/send", json=body,
                                              headers={"Idempotency-Key": key}))
    again = sdk.inboxes.messages.send(alice, to=bob, subject="Once", text="only once",
                                      request_options={"additional_headers": {"Idempotency-Key": key}})
    assert (again.message_id, again.thread_id) == (first.message_id, first.thread_id)
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json={**body, "text": "changed"},
                    headers={"Idempotency-Key": key}), 409, "conflict")
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json=body, headers={"Idempotency-Key": ""}), 400)
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json=body, headers={"Idempotency-Key": "bad key!"}), 400)
    assert http.get(f"/v0/inboxes/{alice}/messages", params={"labels": "sent"}).json()["count"] == 1
    wait_messages(http, bob, 1)


@pytest.mark.parametrize("field, value", [
    ("subject", "Hello\r\nBcc: victim@example.test"),
    ("to", "bob@example.test\r\nBcc: victim@example.test"),
    ("to", "Evil\n <bob@example.test>"),
    ("cc", ["ok@example.test", "x@example.test\rY: z"]),
    ("reply_to", "a@example.test\nX: y"),
    ("headers", {"X-Custom": "a\r\nBcc: victim@example.test"}),
    ("headers", {"Bcc": "victim@example.test"}),
    ("headers", {"Bad Name": "x"}),
    ("to", "not-an-address"),
])
def test_header_injection_is_refused(sdk, http, server, field, value):
    alice = _inbox(sdk, "inj")
    body = {"to": "bob@example.test", "subject": "s", "text": "t", field: value}
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json=body), 400)
    assert http.get(f"/v0/inboxes/{alice}/messages", params={"labels": "sent"}).json()["count"] == 0


def test_recipient_rules(sdk, http, server):
    alice = _inbox(sdk, "rules")
    body = error(http.post(f"/v0/inboxes/{alice}/messages/send", json={"subject": "x", "text": "y"}), 400)
    assert body["message"] == "to, cc, or bcc must be specified"
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json={"to": alice, "text": "me"}), 400)
    many = [f"r{i}@example.test" for i in range(51)]
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json={"to": many, "text": "x"}), 400)
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json={"to": "a@example.test", "labels": ["sent"]}), 400)
    error(http.post(f"/v0/inboxes/nobody-{uuid.uuid4().hex[:6]}@agentmail.localhost/messages/send",
                    json={"to": "a@example.test"}), 404)


def test_blocked_recipient_is_rejected_with_an_event(sdk, http, server):
    alice = _inbox(sdk, "blk")
    assert http.post(f"/v0/inboxes/{alice}/lists/send/block", json={"entry": "blocked.example"}).status_code == 200
    body = error(http.post(f"/v0/inboxes/{alice}/messages/send",
                           json={"to": "x@blocked.example", "text": "hi"}), 403, "message_rejected")
    assert body["name"] == "MessageRejectedError"
    assert http.get(f"/v0/inboxes/{alice}/messages", params={"labels": "sent"}).json()["count"] == 0
    rejected = _rows(server, select(Event).where(Event.inbox_id == alice, Event.event_type == "message.rejected"))
    assert len(rejected) == 1 and "blocked" in rejected[0].payload["reject"]["reason"]
    sdk.inboxes.update(alice, status="paused")
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json={"to": "x@fine.example", "text": "hi"}), 403,
          "message_rejected")


def test_external_recipients_are_queued_for_delivery(sdk, http, server):
    alice, bob = _inbox(sdk, "ext"), _inbox(sdk, "loc")
    sent = sdk.inboxes.messages.send(alice, to=["someone@remote.example", bob], bcc="hidden@remote.example",
                                     subject="Mixed", text="hello")
    jobs = _rows(server, select(Job).where(Job.kind == "deliver_outbound"))
    mine = [j for j in jobs if set(j.payload["recipients"]) == {"someone@remote.example", "hidden@remote.example"}]
    assert len(mine) == 1
    [local] = wait_messages(http, bob, 1)
    assert local["message_id"] == sent.message_id
    assert b"hidden@remote.example" not in _raw(http, bob, sent.message_id)  # Bcc never in the bytes
    assert sdk.inboxes.messages.get(alice, sent.message_id).bcc == ["hidden@remote.example"]


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 fake report\n" * 100)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_attachments_base64_and_url(request, server, tmp_path, file_server):
    srv = Server(backend=server.backend, database_url=database_url(server.backend, tmp_path, request),
                 workdir=tmp_path, extra_env={"AGENTMAIL_ATTACHMENT_URL_ALLOW_PRIVATE": "true"}).start()
    try:
        sdk = make_sdk(srv)
        alice, bob = _inbox(sdk, "att"), _inbox(sdk, "attr")
        data = bytes(range(256)) * 10
        with make_http(srv) as http:
            sent = ok(SendMessageResponse, http.post(f"/v0/inboxes/{alice}/messages/send", json={
                "to": bob, "subject": "Files", "text": "see attached",
                "attachments": [
                    {"filename": "blob.bin", "content_type": "application/octet-stream",
                     "content": base64.b64encode(data).decode()},
                    {"filename": "report.pdf", "url": f"{file_server}/report.pdf"},
                ]}))
            [item] = wait_messages(http, bob, 1)
            got = http.get(f"/v0/inboxes/{bob}/messages/{item['message_id']}").json()
            by_name = {a["filename"]: a for a in got["attachments"]}
            blob_meta = http.get(f"/v0/inboxes/{bob}/messages/{sent.message_id}/attachments/"
                                 f"{by_name['blob.bin']['attachment_id']}").json()
            assert httpx.get(blob_meta["download_url"]).content == data
            assert by_name["report.pdf"]["content_type"] == "application/pdf"
            assert by_name["report.pdf"]["size"] == len(b"%PDF-1.4 fake report\n" * 100)
            error(http.post(f"/v0/inboxes/{alice}/messages/send", json={
                "to": bob, "attachments": [{"filename": "x", "content": "not base64!!"}]}), 400)
            error(http.post(f"/v0/inboxes/{alice}/messages/send", json={
                "to": bob, "attachments": [{"filename": "x", "url": f"{file_server}/missing"}]}), 403,
                "message_rejected")
    finally:
        srv.stop()


def test_private_attachment_urls_are_refused_by_default(sdk, http, server, file_server):
    alice = _inbox(sdk, "ssrf")
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json={
        "to": "x@example.test", "attachments": [{"filename": "r.pdf", "url": f"{file_server}/report.pdf"}]}), 403,
        "message_rejected")
    error(http.post(f"/v0/inboxes/{alice}/messages/send", json={
        "to": "x@example.test", "attachments": [{"filename": "r", "url": "file:///etc/passwd"}]}), 403,
        "message_rejected")


def test_optional_send_rate_limit(request, server, tmp_path):
    srv = Server(backend=server.backend, database_url=database_url(server.backend, tmp_path, request),
                 workdir=tmp_path, extra_env={"AGENTMAIL_SEND_RATE_LIMIT_PER_MINUTE": "2"}).start()
    try:
        alice = _inbox(make_sdk(srv), "rate")
        with make_http(srv) as http:
            for i in range(2):
                ok(SendMessageResponse, http.post(f"/v0/inboxes/{alice}/messages/send",
                                                  json={"to": "x@example.test", "text": f"{i}"}))
            limited = http.post(f"/v0/inboxes/{alice}/messages/send", json={"to": "x@example.test", "text": "3"})
            error(limited, 429, "rate_limit_exceeded")
            assert 1 <= int(limited.headers["Retry-After"]) <= 61
            assert http.get(f"/v0/inboxes/{alice}/messages", params={"labels": "sent"}).json()["count"] == 2
    finally:
        srv.stop()
