"""Webhook delivery (REFERENCE §2.12 delivery contract) and polling reads (§2.13), end to end.

A server per backend allows plain http and private targets (the receiver is on 127.0.0.1) and retries
after 0.3 s instead of Svix's 5 s / 5 min / …; mail arrives over SMTP; a local receiver records what
reaches it and checks signatures with the `svix` library.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from agentmail import AgentMail

from agentmail_server.config import Settings
from agentmail_server.db.tables import Webhook as WebhookRow
from agentmail_server.events.frames import wire_body
from agentmail_server.events.webhooks import Sender
from agentmail_server.schemas.messages import MessageReceivedEvent

from .conftest import make_http, make_sdk, running_server
from .mail_helpers import build, send_raw, wait_for, wait_messages
from .server import Server
from .webhook_helpers import deliveries, new_organization
from .webhook_receiver import Receiver
from .wire import check

HOOK_ENV = {
    "AGENTMAIL_WEBHOOK_ALLOW_HTTP": "true",
    "AGENTMAIL_WEBHOOK_ALLOW_PRIVATE": "true",
    "AGENTMAIL_WEBHOOK_RETRY_DELAYS": "0.3,0.3,0.3",
    "AGENTMAIL_WEBHOOK_POLL_SECONDS": "0.2",
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hook_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(request, request.param, tmp_path_factory.mktemp(f"hooks-{request.param}"), HOOK_ENV) as srv:
        yield srv


@dataclass
class Ctx:
    server: Server
    receiver: Receiver
    sdk: AgentMail
    http: httpx.Client
    tag: str

    def inbox(self, name: str, pod_id: str | None = None) -> str:
        path = f"/v0/pods/{pod_id}/inboxes" if pod_id else "/v0/inboxes"
        return self.http.post(path, json={"username": f"{name}-{self.tag}"}).raise_for_status().json()["inbox_id"]

    def hook_path(self, name: str) -> str:
        return f"/{self.tag}/{name}"

    def mail(self, to: list[str], *, sender: str = "alice@example.test", headers: dict[str, str] | None = None,
             subject: str = "Hello hooks") -> None:
        raw = build(to=to, sender=f"Alice <{sender}>", subject=subject, text=f"Body of {subject}",
                    headers=headers).as_bytes()
        send_raw(self.server, raw, to, mail_from=sender)


@pytest.fixture
def ctx(hook_server: Server, receiver: Receiver) -> Iterator[Ctx]:
    """A fresh organization on the hook server, so org-wide webhooks see only this test's mail."""
    _, key = new_organization(hook_server)
    with make_http(hook_server, key) as http:
        yield Ctx(hook_server, receiver, make_sdk(hook_server, key), http, uuid.uuid4().hex[:8])


def _settled(server: Server, webhook_id: str, count: int) -> list[dict]:
    """The webhook's deliveries once `count` of them have finished."""
    return wait_for(lambda: (rows if len(rows := deliveries(server, webhook_id)) >= count
                             and all(r["status"] != "pending" for r in rows) else None),
                    what=f"{count} finished deliveries")


def test_received_mail_reaches_the_webhook_signed(ctx: Ctx):
    inbox = ctx.inbox("signed")
    path = ctx.hook_path("signed")
    hook = ctx.sdk.webhooks.create(url=ctx.receiver.url(path), event_types=["message.received"],
                                   headers={"X-Custom-Token": "t0ken"})
    ctx.mail([inbox], subject="Signed delivery")
    [req] = ctx.receiver.wait(path, 1)
    req.verify(hook.secret)  # svix: signature and timestamp

    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-custom-token"] == "t0ken"
    assert req.headers["svix-id"].startswith("msg_")
    assert req.headers["webhook-id"] == req.headers["svix-id"]
    assert req.headers["webhook-signature"] == req.headers["svix-signature"]
    assert req.headers["svix-signature"].startswith("v1,")
    assert abs(int(req.headers["svix-timestamp"]) - time.time()) < 60

    event = check(MessageReceivedEvent, req.json())  # the whole event, strictly
    assert event.event_type == "message.received" and event.type == "event"
    assert event.message.inbox_id == inbox and event.message.subject == "Signed delivery"
    assert event.message.text and "Body of Signed delivery" in event.message.text
    assert event.thread.thread_id == event.message.thread_id and event.thread.inbox_id == inbox
    stored = ctx.sdk.inboxes.messages.get(inbox, event.message.message_id)
    assert stored.thread_id == event.message.thread_id
    # The body is exactly the stored event as the wire carries it (what the signature covers).
    assert req.body.decode() == wire_body(req.json())

    [row] = _settled(ctx.server, hook.webhook_id, 1)
    assert row["status"] == "succeeded" and row["attempts"] == 1 and row["tries"] == [(200, None)]


