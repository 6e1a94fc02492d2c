"""Everything a serving process runs besides HTTP: the database, job workers, the SMTP listener."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from .config import Settings
from .db.engine import Database
from .events.hub import Hub
from .events.listen import Listener
from .events.webhooks import Dispatcher
from .mail import recipients
from .mail.dns import make_resolver
from .mail.parse_pool import ParsePool
from .mail.smtp_in import PROCESS_FEEDBACK, PROCESS_INBOUND, InboundHandler, start_listener
from .services import delivery, dkim_keys, domains, drafts, feedback, inbox_events, ingest, janitor, links
from .services.sending import DELIVER_OUTBOUND
from .workers.periodic import Periodic, PeriodicTask
from .workers.process import WorkerProcesses
from .workers.runner import JobRunner, in_lane
from .workers.tasks import cancel

log = logging.getLogger("agentmail_server")


def periodic_tasks(db: Database, settings: Settings, env: domains.DomainEnv) -> list[PeriodicTask]:
    """Timer-driven work for worker processes; features add their tasks here."""
    # Scheduled drafts: every worker sweeps; the per-draft claim makes each send happen once.
    sweep_every = settings.draft_sweep_seconds
    stale = timedelta(seconds=settings.draft_sending_stale_seconds)

    async def send_due_drafts() -> None:
        await drafts.sweep(db, stale=stale, rate_limit=settings.send_rate_limit_per_minute)

    retention = janitor.Retention(
        finished_jobs=timedelta(hours=settings.finished_job_retention_hours),
        inbound_envelopes=timedelta(hours=settings.inbound_envelope_retention_hours),
        events=timedelta(days=settings.event_retention_days),
    )

    async def clean_up() -> None:
        await janitor.sweep(db, retention)

    async def recheck_domains() -> None:
        await domains.recheck_pending(db, env)

    return [
        PeriodicTask(name="send-due-drafts", interval=sweep_every, run=send_due_drafts),
        PeriodicTask(name="recheck-domains", interval=settings.domain_recheck_seconds, run=recheck_domains),
        PeriodicTask(name="janitor", interval=settings.janitor_interval_seconds, run=clean_up),
    ]


def domain_env(settings: Settings) -> domains.DomainEnv:
    tracking = urlsplit(settings.public_url).hostname if settings.public_url else None
    return domains.DomainEnv(
        default_domain=settings.default_domain, mx_host=settings.mail_host,
        tracking_host=tracking or settings.mail_host,
        resolver=make_resolver(settings.dns_nameservers), max_per_organization=settings.domains_max_per_organization,
    )


@dataclass
class Services:
    db: Database
    link_secret: bytes
    runner: JobRunner | None
    smtp: asyncio.AbstractServer | None
    hub: Hub | None
    domain_env: domains.DomainEnv
    worker_processes: WorkerProcesses | None


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.smtp_tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.smtp_tls_cert, settings.smtp_tls_key)
    return context


def job_handlers(db: Database, settings: Settings, parser: ParsePool) -> dict[str, Any]:
    inbound = ingest.InboundConfig(
        default_domain=settings.default_domain, resolver=make_resolver(settings.dns_nameservers),
        auth_mode=settings.inbound_auth, authserv_id=settings.smtp_hostname or "agentmail-server",
        parser=parser,
    )

    async def process_inbound(payload: dict[str, Any]) -> None:
        await ingest.process_inbound(db, str(payload["inbound_id"]), inbound)

    # Outbound delivery: sending to external recipients, and the bounce/complaint reports that come back.
    outbound = delivery.config_from(settings)

    async def deliver_outbound(payload: dict[str, Any]) -> None:
        await delivery.deliver(db, outbound, payload)

    async def process_feedback(payload: dict[str, Any]) -> None:
        await feedback.process_feedback(db, payload)

    return {PROCESS_INBOUND: process_inbound, PROCESS_FEEDBACK: process_feedback,
            DELIVER_OUTBOUND: in_lane(deliver_outbound, "delivery", settings.delivery_concurrency)}


@contextlib.asynccontextmanager
async def run_services(settings: Settings) -> AsyncIterator[Services]:
    db = Database(settings.database_url)
    env = domain_env(settings)
    inbox_events.install()
    recipients.install()
    runner: JobRunner | None = None
    periodic: Periodic | None = None
    listener: asyncio.AbstractServer | None = None
    hub: Hub | None = None
    dispatcher: Dispatcher | None = None
    children: WorkerProcesses | None = None
    starting: asyncio.Task[None] | None = None
    feed = Listener(db)
    parser = ParsePool(settings.parse_processes)
    try:
        secret = await links.load_secret(db)
        # The default domain's DKIM key: made on first start, so its DNS record can be published.
        await dkim_keys.ensure(db, settings.default_domain, settings.dkim_selector)
        await feed.start()
        if settings.has_role("api"):
            hub = Hub(db, settings)
            await hub.start()
        if settings.worker_in_children:
            # Prespawned by `serve` (and already starting) or started now; this process serves once
            # they are ready.
            children = WorkerProcesses(settings, settings.worker_processes)
            starting = asyncio.create_task(children.start())
        elif settings.has_role("worker"):
            runner = JobRunner(db, job_handlers(db, settings, parser), concurrency=settings.worker_concurrency,
                               lease=timedelta(seconds=settings.job_lease_seconds),
                               poll_interval=settings.job_poll_seconds)
            runner.start()
            parser.warm_up()
            periodic = Periodic(periodic_tasks(db, settings, env))
            periodic.start()
            dispatcher = Dispatcher(db, settings)
            await dispatcher.start()
        if settings.has_role("smtp"):
            handler = InboundHandler(db, max_inflight=settings.smtp_max_inflight)
            listener = await start_listener(
                handler, host=settings.smtp_host, port=settings.smtp_port,
                max_message_bytes=settings.smtp_max_message_bytes, tls_context=_tls_context(settings),
                hostname=settings.smtp_hostname,
            )
            log.info("SMTP listening on %s:%s", settings.smtp_host, settings.smtp_port)
        if starting is not None:
            await starting
            starting = None
        yield Services(db=db, link_secret=secret, runner=runner, smtp=listener, hub=hub, domain_env=env,
                       worker_processes=children)
    finally:
        if listener is not None:
            listener.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.wait_closed(), 5)
        if starting is not None:
            await cancel(starting)
        if children is not None:
            await children.stop()
        if periodic is not None:
            await periodic.stop()
        if dispatcher is not None:
            await dispatcher.stop()
        if hub is not None:
            await hub.stop()
        await feed.stop()
        if runner is not None:
            await runner.stop()
        await parser.close()
        await db.dispose()
