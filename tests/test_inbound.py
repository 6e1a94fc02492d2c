"""Inbound mail over a real SMTP socket, read back through the official SDK and raw HTTP."""

from __future__ import annotations

import smtplib
import uuid
from email.utils import make_msgid

import httpx
import pytest
from agentmail.inboxes import CreateInboxRequest

from agentmail_server.schemas.messages import (
    AttachmentResponse,
    ListMessagesResponse,
    ListThreadsResponse,
    Message,
    RawMessageResponse,
    Thread,
)

from .mail_helpers import build, send_raw, smtp, wait_for, wait_messages
from .wire import check, error, ok

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5d6a3f20000000049454e44ae426082")


def new_inbox(sdk, prefix: str = "in") -> str:
    return sdk.inboxes.create(request=CreateInboxRequest(username=f"{prefix}-{uuid.uuid4().hex[:10]}")).inbox_id


def test_message_read_back_with_bodies_attachments_and_raw(sdk, http, server):
    inbox = new_inbox(sdk)
    msg = build(to=inbox, subject="Quarterly report ✓", text="Numbers attached.\n", html="<p>Numbers <b>attached</b>.</p>",
                headers={"X-Agent-Test": "yes"}, attachments=[("pixel.png", "image/png", PNG),
                                                               ("notes.txt", "text/plain", b"plain notes\n")])
    raw = msg.as_bytes().replace(b"\n", b"\r\n")
    send_raw(server, raw, [inbox])
    [item] = wait_messages(http, inbox, 1)
    listing = ok(ListMessagesResponse, http.get(f"/v0/inboxes/{inbox}/messages"))
    assert listing.count == 1 and listing.messages[0].message_id == msg["Message-ID"]

    got = sdk.inboxes.messages.get(inbox, item["message_id"])
    body = check(Message, http.get(f"/v0/inboxes/{inbox}/messages/{item['message_id']}").json())
    assert got.message_id == body.message_id == msg["Message-ID"]
    assert got.subject == "Quarterly report ✓"
    assert got.from_ == "Alice Example <alice@example.test>"
    assert got.to == [inbox]
    assert sorted(got.labels) == ["received", "unread"]
    assert got.text.strip() == "Numbers attached."
    assert "<b>attached</b>" in got.html
    assert got.preview.startswith("Numbers attached")
    assert got.headers["X-Agent-Test"] == "yes"
    assert got.size == len(raw)
    names = {a.filename: a for a in got.attachments}
    assert set(names) == {"pixel.png", "notes.txt"}
    assert names["pixel.png"].size == len(PNG) and names["pixel.png"].content_type == "image/png"

    for name, data in (("pixel.png", PNG), ("notes.txt", b"plain notes\n")):
        att = ok(AttachmentResponse, http.get(
            f"/v0/inboxes/{inbox}/messages/{item['message_id']}/attachments/{names[name].attachment_id}"))
        downloaded = httpx.get(att.download_url)  # signed: no API key
        assert downloaded.status_code == 200 and downloaded.content.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")
        if name == "pixel.png":
            assert downloaded.content == PNG

    raw_info = ok(RawMessageResponse, http.get(f"/v0/inboxes/{inbox}/messages/{item['message_id']}/raw"))
    assert raw_info.size == len(raw)
    assert httpx.get(raw_info.download_url).content == raw
    assert httpx.get(raw_info.download_url + "x").status_code == 404

    thread = sdk.threads.get(got.thread_id)
    assert thread.message_count == 1 and thread.messages[0].message_id == got.message_id
    check(Thread, http.get(f"/v0/threads/{got.thread_id}").json())


def test_unknown_and_foreign_recipients_are_refused(sdk, server):
    inbox = new_inbox(sdk)
    with smtp(server) as client:
        client.ehlo()
        assert client.mail("x@example.test")[0] == 250
        assert client.rcpt("nobody-here@agentmail.localhost")[0] == 550
        assert client.rcpt("someone@gmail.com")[0] == 550  # never an open relay
        assert client.rcpt(inbox)[0] == 250
        client.rset()
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_raw(server, build(to="ghost@agentmail.localhost").as_bytes(), ["ghost@agentmail.localhost"])


