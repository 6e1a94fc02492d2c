"""The WebSocket event channel (REFERENCE §2.14): the official SDK's clients, raw frames, scope walls,
filters, error frames, unsubscribe, handshake failures and the `since` replay (on both backends)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websockets.sync.client as ws_client
from agentmail import Subscribe
from agentmail.core.api_error import ApiError
from agentmail.events.types.message_received_event import MessageReceivedEvent as SdkReceived
from agentmail.events.types.message_sent_event import MessageSentEvent as SdkSent
from agentmail.websockets.types.subscribed import Subscribed as SdkSubscribed
from pydantic import BaseModel, ConfigDict
from websockets.exceptions import InvalidStatus

from agentmail_server.db.engine import Database
from agentmail_server.schemas.common import ErrorResponse, Timestamp
from agentmail_server.schemas.messages import MessageReceivedEvent
from agentmail_server.schemas.resources import CreateApiKeyResponse, Inbox, Pod

from .conftest import make_async_sdk, make_sdk
from .mail_helpers import build, send_raw, wait_for
from .server import Server
from .wire import check, ok

DEFAULT_TYPES = [
    "message.received", "message.security.completed", "message.security.review", "message.security.override",
    "message.sent", "message.delivered", "message.bounced", "message.complained", "message.rejected",
    "message.opened", "domain.verified", "calendar.event.created", "calendar.event.updated",
    "calendar.event.deleted", "calendar.event.responded", "calendar.event.starting", "calendar.event.ending",
]


# --- wire models for frames the server schemas don't model -------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Send(Strict):
    inbox_id: str
    thread_id: str
    message_id: str
    timestamp: Timestamp
    recipients: list[str]


class MessageSentEvent(Strict):
    type: str
    event_type: str
    event_id: str
    send: Send


class Subscribed(Strict):
    type: str
    inbox_ids: list[str] | None = None
    pod_ids: list[str] | None = None
    event_types: list[str] | None = None
    organization_id: str


class ErrorFrame(ErrorResponse):
    type: str


# --- helpers ------------------------------------------------------------------------------------


def name(prefix: str = "ws") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_inbox(http: httpx.Client, path: str = "/v0/inboxes") -> str:
    return ok(Inbox, http.post(path, json={"username": name()})).inbox_id


def new_pod(http: httpx.Client) -> str:
    return ok(Pod, http.post("/v0/pods", json={"name": name("pod")})).pod_id


def new_key(http: httpx.Client, path: str = "/v0/api-keys", **body: Any) -> str:
    return ok(CreateApiKeyResponse, http.post(path, json={"name": name("key"), **body})).api_key


def deliver(server: Server, http: httpx.Client, inbox_id: str, *, subject: str | None = None,
            headers: dict[str, str] | None = None, text: str = "Hi there") -> str:
    """Mail `inbox_id` over SMTP and wait until it is stored (its event is then committed)."""
    subject = subject or name("subj")
    send_raw(server, build(to=inbox_id, subject=subject, headers=headers, text=text).as_bytes(), [inbox_id])
    params = {"limit": 100, "include_spam": "true", "include_unauthenticated": "true", "include_blocked": "true"}

    def stored() -> bool:
        body = http.get(f"/v0/inboxes/{inbox_id}/messages", params=params).json()
        return any(m.get("subject") == subject for m in body.get("messages", []))

    wait_for(stored, what=f"{subject} stored in {inbox_id}")
    return subject


class Raw:
    """A plain WebSocket client, to see frames exactly as sent."""

    def __init__(self, server: Server, key: str | None = None, *, via: str = "header",
                 query: dict[str, str] | None = None) -> None:
        key = key or server.api_key
        params = dict(query or {})
        headers = {}
        if via == "header":
            headers["Authorization"] = f"Bearer {key}"
        else:
            params[via] = key
        url = f"{server.ws_url}/v0" + (f"?{urlencode(params)}" if params else "")
        self.ws = ws_client.connect(url, additional_headers=headers, open_timeout=10).__enter__()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    def send(self, frame: dict[str, Any] | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout: float = 15) -> dict[str, Any]:
        data = self.ws.recv(timeout=timeout)
        assert isinstance(data, str), "binary frame"
        return json.loads(data)  # type: ignore[no-any-return]

    def subscribe(self, **fields: Any) -> dict[str, Any]:
        self.send({"type": "subscribe", **fields})
        frame = self.recv()
        assert frame["type"] == "subscribed", frame
        check(Subscribed, frame)
        return frame

    def event(self, timeout: float = 15) -> dict[str, Any]:
        frame = self.recv(timeout)
        assert frame["type"] == "event", frame
        return frame

    def error(self, code: str) -> dict[str, Any]:
        frame = self.recv()
        assert frame["type"] == "error" and frame["code"] == code, frame
        check(ErrorFrame, frame)
        return frame

    def until(self, wanted: Any, timeout: float = 15) -> dict[str, Any]:
        """The next event frame for which `wanted(frame)` holds, skipping other events (not other frames)."""
        while True:
            frame = self.event(timeout)
            if wanted(frame):
                return frame

    def quiet(self, wait: float = 0.4) -> None:
        with pytest.raises(TimeoutError):
            frame = self.ws.recv(timeout=wait)
            pytest.fail(f"unexpected frame {frame}")


def subject_of(frame: dict[str, Any]) -> str:
    return frame["message"]["subject"]  # type: ignore[no-any-return]


# --- the official Python SDK ----------------------------------------------------------------------


def test_sync_sdk_receives_message_received_with_complete_objects(server, http):
    inbox = new_inbox(http)
    sdk = make_sdk(server)
    with sdk.websockets.connect() as socket, Raw(server) as raw:
        socket.send_subscribe(Subscribe(inbox_ids=[inbox], event_types=["message.received"]))
        subscribed = socket.recv()
        assert isinstance(subscribed, SdkSubscribed)
        assert subscribed.inbox_ids == [inbox] and subscribed.event_types == ["message.received"]
        raw.subscribe(inbox_ids=[inbox])
        subject = deliver(server, http, inbox)
        event = socket.recv()
        frame = raw.event()
    assert isinstance(event, SdkReceived)
    assert event.type == "event" and event.event_type == "message.received" and event.event_id
    assert event.message.subject == subject and event.message.inbox_id == inbox
    assert event.message.text.strip() == "Hi there" and "received" in event.message.labels
    assert event.thread.thread_id == event.message.thread_id and event.thread.message_count == 1
    # The raw frame, strictly: every required field, nothing unknown, ms-Z timestamps, no nulls.
    checked = check(MessageReceivedEvent, frame)
    assert checked.event_id == event.event_id
    stored = http.get(f"/v0/inboxes/{inbox}/messages/{event.message.message_id}").json()
    assert frame["message"] == stored
    assert frame["thread"]["thread_id"] == stored["thread_id"]


async def test_async_sdk_receives_received_and_sent(server, http):
    sender, receiver = new_inbox(http), new_inbox(http)
    client = make_async_sdk(server)
    async with client.websockets.connect() as socket:
        await socket.send_subscribe(Subscribe(inbox_ids=[sender, receiver]))
        subscribed = await socket.recv()
        assert isinstance(subscribed, SdkSubscribed)
        assert sorted(subscribed.inbox_ids) == sorted([sender, receiver])
        assert subscribed.event_types == DEFAULT_TYPES
        sent = await client.inboxes.messages.send(sender, to=receiver, subject="ws hello", text="local")
        events = [await asyncio.wait_for(socket.recv(), 15) for _ in range(2)]
    by_type = {e.event_type: e for e in events}
    assert set(by_type) == {"message.sent", "message.received"}
    sent_event = by_type["message.sent"]
    assert isinstance(sent_event, SdkSent)
    assert sent_event.send.message_id == sent.message_id and sent_event.send.thread_id == sent.thread_id
    assert sent_event.send.inbox_id == sender and sent_event.send.recipients == [receiver]
    received = by_type["message.received"]
    assert isinstance(received, SdkReceived)
    assert received.message.inbox_id == receiver and received.message.subject == "ws hello"


def test_message_sent_frame_is_exact(server, http):
    sender, receiver = new_inbox(http), new_inbox(http)
    with Raw(server) as raw:
        raw.subscribe(inbox_ids=[sender], event_types=["message.sent"])
        response = http.post(f"/v0/inboxes/{sender}/messages/send",
                             json={"to": [receiver], "subject": "exact", "text": "x"})
        assert response.status_code == 200, response.text
        frame = raw.event()
        raw.quiet()
    event = check(MessageSentEvent, frame)
    assert (event.type, event.event_type) == ("event", "message.sent")
    assert event.send.message_id == response.json()["message_id"] and event.send.recipients == [receiver]


def test_large_bodies_are_left_out_of_frames(server, http):
    inbox = new_inbox(http)
    with Raw(server) as raw:
        raw.subscribe(inbox_ids=[inbox])
        subject = deliver(server, http, inbox, text="x" * 70_000)
        frame = raw.event()
    assert subject_of(frame) == subject
    assert not {"text", "html", "extracted_text", "extracted_html"} & set(frame["message"])
    check(MessageReceivedEvent, frame)


# --- scope walls and filters --------------------------------------------------------------------


def test_org_key_filters_by_inbox_pod_and_type(server, http):
    pod = new_pod(http)
    in_pod = new_inbox(http, f"/v0/pods/{pod}/inboxes")
    plain, other = new_inbox(http), new_inbox(http)
    with Raw(server) as by_pod, Raw(server) as by_inbox, Raw(server) as sent_only, Raw(server) as whole:
        assert by_pod.subscribe(pod_ids=[pod])["pod_ids"] == [pod]
        by_inbox.subscribe(inbox_ids=[plain])
        assert sent_only.subscribe(event_types=["message.sent"])["event_types"] == ["message.sent"]
        echo = whole.subscribe()
        assert echo["event_types"] == DEFAULT_TYPES and "inbox_ids" not in echo and "pod_ids" not in echo
        first = deliver(server, http, other)
        second = deliver(server, http, plain)
        third = deliver(server, http, in_pod)
        # The whole organization: other tests' background activity may show up too; ours arrive in order.
        ours = {other, plain, in_pod}
        seen = [whole.until(lambda f: f.get("message", {}).get("inbox_id") in ours) for _ in range(3)]
        assert [subject_of(f) for f in seen] == [first, second, third]
        assert subject_of(by_inbox.event()) == second
        assert subject_of(by_pod.event()) == third
        http.post(f"/v0/inboxes/{plain}/messages/send", json={"to": [other], "subject": "out", "text": "x"})
        frame = sent_only.until(lambda f: f["send"]["inbox_id"] == plain)
        assert frame["event_type"] == "message.sent"
        by_pod.quiet(0.2)


def test_pod_key_sees_only_its_pod(server, http):
    pod = new_pod(http)
    inside = new_inbox(http, f"/v0/pods/{pod}/inboxes")
    outside = new_inbox(http)
    key = new_key(http, f"/v0/pods/{pod}/api-keys")
    with Raw(server, key) as raw:
        frame = raw.subscribe()
        raw.send({"type": "subscribe", "inbox_ids": [outside]})
        raw.error("not_found")
        raw.send({"type": "subscribe", "pod_ids": [server_org_pod(http)]})
        raw.error("not_found")
        assert raw.subscribe(pod_ids=[pod])["pod_ids"] == [pod]
        deliver(server, http, outside)
        marker = deliver(server, http, inside)
        assert subject_of(raw.event()) == marker
        raw.quiet(0.2)
    assert frame["organization_id"]


def server_org_pod(http: httpx.Client) -> str:
    """The default pod, whose id is the organization id."""
    return str(http.get("/v0/auth/me").json()["organization_id"])


def test_inbox_key_sees_only_its_inbox(server, http):
    mine, theirs = new_inbox(http), new_inbox(http)
    key = new_key(http, f"/v0/inboxes/{mine}/api-keys")
    with Raw(server, key) as raw:
        raw.send({"type": "subscribe", "pod_ids": [server_org_pod(http)]})
        raw.error("forbidden")
        raw.send({"type": "subscribe", "inbox_ids": [theirs]})
        raw.error("not_found")
        raw.subscribe()
        assert raw.subscribe(inbox_ids=[mine.upper()])["inbox_ids"] == [mine]
        deliver(server, http, theirs)
        marker = deliver(server, http, mine)
        frame = raw.event()
        assert subject_of(frame) == marker
        raw.quiet(0.2)


def test_restricted_variants_only_when_listed_and_permitted(server, http):
    inbox = new_inbox(http)
    reader = new_key(http, permissions={"message_read": True})
    with Raw(server) as default, Raw(server) as listed, Raw(server, reader) as limited:
        default.subscribe(inbox_ids=[inbox])
        echo = listed.subscribe(inbox_ids=[inbox], event_types=["message.received.spam", "message.received"])
        assert echo["event_types"] == ["message.received", "message.received.spam"]
        limited.send({"type": "subscribe", "event_types": ["message.received.spam"]})
        limited.error("forbidden")
        assert limited.subscribe(inbox_ids=[inbox])["event_types"] == [
            t for t in DEFAULT_TYPES if t.startswith("message.")]
        spam = deliver(server, http, inbox, headers={"X-Spam-Flag": "YES"})
        frame = listed.event()
        assert frame["event_type"] == "message.received.spam" and subject_of(frame) == spam
        assert "spam" in frame["message"]["labels"]
        check(MessageReceivedEvent, frame)
        marker = deliver(server, http, inbox)
        for raw in (default, listed, limited):
            assert subject_of(raw.event()) == marker


def test_key_without_message_read_gets_no_message_events(server, http):
    inbox = new_inbox(http)
    key = new_key(http, permissions={"inbox_read": True, "domain_read": True})
    with Raw(server, key) as raw, Raw(server) as marker_watch:
        assert raw.subscribe()["event_types"] == ["domain.verified"]
        raw.send({"type": "subscribe", "event_types": ["message.received"]})
        raw.error("forbidden")
        marker_watch.subscribe(inbox_ids=[inbox])
        deliver(server, http, inbox)
        marker_watch.event()
        raw.quiet(0.3)


# --- protocol -------------------------------------------------------------------------------------


def test_error_frames_and_unknown_types(server, http):
    with Raw(server) as raw:
        raw.send({"type": "subscribe", "event_types": ["message.received", "message.nope"]})
        frame = raw.error("validation_error")
        assert frame["name"] == "ValidationError" and frame["errors"][0]["path"] == ["event_types", 1]
        raw.send({"type": "subscribe", "inbox_ids": [f"nobody-{uuid.uuid4().hex}@agentmail.localhost"]})
        assert raw.error("not_found")["name"] == "NotFoundError"
        raw.send({"type": "subscribe", "pod_ids": [str(uuid.uuid4())]})
        raw.error("not_found")
        raw.send({"type": "subscribe", "inbox_ids": "not-a-list-but-a-string@x.test"})
        raw.error("not_found")
        raw.send({"type": "subscribe", "inbox_ids": [1, 2]})
        raw.error("validation_error")
        # Past 100 subscriptions: refused before any id is looked up.
        raw.send({"type": "subscribe", "inbox_ids": [f"x{i}@nowhere.test" for i in range(101)]})
        raw.error("limit_exceeded")
        raw.send({"type": "ping"})
        assert raw.recv() == {"message": "Forbidden"}
        raw.send({"no": "type"})
        assert raw.recv() == {"message": "Forbidden"}
        raw.send("this is not json")
        raw.error("validation_error")
        raw.send("[1, 2]")
        raw.error("validation_error")
        # The connection survived all of it.
        raw.subscribe()


def test_unsubscribe(server, http):
    first, second = new_inbox(http), new_inbox(http)
    with Raw(server) as raw:
        raw.subscribe(inbox_ids=[first, second])
        raw.send({"type": "unsubscribe", "inbox_ids": [first]})
        echo = raw.recv()
        assert echo["type"] == "unsubscribed" and echo["inbox_ids"] == [first] and echo["organization_id"]
        deliver(server, http, first)
        marker = deliver(server, http, second)
        assert subject_of(raw.event()) == marker
        # Narrowing by type: drop message.received for the second inbox, keep the rest.
        raw.send({"type": "unsubscribe", "inbox_ids": [second], "event_types": ["message.received"]})
        assert raw.recv()["type"] == "unsubscribed"
        deliver(server, http, second)
        http.post(f"/v0/inboxes/{second}/messages/send", json={"to": [first], "subject": "still", "text": "x"})
        assert raw.event()["event_type"] == "message.sent"
        raw.quiet(0.2)
        # The whole-scope subscription comes and goes on its own (events may slip in meanwhile).
        raw.send({"type": "subscribe"})
        raw.send({"type": "unsubscribe"})
        kinds = []
        while not kinds or kinds[-1] != "unsubscribed":
            kinds.append(raw.recv()["type"])
        assert kinds[0] == "subscribed" and set(kinds[1:-1]) <= {"event"}
        deliver(server, http, first)
        raw.quiet(0.3)


def test_sdk_parses_error_frames(server, http):
    with make_sdk(server).websockets.connect() as socket:
        socket.send_subscribe(Subscribe(inbox_ids=[f"nobody-{uuid.uuid4().hex}@agentmail.localhost"]))
        frame = socket.recv()
    assert type(frame).__name__ == "Error" and frame.type == "error" and frame.name == "NotFoundError"


# --- handshake ------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["header", "api_key", "auth_token"])
def test_handshake_accepts_header_or_query(server, http, via):
    with Raw(server, via=via) as raw:
        raw.subscribe()


def test_bad_credentials_fail_the_handshake(server):
    url = f"{server.ws_url}/v0"
    cases = [
        ({}, "missing_authorization"),
        ({"Authorization": "Basic abc"}, "invalid_token_type"),
        ({"Authorization": "Bearer am_us_nope"}, "unknown_api_key"),
    ]
    for headers, code in cases:
        with pytest.raises(InvalidStatus) as exc:
            ws_client.connect(url, additional_headers=headers, open_timeout=10)
        assert exc.value.response.status_code == 401
        body = json.loads(exc.value.response.body)
        assert body["code"] == code and body["name"]
    with pytest.raises(InvalidStatus) as exc:
        ws_client.connect(f"{url}?api_key=am_us_wrong", open_timeout=10)
    assert exc.value.response.status_code == 401


async def test_sdk_reports_invalid_credentials(server):
    with pytest.raises(ApiError) as exc:
        async with make_async_sdk(server, "am_us_" + "0" * 64).websockets.connect():
            pass
    assert exc.value.status_code == 401 and exc.value.body == "Websocket initialized with invalid credentials."
    # The sync client surfaces the raw status (an SDK quirk with websockets >= 14, REFERENCE stack notes).
    with pytest.raises((ApiError, InvalidStatus)) as sync_exc, make_sdk(server, "am_us_" + "0" * 64).websockets.connect():
        pass
    value = sync_exc.value
    status = value.status_code if isinstance(value, ApiError) else value.response.status_code
    assert status == 401


# --- since: replay what was missed ----------------------------------------------------------------


def event_ids_in_table(server: Server, inbox_id: str) -> list[str]:
    async def read() -> list[str]:
        from sqlalchemy import select

        from agentmail_server.db.tables import Event

        db = Database(server.database_url)
        try:
            async with db.read() as session:
                rows = await session.scalars(select(Event.event_id).where(Event.inbox_id == inbox_id)
                                             .order_by(Event.id))
                return list(rows)
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_since_replays_missed_events_in_order_then_goes_live(server, http):
    inbox = new_inbox(http)
    with Raw(server) as raw:
        raw.subscribe(inbox_ids=[inbox])
        deliver(server, http, inbox)
        last_seen = raw.event()["event_id"]
    missed = [deliver(server, http, inbox) for _ in range(3)]
    with Raw(server, query={"since": last_seen}) as raw:
        raw.quiet(0.2)  # nothing before the first subscribe
        raw.subscribe(inbox_ids=[inbox])
        replayed = [raw.event() for _ in range(3)]
        assert [subject_of(f) for f in replayed] == missed
        live = deliver(server, http, inbox)
        assert subject_of(raw.event()) == live
        raw.quiet(0.3)
    ids = event_ids_in_table(server, inbox)
    assert ids[-4:] == [f["event_id"] for f in replayed] + [ids[-1]]
    # The unmodified Python SDK passes it as an extra query parameter.
    options = {"additional_query_parameters": {"since": replayed[0]["event_id"]}}
    with make_sdk(server).websockets.connect(request_options=options) as socket:
        socket.send_subscribe(Subscribe(inbox_ids=[inbox]))
        assert isinstance(socket.recv(), SdkSubscribed)
        again = [socket.recv() for _ in range(3)]
    assert [e.message.subject for e in again] == [*missed[1:], live]


def test_since_hand_over_under_load_has_no_gap_or_duplicate(server, http):
    inbox = new_inbox(http)
    with Raw(server) as raw:
        raw.subscribe(inbox_ids=[inbox])
        deliver(server, http, inbox)
        since = raw.event()["event_id"]
    before = [deliver(server, http, inbox) for _ in range(2)]
    subjects = [name("load") for _ in range(8)]

    def keep_sending() -> None:
        for subject in subjects:
            send_raw(server, build(to=inbox, subject=subject).as_bytes(), [inbox])

    sender = threading.Thread(target=keep_sending)
    with Raw(server, query={"since": since}) as raw:
        sender.start()
        raw.subscribe(inbox_ids=[inbox])
        got = [raw.event() for _ in range(len(before) + len(subjects))]
        sender.join()
        raw.quiet(0.5)
    received = [subject_of(f) for f in got]
    assert sorted(received) == sorted(before + subjects)
    assert len({f["event_id"] for f in got}) == len(got)
    assert received[:2] == before
    # Exactly the table's events after `since` (live ones may come in commit order, not id order).
    table = event_ids_in_table(server, inbox)
    assert sorted(table[table.index(since) + 1:]) == sorted(f["event_id"] for f in got)


def test_since_must_name_a_visible_event(server, http):
    mine, theirs = new_inbox(http), new_inbox(http)
    with Raw(server) as raw:
        raw.subscribe(inbox_ids=[theirs])
        deliver(server, http, theirs)
        foreign = raw.event()["event_id"]
    key = new_key(http, f"/v0/inboxes/{mine}/api-keys")
    for since in ("no-such-event", foreign):
        with pytest.raises(InvalidStatus) as exc:
            ws_client.connect(f"{server.ws_url}/v0?{urlencode({'since': since})}",
                              additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=10)
        assert exc.value.response.status_code == 404
        assert json.loads(exc.value.response.body)["code"] == "not_found"


def test_disconnects_are_cleaned_up(server, http):
    """Connections that vanish mid-stream don't break the hub for others."""
    inbox = new_inbox(http)
    for _ in range(3):
        raw = Raw(server)
        raw.subscribe(inbox_ids=[inbox])
        raw.ws.close()
    with Raw(server) as raw:
        raw.subscribe(inbox_ids=[inbox])
        marker = deliver(server, http, inbox)
        assert subject_of(raw.event()) == marker
