"""Scopes and tenancy (REFERENCE §1.14, §2.1, §2.2): org/pod/inbox keys and the wall between organizations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from agentmail import CreateBearerApiKeyRequest
from agentmail.core.api_error import ApiError
from agentmail.inboxes import CreateInboxRequest

from agentmail_server.schemas.resources import (
    BearerApiKey,
    CreateApiKeyResponse,
    Identity,
    Inbox,
    ListApiKeysResponse,
    ListInboxesResponse,
    ListPodsResponse,
    Organization,
    Pod,
)

from .conftest import make_async_sdk, make_http, make_sdk
from .wire import error, ok

DOMAIN = "agentmail.localhost"


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _create_key(client: httpx.Client, path: str = "/v0/api-keys", **body: Any) -> dict[str, Any]:
    return ok(CreateApiKeyResponse, client.post(path, json=body)).model_dump(mode="json", exclude_none=True)


def _inbox(client: httpx.Client, path: str = "/v0/inboxes", **body: Any) -> Inbox:
    return ok(Inbox, client.post(path, json={"username": _name("tn"), **body}))


def _walk(client: httpx.Client, path: str, field: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        response = client.get(path, params={"limit": 1000, **params, **({"page_token": token} if token else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body[field]
        token = body.get("next_page_token")
        if not token:
            return items


def _ids(client: httpx.Client, path: str, field: str, id_field: str, **params: Any) -> list[str]:
    return [item[id_field] for item in _walk(client, path, field, **params)]


def _me(client: httpx.Client) -> Identity:
    return ok(Identity, client.get("/v0/auth/me"))


def _code(exc: pytest.ExceptionInfo[ApiError]) -> str:
    body = exc.value.body  # a dict for untyped statuses, the parsed ErrorResponse for typed ones
    return str(body.get("code") if isinstance(body, dict) else getattr(body, "code", None))


# --- GET /v0/auth/me --------------------------------------------------------------------------


def test_me_for_the_root_org_key(sdk, http, server):
    response = http.get("/v0/auth/me")
    me = ok(Identity, response)
    assert set(response.json()) == {"scope_type", "scope_id", "organization_id", "api_key_id"}
    assert me.scope_type == "organization"
    assert me.scope_id == me.organization_id
    assert str(uuid.UUID(me.organization_id)) == me.organization_id
    root = ok(BearerApiKey, http.get(f"/v0/api-keys/{me.api_key_id}"))
    assert root.pod_id is None and root.inbox_id is None and root.permissions is None
    assert server.api_key.startswith(root.prefix)

    via_sdk = sdk.auth.me()
    assert (via_sdk.scope_type, via_sdk.scope_id, via_sdk.organization_id, via_sdk.api_key_id) == (
        "organization", me.organization_id, me.organization_id, me.api_key_id)
    assert via_sdk.pod_id is None and via_sdk.inbox_id is None


def test_me_for_org_pod_and_inbox_keys(sdk, http, server):
    org_id = sdk.auth.me().organization_id
    pod = sdk.pods.create(name="me-pod")
    inbox = sdk.pods.inboxes.create(pod.pod_id, username=_name("me"))
    default_inbox = _inbox(http)

    org_key = _create_key(http)
    pod_key = _create_key(http, f"/v0/pods/{pod.pod_id}/api-keys")
    inbox_key = _create_key(http, f"/v0/inboxes/{inbox.inbox_id}/api-keys")
    default_pod_key = _create_key(http, f"/v0/pods/{org_id}/api-keys")
    default_inbox_key = _create_key(http, f"/v0/inboxes/{default_inbox.inbox_id}/api-keys")
    assert "pod_id" not in org_key and "inbox_id" not in org_key
    assert (pod_key["pod_id"], pod_key.get("inbox_id")) == (pod.pod_id, None)
    assert (inbox_key["pod_id"], inbox_key["inbox_id"]) == (pod.pod_id, inbox.inbox_id)
    assert (default_inbox_key["pod_id"], default_inbox_key["inbox_id"]) == (org_id, default_inbox.inbox_id)

    expected = [
        (org_key, {"scope_type": "organization", "scope_id": org_id, "organization_id": org_id}),
        (pod_key, {"scope_type": "pod", "scope_id": pod.pod_id, "organization_id": org_id, "pod_id": pod.pod_id}),
        (default_pod_key, {"scope_type": "pod", "scope_id": org_id, "organization_id": org_id, "pod_id": org_id}),
        (inbox_key, {"scope_type": "inbox", "scope_id": inbox.inbox_id, "organization_id": org_id,
                     "pod_id": pod.pod_id, "inbox_id": inbox.inbox_id}),
        (default_inbox_key, {"scope_type": "inbox", "scope_id": default_inbox.inbox_id, "organization_id": org_id,
                             "pod_id": org_id, "inbox_id": default_inbox.inbox_id}),
    ]
    for key, identity in expected:
        with make_http(server, key["api_key"]) as client:
            response = client.get("/v0/auth/me")
            ok(Identity, response)
            assert response.json() == {**identity, "api_key_id": key["api_key_id"]}

    scoped = make_sdk(server, inbox_key["api_key"]).auth.me()
    assert (scoped.scope_type, scoped.scope_id, scoped.pod_id, scoped.inbox_id, scoped.api_key_id) == (
        "inbox", inbox.inbox_id, pod.pod_id, inbox.inbox_id, inbox_key["api_key_id"])


# --- GET /v0/organizations --------------------------------------------------------------------


def test_organization_of_the_root_key(sdk, http, server):
    response = http.get("/v0/organizations")
    org = ok(Organization, response)
    assert org.organization_id == sdk.auth.me().organization_id
    assert org.domain_count == 0
    assert org.inbox_count == len(_walk(http, "/v0/inboxes", "inboxes"))
    assert sdk.organizations.get().organization_id == org.organization_id


def test_organization_counts_only_its_own_inboxes(sdk, http, server):
    other = server.cli("create-organization")
    root_count = ok(Organization, http.get("/v0/organizations")).inbox_count
    with make_http(server, other["api_key"]) as client:
        first = ok(Organization, client.get("/v0/organizations"))
        assert (first.organization_id, first.inbox_count, first.domain_count) == (other["organization_id"], 0, 0)
        pod = ok(Pod, client.post("/v0/pods", json={"name": "counted"}))
        a = _inbox(client)
        _inbox(client, f"/v0/pods/{pod.pod_id}/inboxes")
        assert ok(Organization, client.get("/v0/organizations")).inbox_count == 2
        assert client.delete(f"/v0/inboxes/{a.inbox_id}").status_code == 204
        assert ok(Organization, client.get("/v0/organizations")).inbox_count == 1
    assert ok(Organization, http.get("/v0/organizations")).inbox_count == root_count
    foreign = make_sdk(server, other["api_key"]).organizations.get()
    assert (foreign.organization_id, foreign.inbox_count) == (other["organization_id"], 1)


def test_organization_needs_an_org_scoped_key(sdk, http, server):
    pod = sdk.pods.create(name="org-denied")
    inbox = sdk.pods.inboxes.create(pod.pod_id, username=_name("org-denied"))
    for path in (f"/v0/pods/{pod.pod_id}/api-keys", f"/v0/inboxes/{inbox.inbox_id}/api-keys"):
        key = _create_key(http, path)
        with make_http(server, key["api_key"]) as client:
            error(client.get("/v0/organizations"), 403, "unrestricted_key_required")
        with pytest.raises(ApiError) as exc:
            make_sdk(server, key["api_key"]).organizations.get()
        assert exc.value.status_code == 403


# --- org keys and the default pod -------------------------------------------------------------


def test_org_key_creates_in_the_default_pod(sdk, http, server):
    org_id = sdk.auth.me().organization_id
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=_name("dflt")))
    assert inbox.pod_id == org_id
    assert inbox.inbox_id in _ids(http, f"/v0/pods/{org_id}/inboxes", "inboxes", "inbox_id")
    pod = sdk.pods.create(name="not-default")
    assert inbox.inbox_id not in _ids(http, f"/v0/pods/{pod.pod_id}/inboxes", "inboxes", "inbox_id")
    # The default pod is a real pod.
    assert ok(Pod, http.get(f"/v0/pods/{org_id}")).pod_id == org_id


# --- pod keys ---------------------------------------------------------------------------------


@dataclass
class PodWorld:
    org_id: str
    pod_a: str
    pod_b: str
    a1: str
    b1: str
    d1: str
    root_key_id: str
    b_key_id: str
    key: dict[str, Any]


@pytest.fixture
def pod_world(sdk, http, server) -> PodWorld:
    org_id = sdk.auth.me().organization_id
    pod_a = sdk.pods.create(name="pod-a").pod_id
    pod_b = sdk.pods.create(name="pod-b").pod_id
    tag = uuid.uuid4().hex[:8]
    a1 = sdk.pods.inboxes.create(pod_a, username=f"a1-{tag}").inbox_id
    b1 = sdk.pods.inboxes.create(pod_b, username=f"b1-{tag}").inbox_id
    d1 = sdk.inboxes.create(request=CreateInboxRequest(username=f"d1-{tag}")).inbox_id
    key = _create_key(http, f"/v0/pods/{pod_a}/api-keys", name="pod a key")
    b_key = _create_key(http, f"/v0/pods/{pod_b}/api-keys", name="pod b key")
    return PodWorld(org_id=org_id, pod_a=pod_a, pod_b=pod_b, a1=a1, b1=b1, d1=d1,
                    root_key_id=sdk.auth.me().api_key_id, b_key_id=b_key["api_key_id"], key=key)


def test_pod_key_sees_only_its_pod(pod_world, http, server):
    w = pod_world
    with make_http(server, w.key["api_key"]) as pod:
        pods = ok(ListPodsResponse, pod.get("/v0/pods"))
        assert [p.pod_id for p in pods.pods] == [w.pod_a] and pods.count == 1
        assert ok(Pod, pod.get(f"/v0/pods/{w.pod_a}")).name == "pod-a"
        for other in (w.pod_b, w.org_id, str(uuid.uuid4())):
            error(pod.get(f"/v0/pods/{other}"), 404, "not_found")
            error(pod.get(f"/v0/pods/{other}/inboxes"), 404, "not_found")
            error(pod.get(f"/v0/pods/{other}/api-keys"), 404, "not_found")

        assert [i.inbox_id for i in ok(ListInboxesResponse, pod.get("/v0/inboxes")).inboxes] == [w.a1]
        assert [i.inbox_id for i in ok(ListInboxesResponse, pod.get(f"/v0/pods/{w.pod_a}/inboxes")).inboxes] == [w.a1]
        assert ok(Inbox, pod.get(f"/v0/inboxes/{w.a1}")).pod_id == w.pod_a
        assert ok(Inbox, pod.get(f"/v0/pods/{w.pod_a}/inboxes/{w.a1}")).inbox_id == w.a1
        tag = w.a1.split("-", 1)[1].split("@")[0]
        found = ok(ListInboxesResponse, pod.get("/v0/inboxes/search", params={"q": tag}))
        assert [i.inbox_id for i in found.inboxes] == [w.a1]
        for foreign in (w.b1, w.d1):
            error(pod.get(f"/v0/inboxes/{foreign}"), 404, "not_found")
            error(pod.patch(f"/v0/inboxes/{foreign}", json={"display_name": "pwned"}), 404, "not_found")
            error(pod.delete(f"/v0/inboxes/{foreign}"), 404, "not_found")
            error(pod.get(f"/v0/pods/{w.pod_a}/inboxes/{foreign}"), 404, "not_found")
            error(pod.get(f"/v0/inboxes/{foreign}/api-keys"), 404, "not_found")
            error(pod.post(f"/v0/inboxes/{foreign}/api-keys", json={"name": "pwned"}), 404, "not_found")
        error(pod.get(f"/v0/pods/{w.pod_b}/inboxes/{w.b1}"), 404, "not_found")
        error(pod.post(f"/v0/pods/{w.pod_b}/inboxes", json={"username": _name("pwned")}), 404, "not_found")
        error(pod.post(f"/v0/pods/{w.pod_b}/api-keys", json={"name": "pwned"}), 404, "not_found")
        error(pod.delete(f"/v0/pods/{w.pod_b}"), 404, "not_found")

        # Creating on un-prefixed routes lands in the key's pod.
        made = _inbox(pod)
        assert made.pod_id == w.pod_a
        via_pod_route = _inbox(pod, f"/v0/pods/{w.pod_a}/inboxes")
        assert via_pod_route.pod_id == w.pod_a
        error(pod.post("/v0/pods", json={"name": "pod-from-pod-key"}), 403)

    # Nothing leaked out: the other inboxes and pods are untouched.
    assert ok(Inbox, http.get(f"/v0/inboxes/{w.b1}")).display_name is None
    assert ok(Inbox, http.get(f"/v0/inboxes/{w.d1}")).display_name is None
    assert ok(Pod, http.get(f"/v0/pods/{w.pod_b}")).pod_id == w.pod_b
    assert _ids(http, f"/v0/pods/{w.pod_b}/inboxes", "inboxes", "inbox_id") == [w.b1]
    assert _ids(http, f"/v0/pods/{w.pod_b}/api-keys", "api_keys", "api_key_id") == [w.b_key_id]
    assert "pod-from-pod-key" not in {p["name"] for p in _walk(http, "/v0/pods", "pods")}


def test_pod_key_api_keys_stay_in_its_pod(pod_world, http, server):
    w = pod_world
    root_before = http.get(f"/v0/api-keys/{w.root_key_id}").json()
    with make_http(server, w.key["api_key"]) as pod:
        child = _create_key(pod, name="pod child")
        assert (child["pod_id"], child.get("inbox_id")) == (w.pod_a, None)
        inbox_child = _create_key(pod, f"/v0/inboxes/{w.a1}/api-keys", name="inbox child")
        assert (inbox_child["pod_id"], inbox_child["inbox_id"]) == (w.pod_a, w.a1)

        listed = ok(ListApiKeysResponse, pod.get("/v0/api-keys"))
        assert {k.api_key_id for k in listed.api_keys} == {
            w.key["api_key_id"], child["api_key_id"], inbox_child["api_key_id"]}
        assert all(k.pod_id == w.pod_a for k in listed.api_keys)
        assert sorted(_ids(pod, f"/v0/pods/{w.pod_a}/api-keys", "api_keys", "api_key_id")) == sorted(
            k.api_key_id for k in listed.api_keys)

        for outside in (w.root_key_id, w.b_key_id):
            error(pod.get(f"/v0/api-keys/{outside}"), 404, "not_found")
            error(pod.patch(f"/v0/api-keys/{outside}", json={"name": "pwned"}), 404, "not_found")
            error(pod.delete(f"/v0/api-keys/{outside}"), 404, "not_found")
            error(pod.patch(f"/v0/pods/{w.pod_a}/api-keys/{outside}", json={"name": "pwned"}), 404, "not_found")
            error(pod.delete(f"/v0/pods/{w.pod_a}/api-keys/{outside}"), 404, "not_found")
        error(pod.patch(f"/v0/pods/{w.pod_b}/api-keys/{w.b_key_id}", json={"name": "pwned"}), 404, "not_found")
        error(pod.delete(f"/v0/pods/{w.pod_b}/api-keys/{w.b_key_id}"), 404, "not_found")

        renamed = ok(BearerApiKey, pod.patch(f"/v0/api-keys/{child['api_key_id']}", json={"name": "renamed"}))
        assert renamed.name == "renamed"
        assert pod.delete(f"/v0/api-keys/{child['api_key_id']}").status_code == 204

    assert ok(BearerApiKey, http.get(f"/v0/api-keys/{w.b_key_id}")).name == "pod b key"
    root_after = ok(BearerApiKey, http.get(f"/v0/api-keys/{w.root_key_id}")).model_dump(mode="json", exclude_none=True)
    assert {k: v for k, v in root_after.items() if k != "used_at"} == \
        {k: v for k, v in root_before.items() if k != "used_at"}
    # The inbox child minted by the pod key is pinned to that inbox.
    with make_http(server, inbox_child["api_key"]) as client:
        assert _me(client).scope_type == "inbox"


def test_pod_key_through_the_sdk(pod_world, server):
    w = pod_world
    client = make_sdk(server, w.key["api_key"])
    assert [p.pod_id for p in client.pods.list().pods] == [w.pod_a]
    assert [i.inbox_id for i in client.inboxes.list().inboxes] == [w.a1]
    created = client.inboxes.create(request=CreateInboxRequest(username=_name("sdk-pod")))
    assert created.pod_id == w.pod_a
    with pytest.raises(ApiError) as exc:
        client.pods.get(w.pod_b)
    assert exc.value.status_code == 404 and _code(exc) == "not_found"
    with pytest.raises(ApiError) as exc:
        client.inboxes.get(w.b1)
    assert exc.value.status_code == 404 and _code(exc) == "not_found"
    with pytest.raises(ApiError) as exc:
        client.pods.inboxes.list(w.pod_b)
    assert exc.value.status_code == 404
    with pytest.raises(ApiError) as exc:
        client.pods.create(name="nope")
    assert exc.value.status_code == 403
    with pytest.raises(ApiError) as exc:
        client.api_keys.get(w.root_key_id)
    assert exc.value.status_code == 404


def test_default_pod_key_does_not_see_other_pods(pod_world, http, server):
    w = pod_world
    key = _create_key(http, f"/v0/pods/{w.org_id}/api-keys")
    with make_http(server, key["api_key"]) as client:
        assert _ids(client, "/v0/pods", "pods", "pod_id") == [w.org_id]
        inboxes = _ids(client, "/v0/inboxes", "inboxes", "inbox_id")
        assert w.d1 in inboxes and w.a1 not in inboxes and w.b1 not in inboxes
        error(client.get(f"/v0/inboxes/{w.a1}"), 404, "not_found")
        error(client.get(f"/v0/pods/{w.pod_a}"), 404, "not_found")
        keys = _walk(client, "/v0/api-keys", "api_keys")
        assert key["api_key_id"] in {k["api_key_id"] for k in keys}
        assert all(k["pod_id"] == w.org_id for k in keys)
        error(client.get(f"/v0/api-keys/{w.root_key_id}"), 404, "not_found")


# --- inbox keys -------------------------------------------------------------------------------


def test_inbox_key_sees_only_its_inbox(sdk, http, server):
    pod = sdk.pods.create(name="inbox-scope").pod_id
    a1 = sdk.pods.inboxes.create(pod, username=_name("mine")).inbox_id
    a2 = sdk.pods.inboxes.create(pod, username=_name("sibling"), display_name="Sibling").inbox_id
    elsewhere = sdk.inboxes.create(request=CreateInboxRequest(username=_name("elsewhere"))).inbox_id
    other_pod = sdk.pods.create(name="inbox-scope-other").pod_id
    pod_key = _create_key(http, f"/v0/pods/{pod}/api-keys")
    sibling_key = _create_key(http, f"/v0/inboxes/{a2}/api-keys")
    key = _create_key(http, f"/v0/inboxes/{a1}/api-keys", name="inbox key")

    with make_http(server, key["api_key"]) as box:
        listing = ok(ListInboxesResponse, box.get("/v0/inboxes"))
        assert [i.inbox_id for i in listing.inboxes] == [a1] and listing.count == 1
        assert ok(Inbox, box.get(f"/v0/inboxes/{a1}")).inbox_id == a1
        assert ok(Inbox, box.patch(f"/v0/inboxes/{a1}", json={"display_name": "Mine"})).display_name == "Mine"
        for foreign in (a2, elsewhere):
            error(box.get(f"/v0/inboxes/{foreign}"), 404, "not_found")
            error(box.patch(f"/v0/inboxes/{foreign}", json={"display_name": "pwned"}), 404, "not_found")
            error(box.delete(f"/v0/inboxes/{foreign}"), 404, "not_found")
            error(box.get(f"/v0/pods/{pod}/inboxes/{foreign}"), 404, "not_found")
            error(box.get(f"/v0/inboxes/{foreign}/api-keys"), 404, "not_found")
            error(box.post(f"/v0/inboxes/{foreign}/api-keys", json={"name": "pwned"}), 404, "not_found")
        error(box.get(f"/v0/pods/{other_pod}"), 404, "not_found")
        error(box.get(f"/v0/pods/{other_pod}/inboxes"), 404, "not_found")

        username = _name("from-inbox-key")
        error(box.post("/v0/inboxes", json={"username": username}), 403)
        error(box.post(f"/v0/pods/{pod}/inboxes", json={"username": username}), 403)
        error(box.post("/v0/pods", json={"name": "nope"}), 403)

        # Keys: only those pinned to this inbox.
        child = _create_key(box, name="inbox child")
        assert (child["pod_id"], child["inbox_id"]) == (pod, a1)
        listed = {k["api_key_id"] for k in _walk(box, "/v0/api-keys", "api_keys")}
        assert listed == {key["api_key_id"], child["api_key_id"]}
        for outside in (pod_key["api_key_id"], sibling_key["api_key_id"]):
            error(box.get(f"/v0/api-keys/{outside}"), 404, "not_found")
            error(box.patch(f"/v0/api-keys/{outside}", json={"name": "pwned"}), 404, "not_found")
            error(box.delete(f"/v0/api-keys/{outside}"), 404, "not_found")
            error(box.delete(f"/v0/inboxes/{a1}/api-keys/{outside}"), 404, "not_found")

    error(http.get(f"/v0/inboxes/{username}@{DOMAIN}"), 404, "not_found")
    assert ok(Inbox, http.get(f"/v0/inboxes/{a2}")).display_name == "Sibling"
    assert ok(Inbox, http.get(f"/v0/inboxes/{elsewhere}")).inbox_id == elsewhere
    assert ok(BearerApiKey, http.get(f"/v0/api-keys/{pod_key['api_key_id']}")).name == pod_key["name"]
    assert ok(BearerApiKey, http.get(f"/v0/api-keys/{sibling_key['api_key_id']}")).name == sibling_key["name"]


def test_inbox_key_cannot_mint_a_wider_key(sdk, http, server):
    pod = sdk.pods.create(name="no-widening").pod_id
    inbox = sdk.pods.inboxes.create(pod, username=_name("narrow")).inbox_id
    key = _create_key(http, f"/v0/inboxes/{inbox}/api-keys")
    with make_http(server, key["api_key"]) as box:
        for path in ("/v0/api-keys", f"/v0/pods/{pod}/api-keys", f"/v0/inboxes/{inbox}/api-keys"):
            response = box.post(path, json={"name": "child"})
            if response.status_code == 404:
                error(response, 404, "not_found")
                continue
            child = ok(CreateApiKeyResponse, response)
            assert (child.pod_id, child.inbox_id) == (pod, inbox), path
            with make_http(server, child.api_key) as grandchild:
                me = _me(grandchild)
                assert (me.scope_type, me.scope_id) == ("inbox", inbox), path


def test_pod_key_cannot_mint_a_wider_key(sdk, http, server):
    pod = sdk.pods.create(name="no-widening-pod").pod_id
    key = _create_key(http, f"/v0/pods/{pod}/api-keys")
    org_id = sdk.auth.me().organization_id
    with make_http(server, key["api_key"]) as client:
        child = _create_key(client)
        with make_http(server, child["api_key"]) as c:
            assert (_me(c).scope_type, _me(c).scope_id) == ("pod", pod)
        error(client.post(f"/v0/pods/{org_id}/api-keys", json={}), 404, "not_found")


def test_inbox_key_through_the_sdk(sdk, server):
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=_name("sdk-box")))
    other = sdk.inboxes.create(request=CreateInboxRequest(username=_name("sdk-other")))
    created = sdk.inboxes.api_keys.create(inbox.inbox_id, request=CreateBearerApiKeyRequest(name="sdk inbox key"))
    client = make_sdk(server, created.api_key)
    assert [i.inbox_id for i in client.inboxes.list().inboxes] == [inbox.inbox_id]
    assert client.inboxes.get(inbox.inbox_id).inbox_id == inbox.inbox_id
    with pytest.raises(ApiError) as exc:
        client.inboxes.get(other.inbox_id)
    assert exc.value.status_code == 404 and _code(exc) == "not_found"
    with pytest.raises(ApiError) as exc:
        client.inboxes.create(request=CreateInboxRequest(username=_name("nope")))
    assert exc.value.status_code == 403


async def test_async_scoped_keys(sdk, http, server):
    pod = sdk.pods.create(name="async-scope").pod_id
    inside = sdk.pods.inboxes.create(pod, username=_name("async-in")).inbox_id
    outside = sdk.inboxes.create(request=CreateInboxRequest(username=_name("async-out"))).inbox_id
    pod_key = _create_key(http, f"/v0/pods/{pod}/api-keys")
    client = make_async_sdk(server, pod_key["api_key"])
    me = await client.auth.me()
    assert (me.scope_type, me.scope_id, me.pod_id, me.inbox_id) == ("pod", pod, pod, None)
    assert [i.inbox_id for i in (await client.inboxes.list()).inboxes] == [inside]
    with pytest.raises(ApiError) as exc:
        await client.inboxes.get(outside)
    assert exc.value.status_code == 404 and _code(exc) == "not_found"
    made = await client.inboxes.create(request=CreateInboxRequest(username=_name("async-made")))
    assert made.pod_id == pod
    keys = await client.api_keys.list()
    assert {k.api_key_id for k in keys.api_keys} == {pod_key["api_key_id"]}
    with pytest.raises(ApiError) as exc:
        await client.organizations.get()
    assert exc.value.status_code == 403


# --- the wall between organizations -----------------------------------------------------------


@dataclass
class Tenant:
    org_id: str
    api_key: str
    api_key_id: str
    pod_id: str
    inbox_in_pod: str
    inbox_default: str
    org_key_id: str
    pod_key_id: str
    pod_key: str
    inbox_key_id: str
    inbox_key: str


def _populate(server, api_key: str) -> Tenant:  # type: ignore[no-untyped-def]
    with make_http(server, api_key) as client:
        me = _me(client)
        pod = ok(Pod, client.post("/v0/pods", json={"name": _name("walled")}))
        in_pod = _inbox(client, f"/v0/pods/{pod.pod_id}/inboxes", display_name="Walled", metadata={"k": "v"})
        default = _inbox(client, display_name="Default")
        org_key = _create_key(client, name="org key", permissions={"inbox_read": True})
        pod_key = _create_key(client, f"/v0/pods/{pod.pod_id}/api-keys", name="pod key")
        inbox_key = _create_key(client, f"/v0/inboxes/{in_pod.inbox_id}/api-keys", name="inbox key")
    return Tenant(
        org_id=me.organization_id, api_key=api_key, api_key_id=me.api_key_id or "", pod_id=pod.pod_id,
        inbox_in_pod=in_pod.inbox_id, inbox_default=default.inbox_id, org_key_id=org_key["api_key_id"],
        pod_key_id=pod_key["api_key_id"], pod_key=pod_key["api_key"], inbox_key_id=inbox_key["api_key_id"],
        inbox_key=inbox_key["api_key"],
    )


@pytest.fixture
def tenants(server) -> Iterator[tuple[Tenant, Tenant]]:
    other = server.cli("create-organization")
    yield _populate(server, server.api_key), _populate(server, other["api_key"])


def _snapshot(server, t: Tenant) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything the owner can see of its tenant, minus the bookkeeping used_at."""
    def key(client: httpx.Client, key_id: str) -> dict[str, Any]:
        body = ok(BearerApiKey, client.get(f"/v0/api-keys/{key_id}")).model_dump(mode="json", exclude_none=True)
        body.pop("used_at", None)
        return body

    with make_http(server, t.api_key) as client:
        return {
            "pod": ok(Pod, client.get(f"/v0/pods/{t.pod_id}")).model_dump(mode="json"),
            "pods": sorted(_ids(client, "/v0/pods", "pods", "pod_id")),
            "inboxes": {i: ok(Inbox, client.get(f"/v0/inboxes/{i}")).model_dump(mode="json")
                        for i in (t.inbox_in_pod, t.inbox_default)},
            "all_inboxes": sorted(_ids(client, "/v0/inboxes", "inboxes", "inbox_id")),
            "pod_inboxes": _ids(client, f"/v0/pods/{t.pod_id}/inboxes", "inboxes", "inbox_id"),
            "keys": {k: key(client, k) for k in (t.api_key_id, t.org_key_id, t.pod_key_id, t.inbox_key_id)},
            "all_keys": sorted(_ids(client, "/v0/api-keys", "api_keys", "api_key_id")),
            "pod_keys": _ids(client, f"/v0/pods/{t.pod_id}/api-keys", "api_keys", "api_key_id"),
            "inbox_keys": _ids(client, f"/v0/inboxes/{t.inbox_in_pod}/api-keys", "api_keys", "api_key_id"),
            "organization": ok(Organization, client.get("/v0/organizations")).model_dump(mode="json"),
        }