def test_paused_inbox_refuses_mail(sdk, server):
    inbox = new_inbox(sdk)
    sdk.inboxes.update(inbox, status="paused")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_raw(server, build(to=inbox).as_bytes(), [inbox])


def test_one_transaction_to_two_inboxes_gives_one_copy_each(sdk, http, server):
    a, b = new_inbox(sdk, "a"), new_inbox(sdk, "b")
    msg = build(to=[a, b])
    send_raw(server, msg.as_bytes(), [a, b])
    [ma] = wait_messages(http, a, 1)
    [mb] = wait_messages(http, b, 1)
    assert ma["message_id"] == mb["message_id"] == msg["Message-ID"]
    assert ma["thread_id"] != mb["thread_id"]


def test_subaddress_reaches_the_inbox(sdk, http, server):
    inbox = new_inbox(sdk)
    local, domain = inbox.split("@")
    send_raw(server, build(to=f"{local}+tag@{domain}").as_bytes(), [f"{local}+tag@{domain}"])
    assert len(wait_messages(http, inbox, 1)) == 1


def test_sender_retry_is_not_stored_twice(sdk, http, server):
    inbox = new_inbox(sdk)
    raw = build(to=inbox).as_bytes()
    send_raw(server, raw, [inbox])
    send_raw(server, raw, [inbox])
    other = new_inbox(sdk)  # a later message proves processing moved past the duplicate
    send_raw(server, build(to=other).as_bytes(), [other])
    wait_messages(http, other, 1)
    wait_messages(http, inbox, 1)
    assert http.get(f"/v0/inboxes/{inbox}/messages").json()["count"] == 1


def test_out_of_order_conversation_forms_one_thread(sdk, http, server):
    inbox = new_inbox(sdk)
    ids = [make_msgid(domain="example.test") for _ in range(5)]
    subjects = ["Planning", "Re: Planning", "AW: Planning", "RE: Re: Planning", "回复: Planning"]
    msgs = []
    for i, mid in enumerate(ids):
        msgs.append(build(to=inbox, subject=subjects[i], message_id=mid, text=f"part {i}",
                          in_reply_to=ids[i - 1] if i else None, references=ids[:i] or None))
    for i in (3, 0, 4, 2, 1):  # replies before parents
        send_raw(server, msgs[i].as_bytes(), [inbox])
    items = wait_messages(http, inbox, 5)
    assert len({m["thread_id"] for m in items}) == 1
    thread = sdk.inboxes.threads.get(inbox, items[0]["thread_id"])
    assert thread.message_count == 5 and len(thread.messages) == 5
    assert sorted(m.message_id for m in thread.messages) == sorted(ids)
    threads = ok(ListThreadsResponse, http.get(f"/v0/inboxes/{inbox}/threads"))
    assert threads.count == 1


def test_same_subject_different_conversations_stay_apart(sdk, http, server):
    inbox = new_inbox(sdk)
    first = build(to=inbox, subject="Hello")
    second = build(to=inbox, subject="Hello")
    send_raw(server, first.as_bytes(), [inbox])
    send_raw(server, second.as_bytes(), [inbox])
    # A stray References header pointing at the first conversation, with an unrelated subject.
    stray = build(to=inbox, subject="Invoice 4411", references=[first["Message-ID"]])
    send_raw(server, stray.as_bytes(), [inbox])
    items = wait_messages(http, inbox, 3)
    assert len({m["thread_id"] for m in items}) == 3


def test_parent_arriving_after_a_rejected_reply_keeps_its_own_replies(sdk, http, server):
    # A reply with an unrelated subject leaves a phantom ref for its parent in its own thread. When the
    # parent arrives (its subject rejects that thread), the ref must move to the parent's new thread,
    # so the parent's real replies find it.
    inbox = new_inbox(sdk)
    parent_id = make_msgid(domain="example.test")
    stray = build(to=inbox, subject="Invoice 4411", in_reply_to=parent_id, references=[parent_id])
    send_raw(server, stray.as_bytes(), [inbox])
    wait_messages(http, inbox, 1)
    send_raw(server, build(to=inbox, subject="Lunch", message_id=parent_id).as_bytes(), [inbox])
    wait_messages(http, inbox, 2)
    reply = build(to=inbox, subject="Re: Lunch", in_reply_to=parent_id, references=[parent_id])
    send_raw(server, reply.as_bytes(), [inbox])
    items = {m["subject"]: m["thread_id"] for m in wait_messages(http, inbox, 3)}
    assert items["Re: Lunch"] == items["Lunch"] != items["Invoice 4411"]
    thread = ok(Thread, http.get(f"/v0/inboxes/{inbox}/threads/{items['Lunch']}"))
    assert thread.message_count == 2 and thread.subject == "Lunch"


