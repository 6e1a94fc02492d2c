"""The web console (issue 8) and the webhook delivery log it reads.

* The console's static files: public (no data in them), strict security headers, nothing else served.
* `GET /v0/webhooks/{id}/deliveries` and `…/deliveries/{delivery_id}/attempts` (our own extension):
  wire shape, paging, scope walls and permission.
* End to end in headless Chromium (tests/node/console_e2e.mjs, driven with playwright-core): sign in,
  pods → inbox → thread → message with an HTML body whose script must not run and whose remote image
  must not load, an attachment download, creating an inbox and an API key, a webhook's deliveries and
  attempts, and a live event over the WebSocket; the screenshots taken on the way are checked too.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentmail_server.console import CONTENT_SECURITY_POLICY
from agentmail_server.schemas.webhooks import ListWebhookAttemptsResponse, ListWebhookDeliveriesResponse

from .conftest import make_http, running_server
from .mail_helpers import build, send_raw, wait_for, wait_messages
from .node_lines import NodeLines
from .server import Server
from .webhook_helpers import new_organization
from .webhook_receiver import Receiver
from .wire import TIMESTAMP, error, ok

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "console_e2e.mjs"
CHROMIUM = "/usr/bin/chromium"
HOOK_ENV = {
    "AGENTMAIL_WEBHOOK_ALLOW_HTTP": "true",
    "AGENTMAIL_WEBHOOK_ALLOW_PRIVATE": "true",
    "AGENTMAIL_WEBHOOK_RETRY_DELAYS": "0.4,0.4,0.4",
    "AGENTMAIL_WEBHOOK_POLL_SECONDS": "0.1",
}
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def console_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Webhooks may target the local receiver (plain http, 127.0.0.1) and retry within a second."""
    with running_server(request, request.param, tmp_path_factory.mktemp(f"console-{request.param}"), HOOK_ENV) as srv:
        yield srv


@pytest.fixture
def root(console_server: Server) -> Iterator[httpx.Client]:
    with make_http(console_server) as client:
        yield client


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _inbox(http: httpx.Client, name: str, pod_id: str | None = None) -> str:
    path = f"/v0/pods/{pod_id}/inboxes" if pod_id else "/v0/inboxes"
    return http.post(path, json={"username": name}).raise_for_status().json()["inbox_id"]  # type: ignore[no-any-return]


def _mail(server: Server, inbox: str, subject: str, **kw: Any) -> None:
    send_raw(server, build(to=inbox, subject=subject, text=kw.pop("text", f"Body of {subject}"), **kw).as_bytes(),
             [inbox])


def _deliveries(http: httpx.Client, path: str, **params: Any) -> ListWebhookDeliveriesResponse:
    return ok(ListWebhookDeliveriesResponse, http.get(path, params=params))


def _settled(http: httpx.Client, path: str, count: int) -> ListWebhookDeliveriesResponse:
    """The webhook's deliveries once there are `count` and none is pending any more."""
    def check() -> ListWebhookDeliveriesResponse | None:
        page = _deliveries(http, path, limit=100)
        done = len(page.deliveries) == count and all(d.status != "pending" for d in page.deliveries)
        return page if done else None

    return wait_for(check, timeout=30, what=f"{count} settled deliveries at {path}")


# --- static files -------------------------------------------------------------------------------