# Every route of §2.3-2.5 that names a pod, inbox or key. {pod}/{inbox}/{default_inbox}/{*_key} are the
# victim's ids (or, for the baseline, ids that do not exist); {own_*} are the attacker's.
ATTACKS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v0/pods/{pod}", None),
    ("DELETE", "/v0/pods/{pod}", None),
    ("GET", "/v0/pods/{default_pod}", None),
    ("DELETE", "/v0/pods/{default_pod}", None),
    ("GET", "/v0/pods/{pod}/inboxes", None),
    ("GET", "/v0/pods/{default_pod}/inboxes", None),
    ("POST", "/v0/pods/{pod}/inboxes", {"username": "{fresh}"}),
    ("POST", "/v0/pods/{default_pod}/inboxes", {"username": "{fresh}"}),
    ("GET", "/v0/pods/{pod}/inboxes/search?q=walled", None),
    ("GET", "/v0/pods/{pod}/inboxes/{inbox}", None),
    ("PATCH", "/v0/pods/{pod}/inboxes/{inbox}", {"display_name": "pwned"}),
    ("DELETE", "/v0/pods/{pod}/inboxes/{inbox}", None),
    ("GET", "/v0/pods/{own_pod}/inboxes/{inbox}", None),
    ("PATCH", "/v0/pods/{own_pod}/inboxes/{inbox}", {"display_name": "pwned"}),
    ("DELETE", "/v0/pods/{own_pod}/inboxes/{inbox}", None),
    ("GET", "/v0/pods/{pod}/api-keys", None),
    ("POST", "/v0/pods/{pod}/api-keys", {"name": "{fresh}"}),
    ("POST", "/v0/pods/{default_pod}/api-keys", {"name": "{fresh}"}),
    ("PATCH", "/v0/pods/{pod}/api-keys/{pod_key}", {"name": "pwned", "permissions": {"inbox_read": True}}),
    ("DELETE", "/v0/pods/{pod}/api-keys/{pod_key}", None),
    ("PATCH", "/v0/pods/{own_pod}/api-keys/{pod_key}", {"name": "pwned"}),
    ("DELETE", "/v0/pods/{own_pod}/api-keys/{pod_key}", None),
    ("GET", "/v0/inboxes/{inbox}", None),
    ("PATCH", "/v0/inboxes/{inbox}", {"display_name": "pwned", "metadata": {"k": None}}),
    ("DELETE", "/v0/inboxes/{inbox}", None),
    ("GET", "/v0/inboxes/{default_inbox}", None),
    ("PATCH", "/v0/inboxes/{default_inbox}", {"status": "paused"}),
    ("DELETE", "/v0/inboxes/{default_inbox}", None),
    ("GET", "/v0/inboxes/{inbox}/api-keys", None),
    ("POST", "/v0/inboxes/{inbox}/api-keys", {"name": "{fresh}"}),
    ("PATCH", "/v0/inboxes/{inbox}/api-keys/{inbox_key}", {"name": "pwned"}),
    ("DELETE", "/v0/inboxes/{inbox}/api-keys/{inbox_key}", None),
    ("PATCH", "/v0/inboxes/{own_inbox}/api-keys/{inbox_key}", {"name": "pwned"}),
    ("DELETE", "/v0/inboxes/{own_inbox}/api-keys/{inbox_key}", None),
    *[(method, f"/v0/api-keys/{{{k}}}", body)
      for k in ("root_key", "org_key", "pod_key", "inbox_key")
      for method, body in (("GET", None), ("PATCH", {"name": "pwned", "permissions": None}), ("DELETE", None))],
]