def test_labels_update_filter_and_thread_union(sdk, http, server):
    inbox = new_inbox(sdk)
    send_raw(server, build(to=inbox, subject="Label me").as_bytes(), [inbox])
    [item] = wait_messages(http, inbox, 1)
    mid = item["message_id"]
    updated = sdk.inboxes.messages.update(inbox, mid, add_labels=["important", "Follow-Up"], remove_labels="unread")
    assert sorted(updated.labels) == ["follow-up", "important", "received"]
    error(http.patch(f"/v0/inboxes/{inbox}/messages/{mid}", json={"add_labels": ["sent"]}), 400)
    error(http.patch(f"/v0/inboxes/{inbox}/messages/{mid}", json={}), 400)
    only = http.get(f"/v0/inboxes/{inbox}/messages", params={"labels": '["important"]'}).json()
    assert only["count"] == 1
    none = http.get(f"/v0/inboxes/{inbox}/messages", params=[("labels", "important"), ("labels", "nope")]).json()
    assert none["count"] == 0
    thread = sdk.threads.get(item["thread_id"])
    assert "important" in thread.labels
    t = sdk.threads.update(item["thread_id"], add_labels=["archived"], remove_labels=["important"])
    assert "archived" in t.labels and "important" not in t.labels
    assert "archived" in sdk.inboxes.messages.get(inbox, mid).labels


def test_trash_is_hidden_unless_included(sdk, http, server):
    inbox = new_inbox(sdk)
    send_raw(server, build(to=inbox).as_bytes(), [inbox])
    [item] = wait_messages(http, inbox, 1)
    sdk.inboxes.messages.update(inbox, item["message_id"], add_labels="trash")
    assert http.get(f"/v0/inboxes/{inbox}/messages").json()["count"] == 0
    assert http.get(f"/v0/inboxes/{inbox}/messages", params={"include_trash": "true"}).json()["count"] == 1
    assert http.get(f"/v0/inboxes/{inbox}/threads").json()["count"] == 0


def test_batch_get_and_update(sdk, http, server):
    inbox = new_inbox(sdk)
    for i in range(3):
        send_raw(server, build(to=inbox, subject=f"batch {i}").as_bytes(), [inbox])
    items = wait_messages(http, inbox, 3)
    ids = [m["message_id"] for m in items]
    got = http.post(f"/v0/inboxes/{inbox}/messages/batch-get", json={"message_ids": [ids[2], "<nope@x>", ids[0]]}).json()
    assert got["limit"] == 3 and got["count"] == 2
    assert [m["message_id"] for m in got["messages"]] == [ids[2], ids[0]]
    assert all("text" not in m for m in got["messages"])
    error(http.post(f"/v0/inboxes/{inbox}/messages/batch-get", json={"message_ids": [ids[0], ids[0]]}), 400)
    upd = http.post(f"/v0/inboxes/{inbox}/messages/batch-update",
                    json={"message_ids": ids, "remove_labels": "unread"}).json()
    assert upd["count"] == 3 and all("unread" not in u["labels"] for u in upd["updates"])
    error(http.post(f"/v0/inboxes/{inbox}/messages/batch-update",
                    json={"message_ids": [ids[0], "<missing@x>"], "add_labels": "x"}), 404)
    assert "x" not in sdk.inboxes.messages.get(inbox, ids[0]).labels  # atomic