def test_console_is_public_static_and_locked_down(console_server: Server):
    with make_http(console_server, api_key="") as anon:
        redirect = anon.get("/console")
        assert redirect.status_code == 308 and redirect.headers["location"] == "/console/"
        page = anon.get("/console/")
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert '<script type="module" src="app.js">' in page.text
        for name, media in [("app.js", "text/javascript"), ("api.js", "text/javascript"), ("frame.js", "text/javascript"),
                            ("style.css", "text/css"), ("icon.svg", "image/svg+xml")]:
            response = anon.get(f"/console/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith(media)
        for response in (redirect, page, anon.get("/console/app.js"), anon.get("/console/missing.js")):
            for header, value in SECURITY_HEADERS.items():
                assert response.headers[header] == value
        csp = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
        assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'"
        assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
        assert "unsafe-eval" not in page.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp["script-src"]
        assert page.headers["x-frame-options"] == "DENY"
        # Only the package's own files, by plain name.
        for path in ("/console/missing.js", "/console/..%2Fapp.py", "/console/__init__.py", "/console/static",
                     "/console/%2e%2e/__init__.py", "/console/APP.JS"):
            assert anon.get(path).status_code == 404, path
        assert anon.head("/console/app.js").status_code == 200
        # The API stays closed: the console gives no way around authentication.
        error(anon.get("/v0/auth/me"), 401)
        assert not any(p.startswith("/console") for p in anon.get("/openapi.json").json()["paths"])
        # No data in the files: nothing that looks like a key or an id.
        for name in ("index.html", "app.js", "api.js"):
            assert console_server.api_key not in anon.get(f"/console/{name}").text


# --- the delivery log API ----------------------------------------------------------------------


def test_deliveries_and_attempts_shape_and_paging(console_server: Server, root: httpx.Client, receiver: Receiver):
    tag = _tag()
    inbox = _inbox(root, f"log-{tag}")
    path = f"/{tag}/flaky"
    receiver.script(path, [500, 503], then=200)
    hook = root.post("/v0/webhooks", json={"url": receiver.url(path), "event_types": ["message.received"],
                                           "inbox_ids": [inbox]}).raise_for_status().json()["webhook_id"]
    dead = root.post("/v0/webhooks", json={"url": "http://127.0.0.1:9/closed", "event_types": ["message.received"],
                                           "inbox_ids": [inbox]}).raise_for_status().json()["webhook_id"]
    for i in range(3):
        _mail(console_server, inbox, f"log {i} {tag}")
        wait_messages(root, inbox, i + 1)  # one at a time: delivery order = mail order
    base = f"/v0/webhooks/{hook}/deliveries"
    listed = _settled(root, base, 3)
    assert listed.count == 3 and listed.limit == 100 and listed.next_page_token is None
    newest_first = [d.created_at for d in listed.deliveries]
    assert newest_first == sorted(newest_first, reverse=True)
    got = {r.json()["event_id"] for r in receiver.requests(path)}
    for d in listed.deliveries:
        assert d.webhook_id == hook and d.event_type == "message.received" and d.event_id in got
        assert d.status == "succeeded" and d.last_status_code == 200 and d.last_error is None
        assert d.next_attempt_at is None and d.finished_at is not None and d.delivery_id.isdigit()
    assert sum(d.attempts for d in listed.deliveries) == 5  # 500 and 503 went to some of them first
    raw = root.get(base).json()
    assert set(raw) == {"count", "limit", "deliveries"}
    for item in raw["deliveries"]:
        assert set(item) == {"delivery_id", "webhook_id", "event_id", "event_type", "status", "attempts",
                             "last_status_code", "finished_at", "created_at"}
        assert TIMESTAMP.match(item["finished_at"]) and TIMESTAMP.match(item["created_at"])

    # Paging: limit, opaque tokens bound to this list, ascending.
    first = _deliveries(root, base, limit=2)
    assert first.count == 2 and first.next_page_token
    second = _deliveries(root, base, limit=2, page_token=first.next_page_token)
    assert second.count == 1 and second.next_page_token is None
    ids = [d.delivery_id for d in listed.deliveries]
    assert [d.delivery_id for d in first.deliveries + second.deliveries] == ids
    assert [d.delivery_id for d in _deliveries(root, base, ascending="true").deliveries] == ids[::-1]
    error(root.get(f"/v0/webhooks/{dead}/deliveries", params={"page_token": first.next_page_token}), 400)
    error(root.get(base, params={"limit": 0}), 400)

    # Attempts: every try, with the receiver's answer.
    retried = max(listed.deliveries, key=lambda d: d.attempts)
    attempts_path = f"{base}/{retried.delivery_id}/attempts"
    attempts = ok(ListWebhookAttemptsResponse, root.get(attempts_path, params={"ascending": "true"}))
    assert attempts.count == retried.attempts >= 2
    assert attempts.attempts[-1].status_code == 200 and attempts.attempts[0].status_code in (500, 503)
    assert attempts.attempts[0].error == f"HTTP {attempts.attempts[0].status_code}"
    for a in attempts.attempts:
        assert a.delivery_id == retried.delivery_id and a.duration_ms >= 0 and a.response_body == "ok"
    for item in root.get(attempts_path).json()["attempts"]:
        assert set(item) == {"attempt_id", "delivery_id", "attempted_at", "status_code", "error", "duration_ms",
                             "response_body"} - ({"error"} if item["status_code"] == 200 else set())
        assert TIMESTAMP.match(item["attempted_at"])
    stamps = [a.attempted_at for a in attempts.attempts]
    assert stamps == sorted(stamps)
    newest = ok(ListWebhookAttemptsResponse, root.get(attempts_path, params={"limit": 1}))
    assert newest.count == 1 and newest.next_page_token and newest.attempts[0].status_code == 200
    rest = ok(ListWebhookAttemptsResponse, root.get(attempts_path, params={"page_token": newest.next_page_token}))
    assert [a.attempt_id for a in newest.attempts + rest.attempts] == [a.attempt_id for a in attempts.attempts][::-1]

    # A receiver that never answers: no status code, the connection error, and the schedule ran out.
    failed = _settled(root, f"/v0/webhooks/{dead}/deliveries", 3).deliveries
    for d in failed:
        assert d.status == "failed" and d.attempts == 4 and d.last_status_code is None and d.last_error
        assert d.next_attempt_at is None and d.finished_at is not None
    tries = ok(ListWebhookAttemptsResponse,
               root.get(f"/v0/webhooks/{dead}/deliveries/{failed[0].delivery_id}/attempts"))
    assert tries.count == 4 and all(a.status_code is None and a.error for a in tries.attempts)
    assert "status_code" not in root.get(f"/v0/webhooks/{dead}/deliveries/{failed[0].delivery_id}/attempts"
                                         ).json()["attempts"][0]

    # A delivery is found only under its own webhook; malformed ids are just not found.
    error(root.get(f"/v0/webhooks/{dead}/deliveries/{retried.delivery_id}/attempts"), 404, "not_found")
    for bad in ("abc", "-1", "1.5", "99999999999999999999999", "٣", "0"):
        error(root.get(f"{base}/{bad}/attempts"), 404, "not_found")
    error(root.get("/v0/webhooks/ep_missing/deliveries"), 404, "not_found")


def test_pending_delivery_shows_its_next_attempt(console_server: Server, root: httpx.Client, receiver: Receiver):
    tag = _tag()
    inbox = _inbox(root, f"pending-{tag}")
    path = f"/{tag}/down"
    receiver.script(path, [], then=500)
    hook = root.post("/v0/webhooks", json={"url": receiver.url(path), "event_types": ["message.received"],
                                           "inbox_ids": [inbox]}).raise_for_status().json()["webhook_id"]
    _mail(console_server, inbox, f"pending {tag}")
    receiver.wait(path, 1)
    # Between attempts (0.4 s apart, three retries) the delivery waits for its next one; then it fails.
    pending = failed = None
    deadline = time.monotonic() + 15
    while failed is None and time.monotonic() < deadline:
        (d,) = _deliveries(root, f"/v0/webhooks/{hook}/deliveries").deliveries
        if d.status == "pending" and d.attempts >= 1 and d.last_status_code == 500:
            pending = d
        elif d.status == "failed":
            failed = d
    assert pending is not None and failed is not None
    assert pending.next_attempt_at is not None and pending.finished_at is None and pending.last_error == "HTTP 500"
    assert pending.next_attempt_at > pending.created_at
    assert failed.next_attempt_at is None and failed.finished_at is not None and failed.attempts == 4
    body = root.get(f"/v0/webhooks/{hook}/deliveries").json()["deliveries"][0]
    assert "next_attempt_at" not in body and body["status"] == "failed"


def test_delivery_log_scope_walls(console_server: Server, root: httpx.Client, receiver: Receiver):
    tag = _tag()
    pod = root.post("/v0/pods", json={"name": f"walls {tag}"}).raise_for_status().json()["pod_id"]
    pod_inbox = _inbox(root, f"walls-{tag}", pod)
    other_inbox = _inbox(root, f"walls-other-{tag}")
    path = f"/{tag}/walls"
    event = {"url": receiver.url(path), "event_types": ["message.received"]}
    org_hook = root.post("/v0/webhooks", json={**event, "inbox_ids": [pod_inbox]}).raise_for_status().json()
    pod_hook = root.post(f"/v0/pods/{pod}/webhooks", json=event).raise_for_status().json()
    _mail(console_server, pod_inbox, f"walls {tag}")
    org_delivery = _settled(root, f"/v0/webhooks/{org_hook['webhook_id']}/deliveries", 1).deliveries[0]
    pod_delivery = _settled(root, f"/v0/webhooks/{pod_hook['webhook_id']}/deliveries", 1).deliveries[0]
    org_hook_id, pod_hook_id = org_hook["webhook_id"], pod_hook["webhook_id"]

    def urls(hook_id: str, delivery_id: str) -> list[str]:
        return [f"/v0/webhooks/{hook_id}/deliveries", f"/v0/webhooks/{hook_id}/deliveries/{delivery_id}/attempts"]

    pod_key = root.post(f"/v0/pods/{pod}/api-keys", json={"name": "walls"}).raise_for_status().json()["api_key"]
    inbox_key = root.post(f"/v0/inboxes/{other_inbox}/api-keys", json={"name": "walls"}).raise_for_status().json()
    _, stranger = new_organization(console_server)
    def in_pod(paths: list[str]) -> list[str]:
        return [u.replace("/v0/", f"/v0/pods/{pod}/", 1) for u in paths]

    with make_http(console_server, pod_key) as pod_http:
        # The org's webhook is outside the pod key's scope, by every route; the pod's own is visible.
        hidden = urls(org_hook_id, org_delivery.delivery_id)
        for url in [*hidden, *in_pod(hidden)]:
            error(pod_http.get(url), 404, "not_found")
        visible = urls(pod_hook_id, pod_delivery.delivery_id)
        for url in [*visible, *in_pod(visible)]:
            assert pod_http.get(url).status_code == 200, url
        # Another webhook's delivery id under a visible webhook: not found either.
        error(pod_http.get(f"/v0/webhooks/{pod_hook_id}/deliveries/{org_delivery.delivery_id}/attempts"), 404)
    with make_http(console_server, inbox_key["api_key"]) as inbox_http:
        for url in [*urls(org_hook_id, org_delivery.delivery_id), *urls(pod_hook_id, pod_delivery.delivery_id)]:
            error(inbox_http.get(url), 404, "not_found")
    with make_http(console_server, stranger) as other_org:
        for url in [*urls(org_hook_id, org_delivery.delivery_id), *urls(pod_hook_id, pod_delivery.delivery_id)]:
            error(other_org.get(url), 404, "not_found")
    # The org key sees both; an inbox route sees only webhooks owned by that inbox.
    for url in [*urls(org_hook_id, org_delivery.delivery_id), *urls(pod_hook_id, pod_delivery.delivery_id)]:
        assert root.get(url).status_code == 200
    error(root.get(f"/v0/inboxes/{pod_inbox}/webhooks/{pod_hook_id}/deliveries"), 404)
    inbox_hook = root.post(f"/v0/inboxes/{pod_inbox}/webhooks", json=event).raise_for_status().json()["webhook_id"]
    assert root.get(f"/v0/inboxes/{pod_inbox}/webhooks/{inbox_hook}/deliveries").status_code == 200
    with make_http(console_server, api_key="") as anon:
        error(anon.get(f"/v0/webhooks/{org_hook_id}/deliveries"), 401)


def test_delivery_log_needs_webhook_read(console_server: Server, root: httpx.Client, receiver: Receiver):
    hook = root.post("/v0/webhooks", json={"url": receiver.url(f"/{_tag()}/perm"), "event_types": ["message.received"]}
                     ).raise_for_status().json()["webhook_id"]
    no_read = root.post("/v0/api-keys", json={"name": "no-read", "permissions": {"message_read": True}}
                        ).raise_for_status().json()["api_key"]
    reader = root.post("/v0/api-keys", json={"name": "reader", "permissions": {"webhook_read": True}}
                       ).raise_for_status().json()["api_key"]
    with make_http(console_server, no_read) as client:
        error(client.get(f"/v0/webhooks/{hook}/deliveries"), 403, "missing_permission")
        error(client.get(f"/v0/webhooks/{hook}/deliveries/1/attempts"), 403, "missing_permission")
    with make_http(console_server, reader) as client:
        assert ok(ListWebhookDeliveriesResponse, client.get(f"/v0/webhooks/{hook}/deliveries")).count >= 0


def test_delivery_log_is_documented(root: httpx.Client):
    paths = root.get("/openapi.json").json()["paths"]
    for prefix in ("/v0", "/v0/pods/{pod_id}", "/v0/inboxes/{inbox_id}"):
        assert set(paths[f"{prefix}/webhooks/{{webhook_id}}/deliveries"]) == {"get"}
        assert set(paths[f"{prefix}/webhooks/{{webhook_id}}/deliveries/{{delivery_id}}/attempts"]) == {"get"}


# --- screenshots --------------------------------------------------------------------------------


@dataclass
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        start = x * self.channels
        return tuple(self.rows[y][start:start + 3])

    def region(self, x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, ...]]:
        return [self.pixel(x, y) for y in range(y0, y1) for x in range(x0, x1)]


