"""API keys (REFERENCE §2.3, §1.2, §1.14): CRUD at the three route families, permissions, expiry, auth."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from agentmail import ApiKeyPermissions, CreateBearerApiKeyRequest
from agentmail import BearerApiKey as SdkBearerApiKey
from agentmail import CreateApiKeyResponse as SdkCreateApiKeyResponse
from agentmail.core.api_error import ApiError
from agentmail.inboxes import CreateInboxRequest

from agentmail_server.schemas.resources import BearerApiKey, CreateApiKeyResponse, Identity, ListApiKeysResponse

from .conftest import make_async_sdk, make_http, make_sdk
from .wire import error, ok

CREATE_KEYS = {"api_key_id", "api_key", "prefix", "name", "created_at"}
BEARER_KEYS = {"type", "api_key_id", "prefix", "name", "created_at", "updated_at"}


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _ms(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _future(**delta: float) -> datetime:
    """A future instant with whole-millisecond precision, so it round-trips exactly."""
    value = datetime.now(UTC) + timedelta(**delta)
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)


def _create(client: httpx.Client, path: str = "/v0/api-keys", **body: Any) -> dict[str, Any]:
    created = ok(CreateApiKeyResponse, client.post(path, json=body))
    return created.model_dump(mode="json", exclude_none=True)


def _all_ids(client: httpx.Client, path: str, **params: Any) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        page = ok(ListApiKeysResponse, client.get(path, params={
            "limit": 1000, **params, **({"page_token": token} if token else {})
        }))
        ids += [k.api_key_id for k in page.api_keys]
        token = page.next_page_token
        if not token:
            return ids


def _code(exc: pytest.ExceptionInfo[ApiError]) -> str:
    body = exc.value.body  # a dict for untyped statuses, the parsed ErrorResponse for typed ones
    return str(body.get("code") if isinstance(body, dict) else getattr(body, "code", None))


# --- create / get / list ----------------------------------------------------------------------


def test_create_bearer_key_through_sdk(sdk, http, server):
    name = _name("sdk-key")
    created = sdk.api_keys.create(request=CreateBearerApiKeyRequest(
        name=name, permissions=ApiKeyPermissions(inbox_read=True)
    ))
    assert isinstance(created, SdkCreateApiKeyResponse)
    assert created.name == name
    assert created.api_key.startswith("am_us_") and len(created.api_key) > 12
    assert created.prefix == created.api_key[:12]
    assert str(uuid.UUID(created.api_key_id)) == created.api_key_id
    assert created.permissions is not None and created.permissions.inbox_read is True
    assert created.permissions.inbox_create is None
    assert created.pod_id is None and created.inbox_id is None and created.expires_at is None

    # The secret works and identifies this key.
    with make_http(server, created.api_key) as mine:
        me = ok(Identity, mine.get("/v0/auth/me"))
    assert me.api_key_id == created.api_key_id
    assert me.scope_type == "organization"

    got = sdk.api_keys.get(created.api_key_id)
    assert isinstance(got, SdkBearerApiKey)
    assert (got.type, got.api_key_id, got.prefix, got.name) == ("bearer", created.api_key_id, created.prefix, name)
    assert got.created_at == created.created_at
    assert got.permissions is not None and got.permissions.inbox_read is True


def test_create_response_body_is_exact(http, server):
    name = _name("raw-key")
    response = http.post("/v0/api-keys", json={"name": name, "permissions": {"inbox_read": True, "pod_read": False}})
    created = ok(CreateApiKeyResponse, response)
    body = response.json()
    assert set(body) == CREATE_KEYS | {"permissions"}
    assert body["name"] == name
    assert body["permissions"] == {"inbox_read": True, "pod_read": False}
    assert body["prefix"] == body["api_key"][:12]
    assert created.api_key_id == str(uuid.UUID(body["api_key_id"]))

    # No body at all: a default-named, unrestricted org key.
    bare = http.post("/v0/api-keys")
    plain = ok(CreateApiKeyResponse, bare)
    assert set(bare.json()) == CREATE_KEYS
    assert plain.api_key != created.api_key and plain.api_key_id != created.api_key_id
    assert isinstance(plain.name, str) and plain.name


def test_get_and_list_never_show_the_secret(sdk, http, server):
    created = _create(http, name=_name("hidden"), permissions={"inbox_read": True})
    secret = created["api_key"]

    response = http.get(f"/v0/api-keys/{created['api_key_id']}")
    key = ok(BearerApiKey, response)
    body = response.json()
    assert secret not in response.text and "api_key" not in body
    assert BEARER_KEYS | {"permissions"} <= set(body) <= BEARER_KEYS | {"permissions", "used_at"}
    assert body["type"] == "bearer"
    assert (key.api_key_id, key.prefix, key.name) == (created["api_key_id"], created["prefix"], created["name"])
    assert body["created_at"] == created["created_at"]
    assert body["permissions"] == {"inbox_read": True}

    listing = http.get("/v0/api-keys", params={"limit": 1000})
    ok(ListApiKeysResponse, listing)
    assert secret not in listing.text
    items = listing.json()["api_keys"]
    assert all(item["type"] == "bearer" and "api_key" not in item for item in items)
    assert created["api_key_id"] in {item["api_key_id"] for item in items}

    sdk_items = sdk.api_keys.list(limit=1000).api_keys
    assert all(isinstance(item, SdkBearerApiKey) for item in sdk_items)
    assert created["api_key_id"] in {item.api_key_id for item in sdk_items}


def test_list_is_newest_first_and_pages(sdk, http, server):
    pod = sdk.pods.create(name="key-paging")
    made = []
    for _ in range(5):
        made.append(_create(http, f"/v0/pods/{pod.pod_id}/api-keys", name=_name("page"))["api_key_id"])
        time.sleep(0.01)
    newest_first = [k.api_key_id for k in sdk.pods.api_keys.list(pod.pod_id).api_keys]
    assert newest_first == list(reversed(made))

    seen: list[str] = []
    token = None
    while True:
        page = ok(ListApiKeysResponse, http.get(
            f"/v0/pods/{pod.pod_id}/api-keys", params={"limit": 2, **({"page_token": token} if token else {})}
        ))
        assert page.count == len(page.api_keys) <= 2
        seen += [k.api_key_id for k in page.api_keys]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(made))

    # The org-level list holds them too; ascending flips the order.
    everything = _all_ids(http, "/v0/api-keys")
    assert set(made) <= set(everything)
    oldest_first = _all_ids(http, "/v0/api-keys", ascending="true")
    assert oldest_first == list(reversed(everything))


def test_type_filter(sdk, http, server):
    created = _create(http, name=_name("typed"))
    bearer = ok(ListApiKeysResponse, http.get("/v0/api-keys", params={"type": "bearer", "limit": 1000}))
    assert created["api_key_id"] in {k.api_key_id for k in bearer.api_keys}
    public = ok(ListApiKeysResponse, http.get("/v0/api-keys", params={"type": "public_key"}))
    assert public.count == 0 and public.api_keys == []
    assert sdk.api_keys.list(type="public_key").api_keys == []
    error(http.get("/v0/api-keys", params={"type": "weird"}), 400)


def test_public_key_registration_is_rejected(sdk, http, server):
    pod = sdk.pods.create(name="no-public-keys")
    jwk = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
           "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
    error(http.post("/v0/api-keys", json={"public_key": jwk, "name": "agent"}), 400)
    error(http.post(f"/v0/pods/{pod.pod_id}/api-keys", json={"public_key": jwk, "client_id": "agent-1"}), 400)
    assert _all_ids(http, f"/v0/pods/{pod.pod_id}/api-keys") == []


# --- update / delete --------------------------------------------------------------------------


def test_update_name_and_permissions(sdk, http, server):
    created = _create(http, name=_name("mutable"), permissions={"inbox_read": True})
    key_id = created["api_key_id"]
    before = ok(BearerApiKey, http.get(f"/v0/api-keys/{key_id}"))

    renamed = sdk.api_keys.update(key_id, name="renamed")
    assert renamed.name == "renamed"
    assert renamed.permissions is not None and renamed.permissions.inbox_read is True
    assert renamed.updated_at >= before.updated_at

    response = http.patch(f"/v0/api-keys/{key_id}", json={"permissions": {"inbox_create": True, "pod_read": True}})
    updated = ok(BearerApiKey, response)
    assert response.json()["permissions"] == {"inbox_create": True, "pod_read": True}
    assert updated.name == "renamed" and updated.type == "bearer"
    assert "api_key" not in response.json()
    assert ok(BearerApiKey, http.get(f"/v0/api-keys/{key_id}")).permissions == updated.permissions

    # The new flags are what the key can now do.
    with make_http(server, created["api_key"]) as key:
        error(key.get("/v0/inboxes"), 403, "missing_permission")
        assert key.get("/v0/pods").status_code == 200
        inbox = key.post("/v0/inboxes", json={"username": _name("granted")})
        assert inbox.status_code == 200, inbox.text

    # permissions: null from an unrestricted key makes the key unrestricted again.
    cleared = http.patch(f"/v0/api-keys/{key_id}", json={"permissions": None})
    ok(BearerApiKey, cleared)
    assert "permissions" not in cleared.json()
    with make_http(server, created["api_key"]) as key:
        assert key.get("/v0/inboxes").status_code == 200


def test_update_ignores_expiry_and_unknown_ids(http, server):
    expires = _future(hours=2)
    created = _create(http, name=_name("fixed"), expires_at=_ms(expires))
    patched = http.patch(f"/v0/api-keys/{created['api_key_id']}",
                         json={"name": "n2", "expires_at": _ms(_future(hours=5))})
    ok(BearerApiKey, patched)
    assert patched.json()["expires_at"] == _ms(expires)
    assert patched.json()["name"] == "n2"

    missing = str(uuid.uuid4())
    error(http.get(f"/v0/api-keys/{missing}"), 404, "not_found")
    error(http.patch(f"/v0/api-keys/{missing}", json={"name": "x"}), 404, "not_found")
    error(http.delete(f"/v0/api-keys/{missing}"), 404, "not_found")
    error(http.get("/v0/api-keys/not-a-uuid"), 404, "not_found")


def test_delete_key(sdk, http, server):
    created = _create(http, name=_name("doomed"))
    key_id = created["api_key_id"]
    response = http.delete(f"/v0/api-keys/{key_id}")
    assert response.status_code == 204 and response.content == b""
    error(http.get(f"/v0/api-keys/{key_id}"), 404, "not_found")
    error(http.delete(f"/v0/api-keys/{key_id}"), 404, "not_found")
    assert key_id not in _all_ids(http, "/v0/api-keys")
    with make_http(server, created["api_key"]) as gone:
        error(gone.get("/v0/auth/me"), 401, "unknown_api_key")

    other = sdk.api_keys.create(request=CreateBearerApiKeyRequest(name=_name("sdk-doomed")))
    sdk.api_keys.delete(other.api_key_id)
    with pytest.raises(ApiError) as exc:
        sdk.api_keys.get(other.api_key_id)
    assert exc.value.status_code == 404


def test_a_key_may_delete_itself(http, server):
    created = _create(http, name=_name("self-destruct"))
    with make_http(server, created["api_key"]) as me:
        assert ok(Identity, me.get("/v0/auth/me")).api_key_id == created["api_key_id"]
        response = me.delete(f"/v0/api-keys/{created['api_key_id']}")
        assert response.status_code == 204, response.text
        error(me.get("/v0/auth/me"), 401, "unknown_api_key")
        error(me.get("/v0/inboxes"), 401, "unknown_api_key")
    error(http.get(f"/v0/api-keys/{created['api_key_id']}"), 404, "not_found")


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v0/auth/me", "/v0/inboxes", "/v0/api-keys", "/v0/pods", "/v0/organizations"])
def test_authentication_failures(server, path):
    with make_http(server, "") as anonymous:
        error(anonymous.get(path), 401, "missing_authorization")
        error(anonymous.get(path, headers={"Authorization": f"Basic {server.api_key}"}), 401, "invalid_token_type")
        error(anonymous.get(path, headers={"Authorization": f"Token {server.api_key}"}), 401, "invalid_token_type")
        error(anonymous.get(path, headers={"Authorization": server.api_key}), 401, "invalid_token_type")
        unknown = "am_us_" + uuid.uuid4().hex + uuid.uuid4().hex
        error(anonymous.get(path, headers={"Authorization": f"Bearer {unknown}"}), 401, "unknown_api_key")
        assert anonymous.get(path, headers={"Authorization": f"Bearer {server.api_key}"}).status_code == 200


def test_unknown_key_through_sdk(server):
    client = make_sdk(server, "am_us_" + uuid.uuid4().hex)
    with pytest.raises(ApiError) as exc:
        client.auth.me()
    assert exc.value.status_code == 401
    assert _code(exc) == "unknown_api_key"


# --- permissions ------------------------------------------------------------------------------


def test_inbox_read_only_key(sdk, http, server):
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=_name("readable")))
    created = _create(http, name=_name("reader"), permissions={"inbox_read": True})
    with make_http(server, created["api_key"]) as reader:
        assert ok(Identity, reader.get("/v0/auth/me")).api_key_id == created["api_key_id"]
        assert reader.get(f"/v0/inboxes/{inbox.inbox_id}").json()["inbox_id"] == inbox.inbox_id
        assert inbox.inbox_id in {i["inbox_id"] for i in reader.get("/v0/inboxes", params={"limit": 1000})
                                  .json()["inboxes"]}
        username = _name("denied")
        error(reader.post("/v0/inboxes", json={"username": username}), 403, "missing_permission")
        error(reader.patch(f"/v0/inboxes/{inbox.inbox_id}", json={"display_name": "x"}), 403, "missing_permission")
        error(reader.delete(f"/v0/inboxes/{inbox.inbox_id}"), 403, "missing_permission")
        error(reader.get("/v0/pods"), 403, "missing_permission")
        error(reader.get(f"/v0/pods/{inbox.pod_id}"), 403, "missing_permission")
        error(reader.post("/v0/pods", json={"name": "nope"}), 403, "missing_permission")
        error(reader.get("/v0/api-keys"), 403, "missing_permission")
        error(reader.get(f"/v0/api-keys/{created['api_key_id']}"), 403, "missing_permission")
        error(reader.post("/v0/api-keys", json={"name": "child"}), 403, "missing_permission")
        error(reader.patch(f"/v0/api-keys/{created['api_key_id']}", json={"name": "x"}), 403, "missing_permission")
        error(reader.delete(f"/v0/api-keys/{created['api_key_id']}"), 403, "missing_permission")
    error(http.get(f"/v0/inboxes/{username}@agentmail.localhost"), 404, "not_found")
    after = sdk.inboxes.get(inbox.inbox_id)
    assert after.display_name is None
    assert ok(BearerApiKey, http.get(f"/v0/api-keys/{created['api_key_id']}")).name == created["name"]

    sdk_reader = make_sdk(server, created["api_key"])
    with pytest.raises(ApiError) as exc:
        sdk_reader.inboxes.create(request=CreateInboxRequest(username=_name("denied")))
    assert exc.value.status_code == 403 and _code(exc) == "missing_permission"
    with pytest.raises(ApiError) as exc:
        sdk_reader.pods.list()
    assert exc.value.status_code == 403 and _code(exc) == "missing_permission"


def test_false_flags_and_empty_permissions_grant_nothing(http, server):
    falsy = _create(http, name=_name("falsy"), permissions={"inbox_read": False, "pod_read": True})
    empty = _create(http, name=_name("empty"), permissions={})
    assert empty["permissions"] == {}
    assert ok(BearerApiKey, http.get(f"/v0/api-keys/{empty['api_key_id']}")).permissions is not None
    with make_http(server, falsy["api_key"]) as key:
        error(key.get("/v0/inboxes"), 403, "missing_permission")
        assert key.get("/v0/pods").status_code == 200
    with make_http(server, empty["api_key"]) as key:
        error(key.get("/v0/inboxes"), 403, "missing_permission")
        error(key.get("/v0/pods"), 403, "missing_permission")
        error(key.get("/v0/api-keys"), 403, "missing_permission")
        error(key.post("/v0/inboxes"), 403, "missing_permission")


@pytest.mark.parametrize("flag,route", [
    ("api_key_read", "list"), ("api_key_read", "get"), ("api_key_create", "create"),
    ("api_key_update", "update"), ("api_key_delete", "delete"),
])
def test_each_api_key_route_needs_its_permission(http, server, flag, route):
    target = _create(http, name=_name("target"))
    everything_else = {f: True for f in ("api_key_read", "api_key_create", "api_key_update", "api_key_delete")
                       if f != flag}
    without = _create(http, name=_name("without"), permissions=everything_else)
    with_only = _create(http, name=_name("with"), permissions={flag: True})

    def call(client: httpx.Client) -> httpx.Response:
        tid = target["api_key_id"]
        return {
            "list": lambda: client.get("/v0/api-keys"),
            "get": lambda: client.get(f"/v0/api-keys/{tid}"),
            "create": lambda: client.post("/v0/api-keys", json={"name": "child"}),
            "update": lambda: client.patch(f"/v0/api-keys/{tid}", json={"name": "by-update"}),
            "delete": lambda: client.delete(f"/v0/api-keys/{tid}"),
        }[route]()

    with make_http(server, without["api_key"]) as key:
        error(call(key), 403, "missing_permission")
    assert ok(BearerApiKey, http.get(f"/v0/api-keys/{target['api_key_id']}")).name == target["name"]
    with make_http(server, with_only["api_key"]) as key:
        response = call(key)
        assert response.status_code == (204 if route == "delete" else 200), response.text
    if route == "update":
        assert ok(BearerApiKey, http.get(f"/v0/api-keys/{target['api_key_id']}")).name == "by-update"
    if route == "delete":
        error(http.get(f"/v0/api-keys/{target['api_key_id']}"), 404, "not_found")
    if route == "create":
        # No permissions asked: the child gets exactly the parent's.
        assert response.json()["permissions"] == {flag: True}


def test_restricted_parent_cannot_escalate(http, server):
    parent_perms = {"inbox_read": True, "api_key_create": True, "api_key_read": True, "api_key_update": True}
    parent = _create(http, name=_name("parent"), permissions=parent_perms)
    victim = _create(http, name=_name("victim"), permissions={"inbox_read": True})
    with make_http(server, parent["api_key"]) as key:
        inherited = _create(key, name="inherits")
        assert inherited["permissions"] == parent_perms
        narrower = _create(key, name="narrower", permissions={"inbox_read": True, "inbox_create": False})
        assert narrower["permissions"] == {"inbox_read": True, "inbox_create": False}

        before = _all_ids(http, "/v0/api-keys")
        greedy = {"name": "greedy", "permissions": {"inbox_read": True, "inbox_create": True}}
        error(key.post("/v0/api-keys", json=greedy), 403, "permission_escalation")
        error(key.post("/v0/api-keys", json={"permissions": {"api_key_delete": True}}), 403, "permission_escalation")
        assert _all_ids(http, "/v0/api-keys") == before

        # Nor through PATCH, of another key or of itself.
        error(key.patch(f"/v0/api-keys/{victim['api_key_id']}", json={"permissions": {"pod_read": True}}),
              403, "permission_escalation")
        error(key.patch(f"/v0/api-keys/{parent['api_key_id']}",
                        json={"permissions": {**parent_perms, "inbox_delete": True}}), 403, "permission_escalation")
        narrowed = key.patch(f"/v0/api-keys/{victim['api_key_id']}", json={"permissions": {"inbox_read": True}})
        assert narrowed.status_code == 200, narrowed.text
    assert http.get(f"/v0/api-keys/{parent['api_key_id']}").json()["permissions"] == parent_perms
    assert http.get(f"/v0/api-keys/{victim['api_key_id']}").json()["permissions"] == {"inbox_read": True}

    # The inherited child really is restricted to the parent's flags.
    with make_http(server, inherited["api_key"]) as child:
        assert child.get("/v0/inboxes").status_code == 200
        error(child.post("/v0/inboxes", json={"username": _name("nope")}), 403, "missing_permission")
        error(child.get("/v0/pods"), 403, "missing_permission")


def test_escalation_through_pod_and_inbox_routes(sdk, http, server):
    pod = sdk.pods.create(name="escalation")
    inbox = sdk.pods.inboxes.create(pod.pod_id, username=_name("esc"))
    parent = _create(http, name=_name("parent"), permissions={"api_key_create": True, "inbox_read": True})
    with make_http(server, parent["api_key"]) as key:
        for path in (f"/v0/pods/{pod.pod_id}/api-keys", f"/v0/inboxes/{inbox.inbox_id}/api-keys"):
            error(key.post(path, json={"permissions": {"inbox_delete": True}}), 403, "permission_escalation")
            child = _create(key, path)
            assert child["permissions"] == {"api_key_create": True, "inbox_read": True}
            assert child["pod_id"] == pod.pod_id


def test_pod_and_inbox_key_routes_check_permissions(sdk, http, server):
    pod = sdk.pods.create(name="perm-routes")
    inbox = sdk.pods.inboxes.create(pod.pod_id, username=_name("perm"))
    target = _create(http, f"/v0/inboxes/{inbox.inbox_id}/api-keys", name="target")
    reader = _create(http, name=_name("reader"), permissions={"api_key_read": True})
    with make_http(server, reader["api_key"]) as key:
        for base in (f"/v0/pods/{pod.pod_id}/api-keys", f"/v0/inboxes/{inbox.inbox_id}/api-keys"):
            assert [k.api_key_id for k in ok(ListApiKeysResponse, key.get(base)).api_keys] == [target["api_key_id"]]
            error(key.post(base, json={"name": "x"}), 403, "missing_permission")
            error(key.patch(f"{base}/{target['api_key_id']}", json={"name": "x"}), 403, "missing_permission")
            error(key.delete(f"{base}/{target['api_key_id']}"), 403, "missing_permission")
    assert _all_ids(http, f"/v0/pods/{pod.pod_id}/api-keys") == [target["api_key_id"]]
    assert http.get(f"/v0/api-keys/{target['api_key_id']}").json()["name"] == "target"


def test_unrestricted_keys_cannot_grant_explicit_only_flags(http, server):
    # §1.14: agent_armor_release and app_connect are never implied, so an unrestricted key lacks them
    # and cannot hand them out (permission_escalation).
    for flag in ("agent_armor_release", "app_connect"):
        before = _all_ids(http, "/v0/api-keys")
        error(http.post("/v0/api-keys", json={"permissions": {flag: True}}), 403, "permission_escalation")
        assert _all_ids(http, "/v0/api-keys") == before
        target = _create(http, permissions={"inbox_read": True})
        error(http.patch(f"/v0/api-keys/{target['api_key_id']}", json={"permissions": {flag: True}}),
              403, "permission_escalation")
        assert http.get(f"/v0/api-keys/{target['api_key_id']}").json()["permissions"] == {"inbox_read": True}


def test_unrestricted_parent_makes_unrestricted_children(http, server):
    for flag in ("agent_armor_release", "app_connect"):
        allowed = _create(http, permissions={flag: False, "inbox_read": True})
        assert allowed["permissions"] == {flag: False, "inbox_read": True}
    unrestricted = _create(http, name=_name("unrestricted"))
    assert "permissions" not in unrestricted
    with make_http(server, unrestricted["api_key"]) as key:
        child = _create(key, name="child-of-unrestricted")
        assert "permissions" not in child
        assert "permissions" not in key.get(f"/v0/api-keys/{child['api_key_id']}").json()
        narrowed = _create(key, permissions={"pod_read": True})
        assert narrowed["permissions"] == {"pod_read": True}


# --- expiry -----------------------------------------------------------------------------------


def test_expires_at_must_be_in_the_future(sdk, http, server):
    pod = sdk.pods.create(name="expiry")
    past = _ms(datetime.now(UTC) - timedelta(minutes=1))
    error(http.post("/v0/api-keys", json={"name": "stale", "expires_at": past}), 400)
    error(http.post(f"/v0/pods/{pod.pod_id}/api-keys", json={"expires_at": past}), 400)
    assert _all_ids(http, f"/v0/pods/{pod.pod_id}/api-keys") == []

    when = _future(days=3)
    created = sdk.api_keys.create(request=CreateBearerApiKeyRequest(name=_name("dated"), expires_at=when))
    assert created.expires_at == when
    assert http.get(f"/v0/api-keys/{created.api_key_id}").json()["expires_at"] == _ms(when)
    # Offsets other than Z are normalised to UTC.
    offset = when.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    again = _create(http, expires_at=offset)
    assert again["expires_at"] == _ms(when)


def test_child_of_expiring_key_cannot_outlive_it(http, server):
    deadline = _future(hours=1)
    parent = _create(http, name=_name("mortal"), expires_at=_ms(deadline))
    assert parent["expires_at"] == _ms(deadline)
    with make_http(server, parent["api_key"]) as key:
        inherited = _create(key, name="inherits-expiry")
        assert inherited["expires_at"] == _ms(deadline)
        assert ok(BearerApiKey, http.get(f"/v0/api-keys/{inherited['api_key_id']}")).expires_at == deadline
        sooner = deadline - timedelta(minutes=10)
        assert _create(key, expires_at=_ms(sooner))["expires_at"] == _ms(sooner)
        before = _all_ids(http, "/v0/api-keys")
        error(key.post("/v0/api-keys", json={"expires_at": _ms(deadline + timedelta(minutes=1))}),
              403, "permission_escalation")
        assert _all_ids(http, "/v0/api-keys") == before
    # A key that never expires makes children that never expire.
    immortal = _create(http, name=_name("immortal"))
    with make_http(server, immortal["api_key"]) as key:
        assert "expires_at" not in _create(key)


def test_expired_key_is_rejected(http, server):
    expires = datetime.now(UTC) + timedelta(seconds=2)
    created = _create(http, name=_name("ephemeral"), expires_at=_ms(expires))
    with make_http(server, created["api_key"]) as key:
        assert key.get("/v0/auth/me").status_code == 200
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.3)
        body = error(key.get("/v0/auth/me"), 401)
        assert body["code"] in ("unauthorized", "unknown_api_key"), body
        error(key.get("/v0/inboxes"), 401)
    client = make_sdk(server, created["api_key"])
    with pytest.raises(ApiError) as exc:
        client.inboxes.list()
    assert exc.value.status_code == 401


# --- pod and inbox key routes -----------------------------------------------------------------


def test_pod_and_inbox_key_routes(sdk, http, server):
    pod = sdk.pods.create(name="key-routes")
    other_pod = sdk.pods.create(name="key-routes-other")
    inbox = sdk.pods.inboxes.create(pod.pod_id, username=_name("keyed"))
    org_key = _create(http, name=_name("org"))

    pod_key = sdk.pods.api_keys.create(pod.pod_id, request=CreateBearerApiKeyRequest(name="pod key"))
    assert isinstance(pod_key, SdkCreateApiKeyResponse)
    assert pod_key.pod_id == pod.pod_id and pod_key.inbox_id is None and pod_key.name == "pod key"
    inbox_key = sdk.inboxes.api_keys.create(inbox.inbox_id, request=CreateBearerApiKeyRequest(name="inbox key"))
    assert isinstance(inbox_key, SdkCreateApiKeyResponse)
    assert inbox_key.pod_id == pod.pod_id and inbox_key.inbox_id == inbox.inbox_id

    raw = http.post(f"/v0/inboxes/{inbox.inbox_id}/api-keys", json={"name": "raw inbox key"})
    ok(CreateApiKeyResponse, raw)
    assert set(raw.json()) == CREATE_KEYS | {"pod_id", "inbox_id"}
    raw_id = raw.json()["api_key_id"]

    in_pod = [k.api_key_id for k in sdk.pods.api_keys.list(pod.pod_id).api_keys]
    assert in_pod == [raw_id, inbox_key.api_key_id, pod_key.api_key_id]
    in_inbox = [k.api_key_id for k in sdk.inboxes.api_keys.list(inbox.inbox_id).api_keys]
    assert in_inbox == [raw_id, inbox_key.api_key_id]
    assert sdk.pods.api_keys.list(other_pod.pod_id).api_keys == []
    listed = ok(ListApiKeysResponse, http.get(f"/v0/inboxes/{inbox.inbox_id}/api-keys"))
    assert all(k.inbox_id == inbox.inbox_id and k.pod_id == pod.pod_id and k.type == "bearer"
               for k in listed.api_keys)
    assert {pod_key.api_key_id, inbox_key.api_key_id, raw_id, org_key["api_key_id"]} <= set(
        _all_ids(http, "/v0/api-keys"))
    got = ok(BearerApiKey, http.get(f"/v0/api-keys/{inbox_key.api_key_id}"))
    assert (got.pod_id, got.inbox_id) == (pod.pod_id, inbox.inbox_id)

    # Update and delete at the pod/inbox routes reach only keys inside them.
    assert sdk.pods.api_keys.update(pod.pod_id, pod_key.api_key_id, name="pod renamed").name == "pod renamed"
    assert sdk.inboxes.api_keys.update(inbox.inbox_id, inbox_key.api_key_id, name="inbox renamed").name == \
        "inbox renamed"
    error(http.patch(f"/v0/pods/{pod.pod_id}/api-keys/{org_key['api_key_id']}", json={"name": "x"}), 404, "not_found")
    error(http.patch(f"/v0/pods/{other_pod.pod_id}/api-keys/{pod_key.api_key_id}", json={"name": "x"}), 404,
          "not_found")
    error(http.patch(f"/v0/inboxes/{inbox.inbox_id}/api-keys/{pod_key.api_key_id}", json={"name": "x"}), 404,
          "not_found")
    error(http.delete(f"/v0/pods/{other_pod.pod_id}/api-keys/{pod_key.api_key_id}"), 404, "not_found")
    error(http.delete(f"/v0/inboxes/{inbox.inbox_id}/api-keys/{org_key['api_key_id']}"), 404, "not_found")
    assert http.get(f"/v0/api-keys/{pod_key.api_key_id}").json()["name"] == "pod renamed"
    assert http.get(f"/v0/api-keys/{org_key['api_key_id']}").json()["name"] == org_key["name"]

    sdk.inboxes.api_keys.delete(inbox.inbox_id, inbox_key.api_key_id)
    response = http.delete(f"/v0/pods/{pod.pod_id}/api-keys/{raw_id}")  # an inbox key lies inside its pod
    assert response.status_code == 204 and response.content == b""
    sdk.pods.api_keys.delete(pod.pod_id, pod_key.api_key_id)
    assert sdk.pods.api_keys.list(pod.pod_id).api_keys == []
    for gone in (pod_key.api_key_id, inbox_key.api_key_id, raw_id):
        error(http.get(f"/v0/api-keys/{gone}"), 404, "not_found")


def test_pod_with_keys_cannot_be_deleted(sdk, http, server):
    pod = sdk.pods.create(name="keyed-pod")
    key = _create(http, f"/v0/pods/{pod.pod_id}/api-keys", name="blocker")
    error(http.delete(f"/v0/pods/{pod.pod_id}"), 409, "cannot_delete")
    assert sdk.pods.get(pod.pod_id).pod_id == pod.pod_id
    with make_http(server, key["api_key"]) as pod_key:
        assert pod_key.get("/v0/auth/me").status_code == 200
    assert http.delete(f"/v0/pods/{pod.pod_id}/api-keys/{key['api_key_id']}").status_code == 204
    assert http.delete(f"/v0/pods/{pod.pod_id}").status_code == 204
    error(http.get(f"/v0/pods/{pod.pod_id}"), 404, "not_found")


def test_deleting_an_inbox_revokes_its_keys(sdk, http, server):
    username = _name("revoked")
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=username))
    key = _create(http, f"/v0/inboxes/{inbox.inbox_id}/api-keys", name="pinned")
    sdk.inboxes.delete(inbox.inbox_id)
    error(http.get(f"/v0/api-keys/{key['api_key_id']}"), 404, "not_found")
    # Re-creating the same address must not hand the new inbox to the old key.
    sdk.inboxes.create(request=CreateInboxRequest(username=username))
    with make_http(server, key["api_key"]) as stale:
        error(stale.get(f"/v0/inboxes/{inbox.inbox_id}"), 401, "unknown_api_key")


async def test_async_key_lifecycle(server):
    client = make_async_sdk(server)
    created = await client.api_keys.create(request=CreateBearerApiKeyRequest(
        name=_name("async"), permissions=ApiKeyPermissions(inbox_read=True, api_key_read=True)
    ))
    assert isinstance(created, SdkCreateApiKeyResponse)
    got = await client.api_keys.get(created.api_key_id)
    assert isinstance(got, SdkBearerApiKey) and got.prefix == created.prefix
    updated = await client.api_keys.update(created.api_key_id, name="async renamed")
    assert updated.name == "async renamed"

    restricted = make_async_sdk(server, created.api_key)
    me = await restricted.auth.me()
    assert (me.scope_type, me.api_key_id) == ("organization", created.api_key_id)
    own = await restricted.api_keys.list(limit=1000)
    assert created.api_key_id in {k.api_key_id for k in own.api_keys}
    with pytest.raises(ApiError) as exc:
        await restricted.api_keys.create(request=CreateBearerApiKeyRequest(name="nope"))
    assert exc.value.status_code == 403 and _code(exc) == "missing_permission"

    await client.api_keys.delete(created.api_key_id)
    with pytest.raises(ApiError) as exc:
        await restricted.auth.me()
    assert exc.value.status_code == 401 and _code(exc) == "unknown_api_key"