def test_delete_message_and_thread(sdk, http, server):
    inbox = new_inbox(sdk)
    first = build(to=inbox, subject="Delete me")
    reply = build(to=inbox, subject="Re: Delete me", in_reply_to=first["Message-ID"], references=[first["Message-ID"]])
    send_raw(server, first.as_bytes(), [inbox])
    send_raw(server, reply.as_bytes(), [inbox])
    items = wait_messages(http, inbox, 2)
    thread_id = items[0]["thread_id"]
    sdk.inboxes.messages.delete(inbox, first["Message-ID"])
    error(http.get(f"/v0/inboxes/{inbox}/messages/{first['Message-ID']}"), 404)
    assert sdk.threads.get(thread_id).message_count == 1
    sdk.threads.delete(thread_id)
    error(http.get(f"/v0/threads/{thread_id}"), 404)
    assert http.get(f"/v0/inboxes/{inbox}/messages").json()["count"] == 0


def test_message_ids_with_slashes_and_plus_route(sdk, http, server):
    inbox = new_inbox(sdk)
    mid = f"<a/b+c{uuid.uuid4().hex[:6]}@example.test>"
    send_raw(server, build(to=inbox, message_id=mid).as_bytes(), [inbox])
    wait_messages(http, inbox, 1)
    assert sdk.inboxes.messages.get(inbox, mid).message_id == mid  # the SDK sends "/" unencoded
    from urllib.parse import quote

    assert http.get(f"/v0/inboxes/{inbox}/messages/{quote(mid, safe='')}").json()["message_id"] == mid
    assert http.get(f"/v0/inboxes/{inbox}/messages/{quote(mid, safe='')}/raw").status_code == 200


def test_thread_tenancy_and_bad_ids(sdk, http, server):
    inbox = new_inbox(sdk)
    send_raw(server, build(to=inbox).as_bytes(), [inbox])
    [item] = wait_messages(http, inbox, 1)
    other = server.cli("create-organization")
    from .conftest import make_http

    with make_http(server, other["api_key"]) as foreign:
        error(foreign.get(f"/v0/threads/{item['thread_id']}"), 404)
        error(foreign.get(f"/v0/inboxes/{inbox}/messages"), 404)
        error(foreign.get(f"/v0/inboxes/{inbox}/messages/{item['message_id']}"), 404)
        assert foreign.get("/v0/threads").json()["count"] == 0
    error(http.get("/v0/threads/not-a-uuid"), 400)
    error(http.get(f"/v0/threads/{uuid.uuid4()}"), 404)
    error(http.get(f"/v0/inboxes/{inbox}/messages/<missing@x>"), 404)


def test_blocked_and_spam_are_hidden_unless_included_and_permitted(sdk, http, server):
    from agentmail import ApiKeyPermissions, CreateBearerApiKeyRequest

    from .conftest import make_http

    inbox = new_inbox(sdk)
    blocked_sender = f"pest-{uuid.uuid4().hex[:6]}@spammy.example"
    assert http.post(f"/v0/inboxes/{inbox}/lists/receive/block", json={"entry": blocked_sender}).status_code == 200
    send_raw(server, build(to=inbox, sender=blocked_sender, subject="Buy now").as_bytes(), [inbox])
    send_raw(server, build(to=inbox, subject="Cheap pills", headers={"X-Spam-Flag": "YES"}).as_bytes(), [inbox])
    send_raw(server, build(to=inbox, subject="Normal").as_bytes(), [inbox])

    def all_three():
        body = http.get(f"/v0/inboxes/{inbox}/messages",
                        params={"include_blocked": "true", "include_spam": "true"}).json()
        return body["messages"] if body["count"] == 3 else None

    items = {m["subject"]: m for m in wait_for(all_three)}
    assert "blocked" in items["Buy now"]["labels"] and "spam" in items["Cheap pills"]["labels"]
    visible = http.get(f"/v0/inboxes/{inbox}/messages").json()
    assert [m["subject"] for m in visible["messages"]] == ["Normal"]
    assert http.get(f"/v0/inboxes/{inbox}/messages", params={"include_spam": "true"}).json()["count"] == 2
    # The include flag needs the matching permission too.
    key = sdk.api_keys.create(request=CreateBearerApiKeyRequest(
        name="reader", permissions=ApiKeyPermissions(inbox_read=True, message_read=True))).api_key
    with make_http(server, key) as reader:
        assert reader.get(f"/v0/inboxes/{inbox}/messages", params={"include_spam": "true"}).json()["count"] == 1
        error(reader.get(f"/v0/inboxes/{inbox}/messages/{items['Cheap pills']['message_id']}"), 404)
    assert http.get(f"/v0/inboxes/{inbox}/messages/{items['Cheap pills']['message_id']}").status_code == 200
    # Search never shows restricted mail.
    assert http.get(f"/v0/inboxes/{inbox}/messages/search", params={"q": "pills"}).json()["count"] == 0


