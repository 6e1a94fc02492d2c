"""Webhooks and polling webhooks (REFERENCE §2.12, §2.13): the rules behind the routes.

Both kinds of subscription are owned by one level, recorded like list entries in `scope_key`:
the organization (``"org"``), a pod (``"pod#<id>"``) or an inbox (``"inbox#<id>"``). A route works at
the level the one scoping helper resolves (an org key on /v0/webhooks: the organization; a pod key
there: its pod; pod and inbox routes: that pod or inbox). `client_id` is unique per level.

* Webhooks are visible wherever their owner lies inside the route's scope (an org key sees its pods'
  webhooks too); anything else answers 404 (REFERENCE §1.14).
* Polling webhooks follow §2.13 more narrowly: a route sees only the subscriptions created through
  that same level, by `webhook_id` or by `client_id`.

The delivery log (our own extension, read by the web console) lists a webhook's deliveries and each
one's attempts; it is reached only through the webhook, so it has the webhook's scope walls.

What a subscription receives (events/webhooks.py `matches`): its event types (the restricted received
variants only when listed, which needs the label permission), inside its owner scope, and — when it has
pod/inbox filters — only events of a listed pod or inbox.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..db.engine import Database
from ..db.pagination import Page, check_limit, paginate
from ..db.tables import Event, PollingWebhook, PollingWebhookEvent, Webhook, WebhookAttempt, WebhookDelivery
from ..db.types import utcnow
from ..events.catalogue import EVENT_TYPES, required_permissions
from ..events.signing import new_secret
from .errors import Forbidden, Invalid, NotFound, Unauthorized
from .fetch import is_public_address
from .lists import scope_key
from .pods import check_client_id
from .principal import Principal, Scope
from .scoping import find_inbox, find_pod, resolve_scope

MAX_CHANNELS = 10  # pods + inboxes one subscription may filter on
MAX_POLLING_PER_LEVEL = 10
MAX_URL_LENGTH = 2048
MAX_HEADERS = 20
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 4096
POLLING_TOKEN_PREFIX = "am_poll_"
POLLING_EVENTS_PATH = "/v0/webhooks/polling/events"
DEFAULT_POLL_LIMIT = 50
MAX_POLL_LIMIT = 250

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
# Set by the dispatcher on every delivery (or by HTTP itself); a custom header may not replace them.
RESERVED_HEADERS = frozenset({
    "content-type", "content-length", "content-encoding", "host", "connection", "keep-alive", "transfer-encoding",
    "te", "trailer", "upgrade", "expect", "proxy-authorization", "proxy-connection",
    "svix-id", "svix-timestamp", "svix-signature", "webhook-id", "webhook-timestamp", "webhook-signature",
})


def _limit_exceeded(message: str) -> Forbidden:
    return Forbidden(message, code="limit_exceeded", name="LimitExceededError")


# --- validation -----------------------------------------------------------------------------


def check_url(url: str, *, allow_http: bool, allow_private: bool) -> str:
    """An absolute https:// URL (http:// when the operator allows it); 400 otherwise.

    Names are resolved and checked when each delivery is made; here only what needs no lookup is
    refused: literal private addresses and localhost, unless private targets are allowed.
    """
    value = url.strip()
    if not value or len(value) > MAX_URL_LENGTH or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise Invalid(f"url must be an absolute URL of at most {MAX_URL_LENGTH} characters without spaces",
                      path=["url"])
    # Both parsers must accept it: ours here, httpx's where each delivery is made (an unclosed IPv6
    # bracket or a host that changes under NFKC normalisation makes either raise).
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL):
        raise Invalid("url is not a valid URL (check the host and the port)", path=["url"]) from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_http):
        wanted = "http or https" if allow_http else "https"
        raise Invalid(f"url must use {wanted}", path=["url"])
    if not host:
        raise Invalid("url must name a host", path=["url"])
    if not allow_private:
        if host == "localhost" or host.endswith(".localhost"):
            raise Invalid("url must not point at this machine", path=["url"])
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and not is_public_address(address):
            raise Invalid("url must not point at a private address", path=["url"])
    return value


def check_event_types(principal: Principal, values: Sequence[str] | None) -> list[str]:
    """Known, de-duplicated event types the key may receive (403 names the missing permission)."""
    if not values:
        raise Invalid("event_types must list at least one event type", path=["event_types"])
    types: list[str] = []
    for i, value in enumerate(values):
        if value not in EVENT_TYPES:
            raise Invalid(f"Unknown event type {value!r}", path=["event_types", i])
        if value not in types:
            types.append(value)
    check_event_permissions(principal, types)
    return types


def check_event_permissions(principal: Principal, types: Sequence[str]) -> None:
    for event_type in types:
        for flag in required_permissions(event_type):
            if not principal.can(flag):
                raise Forbidden(f"{flag} is forbidden", code="missing_permission")


def _check_replay(principal: Principal, existing: Webhook | PollingWebhook) -> None:
    """A repeat create answers the existing subscription, with its secret or a fresh token: only to a key
    that could read it (`webhook_read`) and receive every event type it has (403 otherwise)."""
    principal.require("webhook_read")
    check_event_permissions(principal, existing.event_types)


def _check_header_name(name: str, path: list[str | int], *, settable: bool = True) -> str:
    if not name or len(name) > MAX_HEADER_NAME or not _HEADER_NAME.match(name):
        raise Invalid("Header names must be HTTP tokens (letters, digits and !#$%&'*+-.^_`|~)", path=path)
    if settable and name.lower() in RESERVED_HEADERS:
        raise Invalid(f"{name} is set by the server and cannot be configured", path=path)
    return name


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    # The count first: no per-header work for a request that cannot be accepted anyway.
    if len(headers) > MAX_HEADERS:
        raise Invalid(f"A webhook has at most {MAX_HEADERS} custom headers", path=["headers"])
    checked: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        _check_header_name(name, ["headers", name])
        if len(value) > MAX_HEADER_VALUE or not _HEADER_VALUE.match(value):
            raise Invalid("Header values must be printable ASCII without line breaks", path=["headers", name])
        if name.lower() in seen:
            raise Invalid(f"Header {name} is given twice", path=["headers", name])
        seen.add(name.lower())
        checked[name] = value
    return checked


def _merge_headers(current: dict[str, str], set_: dict[str, str], remove: Sequence[str]) -> dict[str, str]:
    dropped = {name.lower() for name in [*remove, *set_]}
    merged = {k: v for k, v in current.items() if k.lower() not in dropped}
    merged.update(set_)
    if len(merged) > MAX_HEADERS:
        raise Invalid(f"A webhook has at most {MAX_HEADERS} custom headers", path=["headers"])
    return merged


def _dedupe(values: Sequence[str] | None, *, lower: bool = False) -> list[str]:
    """In first-seen order, in linear time (callers check sizes only after de-duplicating)."""
    return list(dict.fromkeys(value.strip().lower() if lower else value for value in values or []))


def _filter_ids(pod_ids: Sequence[str] | None, inbox_ids: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """De-duplicated filter ids, ≤10 in all (403 `limit_exceeded`, REFERENCE §2.12); no lookups."""
    pods, inboxes = _dedupe(pod_ids), _dedupe(inbox_ids, lower=True)
    if len(pods) + len(inboxes) > MAX_CHANNELS:
        raise _limit_exceeded(f"A subscription can watch at most {MAX_CHANNELS} pods and inboxes combined")
    return pods, inboxes


async def _target(session: AsyncSession, principal: Principal, pod_id: str | None, inbox_id: str | None) -> Scope:
    scope = await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
    if scope.inbox_id is not None and scope.pod_id is None:
        scope = await resolve_scope(session, principal, inbox_id=scope.inbox_id)
    return scope


async def _channels(
    session: AsyncSession, principal: Principal, owner: Scope, pod_ids: Sequence[str] | None,
    inbox_ids: Sequence[str] | None,
) -> tuple[list[str], list[str]]:
    """Filter ids as stored: existing pods/inboxes inside the owner's scope (404 otherwise), ≤10 in all."""
    pods, inboxes = _filter_ids(pod_ids, inbox_ids)
    for pod in pods:
        if owner.pod_id is not None and pod != owner.pod_id:
            raise NotFound("Pod not found")
        await find_pod(session, principal, pod)
    for inbox in inboxes:
        row = await find_inbox(session, principal, inbox, pod_id=owner.pod_id)
        if owner.inbox_id is not None and row.id != owner.inbox_id:
            raise NotFound("Inbox not found")
    return pods, inboxes