def test_failed_attempts_are_retried_with_the_same_ids(ctx: Ctx):
    inbox = ctx.inbox("retry")
    path = ctx.hook_path("retry")
    ctx.receiver.script(path, [500, 503])
    hook = ctx.sdk.inboxes.webhooks.create(inbox, url=ctx.receiver.url(path), event_types=["message.received"])
    ctx.mail([inbox])
    reqs = ctx.receiver.wait(path, 3)
    for req in reqs:
        req.verify(hook.secret)
    assert len({r.headers["svix-id"] for r in reqs}) == 1
    assert len({r.json()["event_id"] for r in reqs}) == 1
    assert all(b.at - a.at >= 0.25 for a, b in itertools.pairwise(reqs))
    [row] = _settled(ctx.server, hook.webhook_id, 1)
    assert row["status"] == "succeeded" and row["attempts"] == 3
    assert [code for code, _ in row["tries"]] == [500, 503, 200]
    assert row["tries"][0][1] == "HTTP 500"
    time.sleep(0.5)
    assert len(ctx.receiver.requests(path)) == 3


def test_a_redirect_is_a_failed_attempt(ctx: Ctx):
    inbox = ctx.inbox("redirect")
    path = ctx.hook_path("redirect")
    ctx.receiver.script(path, [302])
    hook = ctx.sdk.webhooks.create(url=ctx.receiver.url(path), event_types=["message.received"])
    ctx.mail([inbox])
    first, second = ctx.receiver.wait(path, 2)
    assert first.headers["svix-id"] == second.headers["svix-id"]
    assert ctx.receiver.requests("/redirected") == []
    [row] = _settled(ctx.server, hook.webhook_id, 1)
    assert row["tries"][0][0] == 302 and "redirect" in row["tries"][0][1]
    assert row["status"] == "succeeded"


def test_attempts_stop_after_the_schedule(ctx: Ctx):
    inbox = ctx.inbox("exhaust")
    path = ctx.hook_path("exhaust")
    ctx.receiver.script(path, [], then=500)
    hook = ctx.sdk.webhooks.create(url=ctx.receiver.url(path), event_types=["message.received"])
    ctx.mail([inbox])
    ctx.receiver.wait(path, 4)  # the first attempt and three retries
    [row] = _settled(ctx.server, hook.webhook_id, 1)
    assert row["status"] == "failed" and row["attempts"] == 4
    time.sleep(0.8)
    assert len(ctx.receiver.requests(path)) == 4
    # Failures so far are recent: the endpoint stays enabled.
    assert ctx.sdk.webhooks.get(hook.webhook_id).enabled is True


def test_deleting_or_disabling_a_webhook_stops_its_deliveries(ctx: Ctx):
    inbox = ctx.inbox("stop")
    deleted, disabled = ctx.hook_path("deleted"), ctx.hook_path("disabled")
    ctx.receiver.script(deleted, [], then=500)
    ctx.receiver.script(disabled, [], then=500)
    hook = ctx.sdk.webhooks.create(url=ctx.receiver.url(deleted), event_types=["message.received"])
    other = ctx.sdk.webhooks.create(url=ctx.receiver.url(disabled), event_types=["message.received"])
    ctx.mail([inbox])
    ctx.receiver.wait(deleted, 1)
    ctx.receiver.wait(disabled, 1)
    ctx.sdk.webhooks.delete(hook.webhook_id)
    ctx.sdk.webhooks.update(other.webhook_id, enabled=False)
    time.sleep(0.3)  # an attempt already under way may still land
    seen_deleted, seen_disabled = len(ctx.receiver.requests(deleted)), len(ctx.receiver.requests(disabled))
    time.sleep(1.0)  # more than three retry delays
    assert len(ctx.receiver.requests(deleted)) == seen_deleted
    assert len(ctx.receiver.requests(disabled)) == seen_disabled
    assert deliveries(ctx.server, hook.webhook_id) == []
    assert [r["status"] for r in deliveries(ctx.server, other.webhook_id)] == ["cancelled"]
    # Re-enabled, it gets new events but not the missed ones.
    ctx.receiver.script(disabled, [])
    ctx.sdk.webhooks.update(other.webhook_id, enabled=True)
    ctx.mail([inbox], subject="After re-enable")
    [*_, latest] = ctx.receiver.wait(disabled, seen_disabled + 1)
    assert latest.json()["message"]["subject"] == "After re-enable"
    time.sleep(0.5)
    assert len(ctx.receiver.requests(disabled)) == seen_disabled + 1


