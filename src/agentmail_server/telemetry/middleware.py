"""Per-request bookkeeping: a request id (taken from X-Request-Id or made), latency metrics, access log."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import REQUEST_ID
from .metrics import HTTP_LATENCY

access = logging.getLogger("agentmail_server.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestTelemetry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        # A caller's id is kept when it is harmless to log; anything else is replaced.
        request_id = given if _VALID_ID.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # Route templates, not raw paths: label values must stay few.
            template = getattr(route, "path", None) or "unmatched"
            HTTP_LATENCY.labels(method=scope["method"], route=template, status=str(status)).observe(elapsed)
            access.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed * 1000,
                        extra={"method": scope["method"], "path": scope["path"], "status": status,
                               "duration_ms": round(elapsed * 1000, 1)})
            REQUEST_ID.reset(token)
