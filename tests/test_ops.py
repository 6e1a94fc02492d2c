"""Operations: Prometheus metrics, request ids in JSON logs, liveness and readiness."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from .conftest import database_url, make_http
from .mail_helpers import build, crlf, send_raw, wait_for, wait_messages
from .server import Server

TOKEN = "metrics-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def ops_server(request, server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"ops-{server.backend}")
    srv = Server(backend=server.backend, database_url=database_url(server.backend, tmp, request), workdir=tmp,
                 extra_env={"AGENTMAIL_LOG_FORMAT": "json", "AGENTMAIL_LOG_LEVEL": "info",
                            "AGENTMAIL_METRICS_TOKEN": TOKEN}).start()
    try:
        yield srv
    finally:
        srv.stop()


def _metrics(srv: Server) -> str:
    response = httpx.get(f"{srv.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


def _value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{wanted}}} not exposed")


def test_metrics_count_requests_mail_and_queues(ops_server):
    srv = ops_server
    assert httpx.get(f"{srv.base_url}/metrics", timeout=10).status_code == 401
    with make_http(srv) as http:
        inbox = http.post("/v0/inboxes", json={"username": f"ops-{uuid.uuid4().hex[:8]}"}).json()["inbox_id"]
        assert http.get("/v0/inboxes/nobody@agentmail.localhost").status_code == 404
        send_raw(srv, crlf(build(to=inbox, subject="count me", text="x\n").as_bytes()), [inbox])
        wait_messages(http, inbox, 1)
    text = _metrics(srv)
    # Route templates, never raw ids, label the latency histogram.
    assert _value(text, "agentmail_http_request_duration_seconds_count", method="GET",
                  route="/v0/inboxes/{inbox_id}", status="404") >= 1
    assert "nobody@" not in text
    assert _value(text, "agentmail_smtp_messages_total", outcome="accepted") >= 1
    assert _value(text, "agentmail_smtp_sessions_total") >= 1
    assert _value(text, "agentmail_webhook_deliveries_pending") >= 0
    assert _value(text, "agentmail_oldest_undelivered_event_age_seconds") >= 0


def test_request_ids_are_echoed_and_logged_as_json(ops_server):
    srv = ops_server
    given = "req-" + uuid.uuid4().hex
    with make_http(srv) as http:
        echoed = http.get("/v0/inboxes", headers={"X-Request-Id": given})
        made = http.get("/v0/inboxes")
        unsafe = http.get("/v0/inboxes", headers={"X-Request-Id": "bad id\twith spaces"})
    assert echoed.headers["x-request-id"] == given
    assert len(made.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"

    def logged() -> dict | None:
        for line in srv.log().splitlines():
            if line.startswith("{") and given in line:
                return json.loads(line)
        return None

    entry = wait_for(logged, what="the access log line with the request id")
    assert entry["request_id"] == given and entry["path"] == "/v0/inboxes" and entry["status"] == 200
    assert entry["level"] == "info" and entry["ts"].endswith("Z") and "duration_ms" in entry


def test_health_and_readiness(ops_server):
    srv = ops_server
    health = httpx.get(f"{srv.base_url}/health", timeout=10)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    ready = httpx.get(f"{srv.base_url}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": "ok", "smtp": "ok",
                                                         "worker": "ok"}