# --- webhooks -------------------------------------------------------------------------------


def _webhook_id() -> str:
    return "ep_" + secrets.token_hex(14)


async def _find_webhook(session: AsyncSession, scope: Scope, webhook_id: str, *, lock: bool = False) -> Webhook:
    # FOR NO KEY UPDATE: serialises edits without blocking the foreign-key checks of new deliveries.
    row = await session.get(Webhook, webhook_id, with_for_update={"key_share": True} if lock else None)
    if row is None or not scope.contains(organization_id=row.organization_id, pod_id=row.pod_id,
                                         inbox_id=row.inbox_id):
        raise NotFound("Webhook not found")
    return row


async def list_webhooks(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    limit: int | None, page_token: str | None, ascending: bool,
) -> Page[Webhook]:
    principal.require("webhook_read")
    size = check_limit(limit)
    async with db.read() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        return await paginate(
            session, select(Webhook).where(scope.where(Webhook)), endpoint=f"webhooks:{scope_key(scope)}",
            order=[Webhook.created_at, Webhook.id], limit=size, page_token=page_token, ascending=ascending,
        )


async def create_webhook(
    db: Database, principal: Principal, settings: Settings, *, pod_id: str | None = None,
    inbox_id: str | None = None, url: str, event_types: Sequence[str] | None, client_id: str | None,
    headers: dict[str, str] | None, pod_ids: Sequence[str] | None = None, inbox_ids: Sequence[str] | None = None,
) -> Webhook:
    principal.require("webhook_create")
    check_client_id(client_id)
    url = check_url(url, allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private)
    types = check_event_types(principal, event_types)
    if headers is not None and not headers:
        raise Invalid("headers must have at least one entry when given", path=["headers"])
    custom = _merge_headers({}, check_headers(headers or {}), [])
    pods, inboxes = _filter_ids(pod_ids, inbox_ids)  # sizes before the (single-writer on SQLite) transaction
    try:
        async with db.write() as session:
            scope = await _target(session, principal, pod_id, inbox_id)
            key = scope_key(scope)
            await db.serialize(session, f"webhooks:{scope.organization_id}")
            if client_id is not None:
                existing = await _webhook_by_client_id(session, scope.organization_id, key, client_id)
                if existing is not None:
                    _check_replay(principal, existing)
                    return existing
            pods, inboxes = await _channels(session, principal, scope, pods, inboxes)
            count = await session.scalar(
                select(func.count()).select_from(Webhook).where(Webhook.organization_id == scope.organization_id)
            )
            if (count or 0) >= settings.webhook_max_per_organization:
                raise _limit_exceeded(
                    f"An organization can have at most {settings.webhook_max_per_organization} webhooks"
                )
            row = Webhook(
                id=_webhook_id(), organization_id=scope.organization_id, pod_id=scope.pod_id,
                inbox_id=scope.inbox_id, scope_key=key, client_id=client_id, url=url, secret=new_secret(),
                event_types=types, pod_ids=pods, inbox_ids=inboxes, headers=custom, enabled=True,
            )
            session.add(row)
            await session.flush()
            return row
    except IntegrityError:
        # A concurrent create with the same client_id won (PostgreSQL serialises above; kept for safety).
        if client_id is None:
            raise
        async with db.read() as session:
            scope = await _target(session, principal, pod_id, inbox_id)
            existing = await _webhook_by_client_id(session, scope.organization_id, scope_key(scope), client_id)
        if existing is None:
            raise
        _check_replay(principal, existing)
        return existing


