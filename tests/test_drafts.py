"""Drafts through the official SDK (REFERENCE §2.8, §2.9): editing, reply/forward drafts, sending, scheduling."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from agentmail import SendAttachment
from agentmail.core.api_error import ApiError
from agentmail.inboxes import CreateInboxRequest
from sqlalchemy import update

from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Draft as DraftRow
from agentmail_server.db.tables import IdempotencyRecord
from agentmail_server.schemas.common import format_timestamp
from agentmail_server.schemas.drafts import Draft, ListDraftsResponse
from agentmail_server.schemas.messages import AttachmentResponse, ListMessagesResponse
from agentmail_server.schemas.resources import CreateApiKeyResponse
from agentmail_server.schemas.sending import SendMessageResponse
from agentmail_server.services import drafts as drafts_service

from .conftest import database_url, make_http, make_sdk
from .mail_helpers import wait_for, wait_messages
from .server import Server
from .wire import error, ok

FAR = datetime.now(UTC) + timedelta(days=30)  # scheduled, but never due during the test run


def _inbox(sdk, prefix: str, name: str | None = None) -> str:  # type: ignore[no-untyped-def]
    return sdk.inboxes.create(request=CreateInboxRequest(username=f"{prefix}-{uuid.uuid4().hex[:8]}",
                                                         display_name=name)).inbox_id


def _draft(http: httpx.Client, inbox: str, draft_id: str) -> Draft:
    return ok(Draft, http.get(f"/v0/inboxes/{inbox}/drafts/{draft_id}"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sent(http: httpx.Client, inbox: str) -> list[dict[str, Any]]:
    return ok(ListMessagesResponse, http.get(f"/v0/inboxes/{inbox}/messages",
                                             params={"labels": "sent", "limit": 100})).model_dump(
        mode="json", by_alias=True, exclude_none=True)["messages"]


def _db_write(server: Server, *statements: Any, rows: list[Any] | None = None) -> None:
    async def run() -> None:
        db = Database(server.database_url)
        try:
            async with db.write() as session:
                for statement in statements:
                    await session.execute(statement)
                session.add_all(rows or [])
        finally:
            await db.dispose()

    asyncio.run(run())


def _set_status(server: Server, draft_id: str, status: str | None, **values: Any) -> None:
    _db_write(server, update(DraftRow).where(DraftRow.id == draft_id).values(send_status=status, **values))


def _gone(http: httpx.Client, inbox: str, draft_id: str) -> bool:
    response = http.get(f"/v0/inboxes/{inbox}/drafts/{draft_id}")
    if response.status_code == 404:
        assert error(response, 404, "not_found")["message"] == "Draft not found"
        return True
    return False


# --- create / get / list / update / delete ---------------------------------------------------


def test_crud_client_id_labels_and_patch(sdk, http, server):
    inbox = _inbox(sdk, "dr")
    client_id = f"cid-{uuid.uuid4().hex}"
    created = sdk.inboxes.drafts.create(inbox, to=["Bob <bob@example.test>"], cc=["carol@example.test"],
                                        reply_to=["replies@example.test"], subject="Plan", text="First  line\nsecond",
                                        html="<p>First</p>", labels=["Work"], client_id=client_id)
    got = _draft(http, inbox, created.draft_id)
    assert (got.inbox_id, got.client_id, got.subject, got.preview) == (inbox, client_id, "Plan", "First line second")
    assert got.labels == ["draft", "work"] and got.send_status is None and got.send_at is None
    assert got.to == ["Bob <bob@example.test>"] and got.cc == ["carol@example.test"] and got.bcc is None
    assert got.reply_to == ["replies@example.test"] and got.html == "<p>First</p>"
    assert got.created_at == got.updated_at

    # client_id: the same draft again, the new body not applied (200, not 201).
    again = ok(Draft, http.post(f"/v0/inboxes/{inbox}/drafts", json={"client_id": client_id, "subject": "Other"}))
    assert (again.draft_id, again.subject) == (created.draft_id, "Plan")

    # PATCH: omitted unchanged, null / [] clear, labels added and removed.
    patched = sdk.inboxes.drafts.update(inbox, created.draft_id, subject="Plan B", cc=None, reply_to=[], text=None,
                                        add_labels=["urgent"], remove_labels=["work"])
    assert patched.subject == "Plan B" and patched.cc is None and patched.reply_to is None and patched.text is None
    assert patched.to == ["Bob <bob@example.test>"] and patched.html == "<p>First</p>"
    assert patched.labels == ["draft", "urgent"] and patched.updated_at > got.updated_at
    body = ok(Draft, http.patch(f"/v0/inboxes/{inbox}/drafts/{created.draft_id}", json={"to": []}))
    assert body.to is None

    # send_at schedules ("scheduled" label, send_status); null unschedules and keeps the draft.
    sdk.inboxes.drafts.update(inbox, created.draft_id, to=["bob@example.test"])
    scheduled = sdk.inboxes.drafts.update(inbox, created.draft_id, send_at=FAR)
    assert scheduled.send_status == "scheduled" and set(scheduled.labels) == {"draft", "scheduled", "urgent"}
    wire = _draft(http, inbox, created.draft_id)
    assert wire.send_at == FAR.replace(microsecond=FAR.microsecond // 1000 * 1000)
    assert http.get(f"/v0/inboxes/{inbox}/drafts/{created.draft_id}").json()["send_at"] == format_timestamp(FAR)
    unscheduled = sdk.inboxes.drafts.update(inbox, created.draft_id, send_at=None)
    assert unscheduled.send_status is None and unscheduled.send_at is None
    assert unscheduled.labels == ["draft", "urgent"]

    sdk.inboxes.drafts.delete(inbox, created.draft_id)
    assert _gone(http, inbox, created.draft_id)
    error(http.delete(f"/v0/inboxes/{inbox}/drafts/{created.draft_id}"), 404, "not_found")


def test_list_order_filters_and_levels(sdk, http, server):
    org_id = sdk.auth.me().organization_id
    pod = sdk.pods.create(name=f"drafts-{uuid.uuid4().hex[:6]}").pod_id
    inbox = sdk.pods.inboxes.create(pod, username=f"dl-{uuid.uuid4().hex[:8]}").inbox_id
    other = _inbox(sdk, "dl-other")
    first = sdk.inboxes.drafts.create(inbox, subject="one", labels=["alpha"])
    second = sdk.inboxes.drafts.create(inbox, subject="two", to=["x@example.test"], send_at=FAR)
    elsewhere = sdk.inboxes.drafts.create(other, subject="three")
    time.sleep(0.01)
    sdk.inboxes.drafts.update(inbox, first.draft_id, text="touched")  # now the most recently updated

    listing = ok(ListDraftsResponse, http.get(f"/v0/inboxes/{inbox}/drafts"))
    assert [d.draft_id for d in listing.drafts] == [first.draft_id, second.draft_id] and listing.count == 2
    item = listing.drafts[1]
    assert (item.subject, item.to, item.send_status, item.labels) == ("two", ["x@example.test"], "scheduled",
                                                                      ["draft", "scheduled"])
    raw = http.get(f"/v0/inboxes/{inbox}/drafts").json()["drafts"][0]
    assert "text" not in raw and "created_at" not in raw  # DraftItem, not Draft
    ascending = sdk.inboxes.drafts.list(inbox, ascending=True)
    assert [d.draft_id for d in ascending.drafts] == [second.draft_id, first.draft_id]
    assert [d.draft_id for d in sdk.inboxes.drafts.list(inbox, labels=["alpha"]).drafts] == [first.draft_id]
    assert [d.draft_id for d in sdk.inboxes.drafts.list(inbox, labels=["scheduled"]).drafts] == [second.draft_id]
    assert sdk.inboxes.drafts.list(inbox, labels=["draft", "alpha", "missing"]).count == 0
    pivot = _draft(http, inbox, first.draft_id).updated_at
    assert [d.draft_id for d in sdk.inboxes.drafts.list(inbox, before=pivot).drafts] == [second.draft_id]
    assert [d.draft_id for d in sdk.inboxes.drafts.list(inbox, after=pivot).drafts] == [first.draft_id]
    page = ok(ListDraftsResponse, http.get(f"/v0/inboxes/{inbox}/drafts", params={"limit": 1}))
    assert page.count == 1 and page.next_page_token
    rest = ok(ListDraftsResponse, http.get(f"/v0/inboxes/{inbox}/drafts",
                                           params={"limit": 1, "page_token": page.next_page_token}))
    assert [d.draft_id for d in rest.drafts] == [second.draft_id] and rest.next_page_token is None

    # Pod and organization levels (read-only views of the same drafts).
    in_pod = [d.draft_id for d in sdk.pods.drafts.list(pod).drafts]
    assert in_pod == [first.draft_id, second.draft_id]
    assert sdk.pods.drafts.get(pod, second.draft_id).subject == "two"
    error(http.get(f"/v0/pods/{pod}/drafts/{elsewhere.draft_id}"), 404, "not_found")
    assert elsewhere.draft_id in {d.draft_id for d in sdk.pods.drafts.list(org_id, limit=1000).drafts}
    everywhere = {d.draft_id for d in sdk.drafts.list(limit=1000).drafts}
    assert {first.draft_id, second.draft_id, elsewhere.draft_id} <= everywhere
    assert ok(Draft, http.get(f"/v0/drafts/{elsewhere.draft_id}")).subject == "three"
    error(http.get(f"/v0/inboxes/{inbox}/drafts/{elsewhere.draft_id}"), 404, "not_found")
    for path in ("/v0/drafts", f"/v0/pods/{pod}/drafts"):
        assert http.post(path, json={"subject": "x"}).status_code in (404, 405)


# --- reply and forward drafts, and sending --------------------------------------------------


def test_reply_and_forward_drafts(sdk, http, server):
    alice, bob, carol = _inbox(sdk, "ra", "Alice"), _inbox(sdk, "rb", "Bob"), _inbox(sdk, "rc")
    first = sdk.inboxes.messages.send(alice, to=bob, cc=[carol], subject="Budget", text="Numbers attached?")
    [at_bob] = wait_messages(http, bob, 1)

    reply = sdk.inboxes.drafts.create(bob, in_reply_to=first.message_id, text="Here they are.")
    got = _draft(http, bob, reply.draft_id)
    assert got.in_reply_to == first.message_id and got.subject == "Re: Budget"
    assert got.to == [f"Alice <{alice}>"] and got.references == [first.message_id] and got.cc is None
    everyone = sdk.inboxes.drafts.create(bob, in_reply_to=first.message_id, reply_all=True, text="All of you")
    assert sorted(everyone.to or []) == [f"Alice <{alice}>"] and everyone.cc == [carol]

    sent = sdk.inboxes.drafts.send(bob, reply.draft_id)
    assert sent.thread_id == at_bob["thread_id"]
    assert _gone(http, bob, reply.draft_id)
    message = sdk.inboxes.messages.get(bob, sent.message_id)
    assert message.subject == "Re: Budget" and message.in_reply_to == first.message_id
    assert message.to == [f"Alice <{alice}>"] and "sent" in message.labels and "draft" not in message.labels
    assert message.extracted_text.strip() == "Here they are."
    assert [m["message_id"] for m in _sent(http, bob)] == [sent.message_id]

    def alice_has(mid: str):  # type: ignore[no-untyped-def]
        items = http.get(f"/v0/inboxes/{alice}/messages").json()["messages"]
        return next((m for m in items if m["message_id"] == mid), None)

    assert wait_for(lambda: alice_has(sent.message_id))["thread_id"] == first.thread_id

    all_sent = sdk.inboxes.drafts.send(bob, everyone.draft_id)
    assert all_sent.thread_id == at_bob["thread_id"]
    assert wait_for(lambda: alice_has(all_sent.message_id))["thread_id"] == first.thread_id

    # Forward: subject and threading derived, recipients from the caller, original content carried.
    fwd = sdk.inboxes.drafts.create(alice, forward_of=first.message_id, to=["dave@example.test"], text="FYI")
    assert fwd.subject == "Fwd: Budget" and fwd.forward_of == first.message_id and fwd.to == ["dave@example.test"]
    assert fwd.references == [first.message_id]
    renamed = sdk.inboxes.drafts.update(alice, fwd.draft_id, subject="Fwd: Budget (for you)", to=[carol])
    assert renamed.to == [carol]
    forwarded = sdk.inboxes.drafts.send(alice, fwd.draft_id)
    assert forwarded.thread_id == first.thread_id
    fwd_message = sdk.inboxes.messages.get(alice, forwarded.message_id)
    assert fwd_message.subject == "Fwd: Budget (for you)" and "Numbers attached?" in fwd_message.text
    assert fwd_message.text.startswith("FYI")
    carol_items = wait_messages(http, carol, 3)  # the cc of the original, the reply-all and the forward
    assert sorted(m["subject"] for m in carol_items) == ["Budget", "Fwd: Budget (for you)", "Re: Budget"]


def test_send_plain_draft_labels_idempotency_and_attachments(sdk, http, server):
    alice, bob = _inbox(sdk, "sa", "Alice"), _inbox(sdk, "sb")
    data = bytes(range(256)) * 20
    draft = sdk.inboxes.drafts.create(
        alice, to=[bob], subject="Report", text="attached", labels=["project"],
        attachments=[SendAttachment(filename="report.bin", content_type="application/octet-stream",
                                    content=_b64(data))])
    key = f"key-{uuid.uuid4().hex}"
    first = ok(SendMessageResponse, http.post(f"/v0/inboxes/{alice}/drafts/{draft.draft_id}/send",
                                              json={"add_labels": ["outbox"]}, headers={"Idempotency-Key": key}))
    # The same key replays the first answer even though the draft is gone; another body is a conflict.
    again = sdk.inboxes.drafts.send(alice, draft.draft_id, add_labels=["outbox"], idempotency_key=key)
    assert (again.message_id, again.thread_id) == (first.message_id, first.thread_id)
    error(http.post(f"/v0/inboxes/{alice}/drafts/{draft.draft_id}/send", json={"add_labels": ["x"]},
                    headers={"Idempotency-Key": key}), 409, "conflict")
    error(http.post(f"/v0/inboxes/{alice}/drafts/{draft.draft_id}/send"), 404, "not_found")
    assert _gone(http, alice, draft.draft_id)

    [copy] = _sent(http, alice)
    assert copy["message_id"] == first.message_id and sorted(copy["labels"]) == ["outbox", "project", "sent"]
    [received] = wait_messages(http, bob, 1)
    assert received["message_id"] == first.message_id and received["subject"] == "Report"
    full = sdk.inboxes.messages.get(bob, first.message_id)
    [meta] = full.attachments
    att = http.get(f"/v0/inboxes/{bob}/messages/{first.message_id}/attachments/{meta.attachment_id}").json()
    assert httpx.get(att["download_url"]).content == data and meta.filename == "report.bin"


def test_attachments_round_trip_at_every_level(sdk, http, server):
    pod = sdk.pods.create(name=f"att-{uuid.uuid4().hex[:6]}").pod_id
    inbox = sdk.pods.inboxes.create(pod, username=f"da-{uuid.uuid4().hex[:8]}").inbox_id
    pdf, png = b"%PDF-1.4 draft\n" * 50, bytes(range(256)) * 3
    created = ok(Draft, http.post(f"/v0/inboxes/{inbox}/drafts", json={
        "subject": "files", "attachments": [
            {"filename": "a.pdf", "content": _b64(pdf)},
            {"filename": "logo.png", "content_type": "image/png", "content_id": "logo", "content": _b64(png)},
        ]}))
    by_name = {a.filename: a for a in created.attachments or []}
    assert by_name["a.pdf"].content_type == "application/pdf" and by_name["a.pdf"].size == len(pdf)
    assert by_name["a.pdf"].content_disposition == "attachment"
    assert (by_name["logo.png"].content_disposition, by_name["logo.png"].content_id) == ("inline", "logo")
    draft_id = created.draft_id
    for name, data in (("a.pdf", pdf), ("logo.png", png)):
        aid = by_name[name].attachment_id
        for path in (f"/v0/inboxes/{inbox}/drafts/{draft_id}/attachments/{aid}",
                     f"/v0/pods/{pod}/drafts/{draft_id}/attachments/{aid}",
                     f"/v0/drafts/{draft_id}/attachments/{aid}"):
            meta = ok(AttachmentResponse, http.get(path))
            assert (meta.attachment_id, meta.filename, meta.size) == (aid, name, len(data))
            download = httpx.get(meta.download_url)
            assert download.status_code == 200 and download.content == data
            assert download.headers["content-type"].startswith(meta.content_type or "")
    via_sdk = sdk.inboxes.drafts.get_attachment(inbox, draft_id, by_name["a.pdf"].attachment_id)
    assert httpx.get(via_sdk.download_url).content == pdf
    assert sdk.pods.drafts.get_attachment(pod, draft_id, by_name["a.pdf"].attachment_id).size == len(pdf)
    assert sdk.drafts.get_attachment(draft_id, by_name["a.pdf"].attachment_id).filename == "a.pdf"

    # add_attachments / remove_attachments
    patched = sdk.inboxes.drafts.update(
        inbox, draft_id, remove_attachments=[by_name["a.pdf"].attachment_id],
        add_attachments=[SendAttachment(filename="notes.txt", content=_b64(b"hello notes"))])
    assert sorted(a.filename for a in patched.attachments) == ["logo.png", "notes.txt"]
    error(http.get(f"/v0/inboxes/{inbox}/drafts/{draft_id}/attachments/{by_name['a.pdf'].attachment_id}"), 404,
          "not_found")
    error(http.get(f"/v0/drafts/{draft_id}/attachments/{uuid.uuid4()}"), 404, "not_found")
    notes = next(a for a in patched.attachments if a.filename == "notes.txt")
    meta = sdk.inboxes.drafts.get_attachment(inbox, draft_id, notes.attachment_id)
    assert httpx.get(meta.download_url).content == b"hello notes" and meta.content_type == "text/plain"
    error(http.patch(f"/v0/inboxes/{inbox}/drafts/{draft_id}", json={"remove_attachments": [str(uuid.uuid4())]}),
          400)


# --- tenancy and bad input -------------------------------------------------------------------


def test_tenancy(sdk, http, server):
    pod = sdk.pods.create(name=f"ten-{uuid.uuid4().hex[:6]}").pod_id
    mine = sdk.pods.inboxes.create(pod, username=f"dt-{uuid.uuid4().hex[:8]}").inbox_id
    sibling = sdk.pods.inboxes.create(pod, username=f"ds-{uuid.uuid4().hex[:8]}").inbox_id
    draft = sdk.inboxes.drafts.create(mine, to=["x@example.test"], subject="secret",
                                      attachments=[SendAttachment(filename="s.txt", content=_b64(b"s"))])
    aid = draft.attachments[0].attachment_id
    other = server.cli("create-organization")
    inbox_key = ok(CreateApiKeyResponse, http.post(f"/v0/inboxes/{sibling}/api-keys", json={"name": "sib"})).api_key
    other_pod = sdk.pods.create(name=f"ten-o-{uuid.uuid4().hex[:6]}").pod_id
    pod_key = ok(CreateApiKeyResponse, http.post(f"/v0/pods/{other_pod}/api-keys", json={"name": "op"})).api_key

    for key in (other["api_key"], inbox_key, pod_key):
        with make_http(server, key) as client:
            for response in (
                client.get(f"/v0/drafts/{draft.draft_id}"),
                client.get(f"/v0/drafts/{draft.draft_id}/attachments/{aid}"),
                client.get(f"/v0/pods/{pod}/drafts/{draft.draft_id}"),
                client.get(f"/v0/inboxes/{mine}/drafts"),
                client.get(f"/v0/inboxes/{mine}/drafts/{draft.draft_id}"),
                client.get(f"/v0/inboxes/{mine}/drafts/{draft.draft_id}/attachments/{aid}"),
                client.post(f"/v0/inboxes/{mine}/drafts", json={"subject": "pwned"}),
                client.patch(f"/v0/inboxes/{mine}/drafts/{draft.draft_id}", json={"subject": "pwned"}),
                client.delete(f"/v0/inboxes/{mine}/drafts/{draft.draft_id}"),
                client.post(f"/v0/inboxes/{mine}/drafts/{draft.draft_id}/send"),
            ):
                error(response, 404, "not_found")
            for path in ("/v0/drafts", f"/v0/pods/{pod}/drafts"):
                response = client.get(path)
                if response.status_code == 200:  # the sibling inbox's key lists its own drafts in that pod
                    assert draft.draft_id not in {d.draft_id for d in ok(ListDraftsResponse, response).drafts}
                else:
                    error(response, 404, "not_found")
    with make_http(server, inbox_key) as client:  # the sibling inbox's own drafts stay reachable
        own = ok(Draft, client.post(f"/v0/inboxes/{sibling}/drafts", json={"subject": "mine"}))
        assert [d.draft_id for d in ok(ListDraftsResponse, client.get("/v0/drafts")).drafts] == [own.draft_id]
    foreign = make_sdk(server, other["api_key"])
    with pytest.raises(ApiError) as caught:
        foreign.inboxes.drafts.get(mine, draft.draft_id)
    assert caught.value.status_code == 404
    assert _draft(http, mine, draft.draft_id).subject == "secret"


def test_bad_input(sdk, http, server):
    alice = _inbox(sdk, "bad")
    base = f"/v0/inboxes/{alice}/drafts"
    first = sdk.inboxes.messages.send(alice, to="someone@example.test", subject="s", text="t")
    for body in (
        {"in_reply_to": first.message_id, "forward_of": first.message_id},
        {"reply_all": True},
        {"in_reply_to": first.message_id, "reply_all": True, "to": ["x@example.test"]},
        {"labels": ["draft"]}, {"labels": ["scheduled"]}, {"labels": ["sent"]},
        {"to": ["not-an-address"]}, {"to": "x@example.test"}, {"subject": "a\r\nBcc: v@example.test"},
        {"attachments": [{"filename": "x", "content": "not base64!!"}]},
        {"client_id": "has@sign"}, {"send_at": "not a date"},
    ):
        error(http.post(base, json=body), 400)
    body = error(http.post(base, json={"subject": "later", "send_at": format_timestamp(FAR)}), 400)
    assert body["message"] == ("A scheduled draft (send_at) must specify to, cc, or bcc unless it is a reply "
                               "(in_reply_to)")
    ignored = ok(Draft, http.post(base, json={"subject": "h", "headers": {"Bcc": "v@example.test"}}))
    assert ignored.bcc is None  # headers are not part of drafts: ignored, not refused
    error(http.post(base, json={"in_reply_to": "<nope@example.test>"}), 404, "not_found")
    error(http.post(base, json={"forward_of": "<nope@example.test>"}), 404, "not_found")
    # A reply draft may be scheduled without recipients (they are derived).
    reply = ok(Draft, http.post(base, json={"in_reply_to": first.message_id, "send_at": format_timestamp(FAR)}))
    assert reply.send_status == "scheduled" and reply.to == ["someone@example.test"]

    draft = ok(Draft, http.post(base, json={"subject": "no one"}))
    url = f"{base}/{draft.draft_id}"
    error(http.patch(url, json={"send_at": format_timestamp(FAR)}), 400)
    error(http.patch(url, json={"add_labels": ["draft"]}), 400)
    error(http.patch(url, json={"remove_labels": ["scheduled"]}), 400)
    error(http.post(f"{url}/send"), 400)  # nobody to send to: the draft stays
    error(http.post(f"{url}/send", headers={"Idempotency-Key": "bad key!"}), 400)
    assert _draft(http, alice, draft.draft_id).subject == "no one"
    all_reply = ok(Draft, http.post(base, json={"in_reply_to": first.message_id, "reply_all": True}))
    error(http.patch(f"{base}/{all_reply.draft_id}", json={"to": ["x@example.test"]}), 400)
    assert ok(Draft, http.patch(url, json={"to": [alice]})).to == [alice]
    error(http.post(f"{url}/send"), 400)  # an inbox cannot mail itself

    # A draft being sent can no longer be edited, deleted or sent again.
    _set_status(server, draft.draft_id, "sending")
    error(http.patch(url, json={"subject": "x"}), 409, "conflict")
    error(http.delete(url), 409, "conflict")
    error(http.post(f"{url}/send"), 409, "conflict")
    _set_status(server, draft.draft_id, None)
    error(http.get(f"{base}/{uuid.uuid4()}"), 404, "not_found")
    error(http.get(f"{base}/not-a-uuid"), 404, "not_found")
    error(http.get(f"/v0/inboxes/nobody-{uuid.uuid4().hex[:6]}@agentmail.localhost/drafts"), 404, "not_found")


def test_blocked_recipient_fails_scheduled_and_manual_sends(sdk, http, server):
    alice = _inbox(sdk, "blkd")
    assert http.post(f"/v0/inboxes/{alice}/lists/send/block", json={"entry": "blocked.example"}).status_code == 200
    manual = sdk.inboxes.drafts.create(alice, to=["x@blocked.example"], subject="manual", labels=["keep"],
                                       attachments=[SendAttachment(filename="k.txt", content=_b64(b"kept"))])
    error(http.post(f"/v0/inboxes/{alice}/drafts/{manual.draft_id}/send"), 403, "message_rejected")
    kept = _draft(http, alice, manual.draft_id)  # refused: the draft is still there, attachments and all
    assert kept.labels == ["draft", "keep"] and kept.send_status is None
    meta = sdk.inboxes.drafts.get_attachment(alice, manual.draft_id, kept.attachments[0].attachment_id)
    assert httpx.get(meta.download_url).content == b"kept"

    due = datetime.now(UTC) - timedelta(seconds=1)  # already due: goes out on the next sweep
    scheduled = sdk.inboxes.drafts.create(alice, to=["y@blocked.example"], subject="scheduled", send_at=due)
    failed = wait_for(lambda: (d := _draft(http, alice, scheduled.draft_id)).send_status == "failed" and d,
                      timeout=10, what="the scheduled send to fail")
    assert failed.labels == ["draft"]
    assert _sent(http, alice) == []
    # Retry by setting a new send_at (after unblocking).
    assert http.delete(f"/v0/inboxes/{alice}/lists/send/block/blocked.example").status_code in (200, 204)
    sdk.inboxes.drafts.update(alice, scheduled.draft_id, send_at=datetime.now(UTC))
    wait_for(lambda: _gone(http, alice, scheduled.draft_id), timeout=10, what="the retried draft to be sent")
    assert [m["subject"] for m in _sent(http, alice)] == ["scheduled"]


# --- scheduled sending ------------------------------------------------------------------------


def test_scheduled_draft_is_sent_once_at_its_time(sdk, http, server):
    alice, bob = _inbox(sdk, "sch", "Alice"), _inbox(sdk, "schb")
    send_at = datetime.now(UTC) + timedelta(seconds=2)
    draft = sdk.inboxes.drafts.create(alice, to=[bob], subject="On time", text="tick", send_at=send_at)
    assert draft.send_status == "scheduled" and "scheduled" in draft.labels
    assert not _gone(http, alice, draft.draft_id)
    wait_for(lambda: _gone(http, alice, draft.draft_id), timeout=10, what="the scheduled draft to be sent")
    [sent] = _sent(http, alice)
    assert sent["subject"] == "On time" and "scheduled" not in sent["labels"]
    assert datetime.fromisoformat(sent["timestamp"]) >= send_at.replace(microsecond=send_at.microsecond // 1000 * 1000)
    [received] = wait_messages(http, bob, 1)
    assert received["message_id"] == sent["message_id"]
    time.sleep(1.5)  # a later sweep does not send it again
    assert len(_sent(http, alice)) == 1 and len(wait_messages(http, bob, 1)) == 1


def test_stale_claims_are_retaken_without_sending_twice(sdk, http, server):
    """A worker that died after claiming: its draft is sent later, or only forgotten if it had gone out."""
    alice, bob = _inbox(sdk, "stale", "Alice"), _inbox(sdk, "staleb")
    org_id = sdk.auth.me().organization_id
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    # Died before its send committed: the claim is retaken and the draft sent.
    unsent = sdk.inboxes.drafts.create(alice, to=[bob], subject="Claimed, not sent", send_at=FAR)
    # Died after its send committed (simulated: the send's idempotency record exists): replayed, not resent.
    earlier = sdk.inboxes.messages.send(alice, to=[bob], subject="Already sent", text="once")
    sent = sdk.inboxes.drafts.create(alice, to=[bob], subject="Already sent", text="once", send_at=FAR)
    key = drafts_service.send_key(sent.draft_id)
    _db_write(server, rows=[IdempotencyRecord(
        organization_id=org_id, key=key.key, fingerprint=key.fingerprint, created_at=datetime.now(UTC),
        response={"message_id": earlier.message_id, "thread_id": earlier.thread_id})])
    for draft in (unsent, sent):
        _set_status(server, draft.draft_id, "sending", send_at=long_ago, updated_at=long_ago)
    wait_for(lambda: _gone(http, alice, unsent.draft_id) and _gone(http, alice, sent.draft_id), timeout=10,
             what="the stale claims to be retaken")
    assert sorted(m["subject"] for m in _sent(http, alice)) == ["Already sent", "Claimed, not sent"]
    assert len(wait_messages(http, bob, 2)) == 2


def test_scheduled_drafts_sent_once_with_two_server_processes(request, server, tmp_path):
    """The issue: several processes sweeping one database send each scheduled draft exactly once."""
    url = database_url(server.backend, tmp_path, request)
    fast = {"AGENTMAIL_DRAFT_SWEEP_SECONDS": "0.2"}  # many sweeps racing for the same drafts
    first = Server(backend=server.backend, database_url=url, workdir=tmp_path / "a", extra_env=fast).start()
    try:
        second = Server(backend=server.backend, database_url=url, workdir=tmp_path / "b", api_key=first.api_key,
                        extra_env=fast).start()
        try:
            sdk = make_sdk(first)
            alice, bob = _inbox(sdk, "two", "Alice"), _inbox(sdk, "twob")
            start = datetime.now(UTC)
            subjects = {f"Scheduled {i}": start + timedelta(seconds=2 + i * 0.25) for i in range(8)}
            # Created through both processes.
            for i, (subject, when) in enumerate(subjects.items()):
                client = sdk if i % 2 == 0 else make_sdk(second)
                client.inboxes.drafts.create(alice, to=[bob], subject=subject, text="once", send_at=when)
            with make_http(first) as http:
                wait_for(lambda: http.get(f"/v0/inboxes/{alice}/drafts").json()["count"] == 0, timeout=12,
                         what="every scheduled draft to be sent")
                time.sleep(1.0)  # let any duplicate sweep finish
                sent = _sent(http, alice)
                assert sorted(m["subject"] for m in sent) == sorted(subjects)  # each exactly once
                for message in sent:
                    due = subjects[message["subject"]]
                    assert datetime.fromisoformat(message["timestamp"]) >= due.replace(
                        microsecond=due.microsecond // 1000 * 1000), message
                received = wait_messages(http, bob, len(subjects))
                time.sleep(0.5)
                received = http.get(f"/v0/inboxes/{bob}/messages", params={"limit": 100}).json()["messages"]
                assert sorted(m["subject"] for m in received) == sorted(subjects)
        finally:
            second.stop()
    finally:
        first.stop()
