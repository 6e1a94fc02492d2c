"""Inboxes and pods through the official SDK, with bodies checked against the wire models."""

from __future__ import annotations

import uuid

import pytest
from agentmail.core.api_error import ApiError
from agentmail.inboxes import CreateInboxRequest

from agentmail_server.schemas.resources import Inbox, ListInboxesResponse, ListPodsResponse, Pod

from .conftest import make_async_sdk
from .wire import check, error, ok


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_get_list_update_delete_inbox(sdk, http, server):
    username = _name("agent")
    created = sdk.inboxes.create(request=CreateInboxRequest(username=username, display_name="Agent Smith", client_id=_name("cid"),
                                 metadata={"team": "ops", "tier": 2, "vip": True}))
    assert created.inbox_id == f"{username}@agentmail.localhost" == created.email
    me = sdk.auth.me()
    assert created.pod_id == me.organization_id  # default pod id = organization id
    body = ok(Inbox, http.get(f"/v0/inboxes/{created.inbox_id}"))
    assert body.display_name == "Agent Smith"
    assert body.metadata == {"team": "ops", "tier": 2, "vip": True}
    assert body.status is None  # omitted while active

    got = sdk.inboxes.get(created.inbox_id)
    assert got.created_at == created.created_at

    updated = sdk.inboxes.update(created.inbox_id, metadata={"tier": None, "region": "eu"}, status="paused")
    assert updated.metadata == {"team": "ops", "vip": True, "region": "eu"}
    assert updated.status == "paused"
    assert updated.updated_at >= created.updated_at

    cleared = sdk.inboxes.update(created.inbox_id, metadata=None, status="active")
    assert cleared.metadata is None and cleared.status is None
    assert "metadata" not in http.get(f"/v0/inboxes/{created.inbox_id}").json()

    ids = [i.inbox_id for i in sdk.inboxes.list(limit=1000).inboxes]
    assert created.inbox_id in ids

    sdk.inboxes.delete(created.inbox_id)
    with pytest.raises(ApiError) as exc:
        sdk.inboxes.get(created.inbox_id)
    assert exc.value.status_code == 404


def test_create_inbox_without_body_gets_random_address(sdk, http, server):
    created = sdk.inboxes.create()
    assert created.inbox_id.endswith("@agentmail.localhost")
    raw = http.post("/v0/inboxes")  # no body, no Content-Type: like the SDK
    inbox = ok(Inbox, raw)
    assert inbox.inbox_id != created.inbox_id


def test_client_id_makes_create_idempotent(sdk, server):
    client_id = _name("idem")
    first = sdk.inboxes.create(request=CreateInboxRequest(username=_name(), client_id=client_id))
    again = sdk.inboxes.create(request=CreateInboxRequest(username=_name("other"), client_id=client_id, display_name="ignored"))
    assert again.inbox_id == first.inbox_id
    assert again.display_name is None


def test_taken_address_answers_403_with_suggestions(sdk, http, server):
    username = _name("taken")
    sdk.inboxes.create(request=CreateInboxRequest(username=username))
    body = error(http.post("/v0/inboxes", json={"username": username}), 403, "already_exists")
    assert 1 <= len(body["suggestions"]) <= 3
    assert all(s.endswith("@agentmail.localhost") and s != f"{username}@agentmail.localhost"
               for s in body["suggestions"])
    other = server.cli("create-organization")
    from .conftest import make_http

    with make_http(server, other["api_key"]) as foreign:
        error(foreign.post("/v0/inboxes", json={"username": username}), 403, "resource_taken")


def test_list_pagination_walks_every_inbox_once(sdk, http, server):
    pod = sdk.pods.create(name="paging")
    made = {sdk.pods.inboxes.create(pod.pod_id, username=_name("page")).inbox_id for _ in range(5)}
    seen: list[str] = []
    token = None
    while True:
        page = ok(ListInboxesResponse, http.get(
            f"/v0/pods/{pod.pod_id}/inboxes", params={"limit": 2, **({"page_token": token} if token else {})}
        ))
        assert page.count == len(page.inboxes) <= 2
        seen += [i.inbox_id for i in page.inboxes]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    newest_first = [i.inbox_id for i in sdk.pods.inboxes.list(pod.pod_id).inboxes]
    oldest_first = [i.inbox_id for i in sdk.pods.inboxes.list(pod.pod_id, ascending=True).inboxes]
    assert newest_first == list(reversed(oldest_first))
    # A token is bound to its listing.
    other = http.get("/v0/inboxes", params={"limit": 2}).json()["next_page_token"]
    error(http.get(f"/v0/pods/{pod.pod_id}/inboxes", params={"page_token": other}), 400)


