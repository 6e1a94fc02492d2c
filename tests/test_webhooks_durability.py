"""Webhook deliveries survive restarts, disable failing endpoints, and happen once across processes."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentmail.inboxes import CreateInboxRequest

from .conftest import database_url, make_http, make_sdk
from .mail_helpers import build, send_raw, wait_for
from .server import Server
from .webhook_helpers import deliveries
from .webhook_receiver import Receiver

BASE_ENV = {
    "AGENTMAIL_WEBHOOK_ALLOW_HTTP": "true",
    "AGENTMAIL_WEBHOOK_ALLOW_PRIVATE": "true",
    "AGENTMAIL_WEBHOOK_POLL_SECONDS": "0.2",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Per test, unlike conftest's: these tests script and count every request to a fixed path."""
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.close()


def _mail(server: Server, inbox: str, subject: str) -> None:
    send_raw(server, build(to=inbox, subject=subject).as_bytes(), [inbox])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_pending_retry_survives_a_restart_and_a_failing_endpoint_is_disabled(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, receiver: Receiver,
):
    env = {**BASE_ENV, "AGENTMAIL_WEBHOOK_RETRY_DELAYS": "2,0.3", "AGENTMAIL_WEBHOOK_DISABLE_AFTER_SECONDS": "1"}
    server = Server(backend=backend, database_url=database_url(backend, tmp_path, request), workdir=tmp_path,
                    extra_env=env).start()
    try:
        sdk = make_sdk(server)
        inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"durable-{uuid.uuid4().hex[:6]}")).inbox_id
        receiver.script("/hook", [500])
        hook = sdk.webhooks.create(url=receiver.url("/hook"), event_types=["message.received"])
        _mail(server, inbox, "Survives a restart")
        [first] = receiver.wait("/hook", 1)
        wait_for(lambda: deliveries(server, hook.webhook_id)[0]["tries"], what="the first attempt recorded")
        server.stop(signal.SIGKILL)  # a crash, well before the retry due 2 s after the failed attempt
        [pending] = deliveries(server, hook.webhook_id)
        assert pending["status"] == "pending" and pending["attempts"] == 1 and pending["tries"][0][0] == 500

        server.start()
        _, second = receiver.wait("/hook", 2)
        assert second.headers["svix-id"] == first.headers["svix-id"]
        assert second.json()["event_id"] == first.json()["event_id"]
        assert second.at - first.at >= 1.9
        second.verify(hook.secret)
        assert wait_for(lambda: deliveries(server, hook.webhook_id)[0]["status"] == "succeeded", what="success")

        # Failing for longer than AGENTMAIL_WEBHOOK_DISABLE_AFTER_SECONDS: disabled, the rest cancelled.
        receiver.script("/hook", [], then=500)
        _mail(server, inbox, "Never acknowledged")
        receiver.wait("/hook", 4)  # its first attempt, then the retry 2 s later
        wait_for(lambda: sdk.webhooks.get(hook.webhook_id).enabled is False, what="the webhook disabled")
        assert [d["status"] for d in deliveries(server, hook.webhook_id)] == ["succeeded", "cancelled"]
        time.sleep(0.6)
        assert len(receiver.requests("/hook")) == 4
        # Re-enabled by the owner: new events flow again, missed ones are not replayed.
        receiver.script("/hook", [])
        assert sdk.webhooks.update(hook.webhook_id, enabled=True).enabled is True
        _mail(server, inbox, "Back")
        latest = receiver.wait("/hook", 5)[-1]
        assert latest.json()["message"]["subject"] == "Back"
    finally:
        server.stop()


def test_two_processes_deliver_each_event_once(tmp_path: Path, request: pytest.FixtureRequest, receiver: Receiver):
    """PostgreSQL: two server processes (both workers) on one database, competing for deliveries."""
    env = {**BASE_ENV, "AGENTMAIL_WEBHOOK_RETRY_DELAYS": "0.3,0.3"}
    url = database_url("postgres", tmp_path, request)
    one = Server(backend="postgres", database_url=url, workdir=tmp_path / "one", extra_env=env).start()
    two = Server(backend="postgres", database_url=url, workdir=tmp_path / "two", extra_env=env).start()
    try:
        sdk = make_sdk(one)
        inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"shared-{uuid.uuid4().hex[:6]}")).inbox_id
        receiver.script("/once", [500, 500])  # two events need a retry, from whichever process
        hook = sdk.webhooks.create(url=receiver.url("/once"), event_types=["message.received"])
        count = 8
        for i in range(count):
            _mail(one if i % 2 else two, inbox, f"Shared {i}")
        wait_for(lambda: len({r.headers["svix-id"] for r in receiver.requests("/once")}) == count, timeout=30,
                 what="every event delivered")
        wait_for(lambda: all(d["status"] == "succeeded" for d in deliveries(one, hook.webhook_id)),
                 what="every delivery finished")
        time.sleep(0.6)
        received = receiver.requests("/once")
        assert len(received) == count + 2  # one request per event, plus the two scripted failures
        rows = deliveries(one, hook.webhook_id)
        assert len(rows) == count and sum(r["attempts"] for r in rows) == count + 2
        for req in received:
            req.verify(hook.secret)
        with make_http(two) as http:
            assert http.get(f"/v0/webhooks/{hook.webhook_id}").json()["enabled"] is True
    finally:
        two.stop()
        one.stop()
