"""WebSocket limits and keys changing under open connections (in-memory logic: one backend suffices)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .conftest import make_http
from .server import Server
from .test_websocket import Raw, deliver, new_inbox, new_key


def start(tmp_path: Path, **env: str) -> Server:
    return Server(backend="sqlite", database_url=f"sqlite+aiosqlite:///{tmp_path / 'ws.db'}", workdir=tmp_path,
                  extra_env=env).start()


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Server]:
    srv = start(tmp_path, AGENTMAIL_WS_MAX_SUBSCRIPTIONS="3", AGENTMAIL_WS_MAX_CONNECTIONS_PER_ORG="3",
                AGENTMAIL_WS_KEY_RECHECK_SECONDS="0.3")
    try:
        yield srv
    finally:
        srv.stop()


def closed_code(raw: Raw, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as exc:
        while time.monotonic() < deadline:
            raw.ws.recv(timeout=timeout)
    assert exc.value.rcvd is not None
    return exc.value.rcvd.code


def test_limits_and_key_changes(limited: Server) -> None:
    with make_http(limited) as http:
        a, b, c = new_inbox(http), new_inbox(http), new_inbox(http)
        # Subscriptions per connection: each id counts, the whole scope counts once, repeats are free.
        with Raw(limited) as raw:
            raw.subscribe()
            raw.subscribe(inbox_ids=[a, b])
            raw.subscribe(inbox_ids=[a])
            raw.send({"type": "subscribe", "inbox_ids": [c]})
            frame = raw.error("limit_exceeded")
            assert frame["name"] == "LimitExceededError"
            raw.send({"type": "unsubscribe", "inbox_ids": [b]})
            assert raw.recv()["type"] == "unsubscribed"
            raw.subscribe(inbox_ids=[c])

        # Connections per organization: the handshake fails past the cap, until one leaves.
        open_ = [Raw(limited) for _ in range(3)]
        with pytest.raises(InvalidStatus) as exc:
            ws_client.connect(f"{limited.ws_url}/v0", open_timeout=10,
                              additional_headers={"Authorization": f"Bearer {limited.api_key}"})
        assert exc.value.response.status_code == 403
        assert json.loads(exc.value.response.body)["code"] == "limit_exceeded"
        open_.pop().ws.close()
        time.sleep(0.2)
        open_.append(Raw(limited))
        for raw in open_:
            raw.ws.close()
        time.sleep(0.2)

        # A deleted key is disconnected (policy violation).
        created = http.post("/v0/api-keys", json={"name": "doomed"}).json()
        with Raw(limited, created["api_key"]) as raw:
            raw.subscribe()
            assert http.delete(f"/v0/api-keys/{created['api_key_id']}").status_code in (200, 204)
            assert closed_code(raw) == 1008

        # Permissions withdrawn while connected take effect at the next check.
        key = http.post("/v0/api-keys", json={"name": "shrinking"}).json()
        with Raw(limited, key["api_key"]) as raw, Raw(limited) as watcher:
            raw.subscribe(inbox_ids=[a])
            watcher.subscribe(inbox_ids=[a])
            deliver(limited, http, a)
            raw.event()
            watcher.event()
            patched = http.patch(f"/v0/api-keys/{key['api_key_id']}", json={"permissions": {"inbox_read": True}})
            assert patched.status_code == 200, patched.text
            time.sleep(0.8)
            deliver(limited, http, a)
            watcher.event()
            raw.quiet(0.3)


def test_connections_have_a_lifetime(tmp_path: Path) -> None:
    srv = start(tmp_path, AGENTMAIL_WS_MAX_CONNECTION_SECONDS="1.5")
    try:
        with make_http(srv) as http:
            key = new_key(http)
        began = time.monotonic()
        with Raw(srv, key) as raw:
            raw.subscribe()
            assert closed_code(raw) == 1001
        assert 1.4 < time.monotonic() - began < 8
    finally:
        srv.stop()