async def _webhook_by_client_id(session: AsyncSession, org_id: str, key: str, client_id: str) -> Webhook | None:
    return await session.scalar(select(Webhook).where(
        Webhook.organization_id == org_id, Webhook.scope_key == key, Webhook.client_id == client_id
    ))


async def get_webhook(
    db: Database, principal: Principal, webhook_id: str, *, pod_id: str | None = None, inbox_id: str | None = None
) -> Webhook:
    principal.require("webhook_read")
    async with db.read() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        return await _find_webhook(session, scope, webhook_id)


@dataclass
class WebhookChanges:
    event_types: list[str] | None = None
    enabled: bool | None = None
    add_pod_ids: list[str] | None = None
    remove_pod_ids: list[str] | None = None
    add_inbox_ids: list[str] | None = None
    remove_inbox_ids: list[str] | None = None


async def update_webhook(
    db: Database, principal: Principal, webhook_id: str, changes: WebhookChanges, *, pod_id: str | None = None,
    inbox_id: str | None = None,
) -> Webhook:
    """Replace event_types (a non-empty list; omitted or [] keeps them), toggle enabled, edit filters."""
    principal.require("webhook_update")
    types = check_event_types(principal, changes.event_types) if changes.event_types else None
    async with db.write() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        row = await _find_webhook(session, scope, webhook_id, lock=True)
        await _apply_filters(session, principal, row, changes)
        if types is not None and types != row.event_types:
            row.event_types = types
        if changes.enabled is True and not row.enabled:
            check_event_permissions(principal, row.event_types)
            row.enabled = True
            row.failing_since = None
        elif changes.enabled is False and row.enabled:
            row.enabled = False
            await cancel_pending(session, row.id)
        await session.flush()
        return row