def _fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


def _attack(server, attacker: Tenant, victim: Tenant, fresh: str) -> None:  # type: ignore[no-untyped-def]
    real = {
        "pod": victim.pod_id, "default_pod": victim.org_id, "inbox": victim.inbox_in_pod,
        "default_inbox": victim.inbox_default, "root_key": victim.api_key_id, "org_key": victim.org_key_id,
        "pod_key": victim.pod_key_id, "inbox_key": victim.inbox_key_id,
    }
    missing = {
        "pod": str(uuid.uuid4()), "default_pod": str(uuid.uuid4()), "inbox": f"nobody-{uuid.uuid4().hex[:8]}@{DOMAIN}",
        "default_inbox": f"nobody-{uuid.uuid4().hex[:8]}@{DOMAIN}",
        **{k: str(uuid.uuid4()) for k in ("root_key", "org_key", "pod_key", "inbox_key")},
    }
    own = {"own_pod": attacker.pod_id, "own_inbox": attacker.inbox_in_pod, "fresh": fresh}
    with make_http(server, attacker.api_key) as client:
        for method, path, body in ATTACKS:
            url = _fill(path, {**real, **own})
            kwargs = {"json": _fill(body, {**real, **own})} if body is not None else {}
            got = error(client.request(method, url, **kwargs), 404, "not_found")
            baseline = client.request(method, _fill(path, {**missing, **own}), **kwargs)
            expected = error(baseline, 404, "not_found")
            # Indistinguishable from an id that does not exist.
            assert {k: got.get(k) for k in ("name", "code", "message")} == \
                {k: expected.get(k) for k in ("name", "code", "message")}, f"{method} {url}"


