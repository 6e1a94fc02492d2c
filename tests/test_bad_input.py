"""Bad input of every kind gets the documented 4xx in AgentMail's error shape: never a 500, never a
half-written record (REFERENCE §1.4, §1.5, §1.8, §1.11, §2.3-2.5)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agentmail_server.schemas.resources import CreateApiKeyResponse, Inbox, Pod

from .conftest import make_http
from .server import Server
from .wire import error, ok

JSON = {"Content-Type": "application/json"}
MAX_BODY = 10 * 1024 * 1024


# --- a small world to aim at, and a way to prove nothing changed ------------------------------


@dataclass
class World:
    tag: str
    org: str
    pod: str  # a pod holding `inbox` and `inbox2`, `key`, `inbox_key` and `inbox_key2`
    inbox: str
    inbox2: str
    default_inbox: str  # in the default pod
    key: str  # pod-scoped key
    inbox_key: str
    inbox_key2: str

    def fmt(self, template: str) -> str:
        return template.format(**self.__dict__)


@pytest.fixture(scope="module")
def world(server: Server) -> World:
    tag = uuid.uuid4().hex[:8]
    with make_http(server) as http:
        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = http.post(path, json=body)
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

        org = http.get("/v0/auth/me").json()["organization_id"]
        pod = post("/v0/pods", {"name": f"bad input {tag}"})["pod_id"]
        inbox = post(f"/v0/pods/{pod}/inboxes", {"username": f"bad-{tag}-a", "display_name": "Original"})["inbox_id"]
        inbox2 = post(f"/v0/pods/{pod}/inboxes", {"username": f"bad-{tag}-b"})["inbox_id"]
        default_inbox = post("/v0/inboxes", {"username": f"bad-{tag}-c", "metadata": {"keep": "me"}})["inbox_id"]
        key = post(f"/v0/pods/{pod}/api-keys", {"name": "pod key"})["api_key_id"]
        inbox_key = post(f"/v0/inboxes/{inbox}/api-keys", {"name": "inbox key"})["api_key_id"]
        inbox_key2 = post(f"/v0/inboxes/{inbox}/api-keys", {"name": "inbox key 2"})["api_key_id"]
    return World(tag=tag, org=org, pod=pod, inbox=inbox, inbox2=inbox2, default_inbox=default_inbox, key=key,
                 inbox_key=inbox_key, inbox_key2=inbox_key2)


def _walk(http: httpx.Client, path: str, items_key: str, id_key: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    token = None
    while True:
        response = http.get(path, params={"limit": 1000, **({"page_token": token} if token else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        for item in body[items_key]:
            item.pop("used_at", None)  # bookkeeping of the key making the request, not a change
            found[item[id_key]] = item
        token = body.get("next_page_token")
        if not token:
            return found


def snapshot(http: httpx.Client) -> dict[str, dict[str, dict[str, Any]]]:
    """Every inbox, pod and API key of the organization, in full (updated_at reveals any edit)."""
    return {
        "inboxes": _walk(http, "/v0/inboxes", "inboxes", "inbox_id"),
        "pods": _walk(http, "/v0/pods", "pods", "pod_id"),
        "api_keys": _walk(http, "/v0/api-keys", "api_keys", "api_key_id"),
    }


@contextmanager
def unchanged(http: httpx.Client) -> Iterator[None]:
    before = snapshot(http)
    yield
    after = snapshot(http)
    for kind in before:
        assert after[kind].keys() - before[kind].keys() == set(), f"{kind} created"
        assert before[kind].keys() - after[kind].keys() == set(), f"{kind} deleted"
        assert after[kind] == before[kind], f"{kind} modified"


def b64(payload: bytes | str) -> str:
    raw = payload.encode() if isinstance(payload, str) else payload
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(token: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


# --- bodies that are not a JSON object --------------------------------------------------------

WRITES = [
    pytest.param("POST", "/v0/inboxes", id="create-inbox"),
    pytest.param("POST", "/v0/pods/{pod}/inboxes", id="create-pod-inbox"),
    pytest.param("POST", "/v0/pods", id="create-pod"),
    pytest.param("POST", "/v0/api-keys", id="create-key"),
    pytest.param("POST", "/v0/pods/{pod}/api-keys", id="create-pod-key"),
    pytest.param("POST", "/v0/inboxes/{inbox}/api-keys", id="create-inbox-key"),
    pytest.param("PATCH", "/v0/inboxes/{inbox}", id="update-inbox"),
    pytest.param("PATCH", "/v0/pods/{pod}/inboxes/{inbox}", id="update-pod-inbox"),
    pytest.param("PATCH", "/v0/api-keys/{key}", id="update-key"),
    pytest.param("PATCH", "/v0/pods/{pod}/api-keys/{key}", id="update-pod-key"),
    pytest.param("PATCH", "/v0/inboxes/{inbox}/api-keys/{inbox_key}", id="update-inbox-key"),
]

NOT_AN_OBJECT = [
    pytest.param(b'{"username": "x", "name": ', JSON, id="malformed"),
    pytest.param(b'{"name": "x",}', JSON, id="trailing-comma"),
    pytest.param(b"{'name': 'x'}", JSON, id="single-quotes"),
    pytest.param(b'[{"name": "x"}]', JSON, id="array"),
    pytest.param(b'"name"', JSON, id="string"),
    pytest.param(b"5", JSON, id="number"),
    pytest.param(b"true", JSON, id="boolean"),
    pytest.param(b"   ", JSON, id="whitespace"),
    pytest.param(b'{"name": "\xff\xfe", "display_name": "\xc3\x28"}', JSON, id="non-utf8"),
    pytest.param(b'{"name": "x"}', {"Content-Type": "text/plain"}, id="text-plain"),
    pytest.param(b"name=x&display_name=x", {"Content-Type": "application/x-www-form-urlencoded"}, id="form"),
    pytest.param(b"[" * 50_000 + b"]" * 50_000, JSON, id="deep-nesting"),
]


@pytest.mark.parametrize(("body", "headers"), NOT_AN_OBJECT)
@pytest.mark.parametrize(("method", "path"), WRITES)
def test_body_that_is_not_a_json_object_is_rejected(http, world, method, path, body, headers):
    with unchanged(http):
        response = http.request(method, world.fmt(path), content=body, headers=headers)
        error(response, 400, "validation_error")


# --- fields of the wrong type -----------------------------------------------------------------

WRONG_TYPES = [
    ("POST", "/v0/inboxes", {"display_name": 5}, "display_name"),
    ("POST", "/v0/inboxes", {"display_name": ["x"]}, "display_name"),
    ("POST", "/v0/inboxes", {"username": 5}, "username"),
    ("POST", "/v0/inboxes", {"username": {"a": "b"}}, "username"),
    ("POST", "/v0/inboxes", {"client_id": 5}, "client_id"),
    ("POST", "/v0/inboxes", {"domain": False}, "domain"),
    ("POST", "/v0/inboxes", {"status": "deleted"}, "status"),
    ("POST", "/v0/inboxes", {"status": 1}, "status"),
    ("POST", "/v0/inboxes", {"metadata": "x"}, "metadata"),
    ("POST", "/v0/inboxes", {"metadata": ["k", "v"]}, "metadata"),
    ("POST", "/v0/inboxes", {"metadata": {"k": [1]}}, "metadata"),
    ("POST", "/v0/inboxes", {"metadata": {"k": {"nested": 1}}}, "metadata"),
    ("POST", "/v0/inboxes", {"metadata": {"k": None}}, "metadata"),  # null deletes keys on update only
    ("POST", "/v0/pods/{pod}/inboxes", {"display_name": 5}, "display_name"),
    ("POST", "/v0/pods/{pod}/inboxes", {"metadata": "x"}, "metadata"),
    ("POST", "/v0/pods", {"name": 5}, "name"),
    ("POST", "/v0/pods", {"name": ["x"]}, "name"),
    ("POST", "/v0/pods", {"client_id": 5}, "client_id"),
    ("POST", "/v0/api-keys", {"name": 5}, "name"),
    ("POST", "/v0/api-keys", {"permissions": 5}, "permissions"),
    ("POST", "/v0/api-keys", {"permissions": "all"}, "permissions"),
    ("POST", "/v0/api-keys", {"permissions": {"inbox_read": [1]}}, "permissions"),
    ("POST", "/v0/api-keys", {"expires_at": "next tuesday"}, "expires_at"),
    ("POST", "/v0/api-keys", {"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),  # in the past
    ("POST", "/v0/api-keys", {"public_key": {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}}, "public_key"),
    ("POST", "/v0/pods/{pod}/api-keys", {"name": 5}, "name"),
    ("POST", "/v0/inboxes/{inbox}/api-keys", {"permissions": 5}, "permissions"),
    ("PATCH", "/v0/inboxes/{inbox}", {"display_name": 5}, "display_name"),
    ("PATCH", "/v0/inboxes/{inbox}", {"metadata": "x"}, "metadata"),
    ("PATCH", "/v0/inboxes/{inbox}", {"metadata": {"k": [1]}}, "metadata"),
    ("PATCH", "/v0/inboxes/{inbox}", {"status": "deleted"}, "status"),
    ("PATCH", "/v0/inboxes/{inbox}", {"status": True}, "status"),
    ("PATCH", "/v0/pods/{pod}/inboxes/{inbox}", {"display_name": 5}, "display_name"),
    ("PATCH", "/v0/api-keys/{key}", {"name": 5}, "name"),
    ("PATCH", "/v0/api-keys/{key}", {"permissions": "x"}, "permissions"),
    ("PATCH", "/v0/pods/{pod}/api-keys/{key}", {"permissions": {"inbox_read": {}}}, "permissions"),
    ("PATCH", "/v0/inboxes/{inbox}/api-keys/{inbox_key}", {"name": []}, "name"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES)
def test_wrong_field_type_is_rejected(http, world, method, path, body, field):
    with unchanged(http):
        body = error(http.request(method, world.fmt(path), json=body), 400, "validation_error")
    assert body["errors"][0]["path"][0] == field, body


# --- inbox fields: lengths, characters, limits (MODELS.md CreateInboxRequest) -----------------

TOO_LONG = "x" * 257
BAD_INBOX_FIELDS = [
    pytest.param({"display_name": TOO_LONG}, "display_name", id="display-name-257"),
    pytest.param({"display_name": "Bob\r\nBcc: victim@example.com"}, "display_name", id="display-name-crlf"),
    pytest.param({"display_name": "Bob\nSmith"}, "display_name", id="display-name-lf"),
    pytest.param({"display_name": "Bob\rSmith"}, "display_name", id="display-name-cr"),
    pytest.param({"display_name": "Bob\x00Smith"}, "display_name", id="display-name-nul"),
    pytest.param({"display_name": "Bob\tSmith"}, "display_name", id="display-name-tab"),
    pytest.param({"display_name": "Bob\x7fSmith"}, "display_name", id="display-name-del"),
    *[pytest.param({"display_name": f"Bob {c} Smith"}, "display_name", id=f"display-name-{c}")
      for c in '()<>@,;:\\"[]'],
    pytest.param({"username": "u" * 65}, "username", id="username-65"),
    pytest.param({"username": ""}, "username", id="username-empty"),
    pytest.param({"username": "has space"}, "username", id="username-space"),
    pytest.param({"username": "ünïcode"}, "username", id="username-unicode"),
    pytest.param({"username": "a..b"}, "username", id="username-double-dot"),
    pytest.param({"username": ".ab"}, "username", id="username-leading-dot"),
    pytest.param({"username": "ab-"}, "username", id="username-trailing-dash"),
    pytest.param({"username": "a/b"}, "username", id="username-slash"),
    pytest.param({"username": "a@b"}, "username", id="username-at"),
    pytest.param({"username": "a+b"}, "username", id="username-plus"),
    pytest.param({"username": "a\x00b"}, "username", id="username-nul"),
    pytest.param({"client_id": "c" * 257}, "client_id", id="client-id-257"),
    pytest.param({"client_id": ""}, "client_id", id="client-id-empty"),
    pytest.param({"client_id": "a@b"}, "client_id", id="client-id-at"),
    pytest.param({"client_id": "a b"}, "client_id", id="client-id-space"),
    pytest.param({"client_id": "a/b"}, "client_id", id="client-id-slash"),
    pytest.param({"client_id": "ü"}, "client_id", id="client-id-unicode"),
    pytest.param({"metadata": {"k": TOO_LONG}}, "metadata", id="metadata-value-257"),
    pytest.param({"metadata": {TOO_LONG: "v"}}, "metadata", id="metadata-key-257"),
    pytest.param({"metadata": {"": "v"}}, "metadata", id="metadata-key-empty"),
    pytest.param({"metadata": {f"k{i}": i for i in range(257)}}, "metadata", id="metadata-257-keys"),
    pytest.param({"metadata": {"k": "a\x00b"}}, "metadata", id="metadata-value-nul"),
    pytest.param({"metadata": {"a\x00b": "v"}}, "metadata", id="metadata-key-nul"),
]
CREATE_INBOX = [pytest.param("/v0/inboxes", id="org"), pytest.param("/v0/pods/{pod}/inboxes", id="pod")]


@pytest.mark.parametrize(("fields", "field"), BAD_INBOX_FIELDS)
@pytest.mark.parametrize("path", CREATE_INBOX)
def test_bad_inbox_field_on_create_is_rejected(http, world, path, fields, field):
    # A valid username next to the bad field: the whole create must be refused.
    request = {"username": f"never-{uuid.uuid4().hex[:10]}", **fields}
    with unchanged(http):
        answer = error(http.post(world.fmt(path), json=request), 400, "validation_error")
    assert answer["errors"][0]["path"][0] == field, answer


@pytest.mark.parametrize("path", CREATE_INBOX)
def test_unknown_domain_on_create_is_404(http, world, path):
    with unchanged(http):
        error(http.post(world.fmt(path), json={"username": "x" + world.tag, "domain": "example.com"}),
              404, "not_found")


@pytest.mark.parametrize("path", CREATE_INBOX)
def test_inbox_limits_are_exact(http, world, path):
    """The boundaries themselves are accepted, so the rejections above are about the extra character."""
    username = ("b" + uuid.uuid4().hex * 2)[:64]
    metadata: dict[str, Any] = {f"{i:03d}" + "k" * 253: "v" * 256 for i in range(255)}
    metadata["n"] = 1.5
    created = ok(Inbox, http.post(world.fmt(path), json={
        "username": username, "display_name": "d" * 256, "client_id": "c" * 220 + uuid.uuid4().hex + "-._~",
        "metadata": metadata,
    }))
    assert created.inbox_id == f"{username}@agentmail.localhost"
    assert created.display_name == "d" * 256
    assert created.metadata == metadata


@pytest.mark.parametrize("body", [
    pytest.param(b'{"metadata": {"k": NaN}}', id="nan"),
    pytest.param(b'{"metadata": {"k": Infinity}}', id="infinity"),
    pytest.param(b'{"metadata": {"k": -Infinity}}', id="minus-infinity"),
    pytest.param(b'{"metadata": {"k": 1e400}}', id="overflowing-float"),
])
@pytest.mark.parametrize("path", CREATE_INBOX)
def test_non_finite_metadata_number_is_rejected_on_create(http, world, path, body):
    # JSON has no NaN/Infinity; a value that cannot be stored and sent back as JSON must be a 400.
    with unchanged(http):
        answer = error(http.post(world.fmt(path), content=body, headers=JSON), 400, "validation_error")
    assert answer["errors"][0]["path"][0] == "metadata", answer


# --- inbox updates: refused as a whole, never half-applied ------------------------------------

UPDATE_INBOX = [pytest.param("/v0/inboxes/{inbox}", id="org"),
                pytest.param("/v0/pods/{pod}/inboxes/{inbox}", id="pod")]
BAD_UPDATES = [
    pytest.param({}, [], id="empty"),
    pytest.param({"unknown": "x"}, [], id="only-unknown-keys"),
    pytest.param({"metadata": {}}, ["metadata"], id="metadata-empty"),
    pytest.param({"display_name": TOO_LONG}, ["display_name"], id="display-name-257"),
    pytest.param({"display_name": "a\r\nb"}, ["display_name"], id="display-name-crlf"),
    pytest.param({"display_name": "a\x00b"}, ["display_name"], id="display-name-nul"),
    pytest.param({"metadata": {"k": TOO_LONG}}, ["metadata", "k"], id="metadata-value-257"),
    pytest.param({"metadata": {TOO_LONG: 1}}, ["metadata", TOO_LONG], id="metadata-key-257"),
    pytest.param({"metadata": {f"k{i}": i for i in range(257)}}, ["metadata"], id="metadata-257-keys"),
    # A valid change next to an invalid one: nothing is applied.
    pytest.param({"display_name": "Changed", "metadata": {"k": TOO_LONG}}, ["metadata", "k"], id="mixed-1"),
    pytest.param({"metadata": {"ok": 1}, "display_name": "a<b"}, ["display_name"], id="mixed-2"),
    pytest.param({"status": "paused", "display_name": "a\nb"}, ["display_name"], id="mixed-3"),
]


@pytest.mark.parametrize(("body", "error_path"), BAD_UPDATES)
@pytest.mark.parametrize("path", UPDATE_INBOX)
def test_bad_inbox_update_is_rejected_and_changes_nothing(http, world, path, body, error_path):
    with unchanged(http):
        answer = error(http.patch(world.fmt(path), json=body), 400, "validation_error")
    assert answer["errors"][0]["path"] == error_path, answer
    assert http.get(f"/v0/inboxes/{world.inbox}").json()["display_name"] == "Original"


@pytest.mark.parametrize("path", UPDATE_INBOX)
def test_inbox_update_without_body_is_rejected(http, world, path):
    with unchanged(http):
        error(http.patch(world.fmt(path)), 400, "validation_error")


@pytest.mark.parametrize("body", [
    pytest.param(b'{"metadata": {"k": NaN}}', id="nan"),
    pytest.param(b'{"metadata": {"k": Infinity}}', id="infinity"),
    pytest.param(b'{"metadata": {"k": 1e400}}', id="overflowing-float"),
])
def test_non_finite_metadata_number_is_rejected_on_update(http, world, body):
    with unchanged(http):
        answer = error(http.patch(f"/v0/inboxes/{world.inbox}", content=body, headers=JSON), 400,
                       "validation_error")
    assert answer["errors"][0]["path"][0] == "metadata", answer


def test_metadata_merge_over_the_key_limit_changes_nothing(http, world):
    """The 256-key limit applies to the merged result; display_name in the same request stays unapplied."""
    inbox = ok(Inbox, http.post("/v0/inboxes", json={
        "username": f"merge-{uuid.uuid4().hex[:10]}", "display_name": "Before",
        "metadata": {f"old{i}": i for i in range(200)},
    }))
    more = {f"new{i}": i for i in range(57)}
    with unchanged(http):
        answer = error(http.patch(f"/v0/inboxes/{inbox.inbox_id}", json={"display_name": "After", "metadata": more}),
                       400, "validation_error")
    assert answer["errors"][0]["path"] == ["metadata"]
    after = ok(Inbox, http.get(f"/v0/inboxes/{inbox.inbox_id}"))
    assert after.display_name == "Before" and after.metadata == {f"old{i}": i for i in range(200)}
    assert after.updated_at == inbox.updated_at
    # Exactly at the limit is fine (and deleting with null makes room).
    ok(Inbox, http.patch(f"/v0/inboxes/{inbox.inbox_id}", json={"metadata": {**more, "old0": None}}))
    assert len(http.get(f"/v0/inboxes/{inbox.inbox_id}").json()["metadata"]) == 256


# --- pods and API keys: names are bounded like every stored string ----------------------------

BAD_NAMES = [
    pytest.param("POST", "/v0/pods", {"name": "n" * 257}, id="pod-name-257"),
    pytest.param("POST", "/v0/pods", {"name": "a\x00b"}, id="pod-name-nul"),
    pytest.param("POST", "/v0/pods", {"name": "   "}, id="pod-name-blank"),
    pytest.param("POST", "/v0/pods", {"client_id": "a@b"}, id="pod-client-id-at"),
    pytest.param("POST", "/v0/pods", {"client_id": "c" * 257}, id="pod-client-id-257"),
    pytest.param("POST", "/v0/api-keys", {"name": "n" * 257}, id="key-name-257"),
    pytest.param("POST", "/v0/api-keys", {"name": "a\x00b"}, id="key-name-nul"),
    pytest.param("POST", "/v0/pods/{pod}/api-keys", {"name": "n" * 257}, id="pod-key-name-257"),
    pytest.param("POST", "/v0/inboxes/{inbox}/api-keys", {"name": "a\x00b"}, id="inbox-key-name-nul"),
    pytest.param("PATCH", "/v0/api-keys/{key}", {"name": "n" * 257}, id="update-key-name-257"),
    pytest.param("PATCH", "/v0/pods/{pod}/api-keys/{key}", {"name": "a\x00b"}, id="update-key-name-nul"),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_NAMES)
def test_bad_pod_or_key_name_is_rejected(http, world, method, path, body):
    # The columns are VARCHAR(256) and PostgreSQL cannot store NUL: both backends must refuse alike.
    field = next(iter(body))
    with unchanged(http):
        answer = error(http.request(method, world.fmt(path), json=body), 400, "validation_error")
    assert answer["errors"][0]["path"][0] == field, answer


def test_pod_and_key_names_of_256_characters_are_accepted(http, world):
    pod = ok(Pod, http.post("/v0/pods", json={"name": "p" * 256}))
    assert pod.name == "p" * 256
    key = ok(CreateApiKeyResponse, http.post(f"/v0/pods/{pod.pod_id}/api-keys", json={"name": "k" * 256}))
    assert key.name == "k" * 256
    http.delete(f"/v0/pods/{pod.pod_id}/api-keys/{key.api_key_id}").raise_for_status()
    assert http.delete(f"/v0/pods/{pod.pod_id}").status_code == 204


@pytest.mark.parametrize("expires_at", ["2031-01-01T00:00:00", "2031-01-01"])
@pytest.mark.parametrize("path", ["/v0/api-keys", "/v0/pods/{pod}/api-keys", "/v0/inboxes/{inbox}/api-keys"])
def test_expires_at_without_zone_is_rejected_or_read_as_utc(http, world, path, expires_at):
    """Either answer is fine; a 500 (comparing naive and aware datetimes) is not."""
    response = http.post(world.fmt(path), json={"name": "naive", "expires_at": expires_at})
    if response.status_code == 400:
        assert error(response, 400, "validation_error")["errors"][0]["path"] == ["expires_at"]
    else:
        created = ok(CreateApiKeyResponse, response)
        assert response.json()["expires_at"] == "2031-01-01T00:00:00.000Z"
        http.delete(f"/v0/api-keys/{created.api_key_id}").raise_for_status()


# --- oversized bodies -------------------------------------------------------------------------


def _big_body(size: int) -> bytes:
    head, tail = b'{"display_name": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize(("method", "path"), [
    pytest.param("POST", "/v0/inboxes", id="create-inbox"),
    pytest.param("POST", "/v0/pods", id="create-pod"),
    pytest.param("PATCH", "/v0/inboxes/{inbox}", id="update-inbox"),
])
def test_body_over_10_mib_is_413_with_content_length(http, server, world, method, path):
    body = _big_body(MAX_BODY + 1024)
    # Its own connection: the server may close it without reading the rest of the body.
    with unchanged(http), make_http(server) as client:
        response = client.request(method, world.fmt(path), content=body, headers=JSON)
        assert response.headers["content-type"].startswith("application/json"), (
            response.status_code, response.headers, response.text[:200])
        error(response, 413, "payload_too_large")


def test_body_over_10_mib_is_413_when_chunked(http, server, world):
    body = _big_body(MAX_BODY + 1024)
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    with unchanged(http), make_http(server) as client:
        response = client.post("/v0/inboxes", content=chunks, headers=JSON)
        assert "content-length" not in response.request.headers
        assert response.headers["content-type"].startswith("application/json"), response.text[:200]
        error(response, 413, "payload_too_large")


def test_body_just_under_10_mib_is_read_and_validated(http, world):
    with unchanged(http):
        answer = error(http.post("/v0/inboxes", content=_big_body(MAX_BODY - 4096), headers=JSON), 400,
                       "validation_error")
    assert answer["errors"][0]["path"] == ["display_name"]


# --- query parameters -------------------------------------------------------------------------

LISTINGS = [
    pytest.param("/v0/inboxes", id="inboxes"),
    pytest.param("/v0/pods", id="pods"),
    pytest.param("/v0/api-keys", id="api-keys"),
    pytest.param("/v0/pods/{pod}/inboxes", id="pod-inboxes"),
    pytest.param("/v0/pods/{pod}/api-keys", id="pod-api-keys"),
    pytest.param("/v0/inboxes/{inbox}/api-keys", id="inbox-api-keys"),
]
SEARCHES = [pytest.param("/v0/inboxes/search", id="search"),
            pytest.param("/v0/pods/{pod}/inboxes/search", id="pod-search")]
BAD_LIST_PARAMS = [
    pytest.param({"limit": "abc"}, id="limit-abc"),
    pytest.param({"limit": "1.5"}, id="limit-float"),
    pytest.param({"limit": ""}, id="limit-empty"),
    pytest.param({"limit": "0"}, id="limit-0"),
    pytest.param({"limit": "-1"}, id="limit-negative"),
    pytest.param({"limit": "1001"}, id="limit-1001"),
    pytest.param({"limit": "9" * 30}, id="limit-huge"),
    pytest.param({"limit": ["10", "abc"]}, id="limit-repeated"),
    pytest.param({"ascending": "maybe"}, id="ascending-maybe"),
    pytest.param({"ascending": "2"}, id="ascending-2"),
]


@pytest.mark.parametrize("params", BAD_LIST_PARAMS)
@pytest.mark.parametrize("path", LISTINGS)
def test_bad_list_parameter_is_rejected(http, world, path, params):
    answer = error(http.get(world.fmt(path), params=params), 400, "validation_error")
    assert answer["errors"][0]["path"] == [next(iter(params))], answer


@pytest.mark.parametrize(("params", "field"), [
    pytest.param({"limit": "abc"}, "limit", id="limit-abc"),
    pytest.param({"limit": "0"}, "limit", id="limit-0"),
    pytest.param({"limit": "101"}, "limit", id="limit-101"),
    pytest.param({"q": ""}, "q", id="q-empty"),
    pytest.param({"q": "x"}, "q", id="q-1-char"),
    pytest.param({"q": " x "}, "q", id="q-1-char-padded"),
    pytest.param({"q": "q" * 257}, "q", id="q-257"),
])
@pytest.mark.parametrize("path", SEARCHES)
def test_bad_search_parameter_is_rejected(http, world, path, params, field):
    answer = error(http.get(world.fmt(path), params={"q": world.tag, **params}), 400, "validation_error")
    assert answer["errors"][0]["path"] == [field], answer


@pytest.mark.parametrize("path", SEARCHES)
def test_search_without_q_is_rejected(http, world, path):
    assert error(http.get(world.fmt(path)), 400, "validation_error")["errors"][0]["path"] == ["q"]


def test_unknown_api_key_type_is_rejected(http, world):
    assert error(http.get("/v0/api-keys", params={"type": "magic"}), 400)["errors"][0]["path"] == ["type"]


@pytest.mark.parametrize("params", [{"limit": "1"}, {"limit": "1000"}, {"ascending": "true"},
                                    {"ascending": "false"}, {"page_token": ""}, {"unknown": "ignored"}])
@pytest.mark.parametrize("path", LISTINGS)
def test_list_parameter_boundaries_are_accepted(http, world, path, params):
    response = http.get(world.fmt(path), params=params)
    assert response.status_code == 200, response.text
    if "limit" in params:
        assert response.json()["limit"] == int(params["limit"])


@pytest.mark.parametrize("q", ["ab", "q" * 256])
@pytest.mark.parametrize("path", SEARCHES)
def test_search_boundaries_are_accepted(http, world, path, q):
    response = http.get(world.fmt(path), params={"q": q, "limit": 100})
    assert response.status_code == 200, response.text
    assert response.json()["limit"] == 100


@pytest.mark.parametrize("path", SEARCHES)
def test_search_with_nul_is_not_a_server_error(http, world, path):
    response = http.get(world.fmt(path), params={"q": "bad\x00" + world.tag})
    if response.status_code == 400:
        error(response, 400, "validation_error")
    else:
        assert response.status_code == 200, response.text
        assert response.json()["count"] == 0


# --- page tokens ------------------------------------------------------------------------------

# (listing, another listing whose tokens it must refuse)
KEYSET = {
    "pods": ("/v0/pods", "inboxes"),
    "inboxes": ("/v0/inboxes", "pod-inboxes"),
    "pod-inboxes": ("/v0/pods/{pod}/inboxes", "inboxes"),
    "api-keys": ("/v0/api-keys", "pod-api-keys"),
    "pod-api-keys": ("/v0/pods/{pod}/api-keys", "inbox-api-keys"),
    "inbox-api-keys": ("/v0/inboxes/{inbox}/api-keys", "api-keys"),
}


def _token(http: httpx.Client, world: World, listing: str, **params: Any) -> str:
    path = KEYSET[listing][0] if listing in KEYSET else SEARCH[listing]
    if listing in SEARCH:
        params.setdefault("q", world.tag)
    body = http.get(world.fmt(path), params={"limit": 1, **params}).json()
    assert body.get("next_page_token"), body
    return body["next_page_token"]  # type: ignore[no-any-return]


def _keyset_forgeries(real: str, other: str, other_order: str) -> dict[str, str]:
    payload = unb64(real)
    endpoint, when = payload["e"], payload["k"][0]

    def forge(**changes: Any) -> str:
        return b64(json.dumps({**payload, **changes}))

    return {
        "garbage": "zzz",
        "not-base64": "!!!***",
        "truncated": real[: len(real) // 2],
        "first-byte-tampered": ("f" if real[0] != "f" else "g") + real[1:],
        "very-long": "A" * 5000,
        "other-listing": other,
        "other-order": other_order,
        "json-array": b64("[1, 2]"),
        "json-string": b64('"pods"'),
        "json-null": b64("null"),
        "non-utf8": b64(b"\xff\xfe\xfd"),
        "empty-object": b64("{}"),
        "wrong-endpoint": forge(e="pods" if endpoint != "pods" else "inboxes:"),
        "no-order": b64(json.dumps({"e": endpoint, "k": payload["k"]})),
        "bad-order": forge(o="x"),
        "k-not-list": forge(k="x"),
        "k-too-short": forge(k=[when]),
        "k-too-long": forge(k=[*payload["k"], "extra"]),
        "k-numbers": forge(k=[1, 2]),
        "k-bools": forge(k=[True, "x"]),
        # A well-typed id next to a first key that is no datetime at all.
        "k-int-datetime": forge(k=[1, "x"]),
        "k-string-datetime": forge(k=["2024-01-01T00:00:00+00:00", "x"]),
        "k-object-datetime": forge(k=[{"a": 1}, "x"]),
        "k-naive-datetime": forge(k=[{"$dt": "2024-01-01T00:00:00"}, "x"]),
        "k-garbage-datetime": forge(k=[{"$dt": "yesterday"}, "x"]),
        "k-datetime-number": forge(k=[{"$dt": 5}, "x"]),
        "k-id-number": forge(k=[when, 5]),
        "k-id-null": forge(k=[when, None]),
    }


KEYSET_KINDS = list(_keyset_forgeries("eyJlIjoicG9kcyIsIm8iOiJkIiwiayI6WzEsMl19", "", ""))


@pytest.mark.parametrize("kind", KEYSET_KINDS)
@pytest.mark.parametrize("listing", list(KEYSET))
def test_bad_page_token_is_rejected(http, world, listing, kind):
    real = _token(http, world, listing)
    forged = _keyset_forgeries(real, _token(http, world, KEYSET[listing][1]),
                               _token(http, world, listing, ascending="true"))[kind]
    answer = error(http.get(world.fmt(KEYSET[listing][0]), params={"page_token": forged}), 400, "validation_error")
    assert answer["errors"][0]["path"] == ["page_token"], answer


@pytest.mark.parametrize("listing", list(KEYSET))
def test_well_formed_token_pages_on(http, world, listing):
    """Control for the test above: the real token, and a hand-made one in the same format, work."""
    real = _token(http, world, listing)
    assert http.get(world.fmt(KEYSET[listing][0]), params={"limit": 1, "page_token": real}).status_code == 200
    payload = unb64(real)
    far_past = {**payload, "k": [{"$dt": "2000-01-01T00:00:00+00:00"}, "~"]}
    page = http.get(world.fmt(KEYSET[listing][0]), params={"page_token": b64(json.dumps(far_past))})
    assert page.status_code == 200, page.text
    assert page.json()["count"] == 0


def test_token_from_the_ascending_listing_is_refused_descending(http, world):
    token = _token(http, world, "pods", ascending="true")
    assert http.get("/v0/pods", params={"page_token": token, "ascending": "true"}).status_code == 200
    error(http.get("/v0/pods", params={"page_token": token}), 400, "validation_error")


SEARCH = {"search": "/v0/inboxes/search", "pod-search": "/v0/pods/{pod}/inboxes/search"}


def _search_forgeries(real: str, other_query: str, other_search: str, listing_token: str) -> dict[str, str]:
    endpoint = unb64(real)["e"]
    return {
        "garbage": "zzz",
        "truncated": real[: len(real) // 2],
        "other-query": other_query,
        "other-search": other_search,
        "keyset-token": listing_token,
        "n-negative": b64(json.dumps({"e": endpoint, "n": -1})),
        "n-string": b64(json.dumps({"e": endpoint, "n": "1"})),
        "n-float": b64(json.dumps({"e": endpoint, "n": 1.5})),
        "n-null": b64(json.dumps({"e": endpoint, "n": None})),
        "n-missing": b64(json.dumps({"e": endpoint})),
        "n-bool": b64(json.dumps({"e": endpoint, "n": True})),
    }


SEARCH_KINDS = list(_search_forgeries("eyJlIjoieCJ9", "", "", ""))


@pytest.mark.parametrize("kind", SEARCH_KINDS)
@pytest.mark.parametrize("search", list(SEARCH))
def test_bad_search_page_token_is_rejected(http, world, search, kind):
    other_search = "pod-search" if search == "search" else "search"
    forged = _search_forgeries(
        _token(http, world, search),
        _token(http, world, search, q=f"bad-{world.tag}"),
        _token(http, world, other_search),
        _token(http, world, "inboxes"),
    )[kind]
    answer = error(http.get(world.fmt(SEARCH[search]), params={"q": world.tag, "page_token": forged}), 400,
                   "validation_error")
    assert answer["errors"][0]["path"] == ["page_token"], answer


# --- unknown, foreign and odd ids -------------------------------------------------------------

ODD_IDS = {
    "inbox": ["nobody-{tag}@agentmail.localhost", "nobody-{tag}", "a%2Fb@agentmail.localhost",
              "ünïcødé-{tag}@agentmail.localhost", "x" * 5000 + "@agentmail.localhost", "%00",
              "a%00b@agentmail.localhost", "%2E%2E", "{pod}"],
    "pod": [str(uuid.UUID(int=1)), "not-a-uuid", "ünïcødé", "p" * 5000, "%00", "a%2Fb", "{inbox}"],
    "key": [str(uuid.UUID(int=1)), "not-a-uuid", "ünïcødé", "k" * 5000, "%00", "a%2Fb", "{org}", "{pod}"],
}
ID_ROUTES = [
    ("GET", "/v0/inboxes/{x}", "inbox"),
    ("PATCH", "/v0/inboxes/{x}", "inbox"),
    ("DELETE", "/v0/inboxes/{x}", "inbox"),
    ("GET", "/v0/inboxes/{x}/api-keys", "inbox"),
    ("POST", "/v0/inboxes/{x}/api-keys", "inbox"),
    ("GET", "/v0/pods/{pod}/inboxes/{x}", "inbox"),
    ("PATCH", "/v0/pods/{pod}/inboxes/{x}", "inbox"),
    ("DELETE", "/v0/pods/{pod}/inboxes/{x}", "inbox"),
    ("GET", "/v0/pods/{x}", "pod"),
    ("DELETE", "/v0/pods/{x}", "pod"),
    ("GET", "/v0/pods/{x}/inboxes", "pod"),
    ("POST", "/v0/pods/{x}/inboxes", "pod"),
    ("GET", "/v0/pods/{x}/inboxes/search", "pod"),
    ("GET", "/v0/pods/{x}/api-keys", "pod"),
    ("POST", "/v0/pods/{x}/api-keys", "pod"),
    ("GET", "/v0/api-keys/{x}", "key"),
    ("PATCH", "/v0/api-keys/{x}", "key"),
    ("DELETE", "/v0/api-keys/{x}", "key"),
    ("PATCH", "/v0/pods/{pod}/api-keys/{x}", "key"),
    ("DELETE", "/v0/pods/{pod}/api-keys/{x}", "key"),
    ("PATCH", "/v0/inboxes/{inbox}/api-keys/{x}", "key"),
    ("DELETE", "/v0/inboxes/{inbox}/api-keys/{x}", "key"),
]
BODIES = {"PATCH": {"display_name": "x", "name": "x"}, "POST": {"name": "x", "username": "never-created"}}


def _request_kwargs(method: str, path: str) -> dict[str, Any]:
    if "/search" in path:
        return {"params": {"q": "ab"}}
    return {"json": BODIES[method]} if method in BODIES else {}


@pytest.mark.parametrize(("method", "template", "kind", "odd"), [
    pytest.param(m, t, k, i, id=f"{m} {t.replace('{x}', '{' + k + '}')} {i[:24]}")
    for m, t, k in ID_ROUTES for i in ODD_IDS[k]
])
def test_unknown_id_is_404(http, world, method, template, kind, odd):
    path = world.fmt(template.replace("{x}", odd))
    with unchanged(http):
        error(http.request(method, path, **_request_kwargs(method, path)), 404, "not_found")


WRONG_PLACE = [
    # (method, path): a real id, but not where the route looks for it
    ("GET", "/v0/pods/{pod}/inboxes/{default_inbox}"),
    ("PATCH", "/v0/pods/{pod}/inboxes/{default_inbox}"),
    ("DELETE", "/v0/pods/{pod}/inboxes/{default_inbox}"),
    ("GET", "/v0/pods/{org}/inboxes/{inbox}"),
    ("DELETE", "/v0/pods/{org}/inboxes/{inbox}"),
    ("PATCH", "/v0/inboxes/{inbox}/api-keys/{key}"),
    ("DELETE", "/v0/inboxes/{inbox}/api-keys/{key}"),
    ("PATCH", "/v0/inboxes/{inbox2}/api-keys/{inbox_key}"),
    ("DELETE", "/v0/inboxes/{inbox2}/api-keys/{inbox_key}"),
    ("PATCH", "/v0/pods/{org}/api-keys/{key}"),
    ("DELETE", "/v0/pods/{org}/api-keys/{inbox_key}"),
    ("GET", "/v0/inboxes/{inbox_key}"),
    ("GET", "/v0/pods/{inbox_key}"),
]


@pytest.mark.parametrize(("method", "template"), WRONG_PLACE)
def test_real_id_in_the_wrong_place_is_404(http, world, method, template):
    path = world.fmt(template)
    with unchanged(http):
        error(http.request(method, path, **_request_kwargs(method, path)), 404, "not_found")


@pytest.fixture(scope="module")
def foreign(server: Server) -> dict[str, str]:
    """Another organization's pod, inbox and key, seen with that organization's own key."""
    org = server.cli("create-organization")
    tag = uuid.uuid4().hex[:8]
    with make_http(server, org["api_key"]) as http:
        pod = http.post("/v0/pods", json={"name": "foreign"}).json()["pod_id"]
        inbox = http.post(f"/v0/pods/{pod}/inboxes", json={"username": f"foreign-{tag}"}).json()["inbox_id"]
        key = http.post(f"/v0/pods/{pod}/api-keys", json={"name": "foreign"}).json()["api_key_id"]
    return {"api_key": org["api_key"], "pod": pod, "inbox": inbox, "key": key, "default_pod": org["organization_id"],
            "root_key": org["api_key_id"]}


FOREIGN_ROUTES = [
    ("GET", "/v0/inboxes/{inbox}"), ("PATCH", "/v0/inboxes/{inbox}"), ("DELETE", "/v0/inboxes/{inbox}"),
    ("GET", "/v0/inboxes/{inbox}/api-keys"), ("POST", "/v0/inboxes/{inbox}/api-keys"),
    ("GET", "/v0/pods/{pod}"), ("DELETE", "/v0/pods/{pod}"), ("GET", "/v0/pods/{pod}/inboxes"),
    ("POST", "/v0/pods/{pod}/inboxes"), ("GET", "/v0/pods/{pod}/inboxes/{inbox}"),
    ("PATCH", "/v0/pods/{pod}/inboxes/{inbox}"), ("DELETE", "/v0/pods/{pod}/inboxes/{inbox}"),
    ("GET", "/v0/pods/{pod}/api-keys"), ("POST", "/v0/pods/{pod}/api-keys"),
    ("GET", "/v0/api-keys/{key}"), ("PATCH", "/v0/api-keys/{key}"), ("DELETE", "/v0/api-keys/{key}"),
    ("PATCH", "/v0/pods/{pod}/api-keys/{key}"), ("DELETE", "/v0/pods/{pod}/api-keys/{key}"),
    ("GET", "/v0/pods/{default_pod}"), ("POST", "/v0/pods/{default_pod}/inboxes"),
    ("GET", "/v0/api-keys/{root_key}"), ("DELETE", "/v0/api-keys/{root_key}"),
]


@pytest.mark.parametrize(("method", "template"), FOREIGN_ROUTES)
def test_other_organizations_resources_are_404_and_untouched(http, server, foreign, method, template):
    path = template.format(**foreign)
    with make_http(server, foreign["api_key"]) as owner, unchanged(owner), unchanged(http):
        error(http.request(method, path, **_request_kwargs(method, path)), 404, "not_found")


# --- authorization ----------------------------------------------------------------------------


def _auth_cases(key: str) -> list[tuple[str, bytes | None, str]]:
    return [
        ("none", None, "missing_authorization"),
        ("basic", b"Basic dXNlcjpwYXNz", "invalid_token_type"),
        ("token-scheme", f"Token {key}".encode(), "invalid_token_type"),
        ("bare-key", key.encode(), "invalid_token_type"),
        ("bearer-only", b"Bearer", "invalid_token_type"),
        ("garbage", b"Bearer garbage", "unknown_api_key"),
        ("tampered", f"Bearer {key[:-1]}{'0' if key[-1] != '0' else '1'}".encode(), "unknown_api_key"),
        ("truncated", f"Bearer {key[:-1]}".encode(), "unknown_api_key"),
        ("extended", f"Bearer {key}x".encode(), "unknown_api_key"),
        ("two-tokens", f"Bearer {key} {key}".encode(), "unknown_api_key"),
        ("non-ascii", b"Bearer \xff\xfe\xfd", "unknown_api_key"),
        ("same-shape", b"Bearer am_us_" + b"0" * 64, "unknown_api_key"),
    ]


AUTH_KINDS = [name for name, _, _ in _auth_cases("k")]
AUTH_ROUTES = [
    ("GET", "/v0/auth/me"), ("GET", "/v0/organizations"), ("GET", "/v0/inboxes"), ("POST", "/v0/inboxes"),
    ("PATCH", "/v0/inboxes/{inbox}"), ("DELETE", "/v0/inboxes/{inbox}"), ("POST", "/v0/pods"),
    ("DELETE", "/v0/pods/{pod}/api-keys/{key}"), ("POST", "/v0/api-keys"), ("GET", "/v0/inboxes/search"),
]


@pytest.mark.parametrize("kind", AUTH_KINDS)
@pytest.mark.parametrize(("method", "template"), AUTH_ROUTES)
def test_bad_authorization_is_401(http, server, world, method, template, kind):
    _, header, code = next(case for case in _auth_cases(server.api_key) if case[0] == kind)
    path = world.fmt(template)
    headers = [(b"Authorization", header)] if header is not None else []
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous, unchanged(http):
        response = anonymous.request(method, path, headers=headers, **_request_kwargs(method, path))
        error(response, 401, code)


@pytest.mark.parametrize("body", [b'{"username": ', b"[1]", b'{"name": 5}'])
@pytest.mark.parametrize("header", [None, b"Bearer garbage"])
def test_authorization_is_checked_before_the_body(http, server, body, header):
    """An unauthenticated caller learns nothing about its body: 401 comes first, whatever the body."""
    headers = [(b"Content-Type", b"application/json")]
    if header is not None:
        headers.append((b"Authorization", header))
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous, unchanged(http):
        response = anonymous.post("/v0/pods", content=body, headers=headers)
        assert response.status_code == 401, response.text
        error(response, 401)


def test_deleted_key_is_401(http, server):
    created = ok(CreateApiKeyResponse, http.post("/v0/api-keys", json={"name": "short-lived"}))
    with make_http(server, created.api_key) as client:
        assert client.get("/v0/auth/me").status_code == 200
        assert http.delete(f"/v0/api-keys/{created.api_key_id}").status_code == 204
        error(client.get("/v0/auth/me"), 401, "unknown_api_key")
        error(client.post("/v0/pods", json={}), 401, "unknown_api_key")


# --- unknown routes and wrong methods ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/v0/nope", "/v1/inboxes", "/V0/inboxes", "/v0/inboxes/a/b/c", "/",
                                  "/v0/pods/x/y/z/w", "/v0/api-keys/x/y", "/v0/organizations/nope",
                                  "/v0/inboxes/x%2Fy/api-keys/z/w", "/v0/auth/me/too"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_route_is_404(http, method, path):
    body = error(http.request(method, path), 404, "not_found")
    assert body["message"] == "Route not found"


@pytest.mark.parametrize(("method", "template"), [
    ("PUT", "/v0/inboxes"), ("DELETE", "/v0/inboxes"), ("PATCH", "/v0/inboxes"),
    ("PUT", "/v0/inboxes/{inbox}"), ("POST", "/v0/inboxes/{inbox}"),
    ("PATCH", "/v0/pods/{pod}"), ("PUT", "/v0/pods/{pod}"), ("DELETE", "/v0/pods"),
    ("POST", "/v0/auth/me"), ("DELETE", "/v0/organizations"), ("PATCH", "/v0/organizations/labs"),
    ("POST", "/v0/api-keys/{key}"), ("DELETE", "/v0/api-keys"), ("GET", "/v0/pods/{pod}/api-keys/{key}"),
    ("POST", "/v0/inboxes/search"), ("DELETE", "/v0/pods/{pod}/inboxes"),
])
def test_wrong_method_is_405(http, world, method, template):
    with unchanged(http):
        response = http.request(method, world.fmt(template), json={"name": "x"})
        error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
    assert allowed and method not in allowed, response.headers
