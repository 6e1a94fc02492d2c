"""Prometheus metrics of this process.

Counters and histograms are updated where things happen; queue depths and ages are read from the
database when /metrics is scraped (the database is the queue, so it is also the truth about it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from ..db.engine import Database
from ..db.tables import Event, Job, WebhookDelivery
from ..db.types import utcnow

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_LATENCY = Histogram(
    "agentmail_http_request_duration_seconds", "HTTP request latency by route template",
    ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SMTP_SESSIONS = Counter("agentmail_smtp_sessions_total", "SMTP connections accepted", registry=REGISTRY)
SMTP_MESSAGES = Counter(
    "agentmail_smtp_messages_total", "SMTP DATA transactions by outcome (accepted, rejected, deferred)",
    ["outcome"], registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "agentmail_webhook_attempts_total", "Webhook delivery attempts by outcome (success, failure)",
    ["outcome"], registry=REGISTRY,
)
# Counters that worker processes started by `serve` count in their parent (they serve no /metrics).
RELAYED: dict[str, Counter] = {"webhook_attempts": WEBHOOK_ATTEMPTS}
_relay: Callable[[str, dict[str, str], float], None] | None = None


def relay_to(relay: Callable[[str, dict[str, str], float], None]) -> None:
    """In a worker process: send increments of RELAYED counters to the parent instead."""
    global _relay
    _relay = relay


def count(name: str, amount: float = 1.0, **labels: str) -> None:
    """Increment the RELAYED counter `name`: here, or in the process that serves /metrics."""
    if _relay is not None:
        _relay(name, labels, amount)
    else:
        RELAYED[name].labels(**labels).inc(amount)


JOBS = Gauge("agentmail_jobs", "Jobs in the queue by kind and status", ["kind", "status"], registry=REGISTRY)
OLDEST_JOB = Gauge("agentmail_oldest_queued_job_age_seconds", "Age of the oldest due queued job by kind",
                   ["kind"], registry=REGISTRY)
WEBHOOKS_PENDING = Gauge("agentmail_webhook_deliveries_pending", "Webhook deliveries not yet acknowledged",
                         registry=REGISTRY)
OLDEST_UNDELIVERED = Gauge(
    "agentmail_oldest_undelivered_event_age_seconds",
    "Age of the oldest event with a webhook delivery still pending", registry=REGISTRY,
)


def _age(when: datetime | None, now: datetime) -> float:
    return max(0.0, (now - when).total_seconds()) if when is not None else 0.0


async def refresh_from_database(db: Database) -> None:
    now = utcnow()
    async with db.read() as session:
        counts = (await session.execute(
            select(Job.kind, Job.status, func.count()).where(Job.status.in_(("queued", "running")))
            .group_by(Job.kind, Job.status))).all()
        oldest_jobs = (await session.execute(
            select(Job.kind, func.min(Job.run_at)).where(Job.status == "queued", Job.run_at <= now)
            .group_by(Job.kind))).all()
        pending, oldest_event = (await session.execute(
            select(func.count(), func.min(Event.created_at))
            .select_from(WebhookDelivery).join(Event, Event.id == WebhookDelivery.event_row_id)
            .where(WebhookDelivery.status == "pending"))).one()
    JOBS.clear()
    for kind, status, n in counts:
        JOBS.labels(kind=kind, status=status).set(n)
    OLDEST_JOB.clear()
    for kind, oldest in oldest_jobs:
        OLDEST_JOB.labels(kind=kind).set(_age(oldest, now))
    WEBHOOKS_PENDING.set(pending or 0)
    OLDEST_UNDELIVERED.set(_age(oldest_event, now))


def exposition() -> bytes:
    return generate_latest(REGISTRY)
