"""Regression tests for review findings on webhooks: replays of a create with an existing client_id,
oversized filter and header lists, delivery outcomes that could not be recorded, URLs only one parser
accepts, the polling read lock (PostgreSQL) and IPv6 addresses carrying private IPv4 ones."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from agentmail_server.config import Settings
from agentmail_server.db import migrate
from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Webhook, WebhookAttempt, WebhookDelivery
from agentmail_server.db.types import utcnow
from agentmail_server.events import listen
from agentmail_server.events.bus import BUS
from agentmail_server.events.outbox import emit_event
from agentmail_server.events.webhooks import Claimed, Dispatcher, Outcome, Sender, claim, record
from agentmail_server.services import api_keys, organizations, webhooks
from agentmail_server.services.errors import Invalid
from agentmail_server.services.fetch import is_public_address
from agentmail_server.services.principal import Principal

from .conftest import database_url, make_http
from .server import Server
from .webhook_helpers import new_organization
from .wire import error


def _url() -> str:
    return f"https://hooks-{uuid.uuid4().hex[:10]}.example.invalid/agentmail"


@pytest.fixture
def org_http(server: Server) -> Iterator[httpx.Client]:
    _, key = new_organization(server)
    with make_http(server, key) as http:
        yield http


def _key(http: httpx.Client, **permissions: bool) -> str:
    body = {"name": f"k-{uuid.uuid4().hex[:6]}", "permissions": permissions}
    return http.post("/v0/api-keys", json=body).raise_for_status().json()["api_key"]  # type: ignore[no-any-return]


# --- 1. a repeat create hands out the existing subscription only to a key that may read it ---------


def test_polling_replay_needs_read_access_to_the_existing_subscription(org_http: httpx.Client, server: Server):
    http = org_http
    owner = http.post("/v0/webhooks/polling", json={
        "client_id": "mon", "event_types": ["message.received", "message.sent"]}).raise_for_status().json()
    auth = {"Authorization": f"Bearer {owner['token']}"}
    # A key that may create webhooks and read domains, asking for domain events under the same client_id.
    with make_http(server, _key(http, webhook_create=True, domain_read=True)) as other:
        body = error(other.post("/v0/webhooks/polling", json={"client_id": "mon", "event_types": ["domain.verified"]}),
                     403, "missing_permission")
        assert "token" not in body
    # With webhook_read but without message_read: still not its events to read.
    with make_http(server, _key(http, webhook_create=True, webhook_read=True, domain_read=True)) as other:
        error(other.post("/v0/webhooks/polling", json={"client_id": "mon", "event_types": ["domain.verified"]}),
              403, "missing_permission")
    # The owner's token still works: nobody revoked it.
    assert httpx.get(f"{server.base_url}/v0/webhooks/polling/events", headers=auth).status_code == 200
    # A key that could read it gets the replay (and a fresh token), as before.
    with make_http(server, _key(http, webhook_create=True, webhook_read=True, message_read=True)) as reader:
        again = reader.post("/v0/webhooks/polling", json={"client_id": "mon", "event_types": ["message.sent"]})
        assert again.status_code == 200 and again.json()["webhook_id"] == owner["webhook_id"]


def test_webhook_replay_needs_read_access_to_the_existing_webhook(org_http: httpx.Client, server: Server):
    http = org_http
    hook = http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                           "client_id": "hook"}).raise_for_status().json()
    # No webhook_read: no secret, even for event types the key may receive.
    with make_http(server, _key(http, webhook_create=True, message_read=True)) as other:
        body = error(other.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                                      "client_id": "hook"}), 403, "missing_permission")
        assert hook["secret"] not in str(body)
    # webhook_read without message_read: the existing webhook carries message events.
    with make_http(server, _key(http, webhook_create=True, webhook_read=True, domain_read=True)) as other:
        error(other.post("/v0/webhooks", json={"url": _url(), "event_types": ["domain.verified"],
                                               "client_id": "hook"}), 403, "missing_permission")
    with make_http(server, _key(http, webhook_create=True, webhook_read=True, message_read=True)) as reader:
        again = reader.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                                  "client_id": "hook"})
        assert again.status_code == 200 and again.json()["secret"] == hook["secret"]


# --- 2. sizes are checked before any quadratic (or database) work -------------------------------


def test_dedupe_and_header_checks_are_linear():
    many = [f"pod-{i}" for i in range(40_000)]
    started = time.monotonic()
    assert webhooks._dedupe(many + many) == many
    with pytest.raises(Exception) as exc:
        webhooks._filter_ids(many, None)
    assert getattr(exc.value, "code", None) == "limit_exceeded"
    with pytest.raises(Invalid):
        webhooks.check_headers({f"X-H{i}": "v" for i in range(20_000)})
    assert time.monotonic() - started < 2  # was 16 s and 37 s


def test_huge_filter_and_header_lists_are_refused_quickly(org_http: httpx.Client):
    http = org_http
    pods = [str(uuid.uuid4()) for _ in range(40_000)]
    started = time.monotonic()
    error(http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"], "pod_ids": pods}),
          403, "limit_exceeded")
    error(http.post("/v0/webhooks/polling", json={"client_id": "big", "event_types": ["message.received"],
                                                  "pod_ids": pods}), 403, "limit_exceeded")
    headers = {f"X-H{i}": "v" for i in range(20_000)}
    error(http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"], "headers": headers}),
          400)
    hook = http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"]}).json()
    error(http.patch(f"/v0/webhooks/{hook['webhook_id']}/headers", json={"headers": headers}), 400)
    assert http.patch(f"/v0/webhooks/{hook['webhook_id']}", json={"remove_pod_ids": pods}).status_code == 200
    assert time.monotonic() - started < 15
    # Repeats are still free: 40,000 copies of one existing inbox are one filter.
    inbox = http.post("/v0/inboxes", json={"username": f"d-{uuid.uuid4().hex[:8]}"}).json()["inbox_id"]
    made = http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                           "inbox_ids": [inbox] * 40_000})
    assert made.status_code == 200 and made.json()["inbox_ids"] == [inbox]


# --- 3. URLs both parsers accept; outcomes that can always be recorded ---------------------------


@pytest.mark.parametrize("url", [
    "https://[::1",
    "https://\u2100.com/",
    "https://[::ffff:127.0.0.1]/x",
    "https://[64:ff9b::7f00:1]/x",
    "https://[2002:7f00:1::]/x",
    "https://[::127.0.0.1]/x",
])
def test_unparseable_or_disguised_private_urls_are_400(http: httpx.Client, url: str):
    error(http.post("/v0/webhooks", json={"url": url, "event_types": ["message.received"]}), 400, "validation_error")


def test_check_url_accepts_what_it_should():
    for url in ("https://hooks.example.com/x", "https://[2606:4700::1111]:8443/x", "https://[64:ff9b::808:808]/"):
        assert webhooks.check_url(url, allow_http=False, allow_private=False) == url
    assert webhooks.check_url("http://[::1]:9/", allow_http=True, allow_private=True) == "http://[::1]:9/"



def _settings(db: Database) -> Settings:
    return Settings(database_url=db.url, webhook_allow_http=True, webhook_allow_private=True)  # type: ignore[call-arg]


async def _principal(db: Database) -> Principal:
    created = await organizations.create_organization(db, name="review")
    return await api_keys.authenticate(db, created.api_key)


async def _emit(db: Database, who: Principal) -> None:
    async with db.write() as session:
        await emit_event(session, event_type="message.sent", organization_id=who.organization_id,
                         pod_id=who.organization_id, inbox_id="a@agentmail.localhost", body={"send": {}})


async def _claimed_delivery(db: Database, webhook_id: str) -> Claimed:
    """Claim the webhook's pending delivery (the only one)."""
    async with db.read() as session:
        delivery_id = await session.scalar(select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending"))
    assert delivery_id is not None
    claimed = [c for c in await claim(db, 100, lease=timedelta(minutes=5)) if c.delivery_id == delivery_id]
    assert len(claimed) == 1
    return claimed[0]


async def _attempts(db: Database, webhook_id: str) -> tuple[list[WebhookDelivery], list[WebhookAttempt]]:
    async with db.read() as session:
        rows = list((await session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))).all())
        attempts = list((await session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_([r.id for r in rows])))).all())
    return rows, attempts