def test_scopes_and_filters_decide_who_receives(ctx: Ctx):
    pod = ctx.http.post("/v0/pods", json={"name": "hooks"}).raise_for_status().json()["pod_id"]
    a, c = ctx.inbox("a", pod), ctx.inbox("c", pod)
    b = ctx.inbox("b")
    sdk, url = ctx.sdk, lambda name: ctx.receiver.url(ctx.hook_path(name))
    hooks = {
        "all": sdk.webhooks.create(url=url("all"), event_types=["message.received"]),
        "pod-filter": sdk.webhooks.create(url=url("pod-filter"), event_types=["message.received"], pod_ids=[pod]),
        "inbox-filter": sdk.webhooks.create(url=url("inbox-filter"), event_types=["message.received"],
                                            inbox_ids=[b]),
        "pod-scoped": sdk.pods.webhooks.create(pod, url=url("pod-scoped"), event_types=["message.received"],
                                               inbox_ids=[c]),
        "inbox-scoped": sdk.inboxes.webhooks.create(a, url=url("inbox-scoped"), event_types=["message.received"]),
        "other-type": sdk.webhooks.create(url=url("other-type"), event_types=["message.sent", "domain.verified"]),
        "disabled": sdk.webhooks.create(url=url("disabled"), event_types=["message.received"]),
        "spam-only": sdk.webhooks.create(url=url("spam-only"), event_types=["message.received.spam"]),
    }
    sdk.webhooks.update(hooks["disabled"].webhook_id, enabled=False)
    expected = {"all": {a, b, c}, "pod-filter": {a, c}, "inbox-filter": {b}, "pod-scoped": {c},
                "inbox-scoped": {a}, "other-type": set(), "disabled": set(), "spam-only": set()}
    ctx.mail([a, b, c])
    ctx.receiver.wait(ctx.hook_path("all"), 3)
    # Fan-out is part of each event's transaction: with all three events delivered to "all", every
    # other webhook's deliveries exist already (or never will).
    for name, inboxes in expected.items():
        got = ctx.receiver.wait(ctx.hook_path(name), len(inboxes))
        assert {r.json()["message"]["inbox_id"] for r in got} == inboxes, name
        assert len(deliveries(ctx.server, hooks[name].webhook_id)) == len(inboxes), name
        for req in got:
            req.verify(hooks[name].secret)
    time.sleep(0.3)
    assert {name: len(ctx.receiver.requests(ctx.hook_path(name))) for name in expected} == {
        name: len(inboxes) for name, inboxes in expected.items()
    }


def test_restricted_variants_go_only_to_webhooks_that_list_them(ctx: Ctx):
    inbox = ctx.inbox("variants")
    sdk, url = ctx.sdk, lambda name: ctx.receiver.url(ctx.hook_path(name))
    plain = sdk.webhooks.create(url=url("plain"), event_types=["message.received"])
    spam = sdk.webhooks.create(url=url("spam"), event_types=["message.received.spam"])
    blocked = sdk.webhooks.create(url=url("blocked"), event_types=["message.received.blocked"])
    both = sdk.webhooks.create(url=url("both"), event_types=["message.received", "message.received.spam"])
    ctx.http.post("/v0/lists/receive/block", json={"entry": "spammer@blocked.example"}).raise_for_status()

    ctx.mail([inbox], subject="Spammy", headers={"X-Spam-Flag": "YES"})
    ctx.mail([inbox], subject="Blocked", sender="spammer@blocked.example")
    ctx.mail([inbox], subject="Fine")
    [s] = ctx.receiver.wait(ctx.hook_path("spam"), 1)
    assert s.json()["event_type"] == "message.received.spam" and s.json()["message"]["subject"] == "Spammy"
    assert "spam" in s.json()["message"]["labels"]
    [bl] = ctx.receiver.wait(ctx.hook_path("blocked"), 1)
    assert bl.json()["event_type"] == "message.received.blocked"
    [p] = ctx.receiver.wait(ctx.hook_path("plain"), 1)
    assert p.json()["event_type"] == "message.received" and p.json()["message"]["subject"] == "Fine"
    got = ctx.receiver.wait(ctx.hook_path("both"), 2)
    assert sorted(r.json()["event_type"] for r in got) == ["message.received", "message.received.spam"]
    assert [len(deliveries(ctx.server, h.webhook_id)) for h in (plain, spam, blocked, both)] == [1, 1, 1, 2]


