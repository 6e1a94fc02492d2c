"""A local webhook receiver: records every request; each path answers from a scripted list of statuses."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from svix.webhooks import Webhook as SvixWebhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def verify(self, secret: str) -> None:
        """Raises unless the Svix signature is valid for `secret` (what AgentMail receivers run)."""
        SvixWebhook(secret).verify(self.body, self.headers)


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._scripts: dict[str, list[int]] = defaultdict(list)
        self._default: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender died mid-request (chaos tests kill it): nothing was delivered
                status = receiver._record(Received(
                    path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body,
                    at=time.monotonic(),
                ))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/redirected")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def script(self, path: str, statuses: list[int], *, then: int = 200) -> None:
        """Answer `path`'s next requests with `statuses` in turn, then `then` for good."""
        with self._lock:
            self._scripts[path] = list(statuses)
            self._default[path] = then

    def _record(self, request: Received) -> int:
        with self._lock:
            self._requests.append(request)
            script = self._scripts[request.path]
            return script.pop(0) if script else self._default.get(request.path, 200)

    def requests(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if r.path == path]

    def wait(self, path: str, count: int, *, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{path}: expected {count} requests, got {len(self.requests(path))}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