async def _apply_filters(session: AsyncSession, principal: Principal, row: Webhook, changes: WebhookChanges) -> None:
    add_pods, remove_pods = _dedupe(changes.add_pod_ids), _dedupe(changes.remove_pod_ids)
    add_inboxes = _dedupe(changes.add_inbox_ids, lower=True)
    remove_inboxes = _dedupe(changes.remove_inbox_ids, lower=True)
    if not (add_pods or remove_pods or add_inboxes or remove_inboxes):
        return
    if row.inbox_id is not None:
        raise Invalid("An inbox webhook has no pod or inbox filters", path=["add_inbox_ids"])
    if row.pod_id is not None and (add_pods or remove_pods):
        raise Invalid("Pod filters apply only to organization webhooks", path=["add_pod_ids"])
    for field, added, removed in (("pod_ids", add_pods, remove_pods), ("inbox_ids", add_inboxes, remove_inboxes)):
        both = set(added) & set(removed)
        if both:
            raise Invalid(f"{sorted(both)[0]} is both added and removed", path=[f"add_{field}"])
    owner = Scope(organization_id=row.organization_id, pod_id=row.pod_id)
    # Added ids must exist in the owner's scope even when they change nothing.
    await _channels(session, principal, owner, add_pods, add_inboxes)
    if not (row.pod_ids or row.inbox_ids):
        # A webhook watching its whole scope already receives what an added id would add.
        return
    gone_pods, gone_inboxes = set(remove_pods), set(remove_inboxes)
    pods = [p for p in row.pod_ids if p not in gone_pods] + [p for p in add_pods if p not in row.pod_ids]
    inboxes = [i for i in row.inbox_ids if i not in gone_inboxes] + [
        i for i in add_inboxes if i not in row.inbox_ids
    ]
    if not (pods or inboxes):
        raise Invalid("A filtered webhook must keep at least one pod or inbox; delete it instead",
                      path=["remove_inbox_ids" if remove_inboxes else "remove_pod_ids"])
    if len(pods) + len(inboxes) > MAX_CHANNELS:
        raise _limit_exceeded(f"A subscription can watch at most {MAX_CHANNELS} pods and inboxes combined")
    if pods != row.pod_ids:
        row.pod_ids = pods
    if inboxes != row.inbox_ids:
        row.inbox_ids = inboxes