async def test_an_answer_with_nul_is_recorded(db: Database):
    """PostgreSQL refused the NUL: recording failed, and the delivery came back after every lease."""
    who = await _principal(db)
    settings = _settings(db)
    hook = await webhooks.create_webhook(db, who, settings, url="http://127.0.0.1:9/x", event_types=["message.sent"],
                                         client_id=None, headers=None)
    await _emit(db, who)
    claimed = await _claimed_delivery(db, hook.id)
    await record(db, claimed, Outcome(status_code=200, error=None, response_body="ok\x00",
                                      started_at=utcnow(), duration_ms=3), settings)
    [delivery], [attempt] = await _attempts(db, hook.id)
    assert delivery.status == "succeeded" and attempt.response_body == "ok\ufffd"

    await _emit(db, who)
    claimed = await _claimed_delivery(db, hook.id)
    await record(db, claimed, Outcome(status_code=None, error="Boom: \x00\udcff", response_body=None,
                                      started_at=utcnow(), duration_ms=3), settings)
    rows, attempts = await _attempts(db, hook.id)
    assert sorted(r.status for r in rows) == ["pending", "succeeded"]
    assert sorted(a.error or "" for a in attempts) == ["", "Boom: \ufffd?"]


async def test_a_url_httpx_refuses_is_a_failed_attempt(db: Database):
    """httpx.InvalidURL escaped Sender.send: nothing was recorded and the lease brought it back forever."""
    who = await _principal(db)
    settings = _settings(db)
    hook = await webhooks.create_webhook(db, who, settings, url="http://127.0.0.1:9/x", event_types=["message.sent"],
                                         client_id=None, headers=None)
    async with db.write() as session:  # stored before check_url knew better
        await session.execute(update(Webhook).where(Webhook.id == hook.id).values(url="https://[::1"))
    await _emit(db, who)
    claimed = await _claimed_delivery(db, hook.id)
    dispatcher = Dispatcher(db, settings)
    dispatcher._sender = Sender(settings)
    try:
        await dispatcher._deliver(claimed)
    finally:
        await dispatcher._sender.aclose()
    [delivery], [attempt] = await _attempts(db, hook.id)
    assert delivery.status == "pending" and delivery.locked_until is None and delivery.next_attempt_at is not None
    assert attempt.status_code is None and attempt.error and "InvalidURL" in attempt.error