def test_message_and_thread_search(sdk, http, server):
    from agentmail_server.schemas.messages import SearchMessagesResponse, SearchThreadsResponse

    inbox = new_inbox(sdk)
    tag = uuid.uuid4().hex[:8]
    send_raw(server, build(to=inbox, subject=f"Invoices for {tag}", text="Please find the invoices attached.").as_bytes(), [inbox])
    send_raw(server, build(to=inbox, subject="Lunch", text=f"Pizza at noon? ref {tag}").as_bytes(), [inbox])
    send_raw(server, build(to=inbox, subject="Unrelated", text="nothing to see").as_bytes(), [inbox])
    wait_messages(http, inbox, 3)
    found = ok(SearchMessagesResponse, http.get(f"/v0/inboxes/{inbox}/messages/search", params={"q": "invoice"}))
    assert [m.subject for m in found.messages] == [f"Invoices for {tag}"]  # prefix match: invoice → invoices
    assert found.messages[0].highlights.subject == [f"**Invoices** for {tag}"]
    both = sdk.inboxes.messages.search(inbox, q=tag)
    assert {m.subject for m in both.messages} == {f"Invoices for {tag}", "Lunch"}
    assert sdk.inboxes.messages.search(inbox, q=f"pizza {tag}").count == 1
    assert sdk.inboxes.messages.search(inbox, q="zzzunmatched").count == 0
    threads = ok(SearchThreadsResponse, http.get("/v0/threads/search", params={"q": tag}))
    assert threads.count == 2
    assert sdk.inboxes.threads.search(inbox, q="pizza").count == 1
    error(http.get(f"/v0/inboxes/{inbox}/messages/search", params={"q": "  "}), 400)
    error(http.get(f"/v0/inboxes/{inbox}/messages/search", params={"q": "x", "limit": 101}), 400)


def test_text_filters_and_thread_pages(sdk, http, server):
    inbox = new_inbox(sdk)
    first = build(to=inbox, subject="Long chat", sender="Bob Stone <bob@example.test>")
    send_raw(server, first.as_bytes(), [inbox])
    prev = [first["Message-ID"]]
    for i in range(4):
        m = build(to=inbox, subject="Re: Long chat", in_reply_to=prev[-1], references=list(prev), text=f"reply {i}")
        send_raw(server, m.as_bytes(), [inbox])
        prev.append(m["Message-ID"])
    items = wait_messages(http, inbox, 5)
    assert http.get(f"/v0/inboxes/{inbox}/messages", params={"from": "bob"}).json()["count"] == 1
    assert http.get(f"/v0/inboxes/{inbox}/messages", params={"from": '["stone", "bob@"]'}).json()["count"] == 1
    assert http.get(f"/v0/inboxes/{inbox}/messages", params={"subject": "re: long"}).json()["count"] == 4
    thread_id = items[0]["thread_id"]
    assert http.get(f"/v0/inboxes/{inbox}/threads", params={"senders": "bob@example.test"}).json()["count"] == 1
    page1 = ok(Thread, http.get(f"/v0/threads/{thread_id}", params={"limit": 2}))
    assert page1.message_count == 5 and page1.count == 2 and page1.next_page_token
    assert page1.messages[-1].message_id == prev[-1]  # newest page first, oldest → newest inside it
    page2 = ok(Thread, http.get(f"/v0/threads/{thread_id}", params={"limit": 2, "page_token": page1.next_page_token}))
    page3 = ok(Thread, http.get(f"/v0/threads/{thread_id}", params={"limit": 2, "page_token": page2.next_page_token}))
    assert page3.next_page_token is None
    order = [m.message_id for p in (page3, page2, page1) for m in p.messages]
    assert order == prev