def test_pods_crud_and_idempotency(sdk, http, server):
    client_id = _name("pod")
    pod = sdk.pods.create(name="Team A", client_id=client_id)
    assert sdk.pods.create(name="renamed", client_id=client_id).pod_id == pod.pod_id
    assert sdk.pods.get(pod.pod_id).name == "Team A"
    check(Pod, http.get(f"/v0/pods/{pod.pod_id}").json())
    default = ok(Pod, http.post("/v0/pods"))
    assert default.name == "My Pod"
    listed = ok(ListPodsResponse, http.get("/v0/pods", params={"limit": 1000}))
    assert {pod.pod_id, default.pod_id} <= {p.pod_id for p in listed.pods}

    inbox = sdk.pods.inboxes.create(pod.pod_id, username=_name())
    assert inbox.pod_id == pod.pod_id
    error(http.delete(f"/v0/pods/{pod.pod_id}"), 409, "cannot_delete")
    sdk.pods.inboxes.delete(pod.pod_id, inbox.inbox_id)
    sdk.pods.delete(pod.pod_id)
    error(http.get(f"/v0/pods/{pod.pod_id}"), 404, "not_found")
    me = sdk.auth.me()
    error(http.delete(f"/v0/pods/{me.organization_id}"), 409, "cannot_delete")


def test_pod_scoped_inbox_routes(sdk, http, server):
    pod = sdk.pods.create(name="scoped")
    other_pod = sdk.pods.create(name="elsewhere")
    inbox = sdk.pods.inboxes.create(pod.pod_id, username=_name(), display_name="In Pod")
    assert sdk.pods.inboxes.get(pod.pod_id, inbox.inbox_id).display_name == "In Pod"
    error(http.get(f"/v0/pods/{other_pod.pod_id}/inboxes/{inbox.inbox_id}"), 404)
    updated = sdk.pods.inboxes.update(pod.pod_id, inbox.inbox_id, display_name="Renamed")
    assert updated.display_name == "Renamed"
    assert [i.inbox_id for i in sdk.pods.inboxes.list(pod.pod_id).inboxes] == [inbox.inbox_id]
    assert sdk.pods.inboxes.list(other_pod.pod_id).count == 0


def test_inbox_search(sdk, http, server):
    tag = uuid.uuid4().hex[:8]
    exact = sdk.inboxes.create(request=CreateInboxRequest(username=f"sales-{tag}", display_name="Revenue Team"))
    sdk.inboxes.create(request=CreateInboxRequest(username=f"support-{tag}", display_name=f"Sales Helpers {tag}"))
    hits = ok(ListInboxesResponse, http.get("/v0/inboxes/search", params={"q": exact.inbox_id}))
    assert hits.inboxes[0].inbox_id == exact.inbox_id
    words = sdk.inboxes.search(q=tag)
    assert {i.inbox_id for i in words.inboxes} >= {exact.inbox_id, f"support-{tag}@agentmail.localhost"}
    assert sdk.inboxes.search(q="revenue").count >= 1
    assert sdk.inboxes.search(q=f"zz{tag}").count == 0
    error(http.get("/v0/inboxes/search", params={"q": "x"}), 400)
    error(http.get("/v0/inboxes/search"), 400)


@pytest.mark.asyncio
async def test_async_client(server):
    client = make_async_sdk(server)
    inbox = await client.inboxes.create(request=CreateInboxRequest(username=_name("async")))
    assert (await client.inboxes.get(inbox.inbox_id)).inbox_id == inbox.inbox_id
    assert (await client.auth.me()).scope_type == "organization"
    await client.inboxes.delete(inbox.inbox_id)