async def cancel_pending(session: AsyncSession, webhook_id: str) -> None:
    """A disabled webhook's queued deliveries are dropped: missed events are not replayed."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending")
        .values(status="cancelled", finished_at=utcnow(), locked_until=None)
    )


async def delete_webhook(
    db: Database, principal: Principal, webhook_id: str, *, pod_id: str | None = None, inbox_id: str | None = None
) -> None:
    """Deliveries (pending ones included) and attempts go with it (foreign-key cascade)."""
    principal.require("webhook_delete")
    async with db.write() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        row = await _find_webhook(session, scope, webhook_id)
        await session.delete(row)


async def header_names(
    db: Database, principal: Principal, webhook_id: str, *, pod_id: str | None = None, inbox_id: str | None = None
) -> list[str]:
    row = await get_webhook(db, principal, webhook_id, pod_id=pod_id, inbox_id=inbox_id)
    return sorted(row.headers, key=str.lower)


async def update_headers(
    db: Database, principal: Principal, webhook_id: str, *, headers: dict[str, str] | None,
    remove_headers: Sequence[str] | None, pod_id: str | None = None, inbox_id: str | None = None,
) -> None:
    principal.require("webhook_update")
    if not headers and not remove_headers:
        raise Invalid("Give headers to set or remove_headers", path=["headers"])
    custom = check_headers(headers or {})
    remove = [_check_header_name(name, ["remove_headers", i], settable=False)
              for i, name in enumerate(remove_headers or [])]
    clash = {n.lower() for n in custom} & {n.lower() for n in remove}
    if clash:
        raise Invalid(f"{sorted(clash)[0]} is both set and removed", path=["remove_headers"])
    async with db.write() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        row = await _find_webhook(session, scope, webhook_id, lock=True)
        merged = _merge_headers(row.headers, custom, remove)
        if merged != row.headers:
            row.headers = merged


# --- delivery log (our own extension: what a web console shows) ----------------------------
# Read-only views of webhook_deliveries and webhook_attempts, scoped exactly like reading the webhook
# itself: a delivery is found only through a webhook the route can see.

MAX_DELIVERY_ID = 2**63 - 1


@dataclass
class DeliveryView:
    """A delivery with the event it carries."""

    row: WebhookDelivery
    event_id: str
    event_type: str


def _delivery_id(value: str) -> int:
    """Delivery ids are decimal strings; anything else (or out of range) is simply not found."""
    if not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > MAX_DELIVERY_ID:
        raise NotFound("Delivery not found")
    return int(value)


async def list_deliveries(
    db: Database, principal: Principal, webhook_id: str, *, pod_id: str | None = None, inbox_id: str | None = None,
    limit: int | None, page_token: str | None, ascending: bool,
) -> Page[DeliveryView]:
    """The webhook's deliveries, newest first unless `ascending`."""
    principal.require("webhook_read")
    size = check_limit(limit)
    async with db.read() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        webhook = await _find_webhook(session, scope, webhook_id)
        page = await paginate(
            session, select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id),
            endpoint=f"webhook-deliveries:{webhook.id}", order=[WebhookDelivery.created_at, WebhookDelivery.id],
            limit=size, page_token=page_token, ascending=ascending,
        )
        events = {
            row.id: row for row in (await session.execute(
                select(Event.id, Event.event_id, Event.event_type)
                .where(Event.id.in_([d.event_row_id for d in page.items]))
            )).all()
        } if page.items else {}
        views = [DeliveryView(d, events[d.event_row_id].event_id, events[d.event_row_id].event_type)
                 for d in page.items if d.event_row_id in events]
        return Page(items=views, limit=page.limit, next_page_token=page.next_page_token)


