"""Checks that run before routing and body parsing, so they answer first and in AgentMail's shape.

* NUL in the path or query: no id or filter can contain it (and PostgreSQL cannot store it).
* Bodies over the limit: a declared Content-Length is refused before reading; a chunked body is
  cut off once it passes the limit.
* Authentication of /v0 routes: a bad key is a 401 even when the body is also malformed. (A polling
  webhook's token reads its events instead: that one route checks it itself.)
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..services import api_keys, webhooks
from ..services.errors import Invalid, NotFound, ServiceError
from .deps import bearer_token
from .errors import error_body, error_response

UNAUTHENTICATED_PREFIXES = ("/v0/_blobs/",)


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self._check(scope)
        except ServiceError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except _TooLarge:
            body = error_body("PayloadTooLargeError", "payload_too_large",
                              f"Request body exceeds {self.max_body_bytes} bytes")
            await JSONResponse(body, status_code=413)(scope, receive, send)
            return
        await self.app(scope, self._capped(receive), send)

    def _capped(self, receive: Receive) -> Receive:
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # FastAPI re-raises HTTPExceptions from body reading; api/errors.py shapes it.
                    raise HTTPException(413, f"Request body exceeds {self.max_body_bytes} bytes")
            return message

        return capped

    async def _check(self, scope: Scope) -> None:
        path: str = scope["path"]
        if "\x00" in path:
            raise NotFound("Route not found")
        query = scope.get("query_string", b"").decode("latin-1")
        if "%00" in query or "\x00" in query:
            pairs = parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="replace")
            bad = next((k for k, v in pairs if "\x00" in k or "\x00" in v), None)
            if bad is not None:
                raise Invalid("Query parameters must not contain NUL characters", path=[bad.replace("\x00", "")])
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise _TooLarge
        if path.startswith("/v0/") and not path.startswith(UNAUTHENTICATED_PREFIXES):
            header = headers.get(b"authorization")
            token = bearer_token(header.decode("latin-1") if header is not None else None)
            if path == webhooks.POLLING_EVENTS_PATH and webhooks.is_polling_token(token):
                return  # a polling webhook's token, checked by its route (it is not an API key)
            principal = await api_keys.authenticate(scope["app"].state.db, token)
            scope.setdefault("state", {})["principal"] = principal


class _TooLarge(Exception):
    pass