# --- 6. reading a polling webhook leaves new events alone (PostgreSQL) ---------------------------


@pytest.fixture(scope="module")
def pg_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = database_url("postgres", tmp_path_factory.mktemp("review-hooks-pg"), request)
    migrate.upgrade(url)
    return url


def _run(url: str, work):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(go())


def test_a_polling_read_does_not_block_new_events_but_reads_take_turns(pg_url: str, monkeypatch):
    async def setup(db: Database):  # type: ignore[no-untyped-def]
        who = await _principal(db)
        _, token = await webhooks.create_polling(db, who, client_id="reader", event_types=["message.sent"])
        await _emit(db, who)
        first = await webhooks.read_events(db, token, iterator=None, limit=10)
        assert len(first.payloads) == 1
        return who, token, first.iterator

    who, token, iterator = _run(pg_url, setup)
    entered, release = threading.Event(), threading.Event()
    real = webhooks._decode_iterator

    def paused(value: str, webhook_id: str) -> int:  # runs with the subscription row locked
        if not entered.is_set():
            entered.set()
            release.wait(20)
        return real(value, webhook_id)

    monkeypatch.setattr(webhooks, "_decode_iterator", paused)
    results: dict[str, object] = {}

    def read(name: str, after: str | None) -> None:
        results[name] = _run(pg_url, lambda db: webhooks.read_events(db, token, iterator=after, limit=10))

    first = threading.Thread(target=read, args=("first", iterator))
    emitter = threading.Thread(target=lambda: _run(pg_url, lambda db: _emit(db, who)))
    second = threading.Thread(target=read, args=("second", None))
    try:
        first.start()
        assert entered.wait(10)
        emitter.start()
        emitter.join(5)
        emitted_while_reading = not emitter.is_alive()
        second.start()
        time.sleep(0.5)
        second_waited = second.is_alive()
    finally:
        release.set()
        for thread in (first, emitter, second):
            if thread.ident is not None:
                thread.join(20)
    assert emitted_while_reading  # FOR UPDATE blocked the event's foreign-key check until the read ended
    assert second_waited  # two reads of one subscription still take turns
    one, two = results["first"], results["second"]
    assert isinstance(one, webhooks.PolledEvents) and isinstance(two, webhooks.PolledEvents)
    assert len(one.payloads) == 1 and two.payloads == one.payloads and two.iterator == one.iterator