def _assert_invisible(server, attacker: Tenant, victim: Tenant) -> None:  # type: ignore[no-untyped-def]
    with make_http(server, attacker.api_key) as client:
        assert not {victim.pod_id, victim.org_id} & set(_ids(client, "/v0/pods", "pods", "pod_id"))
        assert not {victim.inbox_in_pod, victim.inbox_default} & set(
            _ids(client, "/v0/inboxes", "inboxes", "inbox_id"))
        assert not {victim.api_key_id, victim.org_key_id, victim.pod_key_id, victim.inbox_key_id} & set(
            _ids(client, "/v0/api-keys", "api_keys", "api_key_id"))
        for q in (victim.inbox_in_pod, "walled", victim.inbox_default):
            hits = ok(ListInboxesResponse, client.get("/v0/inboxes/search", params={"q": q}))
            assert not {victim.inbox_in_pod, victim.inbox_default} & {i.inbox_id for i in hits.inboxes}
        assert ok(Organization, client.get("/v0/organizations")).organization_id == attacker.org_id


@pytest.mark.parametrize("direction", ["second-attacks-root", "root-attacks-second"])
def test_organizations_are_walled_off(tenants, server, direction):
    root, second = tenants
    attacker, victim = (second, root) if direction == "second-attacks-root" else (root, second)
    before = _snapshot(server, victim)
    attacker_before = _snapshot(server, attacker)
    fresh = _name("wall")

    _attack(server, attacker, victim, fresh)
    _assert_invisible(server, attacker, victim)

    assert _snapshot(server, victim) == before
    assert _snapshot(server, attacker) == attacker_before  # nothing landed on the attacker's side either
    for owner in (victim, attacker):
        with make_http(server, owner.api_key) as client:
            error(client.get(f"/v0/inboxes/{fresh}@{DOMAIN}"), 404, "not_found")
            assert fresh not in {k["name"] for k in _walk(client, "/v0/api-keys", "api_keys")}
    # The victim's scoped keys still work and still see their own things.
    with make_http(server, victim.pod_key) as client:
        assert _me(client).scope_id == victim.pod_id
        assert _ids(client, "/v0/inboxes", "inboxes", "inbox_id") == [victim.inbox_in_pod]
    with make_http(server, victim.inbox_key) as client:
        assert _me(client).scope_id == victim.inbox_in_pod