def test_polling_webhook_reads_events_at_least_once_in_order(ctx: Ctx):
    inbox, other = ctx.inbox("poll"), ctx.inbox("poll-other")
    sub = ctx.sdk.webhooks.polling.create(client_id=f"poller-{ctx.tag}", event_types=["message.received"],
                                          inbox_ids=[inbox])
    sent_only = ctx.sdk.webhooks.polling.create(client_id=f"sent-{ctx.tag}", event_types=["message.sent"])
    base = ctx.server.base_url + "/v0/webhooks/polling/events"
    auth = {"Authorization": f"Bearer {sub.token}"}

    def read(**params: object) -> dict:
        response = httpx.get(base, params={k: v for k, v in params.items() if v is not None}, headers=auth)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"data", "iterator", "done"}
        return body

    empty = read()
    assert empty["data"] == [] and empty["done"] is True
    for i in range(3):
        ctx.mail([inbox], subject=f"Polled {i}")
        # One at a time: messages in flight together may be processed (and their events committed) in
        # either order by concurrent workers. The event is queued with the message itself.
        wait_messages(ctx.http, inbox, i + 1)
    ctx.mail([other], subject="Not watched")

    first = read(limit=2)
    assert [e["message"]["subject"] for e in first["data"]] == ["Polled 0", "Polled 1"] and first["done"] is False
    for event in first["data"]:
        check(MessageReceivedEvent, event)
    # Without the iterator (a lost answer, say) the same batch comes again.
    again = read(limit=2)
    assert [e["event_id"] for e in again["data"]] == [e["event_id"] for e in first["data"]]
    second = read(iterator=first["iterator"], limit=2)
    assert [e["message"]["subject"] for e in second["data"]] == ["Polled 2"] and second["done"] is True
    # Repeating an acknowledged iterator re-reads only what is unacknowledged.
    assert [e["event_id"] for e in read(iterator=first["iterator"])["data"]] == [second["data"][0]["event_id"]]
    done = read(iterator=second["iterator"])
    assert done["data"] == [] and done["done"] is True
    assert read(iterator=done["iterator"])["data"] == []

    # The other subscription saw no received mail; its token reads only its own queue.
    other_read = httpx.get(base, headers={"Authorization": f"Bearer {sent_only.token}"}).json()
    assert other_read["data"] == []
    # A token's iterator is bound to its subscription.
    response = httpx.get(base, params={"iterator": done["iterator"]},
                         headers={"Authorization": f"Bearer {sent_only.token}"})
    assert response.status_code == 400


def test_names_resolving_to_private_addresses_are_refused_at_delivery(receiver: Receiver):
    """In-process: a hostname (not a literal, so create-time checks pass) that resolves to loopback."""
    path = f"/private-{uuid.uuid4().hex[:8]}"
    port = receiver.base_url.rsplit(":", 1)[1]
    webhook = WebhookRow(id="ep_test", url=f"http://localhost:{port}{path}", secret="whsec_" + "A" * 32,
                         headers={}, event_types=["message.received"], enabled=True)

    async def attempt(allow_private: bool) -> tuple[int | None, str | None]:
        sender = Sender(Settings(webhook_allow_private=allow_private, webhook_timeout_seconds=5))
        try:
            outcome = await sender.send(webhook, "msg_test", '{"type":"event"}')
        finally:
            await sender.aclose()
        return outcome.status_code, outcome.error

    status, err = asyncio.run(attempt(False))
    assert status is None and err is not None and err.startswith("Refused") and "non-public" in err
    assert receiver.requests(path) == []
    assert asyncio.run(attempt(True)) == (200, None)
    [req] = receiver.requests(path)
    assert req.headers["host"] == f"localhost:{port}"
    req.verify(webhook.secret)
    assert datetime.fromtimestamp(int(req.headers["svix-timestamp"]), UTC).year >= 2024
