"""Routes: websocket (issue 6) — the event channel at `GET /v0` (REFERENCE §2.14.2 to §2.14.4).

Handshake: the key comes from `Authorization: Bearer`, `?api_key=` or `?auth_token=`. A bad or
missing key fails the handshake with 401 and an AgentMail error body (the Python SDK turns 401 into
"Websocket initialized with invalid credentials."); an organization at its connection cap gets 403
`limit_exceeded`.

Frames in: `subscribe` / `unsubscribe` (anything else: `{"message":"Forbidden"}`, as production).
Frames out: `subscribed` / `unsubscribed` / `error`, and the stored event payloads.

Beyond the hosted service: `?since=<event_id>` replays, after the first successful subscribe, the
events after that one which the subscriptions match, in order, then continues live with no gap and
no duplicate at the hand-over. On PostgreSQL, events committed out of id order just below that one
are sent first (the client may not have seen them); some may repeat, so clients deduplicate on
event_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..events.catalogue import DEFAULT_EVENT_TYPES, EVENT_TYPES, required_permissions
from ..events.frames import dumps
from ..events.hub import CLOSE_GOING_AWAY, Connection, Hub
from ..services import api_keys
from ..services.errors import Forbidden, Invalid, NotFound, ServiceError, Unauthorized
from ..services.scoping import find_inbox, find_pod
from .deps import WireRoute, bearer_token
from .errors import error_body, error_response, validation_body

router = APIRouter(route_class=WireRoute, tags=["websocket"])
log = logging.getLogger("agentmail_server.api.websocket")

FORBIDDEN_FRAME = dumps({"message": "Forbidden"})
CLOSE_GRACE_SECONDS = 5.0  # for the close frame, when the server ends a connection
DENIED_LOG = "ASGI callable returned without completing handshake."


def _not_a_denial(record: logging.LogRecord) -> bool:
    # uvicorn logs an ERROR after every denial response (a refused key is not a server error).
    return record.msg != DENIED_LOG


logging.getLogger("uvicorn.error").addFilter(_not_a_denial)


def _credential(ws: WebSocket) -> str:
    header = ws.headers.get("authorization")
    query = ws.query_params.get("api_key") or ws.query_params.get("auth_token")
    if header:
        try:
            return bearer_token(header)
        except Unauthorized:
            if not query:
                raise
    if query:
        return query.strip()
    return bearer_token(None)


async def _deny(ws: WebSocket, exc: ServiceError) -> None:
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error_response(exc))
    else:  # servers without the denial extension answer 403 to a close before accept
        await ws.close(code=1008)


@router.websocket("/v0")
async def event_channel(ws: WebSocket) -> None:
    hub: Hub | None = ws.app.state.hub
    if hub is None:  # not an api-role process
        await _deny(ws, NotFound("Route not found"))
        return
    try:
        principal = await api_keys.authenticate(ws.app.state.db, _credential(ws))
        since = (ws.query_params.get("since") or "").strip()
        since_row = None
        if since:
            # A NUL cannot be in an event id (and PostgreSQL refuses it in a query): simply not found.
            since_row = await hub.find_row_id(principal, since) if "\x00" not in since else None
            if since_row is None:
                raise NotFound(f"Event {since} not found (unknown, outside this key's scope, or purged)",
                               fix="Reconnect without since and resynchronise through the REST API")
        conn = hub.connect(principal)
    except ServiceError as exc:
        await _deny(ws, exc)
        return
    try:
        await ws.accept()
        session = _Session(ws, hub, conn, since_row)
        await session.run()
    finally:
        hub.disconnect(conn)


class _Session:
    def __init__(self, ws: WebSocket, hub: Hub, conn: Connection, since_row: int | None) -> None:
        self.ws = ws
        self.hub = hub
        self.conn = conn
        self.since_row = since_row
        self.replay: asyncio.Task[None] | None = None
        self.subscribed_once = False

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        closing = False
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    raw = message.get("bytes") or b""
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        text = ""
                await self._handle(text)
                if self.conn.closed:
                    # Closed by the server (too many unread replies, a revoked key…): stop reading; the
                    # sender has the close frame to send.
                    closing = True
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.conn.close()
            if closing:
                await asyncio.wait({sender}, timeout=CLOSE_GRACE_SECONDS)
            for task in (self.replay, sender):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _send_loop(self) -> None:
        conn = self.conn
        ttl = self.hub.settings.ws_max_connection_seconds
        # One timer for the connection's lifetime, not a timeout around every queue read: that was a
        # Task and a timer per frame per connection, and most of the fan-out's Python overhead.
        expiry = (asyncio.get_running_loop().call_later(
            ttl, conn.close, CLOSE_GOING_AWAY, "Connection lifetime reached; reconnect") if ttl else None)
        try:
            while True:
                frame = await conn.queue.get()
                conn.taken()
                if frame is None or conn.closed:
                    break
                await self.ws.send_text(frame)
            if self.ws.application_state == WebSocketState.CONNECTED:
                await self.ws.close(code=conn.close_code, reason=conn.close_reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            conn.close()
        finally:
            if expiry is not None:
                expiry.cancel()  # else the loop would keep the connection alive until the timer fires

    # --- client frames ---

    async def _handle(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            self._error(Invalid("Frames must be JSON objects", path=[]))
            return
        kind = frame.get("type")
        try:
            if kind == "subscribe":
                await self._subscribe(frame)
            elif kind == "unsubscribe":
                self._unsubscribe(frame)
            else:
                self.conn.send(FORBIDDEN_FRAME)
        except ServiceError as exc:
            self._error(exc)
        except Exception:
            # One frame failing (a database error…) answers an error frame; the connection stays up.
            log.exception("websocket frame %r failed", kind)
            self.conn.send(dumps({"type": "error", **error_body(
                "InternalServerError", "internal_error", "Internal server error")}))

    def _error(self, exc: ServiceError) -> None:
        if isinstance(exc, Invalid):
            body = validation_body(exc.errors, exc.message)
        else:
            body = error_body(exc.name, exc.code, exc.message, fix=exc.fix, **exc.extra)
        self.conn.send(dumps({"type": "error", **body}))

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        conn = self.conn
        principal = conn.principal
        types = _event_types(frame)
        pod_ids = _ids(frame, "pod_ids")
        inbox_ids = _ids(frame, "inbox_ids")
        if pod_ids and principal.scope.inbox_id is not None:
            raise Forbidden("An inbox-scoped API key cannot subscribe to pods")
        if types is None:
            types = [t for t in DEFAULT_EVENT_TYPES if all(principal.can(p) for p in required_permissions(t))]
        else:
            for kind in types:
                missing = [p for p in required_permissions(kind) if not principal.can(p)]
                if missing:
                    raise Forbidden(f"API key lacks the {missing[-1]} permission needed for {kind} events")
        # Checked before looking the ids up, so that a huge frame costs no queries (and after, exactly).
        self._check_limit(_unique([p.strip() for p in pod_ids]), _unique([i.strip().lower() for i in inbox_ids]))
        async with self.hub.db.read() as session:
            pod_ids = _unique([(await find_pod(session, principal, p.strip())).id for p in pod_ids])
            inbox_ids = _unique([(await find_inbox(session, principal, i)).id for i in inbox_ids])
        self._check_limit(pod_ids, inbox_ids)
        conn.subs.add(types, pod_ids=pod_ids, inbox_ids=inbox_ids)
        conn.send(dumps(_echo("subscribed", principal.organization_id, types, pod_ids, inbox_ids, frame)))
        if self.since_row is not None and not self.subscribed_once:
            # Held from this instant (no await since the subscriptions changed): nothing slips between.
            self.replay = asyncio.create_task(self._replay(self.since_row))
            self.hub.hold(conn)
        self.subscribed_once = True

    def _check_limit(self, pod_ids: list[str], inbox_ids: list[str]) -> None:
        limit = self.hub.settings.ws_max_subscriptions
        subs = self.conn.subs
        if subs.count() + subs.new_targets(pod_ids=pod_ids, inbox_ids=inbox_ids) > limit:
            raise Forbidden(f"A connection may hold at most {limit} subscriptions", code="limit_exceeded",
                            name="LimitExceededError", limit=limit)

    async def _replay(self, after: int) -> None:
        try:
            await self.hub.replay(self.conn, after)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("since replay failed")
            self.conn.close(1011, "Replay failed")

    def _unsubscribe(self, frame: dict[str, Any]) -> None:
        types = _event_types(frame)
        pod_ids = _unique([p.strip() for p in _ids(frame, "pod_ids")])
        inbox_ids = _unique([i.strip().lower() for i in _ids(frame, "inbox_ids")])
        self.conn.subs.remove(types, pod_ids=pod_ids, inbox_ids=inbox_ids)
        self.conn.send(dumps(_echo("unsubscribed", self.conn.organization_id, types, pod_ids, inbox_ids, frame)))


def _echo(kind: str, organization_id: str, types: list[str] | None, pod_ids: list[str], inbox_ids: list[str],
          frame: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind}
    if "inbox_ids" in frame or inbox_ids:
        body["inbox_ids"] = inbox_ids
    if "pod_ids" in frame or pod_ids:
        body["pod_ids"] = pod_ids
    if types is not None:
        body["event_types"] = types
    body["organization_id"] = organization_id
    return body


def _strings(frame: dict[str, Any], key: str) -> list[str] | None:
    value = frame.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{key} must be an array of strings", path=[key])
    for i, item in enumerate(value):
        if "\x00" in item:
            raise Invalid(f"{key} must not contain NUL characters", path=[key, i])
    return value


def _ids(frame: dict[str, Any], key: str) -> list[str]:
    return [v for v in _strings(frame, key) or [] if v.strip()]


def _event_types(frame: dict[str, Any]) -> list[str] | None:
    values = _strings(frame, "event_types")
    if not values:  # absent or empty: the default set
        return None
    for i, value in enumerate(values):
        if value not in EVENT_TYPES:
            raise Invalid(f"Unknown event type: {value}", path=["event_types", i])
    chosen = set(values)
    return [t for t in EVENT_TYPES if t in chosen]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))