# --- 7. IPv6 addresses that carry IPv4 ones ----------------------------------------------------


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True),
    ("10.1.2.3", False),
    ("2606:4700::1111", True),
    ("::1", False),
    ("::127.0.0.1", False),  # IPv4-compatible
    ("::ffff:127.0.0.1", False),  # IPv4-mapped
    ("::ffff:10.0.0.1", False),
    ("64:ff9b::127.0.0.1", False),  # NAT64
    ("64:ff9b::a9fe:a9fe", False),  # NAT64 to 169.254.169.254
    ("64:ff9b::8.8.8.8", True),
    ("64:ff9b:1::808:808", False),  # local-use NAT64
    ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
    ("2002:808:808::1", True),
    ("::ffff:0:7f00:1", False),  # IPv4-translated
])
def test_is_public_address(address: str, public: bool):
    assert is_public_address(ipaddress.ip_address(address)) is public


async def test_the_dispatcher_is_woken_only_by_events_that_made_deliveries(db: Database):
    """It used to claim (a write transaction) after every committed event, webhooks or not."""
    who = await _principal(db)
    everything, deliveries = BUS.subscribe(), BUS.subscribe(deliveries_only=True)
    listener = listen.Listener(db) if db.dialect == "postgresql" else None
    try:
        if listener is not None:
            await listener.start()
        await _emit(db, who)  # no webhook in this organization
        assert await asyncio.wait_for(everything.get(), 5)
        await asyncio.sleep(0.3)  # on PostgreSQL, the NOTIFY is heard as well
        assert deliveries.empty()

        await webhooks.create_webhook(db, who, _settings(db), url="http://127.0.0.1:9/x",
                                      event_types=["message.sent"], client_id=None, headers=None)
        await _emit(db, who)
        row = await asyncio.wait_for(deliveries.get(), 5)
        if listener is not None:  # the same id again, through NOTIFY, which says there are deliveries
            assert await asyncio.wait_for(deliveries.get(), 5) == row
    finally:
        if listener is not None:
            await listener.stop()
        for queue in (everything, deliveries):
            BUS.unsubscribe(queue)


def test_notifications_without_a_delivery_count_wake_the_dispatcher() -> None:
    """A bare row id (an older process) may have made deliveries; "id:0" did not."""
    queue = BUS.subscribe(deliveries_only=True)
    try:
        listen.Listener._notified(None, 0, "agentmail_events", "7")
        listen.Listener._notified(None, 0, "agentmail_events", "8:0")
        listen.Listener._notified(None, 0, "agentmail_events", "9:2")
        listen.Listener._notified(None, 0, "agentmail_events", "x:1")
        assert [queue.get_nowait() for _ in range(queue.qsize())] == [7, 9]
    finally:
        BUS.unsubscribe(queue)
