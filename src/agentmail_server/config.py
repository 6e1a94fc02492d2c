"""Settings, read once from AGENTMAIL_* environment variables."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_durations(value: str) -> tuple[timedelta, ...]:
    """ "30,5m,2h,1d" (bare numbers are seconds) → durations; ValueError on anything else."""
    waits = []
    for item in value.split(","):
        item = item.strip().lower()
        if not item:
            continue
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", item)
        if not match:
            raise ValueError(f"invalid duration {item!r} (use e.g. 30, 30s, 5m, 2h, 1d)")
        waits.append(timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"]))
    return tuple(waits)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTMAIL_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./agentmail.db"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    default_domain: str = "agentmail.localhost"
    root_api_key: str | None = None
    dns_nameservers: str | None = None
    webhook_allow_private: bool = False
    # A send with base64 attachments is ~6 MB in production; leave headroom for JSON overhead.
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    log_level: str = "info"
    # Messages an organization may send per minute (0 = unlimited); over it sends answer 429.
    send_rate_limit_per_minute: int = Field(default=0, ge=0)
    # Attachments given by URL: fetched with a size cap, never from loopback/private addresses unless allowed.
    attachment_url_allow_private: bool = False
    attachment_url_max_bytes: int = Field(default=30 * 1024 * 1024, ge=1)
    # Which parts this process runs: any of api, smtp, worker (scale them separately on PostgreSQL).
    roles: str = "api,smtp,worker"
    smtp_max_message_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # DATA transactions being stored at once; past this the listener answers 451 instead of queueing
    # without bound in memory.
    smtp_max_inflight: int = Field(default=200, ge=0)
    smtp_tls_cert: str | None = None
    smtp_tls_key: str | None = None
    smtp_hostname: str | None = None
    # Absolute base for signed download links when the server sits behind a proxy.
    public_url: str | None = None
    # Inbound SPF/DKIM/DMARC: "off", "dmarc" (label mail unauthenticated only when the sender's
    # domain publishes DMARC and it fails, so local development mail stays clean) or "strict".
    inbound_auth: str = "dmarc"
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    # A process that serves the api or smtp role runs its worker role in this many child processes
    # (started, supervised and stopped with it), so processing mail uses another core instead of
    # taking event-loop time from SMTP sessions and API requests. 0 runs the worker role in the
    # serving process itself. A process whose only role is worker always runs it itself.
    worker_processes: int = Field(default=1, ge=0, le=64)
    # Child processes that parse inbound mail (started with the worker), so parsing runs beside the
    # event loop instead of under its GIL, and a parser crash costs a child, not the server. 0 parses
    # in a thread of the server process.
    parse_processes: int = Field(default=1, ge=0, le=64)
    # How often workers look for due scheduled drafts, and when a draft stuck in "sending" (its worker
    # died) is taken again; the retake is safe because the send is keyed by the draft id.
    draft_sweep_seconds: float = Field(default=1.0, gt=0)
    draft_sending_stale_seconds: float = Field(default=300.0, gt=0)
    # How long a claimed job stays locked without a heartbeat (a crashed worker's job waits this long).
    job_lease_seconds: float = Field(default=15.0, gt=0)
    # How often idle workers look for due jobs. Committed jobs wake them at once (across processes
    # through LISTEN/NOTIFY on PostgreSQL), so this bounds only retries coming due and lost wake-ups.
    job_poll_seconds: float = Field(default=1.0, gt=0)

    # --- housekeeping ---
    # How often workers purge what has served its purpose (finished jobs, processed envelopes,
    # expired idempotency records, unreferenced blobs, events past retention).
    janitor_interval_seconds: float = Field(default=600.0, gt=0)
    finished_job_retention_hours: float = Field(default=7 * 24, ge=0)
    inbound_envelope_retention_hours: float = Field(default=7 * 24, ge=0)
    # Events feed metrics (90-day window) and WebSocket replay; keep a little longer than that.
    event_retention_days: float = Field(default=100, ge=1)

    # --- observability ---
    # "text" for people, "json" (one object per line, with request ids) for log pipelines.
    log_format: str = Field(default="text", pattern=r"^(text|json)$")
    # When set, GET /metrics requires "Authorization: Bearer <token>"; unset, it is open (bind the
    # HTTP port privately or put it behind a proxy then).
    metrics_token: str | None = None

    # --- custom domains (issue 7) ---
    # Domains that asked to verify but are not verified yet are checked again this often.
    domain_recheck_seconds: float = Field(default=300.0, gt=0)
    domains_max_per_organization: int = Field(default=100, ge=1)

    @property
    def mail_host(self) -> str:
        """The public name of this server's SMTP service: custom domains point their MX records here."""
        return self.smtp_hostname or f"mx.{self.default_domain}"

    # --- outbound delivery (issue 5) ---
    # A smarthost ("host" or "host:port", port 587 unless given) that takes all external mail instead
    # of looking up each recipient domain's MX records.
    smtp_relay: str | None = None
    smtp_relay_username: str | None = None
    smtp_relay_password: str | None = None
    # "auto": implicit TLS on port 465, otherwise STARTTLS when offered (and required when a username
    # is set, so credentials never cross in clear); "starttls": require STARTTLS; "tls": implicit TLS;
    # "none": plaintext.
    smtp_relay_tls: str = Field(default="auto", pattern=r"^(auto|starttls|tls|none)$")
    smtp_relay_verify_certificate: bool = True
    # Port of the recipients' MX hosts: 25 on the internet (tests point it at a fake MX).
    smtp_outbound_port: int = Field(default=25, ge=1, le=65535)
    # Name sent in EHLO and written into our Received header (default: smtp_hostname, else the FQDN).
    smtp_helo_name: str | None = None
    # Waits before each new attempt after a temporary failure (units s, m, h, d; bare numbers are
    # seconds). After the last wait's attempt also fails, the message bounces as Transient. The default
    # spans about 4 days (RFC 5321 §4.5.4.1 asks for at least 4-5 days).
    delivery_retry_schedule: str = "1m,5m,15m,30m,1h,2h,4h,8h,12h,24h,24h,24h"
    # Deliveries in progress at once per worker process, on workers of their own (a slow remote
    # server then never delays inbound processing).
    delivery_concurrency: int = Field(default=4, ge=1, le=64)
    delivery_connect_timeout_seconds: float = Field(default=30.0, gt=0)
    # RFC 5321 §4.5.3.2: five minutes for a command reply, ten for the reply to the final dot.
    delivery_command_timeout_seconds: float = Field(default=300.0, gt=0)
    delivery_data_timeout_seconds: float = Field(default=600.0, gt=0)
    # The DKIM selector of keys generated here: publish <selector>._domainkey.<domain> TXT.
    dkim_selector: str = Field(default="agentmail", pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


    # --- webhooks (issue 6) ---
    # Production accepts only https:// webhook URLs; allow plain http:// (e.g. a receiver on the same host).
    webhook_allow_http: bool = False
    # Waits between the immediate first attempt and each retry (Svix's schedule), units as for
    # delivery_retry_schedule. One attempt per entry plus the first; then the delivery fails.
    webhook_retry_delays: str = "5s,5m,30m,2h,5h,10h,10h"
    # An endpoint whose deliveries keep failing this long (no success in between) is disabled.
    webhook_disable_after_seconds: float = Field(default=5 * 24 * 3600, gt=0)
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    # Deliveries in flight at once per worker process.
    webhook_concurrency: int = Field(default=8, ge=1, le=256)
    # How often workers look for due deliveries without a wake-up.
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_max_per_organization: int = Field(default=50, ge=1)
    # Finished deliveries (and their attempts) and unread polling events are kept this long.
    webhook_retention_days: float = Field(default=30.0, gt=0)

    # --- WebSocket and event streaming (issue 6) ---
    # Concurrent WebSocket connections per organization and api process (production: 1000 per
    # organization); past it the handshake fails with 403 limit_exceeded.
    ws_max_connections_per_org: int = Field(default=1000, ge=1)
    # Subscriptions per connection (each listed inbox/pod id counts 1, a whole-scope subscribe 1).
    ws_max_subscriptions: int = Field(default=100, ge=1)
    # Connections are closed after this long (production: 24 h); 0 keeps them open indefinitely.
    ws_max_connection_seconds: float = Field(default=24 * 3600.0, ge=0)
    # Frames queued for one connection; a client that falls further behind is disconnected (1013)
    # and can reconnect with ?since=<last event_id>.
    ws_send_queue_frames: int = Field(default=1000, ge=1)
    # The hub re-reads the events table this often even without a wake-up (lost NOTIFY, other process).
    ws_poll_seconds: float = Field(default=1.0, gt=0)
    # How long a gap in event row ids (PostgreSQL commits out of id order) is watched for a late row.
    ws_gap_seconds: float = Field(default=30.0, gt=0)
    # How often connected keys are re-read (deleted or expired keys are disconnected, permission
    # changes take effect).
    ws_key_recheck_seconds: float = Field(default=30.0, gt=0)

    @field_validator("delivery_retry_schedule", "webhook_retry_delays")
    @classmethod
    def _durations(cls, value: str) -> str:
        parse_durations(value)
        return value

    @property
    def delivery_retry_waits(self) -> tuple[timedelta, ...]:
        return parse_durations(self.delivery_retry_schedule)

    @property
    def webhook_retry_waits(self) -> tuple[timedelta, ...]:
        """Waits before each webhook retry (the first attempt is immediate)."""
        return parse_durations(self.webhook_retry_delays)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # Accept the URLs people already have (postgres://, postgresql://, sqlite:///) and pick
        # the async driver for them.
        for plain, asyncified in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgresql+psycopg://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return asyncified + url[len(plain) :]
        return url

    @field_validator("default_domain")
    @classmethod
    def _lower_domain(cls, domain: str) -> str:
        return domain.strip().lower()

    def has_role(self, role: str) -> bool:
        return role in {r.strip() for r in self.roles.split(",")}

    @property
    def worker_in_children(self) -> bool:
        """Whether the worker role runs in child processes of this one (`worker_processes`)."""
        return (self.worker_processes > 0 and self.has_role("worker")
                and (self.has_role("api") or self.has_role("smtp")))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
