"""The label audit log (REFERENCE §2.15) through the SDK, with raw bodies checked against our models."""

from __future__ import annotations

import uuid

import pytest
from agentmail.core.api_error import ApiError

from agentmail_server.schemas.inbox_events import ListInboxEventsResponse

from .conftest import make_http, make_sdk
from .mail_helpers import build, crlf, send_raw, wait_messages
from .wire import error, ok


def _inbox(http) -> str:
    return http.post("/v0/inboxes", json={"username": f"ev-{uuid.uuid4().hex[:10]}"}).json()["inbox_id"]


def _events(http, inbox: str, **params) -> ListInboxEventsResponse:
    return ok(ListInboxEventsResponse, http.get(f"/v0/inboxes/{inbox}/events", params=params))


def _receive(server, http, inbox: str, subject: str = "hello") -> str:
    send_raw(server, crlf(build(to=inbox, subject=subject, text="hi\n").as_bytes()), [inbox])
    [message] = wait_messages(http, inbox, 1)
    return message["message_id"]


def test_received_labels_and_updates_are_logged_newest_first(sdk, http, server):
    inbox = _inbox(http)
    message_id = _receive(server, http, inbox)
    sdk.inboxes.messages.update(inbox, message_id, add_labels=["todo"], remove_labels=["unread"])

    listed = sdk.inboxes.events.list(inbox)
    body = _events(http, inbox)
    assert listed.count == body.count == 4
    kinds = [(e.event_type, e.label) for e in body.events]
    # Newest first: the update's two changes after the two labels the message arrived with.
    assert sorted(kinds[:2]) == [("label.added", "todo"), ("label.removed", "unread")]
    assert sorted(kinds[2:]) == [("label.added", "received"), ("label.added", "unread")]
    ids = [e.event_id for e in body.events]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    first = body.events[-1]
    assert (first.inbox_id, first.message_id) == (inbox, message_id)
    assert first.organization_id and first.pod_id and first.event_at and first.created_at
    assert [e.event_id for e in listed.events] == ids

    oldest = _events(http, inbox, ascending="true")
    assert [e.event_id for e in oldest.events] == ids[::-1]


def test_unchanged_labels_log_nothing_and_paging_walks_everything(sdk, http, server):
    inbox = _inbox(http)
    message_id = _receive(server, http, inbox)
    sdk.inboxes.messages.update(inbox, message_id, add_labels=["received-before"])
    sdk.inboxes.messages.update(inbox, message_id, add_labels=["received-before"])  # already there
    assert _events(http, inbox).count == 3

    seen, token = [], None
    while True:
        page = _events(http, inbox, limit=1, **({"page_token": token} if token else {}))
        seen += [e.event_id for e in page.events]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 3


def test_sent_mail_is_logged(sdk, http, server):
    inbox = _inbox(http)
    other = _inbox(http)
    sdk.inboxes.messages.send(inbox, to=[other], subject="out", text="x")
    labels = {e.label for e in _events(http, inbox).events}
    assert "sent" in labels


def test_scope_walls_and_restricted_labels(sdk, http, server):
    inbox, other = _inbox(http), _inbox(http)
    message_id = _receive(server, http, inbox)
    sdk.inboxes.messages.update(inbox, message_id, add_labels=["spam"])
    assert "spam" in {e.label for e in _events(http, inbox).events}

    key = http.post(f"/v0/inboxes/{other}/api-keys", json={"name": "other"}).json()["api_key"]
    with make_http(server, key) as foreign:
        error(foreign.get(f"/v0/inboxes/{inbox}/events"), 404)
    with pytest.raises(ApiError) as caught:
        make_sdk(server, key).inboxes.events.list(inbox)
    assert caught.value.status_code == 404

    reader = http.post(f"/v0/inboxes/{inbox}/api-keys",
                       json={"name": "reader", "permissions": {"message_read": True}}).json()["api_key"]
    with make_http(server, reader) as limited:
        labels = {e.label for e in _events(limited, inbox).events}
    assert "spam" not in labels and "received" in labels

    error(http.get("/v0/inboxes/nobody-here@agentmail.localhost/events"), 404)
    error(http.get(f"/v0/inboxes/{inbox}/events", params={"limit": 0}), 400)
    error(http.get(f"/v0/inboxes/{inbox}/events", params={"page_token": "garbage"}), 400)