async def list_attempts(
    db: Database, principal: Principal, webhook_id: str, delivery_id: str, *, pod_id: str | None = None,
    inbox_id: str | None = None, limit: int | None, page_token: str | None, ascending: bool,
) -> Page[WebhookAttempt]:
    """Every HTTP attempt of one delivery, newest first unless `ascending`."""
    principal.require("webhook_read")
    size = check_limit(limit)
    number = _delivery_id(delivery_id)
    async with db.read() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        webhook = await _find_webhook(session, scope, webhook_id)
        delivery = await session.get(WebhookDelivery, number)
        if delivery is None or delivery.webhook_id != webhook.id:
            raise NotFound("Delivery not found")
        return await paginate(
            session, select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id),
            endpoint=f"webhook-attempts:{delivery.id}", order=[WebhookAttempt.id], limit=size,
            page_token=page_token, ascending=ascending,
        )


# --- polling webhooks -----------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def is_polling_token(token: str) -> bool:
    return token.startswith(POLLING_TOKEN_PREFIX)


async def _find_polling(session: AsyncSession, scope: Scope, ident: str) -> PollingWebhook:
    """By webhook_id or client_id, among the subscriptions of exactly this level."""
    rows = (await session.scalars(select(PollingWebhook).where(
        PollingWebhook.organization_id == scope.organization_id, PollingWebhook.scope_key == scope_key(scope),
        (PollingWebhook.id == ident) | (PollingWebhook.client_id == ident),
    ))).all()
    if not rows:
        raise NotFound("Polling webhook not found")
    return next((r for r in rows if r.id == ident), rows[0])


async def list_polling(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    limit: int | None, page_token: str | None, ascending: bool,
) -> Page[PollingWebhook]:
    principal.require("webhook_read")
    size = check_limit(limit)
    async with db.read() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        key = scope_key(scope)
        stmt = select(PollingWebhook).where(
            PollingWebhook.organization_id == scope.organization_id, PollingWebhook.scope_key == key
        )
        return await paginate(
            session, stmt, endpoint=f"polling-webhooks:{key}", order=[PollingWebhook.created_at, PollingWebhook.id],
            limit=size, page_token=page_token, ascending=ascending,
        )


async def create_polling(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    client_id: str, event_types: Sequence[str] | None, pod_ids: Sequence[str] | None = None,
    inbox_ids: Sequence[str] | None = None,
) -> tuple[PollingWebhook, str]:
    """The subscription and a fresh token; a repeat `client_id` re-issues the existing one's token."""
    principal.require("webhook_create")
    if not client_id:
        raise Invalid("client_id is required", path=["client_id"])
    check_client_id(client_id)
    types = check_event_types(principal, event_types)
    pods, inboxes = _filter_ids(pod_ids, inbox_ids)
    token = POLLING_TOKEN_PREFIX + secrets.token_hex(32)
    async with db.write() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        key = scope_key(scope)
        await db.serialize(session, f"polling-webhooks:{scope.organization_id}:{key}")
        existing = await session.scalar(select(PollingWebhook).where(
            PollingWebhook.organization_id == scope.organization_id, PollingWebhook.scope_key == key,
            PollingWebhook.client_id == client_id,
        ))
        if existing is not None:
            # The fresh token replaces (revokes) the holder's: only for a key that may read the subscription.
            _check_replay(principal, existing)
            existing.token_hash = _hash_token(token)
            await session.flush()
            return existing, token
        pods, inboxes = await _channels(session, principal, scope, pods, inboxes)
        count = await session.scalar(select(func.count()).select_from(PollingWebhook).where(
            PollingWebhook.organization_id == scope.organization_id, PollingWebhook.scope_key == key
        ))
        if (count or 0) >= MAX_POLLING_PER_LEVEL:
            raise _limit_exceeded(f"At most {MAX_POLLING_PER_LEVEL} polling webhooks per organization, pod and inbox")
        row = PollingWebhook(
            id="pw_" + secrets.token_hex(14), organization_id=scope.organization_id, pod_id=scope.pod_id,
            inbox_id=scope.inbox_id, scope_key=key, client_id=client_id, event_types=types, pod_ids=pods,
            inbox_ids=inboxes, token_hash=_hash_token(token), last_batch=0,
        )
        session.add(row)
        await session.flush()
        return row, token


