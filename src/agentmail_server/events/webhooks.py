"""Webhook fan-out and dispatch (issue 6, webhooks part).

Fan-out runs inside the transaction that records an event: one `webhook_deliveries` row per matching
enabled webhook and one `polling_webhook_events` row per matching polling webhook, so a committed
event always has its deliveries and a rolled-back one never does.

The dispatcher runs in every worker process. It claims due deliveries with a lease (PostgreSQL: FOR
UPDATE SKIP LOCKED; SQLite: one UPDATE … RETURNING, writers being serialised), so exactly one process
attempts a delivery at a time, POSTs the signed event, records the attempt, and either finishes the
delivery or stores when the next attempt is due. The schedule lives in the database, so retries
survive restarts; a process that dies mid-attempt leaves the lease to expire and the delivery is
attempted again (same svix-id: receivers deduplicate). An endpoint that keeps failing for
`webhook_disable_after_seconds` is disabled and its queued deliveries are cancelled.

Each attempt resolves the URL's host, refuses non-public addresses (unless private targets are
allowed) and connects to the checked address itself, so a DNS answer cannot change between the check
and the connection. Redirects are not followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import and_, delete, literal, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import __version__
from ..config import Settings
from ..db.engine import Database
from ..db.tables import Event, PollingWebhook, PollingWebhookEvent, Webhook, WebhookAttempt, WebhookDelivery
from ..db.text import storable
from ..db.types import utcnow
from ..services.fetch import AddressRefused, resolve_checked
from ..telemetry import metrics
from ..workers.tasks import cancel
from . import signing
from .bus import BUS
from .frames import wire_body

log = logging.getLogger("agentmail_server.webhooks")

USER_AGENT = f"agentmail-server-webhooks/{__version__}"
RESPONSE_SNIPPET_BYTES = 1024
MAX_ERROR_LENGTH = 1000
PURGE_EVERY_SECONDS = 600.0
_NO_KEY_UPDATE = {"key_share": True}  # row locks that leave foreign-key checks of new rows unblocked


def matches(sub: Any, event: Event) -> bool:
    """Whether a subscription of the event's organization (a webhook or polling webhook row) receives it.

    Its event types must list the event's (so restricted received variants need listing); an inbox
    subscription sees its inbox, a pod subscription its pod; filters, when present, keep events of a
    listed pod or inbox.
    """
    if event.event_type not in sub.event_types:
        return False
    if sub.inbox_id is not None:
        return event.inbox_id == sub.inbox_id
    if sub.pod_id is not None and event.pod_id != sub.pod_id:
        return False
    if sub.pod_ids or sub.inbox_ids:
        return event.pod_id in sub.pod_ids or event.inbox_id in sub.inbox_ids
    return True


async def fan_out(session: AsyncSession, event: Event) -> int:
    """Create, in the event's own transaction, one pending delivery per matching webhook; how many."""
    now = utcnow()
    # Both kinds of subscription in one statement: this runs for every event of every organization.
    def subscriptions(table: Any, kind: str, *where: Any) -> Any:
        return select(literal(kind).label("kind"), table.id, table.event_types, table.inbox_id, table.pod_id,
                      table.pod_ids, table.inbox_ids).where(table.organization_id == event.organization_id, *where)

    rows = (await session.execute(union_all(
        subscriptions(Webhook, "push", Webhook.enabled.is_(True)), subscriptions(PollingWebhook, "poll"),
    ))).all()
    created = 0
    for sub in rows:
        if not matches(sub, event):
            continue
        if sub.kind == "push":
            session.add(WebhookDelivery(
                webhook_id=sub.id, event_row_id=event.id, status="pending", attempts=0, next_attempt_at=now,
                created_at=now,
            ))
            created += 1
        else:
            session.add(PollingWebhookEvent(polling_webhook_id=sub.id, event_row_id=event.id, created_at=now))
    return created


# --- claiming and recording -------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    attempt: int  # the attempt number this claim owns; a later claim of the same row has a higher one


async def claim(db: Database, limit: int, *, lease: timedelta) -> list[Claimed]:
    now = utcnow()
    due = and_(
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    )
    order = (WebhookDelivery.next_attempt_at, WebhookDelivery.id)
    async with db.write() as session:
        if db.dialect == "postgresql":
            rows = (await session.scalars(
                select(WebhookDelivery).where(due).order_by(*order).limit(limit).with_for_update(skip_locked=True)
            )).all()
            for row in rows:
                row.attempts += 1
                row.locked_until = now + lease
            return [Claimed(row.id, row.attempts) for row in rows]
        oldest = select(WebhookDelivery.id).where(due).order_by(*order).limit(limit).scalar_subquery()
        result = await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(oldest))
            .values(attempts=WebhookDelivery.attempts + 1, locked_until=now + lease)
            .returning(WebhookDelivery.id, WebhookDelivery.attempts)
            .execution_options(synchronize_session=False)
        )
        return [Claimed(row.id, row.attempts) for row in result.all()]