def test_scoped_foreign_keys_are_walled_off_too(tenants, server):
    root, second = tenants
    for attacker, victim in ((second, root), (root, second)):
        for secret in (attacker.pod_key, attacker.inbox_key):
            with make_http(server, secret) as client:
                error(client.get(f"/v0/pods/{victim.pod_id}"), 404, "not_found")
                error(client.get(f"/v0/inboxes/{victim.inbox_in_pod}"), 404, "not_found")
                error(client.get(f"/v0/api-keys/{victim.pod_key_id}"), 404, "not_found")
                error(client.delete(f"/v0/api-keys/{victim.inbox_key_id}"), 404, "not_found")
                error(client.post(f"/v0/inboxes/{victim.inbox_in_pod}/api-keys", json={}), 404, "not_found")
    for t in (root, second):
        with make_http(server, t.api_key) as client:
            assert ok(BearerApiKey, client.get(f"/v0/api-keys/{t.inbox_key_id}")).name == "inbox key"


def test_foreign_ids_through_the_sdk(tenants, server):
    root, second = tenants
    client = make_sdk(server, second.api_key)
    calls = [
        lambda: client.pods.get(root.pod_id),
        lambda: client.pods.delete(root.pod_id),
        lambda: client.pods.inboxes.list(root.pod_id),
        lambda: client.pods.inboxes.get(root.pod_id, root.inbox_in_pod),
        lambda: client.pods.api_keys.list(root.pod_id),
        lambda: client.pods.api_keys.create(root.pod_id, request=CreateBearerApiKeyRequest(name="pwned")),
        lambda: client.pods.api_keys.delete(root.pod_id, root.pod_key_id),
        lambda: client.inboxes.get(root.inbox_default),
        lambda: client.inboxes.update(root.inbox_default, display_name="pwned"),
        lambda: client.inboxes.delete(root.inbox_default),
        lambda: client.inboxes.api_keys.list(root.inbox_in_pod),
        lambda: client.inboxes.api_keys.update(root.inbox_in_pod, root.inbox_key_id, name="pwned"),
        lambda: client.api_keys.get(root.org_key_id),
        lambda: client.api_keys.update(root.org_key_id, name="pwned"),
        lambda: client.api_keys.delete(root.org_key_id),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(ApiError) as exc:
            call()
        assert exc.value.status_code == 404 and _code(exc) == "not_found", i
    with make_http(server, root.api_key) as owner:
        assert ok(Inbox, owner.get(f"/v0/inboxes/{root.inbox_default}")).display_name == "Default"
        assert ok(BearerApiKey, owner.get(f"/v0/api-keys/{root.org_key_id}")).name == "org key"
        assert ok(Pod, owner.get(f"/v0/pods/{root.pod_id}")).pod_id == root.pod_id