def _add_bytes(a: bytes, b: bytes) -> bytes:
    """Byte-wise (a + b) mod 256 of two equal-length strings, without a Python loop per byte."""
    n = len(a)
    low, high = int.from_bytes(b"\x7f" * n, "big"), int.from_bytes(b"\x80" * n, "big")
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return (((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(n, "big")


def read_png(path: Path) -> Image:
    """A non-interlaced 8-bit RGB or RGBA PNG, which is what Chromium writes (no imaging library needed).

    Chromium filters nearly every row with Up, which is undone in one big-integer addition; the few
    Sub/Average/Paeth rows go byte by byte.
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    previous = bytes(stride)
    for y in range(height):
        kind, filtered = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        if kind == 0:
            line = filtered
        elif kind == 2:
            line = _add_bytes(filtered, previous)
        else:
            out = bytearray(filtered)
            for i in range(stride):
                left = out[i - channels] if i >= channels else 0
                up, corner = previous[i], previous[i - channels] if i >= channels else 0
                if kind == 1:
                    predicted = left
                elif kind == 3:
                    predicted = (left + up) // 2
                else:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    predicted = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                out[i] = (out[i] + predicted) & 0xFF
            line = bytes(out)
        rows.append(line)
        previous = line
    return Image(width, height, channels, rows)


BRAND = (0x1F, 0x3A, 0x5F)  # the top bar (--brand in style.css)


def check_screenshot(path: Path, *, signed_in: bool = True) -> Image:
    """A real rendering: the viewport's size, many colours and real contrast, the top bar where it belongs."""
    assert path.stat().st_size > 10_000, f"{path.name} is suspiciously small"
    image = read_png(path)
    assert (image.width, image.height) == (1280, 860), path.name
    sample = [image.pixel(x, y) for y in range(0, image.height, 7) for x in range(0, image.width, 7)]
    luma = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in sample]
    mean = sum(luma) / len(luma)
    variance = sum((v - mean) ** 2 for v in luma) / len(luma)
    assert variance > 100, f"{path.name} looks blank (luma variance {variance:.1f})"
    assert len(set(sample)) > 20, f"{path.name} has too few colours"
    # The header bar: solid brand colour at its left end; the page below it is light.
    assert set(image.region(2, 2, 12, 12)) == {BRAND}, f"{path.name}: no top bar"
    assert sum(image.pixel(640, 845)) > 600, f"{path.name}: page background is not light"
    if signed_in:
        # The nav and identity are drawn in light text on the bar: it is not a flat strip there.
        assert len(set(image.region(300, 10, 700, 42))) > 5, f"{path.name}: no navigation in the top bar"
    return image


# --- end to end in Chromium -------------------------------------------------------------------


def _node() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node is not installed")
    if not (NODE_DIR / "node_modules" / "playwright-core" / "package.json").exists():
        missing.append("playwright-core is not installed (run scripts/bootstrap)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} is missing (apt-get install chromium; scripts/test does it)")
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the console test must run under CI: {'; '.join(missing)}")
        pytest.skip("; ".join(missing))
    assert node is not None
    return node


class Browser(NodeLines):
    """The Node driver, read line by line."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__([_node(), str(SCRIPT), json.dumps(config)], NODE_DIR)

    def until(self, kind: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(item)
            if item["kind"] == "error":
                raise AssertionError(f"browser step failed: {item['message']}\nseen: {self.steps()}")
            if item["kind"] == kind:
                return item
        self.stop()
        stderr = self.process.stderr.read() if self.process.stderr else ""
        raise AssertionError(f"no {kind!r} from the browser; seen: {self.seen}\nstderr: {stderr}")

    def steps(self) -> dict[str, dict[str, Any]]:
        return {item["name"]: item for item in self.seen if item["kind"] == "step"}


class Tracker:
    """Where the mail's remote image points: it must never be asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tracker.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_console_end_to_end_in_chromium(console_server: Server, root: httpx.Client, receiver: Receiver,
                                        tmp_path: Path):
    _node()
    tag = _tag()
    tracker = Tracker()
    try:
        pod = root.post("/v0/pods", json={"name": f"Console pod {tag}"}).raise_for_status().json()["pod_id"]
        inbox = _inbox(root, f"console-{tag}", pod)
        hook_path = f"/{tag}/console"
        receiver.script(hook_path, [], then=500)
        hook_url = receiver.url(hook_path)
        root.post(f"/v0/pods/{pod}/webhooks", json={"url": hook_url, "event_types": ["message.received"]}
                  ).raise_for_status()
        subject = f"Quarterly report {tag}"
        attachment = os.urandom(3000) + b"attachment-" + tag.encode()
        html = f"""<html><head><title>mail-title</title><style>.brand {{ color: rgb(12, 34, 56) }}</style></head>
<body><h1 class="brand" id="styled">Quarterly report</h1>
<p id="inline" style="color: rgb(200, 0, 0)">Figures are attached.</p>
<img id="remote" src="{tracker.base_url}/pixel.png?{tag}" alt="tracking pixel" width="40" height="40">
<div style="background-image: url({tracker.base_url}/background.png)">Styled block</div>
<script>document.title = 'pwned'; document.body.setAttribute('data-pwned', '1');
try {{ parent.pwned = 1; parent.document.title = 'pwned'; }} catch (e) {{}}
fetch('{tracker.base_url}/script-fetch');</script>
<a href="https://example.com/">A link</a></body></html>"""
        _mail(console_server, inbox, subject, text="Figures are attached (plain text part).", html=html,
              attachments=[("figures.bin", "application/octet-stream", attachment)])
        wait_messages(root, inbox, 1)
        # A webhook whose receiver always fails: a delivery with every attempt recorded.
        hooks = root.get(f"/v0/pods/{pod}/webhooks").json()["webhooks"]
        _settled(root, f"/v0/webhooks/{hooks[0]['webhook_id']}/deliveries", 1)

        shots = tmp_path / "screenshots"
        shots.mkdir()
        live_subject = f"Live event {tag}"
        browser = Browser({
            "baseUrl": console_server.base_url, "apiKey": console_server.api_key, "podId": pod, "inboxId": inbox,
            "threadSubject": subject, "attachmentName": "figures.bin", "newInbox": f"made-in-console-{tag}",
            "newKey": f"console key {tag}", "webhookUrl": hook_url, "liveSubject": live_subject,
            "shots": str(shots), "profileRoot": str(tmp_path), "chromium": CHROMIUM,
        })
        try:
            browser.until("ready", timeout=40)
            _mail(console_server, inbox, live_subject)
            done = browser.until("done", timeout=30)
        finally:
            browser.stop()
        steps, report = browser.steps(), done["report"]
    finally:
        tracker.close()

    # Sign-in: a bad key is refused; the good one is kept in session storage and identifies the org.
    assert steps["signin-form"]["status"] == 200 and steps["signin-form"]["url"].endswith("/console/")
    assert steps["signin-form"]["csp"] == CONTENT_SECURITY_POLICY
    assert "not accepted" in steps["signed-in"]["refused"]
    me = root.get("/v0/auth/me").json()
    assert steps["signed-in"]["keyStored"] and me["organization_id"] in steps["signed-in"]["identity"]
    assert steps["signed-in"]["hash"] == "#/pods"
    assert f"Console pod {tag}" in steps["pod"]["heading"] and inbox in steps["inbox"]["heading"]

    # The HTML body: rendered (styles apply) in a sandboxed srcdoc frame; its script never ran, nothing
    # remote was loaded, and the console page is untouched.
    message = steps["message"]
    frame, page = message["frame"], message["page"]
    assert frame["styledColor"] == "rgb(12, 34, 56)" and frame["inlineColor"] == "rgb(200, 0, 0)"
    assert "Figures are attached." in frame["text"]
    assert frame["title"] == "mail-title" and frame["pwned"] is None and frame["scriptPresent"] == 1
    assert frame["imgLoaded"] is False
    assert page["title"] == "agentmail-server console" and page["pwned"] is None
    assert "allow-scripts" not in page["sandbox"] and "allow-same-origin" not in page["sandbox"]
    assert page["hasSrc"] is False and "Content-Security-Policy" in page["srcdoc"]
    assert tracker.hits == [], tracker.hits
    assert report["foreignResponses"] == []
    # Chromium says why: the sandbox stopped the script, and the remote image broke both the policy the
    # frame inherits from the console page and the frame's own.
    errors = [m["text"] for m in report["console"] if m["type"] == "error"]
    assert "Blocked script execution in 'about:srcdoc' because the document's frame is sandboxed and the " \
           "'allow-scripts' permission is not set." in errors
    pixel = f"Loading the image '{tracker.base_url}/pixel.png?{tag}' violates the following Content Security Policy"
    assert f'{pixel} directive: "img-src \'self\' data:". The action has been blocked.' in errors, errors
    assert f'{pixel} directive: "img-src data:". The action has been blocked.' in errors, errors
    # Nothing else went wrong in the page (the one 401 is the refused key at sign-in).
    expected = ("Blocked script execution in 'about:srcdoc'", f"Loading the image '{tracker.base_url}/",
                "Failed to load resource: the server responded with a status of 401")
    assert [e for e in errors if not e.startswith(expected)] == [], errors
    assert report["pageErrors"] == []
    assert "Figures are attached (plain text part)." in steps["text-view"]["text"]

    download = steps["download"]
    assert download["filename"] == "figures.bin" and download["size"] == len(attachment)
    assert download["sha256"] == sha256(attachment).hexdigest()
    assert download["sameOrigin"] and not download["keyInUrl"]

    # Created through the console, visible through the API; the new key works and was shown once.
    created_inbox = steps["inbox-created"]["email"]
    assert created_inbox.startswith(f"made-in-console-{tag}@")
    assert root.get(f"/v0/pods/{pod}/inboxes/{created_inbox}").status_code == 200
    secret = steps["key-created"]["secret"]
    assert "not shown again" in steps["key-created"]["notice"]
    with make_http(console_server, secret) as new_key:
        assert new_key.get("/v0/auth/me").json()["organization_id"] == me["organization_id"]
    keys = root.get("/v0/api-keys", params={"limit": 100}).json()["api_keys"]
    assert any(k["name"] == f"console key {tag}" and secret.startswith(k["prefix"]) for k in keys)

    # Deliveries and attempts, as the API has them.
    deliveries = steps["deliveries"]
    assert len(deliveries["deliveries"]) == 1 and "message.received" in deliveries["deliveries"][0]
    assert "failed" in deliveries["deliveries"][0] and "HTTP 500" in deliveries["deliveries"][0]
    assert len(deliveries["attempts"]) == 4 and all("HTTP 500" in a for a in deliveries["attempts"])

    # The live event arrived over the WebSocket while watching.
    live = steps["live-event"]
    assert "message.received" in live["row"] and live_subject in live["row"] and inbox in live["row"]
    assert live["status"].startswith("subscribed")
    assert steps["signed-out"]["keyStored"] is None and steps["signed-out"]["navHidden"] is True

    # Screenshots: real renderings of each step, not blank frames.
    names = ["01-signin", "02-message", "03-api-key", "04-deliveries", "05-events"]
    assert sorted(p.stem for p in shots.glob("*.png")) == names
    images = {name: check_screenshot(shots / f"{name}.png", signed_in=name != "01-signin") for name in names}
    # The sign-in page has no navigation in the bar; the others do.
    assert len(set(images["01-signin"].region(300, 10, 700, 42))) == 1
    # Each view looks different from the others.
    digests = {sha256(b"".join(image.rows)).hexdigest() for image in images.values()}
    assert len(digests) == len(names)