async def get_polling(
    db: Database, principal: Principal, ident: str, *, pod_id: str | None = None, inbox_id: str | None = None
) -> PollingWebhook:
    principal.require("webhook_read")
    async with db.read() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        return await _find_polling(session, scope, ident)


async def delete_polling(
    db: Database, principal: Principal, ident: str, *, pod_id: str | None = None, inbox_id: str | None = None
) -> None:
    """Its queued events and its token go with it."""
    principal.require("webhook_delete")
    async with db.write() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        await session.delete(await _find_polling(session, scope, ident))


# Reading a polling webhook. Events wait in polling_webhook_events, written with the event itself, so
# nothing committed late (PostgreSQL commits out of id order) is skipped. A read hands out the oldest
# unread events as a numbered batch; the iterator it returns names that batch, and passing it back
# acknowledges (deletes) every batch up to it. A read that repeats an older iterator, or none, gets
# the unacknowledged batch again: delivery is at least once, in order, deduplicated by event_id.


@dataclass
class PolledEvents:
    payloads: list[dict[str, Any]]
    iterator: str
    done: bool


def _encode_iterator(webhook_id: str, batch: int) -> str:
    raw = json.dumps({"w": webhook_id, "b": batch}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_iterator(iterator: str, webhook_id: str) -> int:
    try:
        payload = json.loads(base64.urlsafe_b64decode(iterator + "=" * (-len(iterator) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        payload = None
    batch = payload.get("b") if isinstance(payload, dict) and payload.get("w") == webhook_id else None
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 0:
        raise Invalid("Invalid iterator; read again without one", path=["iterator"])
    return batch


async def read_events(db: Database, token: str, *, iterator: str | None, limit: int | None) -> PolledEvents:
    size = check_limit(limit, maximum=MAX_POLL_LIMIT) if limit is not None else DEFAULT_POLL_LIMIT
    async with db.write() as session:
        sub = await session.scalar(
            # FOR NO KEY UPDATE: two reads of one subscription still take turns, but the foreign-key checks
            # of transactions queueing new events for it (FOR KEY SHARE) are not blocked by a read.
            select(PollingWebhook).where(PollingWebhook.token_hash == _hash_token(token))
            .with_for_update(key_share=True)
        )
        if sub is None:
            raise Unauthorized("Unknown or revoked polling webhook token", code="unauthorized")
        queue = PollingWebhookEvent.polling_webhook_id == sub.id
        if iterator:
            acked = _decode_iterator(iterator, sub.id)
            if acked > sub.last_batch:
                raise Invalid("Invalid iterator; read again without one", path=["iterator"])
            await session.execute(delete(PollingWebhookEvent).where(
                queue, PollingWebhookEvent.batch.is_not(None), PollingWebhookEvent.batch <= acked
            ))
        ids = list((await session.scalars(
            select(PollingWebhookEvent.id).where(queue, PollingWebhookEvent.batch.is_not(None))
            .order_by(PollingWebhookEvent.id)
        )).all())
        batch = sub.last_batch
        if not ids:
            ids = list((await session.scalars(
                select(PollingWebhookEvent.id).where(queue, PollingWebhookEvent.batch.is_(None))
                .order_by(PollingWebhookEvent.id).limit(size)
            )).all())
            if ids:
                batch = sub.last_batch = sub.last_batch + 1
                await session.execute(
                    update(PollingWebhookEvent).where(PollingWebhookEvent.id.in_(ids)).values(batch=batch)
                )
        payloads = list((await session.scalars(
            select(Event.payload).join(PollingWebhookEvent, PollingWebhookEvent.event_row_id == Event.id)
            .where(PollingWebhookEvent.id.in_(ids)).order_by(PollingWebhookEvent.id)
        )).all()) if ids else []
        more = await session.scalar(
            select(PollingWebhookEvent.id).where(queue, PollingWebhookEvent.batch.is_(None)).limit(1)
        )
        return PolledEvents(payloads=payloads, iterator=_encode_iterator(sub.id, batch), done=more is None)
