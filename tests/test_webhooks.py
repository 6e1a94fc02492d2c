"""Webhook and polling-webhook management (REFERENCE §2.12, §2.13) through the official SDK and raw HTTP.

Deliveries are in test_webhooks_delivery.py. The shared server refuses http:// and private targets
(the defaults), so URLs here are https:// names under .invalid that never resolve.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from agentmail import AgentMail
from agentmail.core.api_error import ApiError

from agentmail_server.schemas.webhooks import (
    CreatePollingWebhookResponse,
    ListPollingWebhooksResponse,
    ListWebhooksResponse,
    PollingWebhook,
    Webhook,
    WebhookHeaderNamesResponse,
)

from .conftest import make_http, make_sdk
from .server import Server
from .webhook_helpers import new_organization
from .wire import error, ok


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _url(tag: str = "") -> str:
    return f"https://hooks-{tag or _tag()}.example.invalid/agentmail"


@dataclass
class Org:
    id: str
    key: str
    sdk: AgentMail
    http: httpx.Client


@pytest.fixture
def org(server: Server) -> Iterator[Org]:
    """A fresh organization: org-wide webhooks and counts there disturb nobody."""
    org_id, key = new_organization(server)
    with make_http(server, key) as http:
        yield Org(org_id, key, make_sdk(server, key), http)


@dataclass
class World:
    pod: str
    inbox_in_pod: str
    other_inbox_in_pod: str
    inbox_default: str
    pod_key: str
    inbox_key: str


@pytest.fixture
def world(org: Org) -> World:
    http = org.http
    tag = _tag()
    pod = http.post("/v0/pods", json={"name": f"p-{tag}"}).raise_for_status().json()["pod_id"]
    a = http.post(f"/v0/pods/{pod}/inboxes", json={"username": f"a-{tag}"}).raise_for_status().json()["inbox_id"]
    b = http.post(f"/v0/pods/{pod}/inboxes", json={"username": f"b-{tag}"}).raise_for_status().json()["inbox_id"]
    c = http.post("/v0/inboxes", json={"username": f"c-{tag}"}).raise_for_status().json()["inbox_id"]
    pod_key = http.post(f"/v0/pods/{pod}/api-keys", json={"name": "p"}).raise_for_status().json()["api_key"]
    inbox_key = http.post(f"/v0/inboxes/{a}/api-keys", json={"name": "i"}).raise_for_status().json()["api_key"]
    return World(pod, a, b, c, pod_key, inbox_key)


def _status(call, *args, **kwargs) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as exc:
        call(*args, **kwargs)
    return exc.value.status_code  # type: ignore[no-any-return]


# --- webhooks: CRUD ---------------------------------------------------------------------------


def test_org_webhook_lifecycle_through_the_sdk(org: Org, world: World):
    sdk, http = org.sdk, org.http
    created = sdk.webhooks.create(url=_url(), event_types=["message.received", "message.sent"],
                                  pod_ids=[world.pod], inbox_ids=[world.inbox_default.upper()],
                                  headers={"X-Token": "s3cret"}, client_id=f"hook-{_tag()}")
    assert created.webhook_id.startswith("ep_")
    assert created.secret.startswith("whsec_") and created.enabled is True
    assert created.event_types == ["message.received", "message.sent"]
    assert created.pod_ids == [world.pod] and created.inbox_ids == [world.inbox_default]
    assert created.pod_id is None and created.inbox_id is None

    body = ok(Webhook, http.get(f"/v0/webhooks/{created.webhook_id}"))
    assert body.secret == created.secret and body.client_id == created.client_id
    raw = http.get(f"/v0/webhooks/{created.webhook_id}").json()
    assert "headers" not in raw  # header values are write-only

    listed = ok(ListWebhooksResponse, http.get("/v0/webhooks"))
    assert [w.webhook_id for w in listed.webhooks] == [created.webhook_id]
    assert sdk.webhooks.list().count == 1

    updated = sdk.webhooks.update(created.webhook_id, event_types=["message.bounced"], enabled=False,
                                  add_inbox_ids=[world.inbox_in_pod], remove_pod_ids=[world.pod])
    assert updated.event_types == ["message.bounced"] and updated.enabled is False
    assert updated.pod_ids is None and updated.inbox_ids == [world.inbox_default, world.inbox_in_pod]
    assert updated.updated_at >= created.updated_at and updated.secret == created.secret
    # [] and omitted leave event_types alone; re-enable.
    again = ok(Webhook, http.patch(f"/v0/webhooks/{created.webhook_id}", json={"event_types": [], "enabled": True}))
    assert again.event_types == ["message.bounced"] and again.enabled is True

    sdk.webhooks.delete(created.webhook_id)
    assert _status(sdk.webhooks.get, created.webhook_id) == 404
    assert _status(sdk.webhooks.delete, created.webhook_id) == 404
    error(http.get(f"/v0/webhooks/{created.webhook_id}"), 404, "not_found")


def test_pod_and_inbox_webhooks_through_the_sdk(org: Org, world: World):
    sdk, http = org.sdk, org.http
    pod_hook = sdk.pods.webhooks.create(world.pod, url=_url(), event_types=["message.received"],
                                        inbox_ids=[world.inbox_in_pod])
    assert pod_hook.pod_id == world.pod and pod_hook.inbox_id is None and pod_hook.inbox_ids == [world.inbox_in_pod]
    inbox_hook = sdk.inboxes.webhooks.create(world.inbox_in_pod, url=_url(), event_types=["message.sent"])
    assert inbox_hook.pod_id == world.pod and inbox_hook.inbox_id == world.inbox_in_pod

    assert sdk.pods.webhooks.get(world.pod, pod_hook.webhook_id).webhook_id == pod_hook.webhook_id
    assert sdk.inboxes.webhooks.get(world.inbox_in_pod, inbox_hook.webhook_id).url == inbox_hook.url
    pod_list = ok(ListWebhooksResponse, http.get(f"/v0/pods/{world.pod}/webhooks"))
    assert {w.webhook_id for w in pod_list.webhooks} == {pod_hook.webhook_id, inbox_hook.webhook_id}
    inbox_list = sdk.inboxes.webhooks.list(world.inbox_in_pod)
    assert [w.webhook_id for w in inbox_list.webhooks] == [inbox_hook.webhook_id]
    # The org key sees the pod's webhooks on the un-prefixed route too.
    assert sdk.webhooks.get(pod_hook.webhook_id).pod_id == world.pod
    # An inbox webhook is not visible through another inbox's route.
    assert _status(sdk.inboxes.webhooks.get, world.other_inbox_in_pod, inbox_hook.webhook_id) == 404

    updated = sdk.pods.webhooks.update(world.pod, pod_hook.webhook_id, add_inbox_ids=[world.other_inbox_in_pod],
                                       remove_inbox_ids=[world.inbox_in_pod])
    assert updated.inbox_ids == [world.other_inbox_in_pod]
    # The last inbox of a filtered webhook cannot be removed.
    error(http.patch(f"/v0/pods/{world.pod}/webhooks/{pod_hook.webhook_id}",
                     json={"remove_inbox_ids": [world.other_inbox_in_pod]}), 400)
    # An inbox outside the pod is not found through the pod.
    error(http.patch(f"/v0/pods/{world.pod}/webhooks/{pod_hook.webhook_id}",
                     json={"add_inbox_ids": [world.inbox_default]}), 404)
    assert sdk.inboxes.webhooks.update(world.inbox_in_pod, inbox_hook.webhook_id, enabled=False).enabled is False

    sdk.inboxes.webhooks.delete(world.inbox_in_pod, inbox_hook.webhook_id)
    sdk.pods.webhooks.delete(world.pod, pod_hook.webhook_id)
    assert ok(ListWebhooksResponse, http.get(f"/v0/pods/{world.pod}/webhooks")).count == 0


def test_headers_are_write_only_and_edited_atomically(org: Org):
    sdk, http = org.sdk, org.http
    hook = sdk.webhooks.create(url=_url(), event_types=["message.received"], headers={"X-One": "1", "X-Two": "2"})
    names = ok(WebhookHeaderNamesResponse, http.get(f"/v0/webhooks/{hook.webhook_id}/headers"))
    assert names.header_names == ["X-One", "X-Two"]
    # Replace one (case-insensitively), add one, remove one.
    response = http.patch(f"/v0/webhooks/{hook.webhook_id}/headers",
                          json={"headers": {"x-one": "uno", "X-Three": "3"}, "remove_headers": ["X-TWO"]})
    assert response.status_code == 204 and response.content == b""
    assert sdk.webhooks.get_headers(hook.webhook_id).header_names == ["x-one", "X-Three"]
    sdk.webhooks.update_headers(hook.webhook_id, remove_headers=["x-three"])
    assert sdk.webhooks.get_headers(hook.webhook_id).header_names == ["x-one"]

    base = f"/v0/webhooks/{hook.webhook_id}/headers"
    error(http.patch(base, json={}), 400)  # neither
    error(http.patch(base, json={"headers": {"X-A": "1"}, "remove_headers": ["x-a"]}), 400)  # both
    error(http.patch(base, json={"headers": {"X-Bad\r\nInjected": "1"}}), 400)
    error(http.patch(base, json={"headers": {"X-Bad": "a\r\nInjected: yes"}}), 400)
    error(http.patch(base, json={"headers": {"svix-signature": "v1,forged"}}), 400)
    error(http.patch(base, json={"remove_headers": ["bad name"]}), 400)
    error(http.patch("/v0/webhooks/ep_missing/headers", json={"headers": {"X-A": "1"}}), 404)
    assert sdk.webhooks.get_headers(hook.webhook_id).header_names == ["x-one"]


def test_client_id_makes_create_idempotent(org: Org, world: World):
    http = org.http
    client_id = f"agent-{_tag()}"
    first = ok(Webhook, http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                                        "client_id": client_id}))
    replay = ok(Webhook, http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.sent"],
                                                         "client_id": client_id}))
    assert replay.webhook_id == first.webhook_id and replay.url == first.url
    assert replay.event_types == ["message.received"]
    # Per level: the same client_id on a pod route is another webhook.
    pod_hook = ok(Webhook, http.post(f"/v0/pods/{world.pod}/webhooks",
                                     json={"url": _url(), "event_types": ["message.received"],
                                           "client_id": client_id}))
    assert pod_hook.webhook_id != first.webhook_id
    assert ok(ListWebhooksResponse, http.get("/v0/webhooks")).count == 2
    error(http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                          "client_id": "has@at"}), 400)


@pytest.mark.parametrize("body", [
    {"url": "http://hooks.example.invalid/x", "event_types": ["message.received"]},  # https only by default
    {"url": "ftp://hooks.example.invalid/x", "event_types": ["message.received"]},
    {"url": "not a url", "event_types": ["message.received"]},
    {"url": "https:///nohost", "event_types": ["message.received"]},
    {"url": "https://hooks.example.invalid:99999/", "event_types": ["message.received"]},
    {"url": "https://127.0.0.1/x", "event_types": ["message.received"]},  # private targets refused
    {"url": "https://[::1]/x", "event_types": ["message.received"]},
    {"url": "https://localhost/x", "event_types": ["message.received"]},
    {"url": "https://hooks.example.invalid/" + "a" * 3000, "event_types": ["message.received"]},
    {"url": "https://hooks.example.invalid/x", "event_types": []},
    {"url": "https://hooks.example.invalid/x"},
    {"event_types": ["message.received"]},
    {"url": "https://hooks.example.invalid/x", "event_types": ["message_received"]},
    {"url": "https://hooks.example.invalid/x", "event_types": "message.received"},
    {"url": "https://hooks.example.invalid/x", "event_types": [None]},
    {"url": "https://hooks.example.invalid/x", "event_types": ["message.received"], "headers": {}},
    {"url": "https://hooks.example.invalid/x", "event_types": ["message.received"], "headers": {"A\r\nB": "1"}},
    {"url": "https://hooks.example.invalid/x", "event_types": ["message.received"], "headers": {"A": "1\r\nB: 2"}},
    {"url": "https://hooks.example.invalid/x", "event_types": ["message.received"], "headers": {"A": "x\u00e9"}},
    {"url": "https://hooks.example.invalid/x", "event_types": ["message.received"], "headers": {"Host": "a"}},
    {"url": "https://hooks.example.invalid/x", "event_types": ["message.received"], "headers": {"A": 1}},
    {"url": "https://hooks.example.invalid/x", "event_types": ["message.received"], "pod_ids": "p"},
    {"url": "https://hooks.example.invalid/x\u0000", "event_types": ["message.received"]},
])
def test_bad_create_bodies_are_400(http: httpx.Client, body: dict):
    error(http.post("/v0/webhooks", json=body), 400)


def test_bad_bodies_on_every_route_are_400_never_500(org: Org, world: World):
    http = org.http
    hook = org.sdk.webhooks.create(url=_url(), event_types=["message.received"])
    for path in ("/v0/webhooks", f"/v0/pods/{world.pod}/webhooks", f"/v0/inboxes/{world.inbox_in_pod}/webhooks"):
        error(http.post(path, content=b"{not json", headers={"Content-Type": "application/json"}), 400)
        error(http.post(path, json=[]), 400)
        error(http.post(path, json={"url": _url(), "event_types": ["nope"]}), 400)
    error(http.patch(f"/v0/webhooks/{hook.webhook_id}", json={"event_types": ["nope"]}), 400)
    error(http.patch(f"/v0/webhooks/{hook.webhook_id}", json={"enabled": "maybe"}), 400)
    error(http.patch(f"/v0/webhooks/{hook.webhook_id}", json={"add_pod_ids": "x"}), 400)
    error(http.get("/v0/webhooks", params={"limit": 0}), 400)
    error(http.get("/v0/webhooks", params={"page_token": "garbage"}), 400)


def test_filters_are_checked(org: Org, world: World):
    http = org.http
    # More than 10 pods + inboxes combined → 403 limit_exceeded (before looking them up).
    many = [f"inbox{i}@example.invalid" for i in range(8)]
    error(http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"], "inbox_ids": many,
                                          "pod_ids": ["p1", "p2", "p3"]}), 403, "limit_exceeded")
    # Unknown (or foreign) pods and inboxes are not found.
    error(http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                          "pod_ids": [str(uuid.uuid4())]}), 404)
    error(http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                          "inbox_ids": ["nobody@example.invalid"]}), 404)
    # A pod webhook's inbox filter must lie in the pod.
    error(http.post(f"/v0/pods/{world.pod}/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                                            "inbox_ids": [world.inbox_default]}), 404)
    # Adding past 10 through PATCH.
    hook = ok(Webhook, http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"],
                                                       "inbox_ids": [world.inbox_default]}))
    pods = [http.post("/v0/pods", json={"name": f"f{i}"}).raise_for_status().json()["pod_id"] for i in range(10)]
    error(http.patch(f"/v0/webhooks/{hook.webhook_id}", json={"add_pod_ids": pods}), 403, "limit_exceeded")
    error(http.patch(f"/v0/webhooks/{hook.webhook_id}", json={"add_pod_ids": [pods[0]], "remove_pod_ids": [pods[0]]}),
          400)
    assert ok(Webhook, http.patch(f"/v0/webhooks/{hook.webhook_id}", json={"add_pod_ids": pods[:9]})).pod_ids == pods[:9]
    # Pod filters do not apply to pod or inbox webhooks.
    pod_hook = ok(Webhook, http.post(f"/v0/pods/{world.pod}/webhooks",
                                     json={"url": _url(), "event_types": ["message.received"]}))
    error(http.patch(f"/v0/webhooks/{pod_hook.webhook_id}", json={"add_pod_ids": [world.pod]}), 400)


def test_at_most_50_webhooks_per_organization(org: Org):
    http = org.http
    for i in range(50):
        http.post("/v0/webhooks", json={"url": _url(str(i)), "event_types": ["message.received"]}).raise_for_status()
    error(http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"]}), 403, "limit_exceeded")
    listed = ok(ListWebhooksResponse, http.get("/v0/webhooks", params={"limit": 20}))
    assert listed.count == 20 and listed.next_page_token
    seen = [w.webhook_id for w in listed.webhooks]
    token = listed.next_page_token
    while token:
        page = ok(ListWebhooksResponse, http.get("/v0/webhooks", params={"limit": 20, "page_token": token}))
        seen += [w.webhook_id for w in page.webhooks]
        token = page.next_page_token
    assert len(seen) == len(set(seen)) == 50
    # Tokens are bound to their list.
    error(http.get("/v0/webhooks/polling", params={"page_token": listed.next_page_token}), 400)


def test_restricted_variants_need_the_label_permission(org: Org, server: Server):
    http = org.http
    limited = http.post("/v0/api-keys", json={"name": "limited", "permissions": {
        "webhook_create": True, "webhook_read": True, "webhook_update": True, "message_read": True,
    }}).raise_for_status().json()["api_key"]
    with make_http(server, limited) as lim:
        body = error(lim.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received.spam"]}), 403)
        assert "label_spam_read" in body["message"]
        error(lim.post("/v0/webhooks/polling", json={"client_id": "c", "event_types": ["message.received.blocked"]}),
              403)
        hook = ok(Webhook, lim.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"]}))
        error(lim.patch(f"/v0/webhooks/{hook.webhook_id}", json={"event_types": ["message.received.unauthenticated"]}),
              403)
        # Without domain_read a key cannot subscribe to domain events either.
        error(lim.post("/v0/webhooks", json={"url": _url(), "event_types": ["domain.verified"]}), 403)
    # The root-level key may; re-enabling needs the permission again.
    spam = ok(Webhook, http.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received.spam"]}))
    http.patch(f"/v0/webhooks/{spam.webhook_id}", json={"enabled": False}).raise_for_status()
    with make_http(server, limited) as lim:
        error(lim.patch(f"/v0/webhooks/{spam.webhook_id}", json={"enabled": True}), 403)
    reader = http.post("/v0/api-keys", json={"name": "reader", "permissions": {"webhook_read": True}}
                       ).raise_for_status().json()["api_key"]
    with make_http(server, reader) as r:
        error(r.post("/v0/webhooks", json={"url": _url(), "event_types": ["message.received"]}), 403,
              "missing_permission")
        error(r.delete(f"/v0/webhooks/{spam.webhook_id}"), 403, "missing_permission")
        assert r.get(f"/v0/webhooks/{spam.webhook_id}").status_code == 200


def test_scoped_keys_see_only_their_webhooks(org: Org, world: World, server: Server):
    sdk = org.sdk
    org_hook = sdk.webhooks.create(url=_url(), event_types=["message.received"])
    pod_hook = sdk.pods.webhooks.create(world.pod, url=_url(), event_types=["message.received"])
    inbox_hook = sdk.inboxes.webhooks.create(world.inbox_in_pod, url=_url(), event_types=["message.received"])
    other_inbox_hook = sdk.inboxes.webhooks.create(world.inbox_default, url=_url(), event_types=["message.received"])

    pod_sdk = make_sdk(server, world.pod_key)
    assert {w.webhook_id for w in pod_sdk.webhooks.list().webhooks} == {pod_hook.webhook_id, inbox_hook.webhook_id}
    for hidden in (org_hook, other_inbox_hook):
        assert _status(pod_sdk.webhooks.get, hidden.webhook_id) == 404
        assert _status(pod_sdk.webhooks.delete, hidden.webhook_id) == 404
        assert _status(pod_sdk.webhooks.update, hidden.webhook_id, enabled=False) == 404
        assert _status(pod_sdk.webhooks.get_headers, hidden.webhook_id) == 404
    assert _status(pod_sdk.pods.webhooks.list, org.id) == 404  # the default pod is not its pod
    # Created through the un-prefixed route, a pod key's webhook belongs to its pod.
    made = pod_sdk.webhooks.create(url=_url(), event_types=["message.received"])
    assert made.pod_id == world.pod and made.inbox_id is None

    inbox_sdk = make_sdk(server, world.inbox_key)
    assert [w.webhook_id for w in inbox_sdk.webhooks.list().webhooks] == [inbox_hook.webhook_id]
    assert _status(inbox_sdk.webhooks.get, pod_hook.webhook_id) == 404
    assert _status(inbox_sdk.inboxes.webhooks.get, world.other_inbox_in_pod, inbox_hook.webhook_id) == 404
    made = inbox_sdk.webhooks.create(url=_url(), event_types=["message.received"])
    assert made.inbox_id == world.inbox_in_pod and made.pod_id == world.pod

    # Another organization sees none of it.
    other_sdk = make_sdk(server, new_organization(server)[1])
    assert other_sdk.webhooks.list().count == 0
    assert _status(other_sdk.webhooks.get, org_hook.webhook_id) == 404
    assert _status(other_sdk.pods.webhooks.create, world.pod, url=_url(), event_types=["message.received"]) == 404


# --- polling webhooks -------------------------------------------------------------------------


def test_polling_webhook_lifecycle(org: Org, world: World):
    sdk, http = org.sdk, org.http
    created = sdk.webhooks.polling.create(client_id="my-agent", event_types=["message.received"],
                                          inbox_ids=[world.inbox_default])
    assert created.token and created.webhook_id.startswith("pw_") and created.inbox_ids == [world.inbox_default]
    raw = ok(CreatePollingWebhookResponse, http.post("/v0/webhooks/polling", json={
        "client_id": "my-agent", "event_types": ["message.sent"]}))
    # A replay: same subscription (body not applied), a new token.
    assert raw.webhook_id == created.webhook_id and raw.event_types == ["message.received"]
    assert raw.token != created.token

    got = ok(PollingWebhook, http.get(f"/v0/webhooks/polling/{created.webhook_id}"))
    assert "token" not in http.get(f"/v0/webhooks/polling/{created.webhook_id}").json()
    assert got.client_id == "my-agent"
    assert sdk.webhooks.polling.get("my-agent").webhook_id == created.webhook_id  # client_id works as the id

    pod_sub = sdk.pods.webhooks.polling.create(world.pod, client_id="my-agent", event_types=["message.received"])
    assert pod_sub.webhook_id != created.webhook_id and pod_sub.pod_id == world.pod
    inbox_sub = sdk.inboxes.webhooks.polling.create(world.inbox_in_pod, client_id="x",
                                                    event_types=["message.received"])
    assert inbox_sub.inbox_id == world.inbox_in_pod
    # Lists show only what was created through that route.
    assert [p.webhook_id for p in ok(ListPollingWebhooksResponse, http.get("/v0/webhooks/polling")).polling_webhooks
            ] == [created.webhook_id]
    assert [p.webhook_id for p in sdk.pods.webhooks.polling.list(world.pod).polling_webhooks] == [pod_sub.webhook_id]
    assert [p.webhook_id for p in sdk.inboxes.webhooks.polling.list(world.inbox_in_pod).polling_webhooks
            ] == [inbox_sub.webhook_id]
    assert _status(sdk.pods.webhooks.polling.get, world.pod, created.webhook_id) == 404
    assert sdk.inboxes.webhooks.polling.get(world.inbox_in_pod, "x").webhook_id == inbox_sub.webhook_id

    # The token reads the subscription; the replaced one no longer does.
    read = httpx.get(f"{http.base_url}/v0/webhooks/polling/events", headers={"Authorization": f"Bearer {raw.token}"})
    assert read.status_code == 200 and read.json() == {"data": [], "iterator": read.json()["iterator"], "done": True}
    stale = httpx.get(f"{http.base_url}/v0/webhooks/polling/events",
                      headers={"Authorization": f"Bearer {created.token}"})
    error(stale, 401)

    sdk.webhooks.polling.delete("my-agent")
    assert _status(sdk.webhooks.polling.get, created.webhook_id) == 404
    error(httpx.get(f"{http.base_url}/v0/webhooks/polling/events", headers={"Authorization": f"Bearer {raw.token}"}),
          401)
    sdk.pods.webhooks.polling.delete(world.pod, pod_sub.webhook_id)
    sdk.inboxes.webhooks.polling.delete(world.inbox_in_pod, inbox_sub.webhook_id)
    # "events" as a client_id still works with an API key (that path also reads events, with a token).
    named = sdk.webhooks.polling.create(client_id="events", event_types=["message.sent"])
    assert sdk.webhooks.polling.get("events").webhook_id == named.webhook_id
    ok(PollingWebhook, http.get("/v0/webhooks/polling/events"))
    sdk.webhooks.polling.delete("events")
    assert _status(sdk.inboxes.webhooks.polling.delete, world.inbox_in_pod, inbox_sub.webhook_id) == 404


def test_polling_webhook_rules(org: Org, world: World, server: Server):
    http = org.http
    error(http.post("/v0/webhooks/polling", json={"event_types": ["message.received"]}), 400)  # client_id required
    error(http.post("/v0/webhooks/polling", json={"client_id": "", "event_types": ["message.received"]}), 400)
    error(http.post("/v0/webhooks/polling", json={"client_id": "a", "event_types": []}), 400)
    error(http.post("/v0/webhooks/polling", json={"client_id": "a", "event_types": ["bogus"]}), 400)
    error(http.post("/v0/webhooks/polling", json={"client_id": "a", "event_types": ["message.received"],
                                                  "inbox_ids": [f"i{i}@x.invalid" for i in range(11)]}),
          403, "limit_exceeded")
    for i in range(10):
        http.post(f"/v0/pods/{world.pod}/webhooks/polling",
                  json={"client_id": f"c{i}", "event_types": ["message.received"]}).raise_for_status()
    error(http.post(f"/v0/pods/{world.pod}/webhooks/polling",
                    json={"client_id": "c10", "event_types": ["message.received"]}), 403, "limit_exceeded")
    # A replay does not count against the limit; other levels have their own.
    http.post(f"/v0/pods/{world.pod}/webhooks/polling",
              json={"client_id": "c3", "event_types": ["message.received"]}).raise_for_status()
    http.post("/v0/webhooks/polling", json={"client_id": "c10", "event_types": ["message.received"]}).raise_for_status()
    # A pod key does not see the organization's subscriptions, nor other pods'.
    with make_http(server, world.pod_key) as pod_http:
        assert pod_http.get("/v0/webhooks/polling").json()["count"] == 10  # its own level is its pod
        error(pod_http.get("/v0/webhooks/polling/c10"), 404)
    # The events route: no token, a wrong token, an API key with no such subscription, a bad iterator.
    base = http.base_url
    error(httpx.get(f"{base}/v0/webhooks/polling/events"), 401)
    error(httpx.get(f"{base}/v0/webhooks/polling/events", headers={"Authorization": "Bearer am_poll_nope"}), 401)
    error(http.get("/v0/webhooks/polling/events"), 404)
    token = http.post("/v0/webhooks/polling", json={"client_id": "reader", "event_types": ["message.received"]}
                      ).raise_for_status().json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    error(httpx.get(f"{base}/v0/webhooks/polling/events", params={"iterator": "garbage"}, headers=auth), 400)
    error(httpx.get(f"{base}/v0/webhooks/polling/events", params={"limit": 0}, headers=auth), 400)
    error(httpx.get(f"{base}/v0/webhooks/polling/events", params={"limit": 10_000}, headers=auth), 400)