@dataclass
class Outcome:
    status_code: int | None
    error: str | None
    response_body: str | None
    started_at: Any
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def record(db: Database, claimed: Claimed, outcome: Outcome, settings: Settings) -> None:
    """Store the attempt and decide what follows: done, a retry at the next step, or give up."""
    metrics.count("webhook_attempts", outcome="success" if outcome.ok else "failure")
    now = utcnow()
    async with db.write() as session:
        # Webhook row first, then the delivery: the order of webhook edits (disable, delete), so they
        # cannot deadlock with this.
        webhook_id = await session.scalar(
            select(WebhookDelivery.webhook_id).where(WebhookDelivery.id == claimed.delivery_id)
        )
        webhook = await session.get(Webhook, webhook_id, with_for_update=_NO_KEY_UPDATE) if webhook_id else None
        delivery = await session.get(WebhookDelivery, claimed.delivery_id, with_for_update=_NO_KEY_UPDATE)
        if webhook is None or delivery is None:
            return  # the webhook was deleted meanwhile
        # The receiver's words, made storable: a NUL (refused by PostgreSQL) would fail this transaction,
        # and the delivery would be attempted again and again.
        error = storable(outcome.error, limit=MAX_ERROR_LENGTH)
        session.add(WebhookAttempt(
            delivery_id=delivery.id, attempted_at=outcome.started_at, status_code=outcome.status_code,
            error=error, duration_ms=outcome.duration_ms,
            response_body=storable(outcome.response_body, limit=RESPONSE_SNIPPET_BYTES),
        ))
        if delivery.status != "pending" or delivery.attempts != claimed.attempt:
            return  # cancelled, or another process took over after our lease ran out
        delivery.last_status_code = outcome.status_code
        delivery.last_error = error
        delivery.locked_until = None
        # Bookkeeping on the webhook leaves its updated_at alone; only a disable is a visible change.
        quiet = {"updated_at": Webhook.updated_at}
        if outcome.ok:
            delivery.status, delivery.finished_at = "succeeded", now
            await session.execute(update(Webhook).where(
                Webhook.id == delivery.webhook_id, Webhook.failing_since.is_not(None)
            ).values(failing_since=None, **quiet))
            return
        waits = settings.webhook_retry_waits
        if claimed.attempt <= len(waits):
            delivery.next_attempt_at = now + waits[claimed.attempt - 1]
        else:
            delivery.status, delivery.finished_at = "failed", now
        disable_after = timedelta(seconds=settings.webhook_disable_after_seconds)
        if webhook.failing_since is None:
            await session.execute(update(Webhook).where(Webhook.id == webhook.id).values(failing_since=now, **quiet))
        elif webhook.enabled and now - webhook.failing_since >= disable_after:
            log.warning("webhook %s disabled: deliveries failing since %s", webhook.id, webhook.failing_since)
            webhook.enabled = False
            await session.flush()
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == "pending")
                .values(status="cancelled", finished_at=now, locked_until=None)
                .execution_options(synchronize_session="fetch")
            )


async def _cancel(db: Database, claimed: Claimed) -> None:
    async with db.write() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == claimed.delivery_id, WebhookDelivery.attempts == claimed.attempt,
                   WebhookDelivery.status == "pending")
            .values(status="cancelled", finished_at=utcnow(), locked_until=None)
        )


async def purge(db: Database, *, retention: timedelta) -> None:
    """Drop finished deliveries (attempts go with them) and unread polling events past retention."""
    cutoff = utcnow() - retention
    async with db.write() as session:
        await session.execute(delete(WebhookDelivery).where(
            WebhookDelivery.status != "pending", WebhookDelivery.finished_at < cutoff
        ))
        await session.execute(delete(PollingWebhookEvent).where(PollingWebhookEvent.created_at < cutoff))


# --- sending ----------------------------------------------------------------------------------


def _error(exc: BaseException) -> str:
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:MAX_ERROR_LENGTH]


class Sender:
    """Signed POSTs to webhook URLs. Never raises for network trouble: every outcome is an Outcome."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.allow_private = settings.webhook_allow_private
        # No keep-alive: each connection goes to a checked address under its own URL's TLS name.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout), follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, webhook: Webhook, msg_id: str, body: str) -> Outcome:
        started_at, started = utcnow(), time.monotonic()
        headers = {
            **webhook.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signing.headers(webhook.secret, msg_id, int(time.time()), body),
        }
        status: int | None = None
        error: str | None = None
        snippet: str | None = None
        try:
            # Resolution and the request each honour the timeout; together they get twice that.
            async with asyncio.timeout(self.timeout * 2):
                status, snippet = await self._post(webhook.url, headers, body.encode())
            if not 200 <= status < 300:
                error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        except AddressRefused as exc:
            error = f"Refused: {exc}"
        except TimeoutError:
            error = f"Timed out after {self.timeout:g} s"
        except Exception as exc:
            # An invalid URL, a broken peer…: a failed attempt like any other. Escaping here would record
            # nothing, and the lease running out would bring the delivery back forever.
            error = _error(exc)
        return Outcome(status_code=status, error=error, response_body=snippet, started_at=started_at,
                       duration_ms=int((time.monotonic() - started) * 1000))

    async def _post(self, url: str, headers: dict[str, str], content: bytes) -> tuple[int, str | None]:
        target = httpx.URL(url)
        host = target.raw_host.decode("ascii")
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = await resolve_checked(host, port, allow_private=self.allow_private)
        headers = {**headers, "Host": target.netloc.decode("ascii")}
        for i, address in enumerate(addresses):
            try:
                async with self._client.stream("POST", target.copy_with(host=address), content=content,
                                               headers=headers, extensions={"sni_hostname": host}) as response:
                    data = b""
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) >= RESPONSE_SNIPPET_BYTES:
                            break
                    return response.status_code, data[:RESPONSE_SNIPPET_BYTES].decode("utf-8", "replace") or None
            except httpx.ConnectError:
                if i == len(addresses) - 1:
                    raise
        raise AddressRefused(f"cannot resolve {host}")


class Dispatcher:
    """Delivers pending webhook deliveries (worker role)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        # A lease outlives any attempt (resolution and the request are bounded by twice the timeout).
        self.lease = timedelta(seconds=2 * settings.webhook_timeout_seconds + 30)
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[int] | None = None
        self._sender: Sender | None = None
        self._purged_at = 0.0

    async def start(self) -> None:
        # Woken only by events that made deliveries (or may have: another process's); claiming is a
        # write transaction, not worth one per event when most events have no webhook to call.
        self._queue = BUS.subscribe(deliveries_only=True)
        self._sender = Sender(self.settings)
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self._inflight:
            # Attempts under way get a moment to finish; the rest are retried once their lease passes.
            _, pending = await asyncio.wait(set(self._inflight), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._queue is not None:
            BUS.unsubscribe(self._queue)
            self._queue = None
        if self._sender is not None:
            await self._sender.aclose()
            self._sender = None

    async def _run(self) -> None:
        while True:
            try:
                await self._fill()
                if time.monotonic() - self._purged_at > PURGE_EVERY_SECONDS:
                    self._purged_at = time.monotonic()
                    await purge(self.db, retention=timedelta(days=self.settings.webhook_retention_days))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatcher pass failed")
            await self._sleep()

    async def _fill(self) -> None:
        while True:
            free = self.settings.webhook_concurrency - len(self._inflight)
            if free <= 0:
                return
            claimed = await claim(self.db, free, lease=self.lease)
            for item in claimed:
                task = asyncio.create_task(self._deliver(item), name=f"webhook-delivery-{item.delivery_id}")
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if len(claimed) < free:
                return

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _sleep(self) -> None:
        """Until an event commits here, an attempt finishes, or the poll interval passes."""
        assert self._queue is not None
        if self._queue.empty() and not self._wake.is_set():
            waiters = {asyncio.ensure_future(self._queue.get()), asyncio.ensure_future(self._wake.wait())}
            try:
                await asyncio.wait(waiters, timeout=self.settings.webhook_poll_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        self._wake.clear()
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _deliver(self, claimed: Claimed) -> None:
        assert self._sender is not None
        try:
            async with self.db.read() as session:
                found = (await session.execute(
                    select(Webhook, Event.event_id, Event.payload)
                    .join(WebhookDelivery, WebhookDelivery.webhook_id == Webhook.id)
                    .join(Event, Event.id == WebhookDelivery.event_row_id)
                    .where(WebhookDelivery.id == claimed.delivery_id)
                )).first()
            if found is None:
                return
            webhook, event_id, payload = found
            if not webhook.enabled:
                await _cancel(self.db, claimed)
                return
            # svix-id is derived from the event: the same on every retry, from any process.
            outcome = await self._sender.send(webhook, f"msg_{event_id}", wire_body(payload))
            await record(self.db, claimed, outcome, self.settings)
            if not outcome.ok:
                log.info("webhook %s delivery %s attempt %s failed: %s", webhook.id, claimed.delivery_id,
                         claimed.attempt, outcome.error)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", claimed.delivery_id)
