"""Tables. Alembic migrations in /migrations are the only source of the schema; these mirror them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import JSONType, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class Organization(Timestamps, Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(256))


class Pod(Timestamps, Base):
    __tablename__ = "pods"
    __table_args__ = (
        UniqueConstraint("organization_id", "client_id"),
        Index(None, "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(256))


class Inbox(Timestamps, Base):
    __tablename__ = "inboxes"
    __table_args__ = (
        UniqueConstraint("pod_id", "client_id"),
        Index(None, "organization_id", "created_at", "id"),
        Index(None, "pod_id", "created_at", "id"),
    )

    # The address is the id (REFERENCE §1.3); stored lower-case so lookups are case-insensitive.
    id: Mapped[str] = mapped_column(String(320), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    pod_id: Mapped[str] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"), nullable=False)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    domain: Mapped[str] = mapped_column(String(253), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(256))
    client_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)


class ApiKey(Timestamps, Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    pod_id: Mapped[str | None] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"))
    inbox_id: Mapped[str | None] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), nullable=False)
    # sha256 of the secret: keys are 256-bit random, so a fast hash is enough and lookups stay O(1).
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    permissions: Mapped[dict[str, bool] | None] = mapped_column(JSONType)
    created_by: Mapped[str | None] = mapped_column(String(36))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class Blob(Base):
    """Raw bytes (a whole .eml). Messages and inbound envelopes point here; attachments are cut from it."""

    __tablename__ = "blobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class InboundMail(Base):
    """One SMTP transaction as accepted: committed before the 250, processed afterwards."""

    __tablename__ = "inbound_mail"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id"), nullable=False)
    mail_from: Mapped[str] = mapped_column(Text, nullable=False)
    rcpt_to: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    peer: Mapped[str | None] = mapped_column(String(128))
    helo: Mapped[str | None] = mapped_column(String(255))
    tls: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # "smtp" from the listener, "local" for mail one hosted inbox sent to another (no SMTP hop).
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="smtp", server_default="smtp")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    """Durable work: the database is the only queue (claimed with a lease, retried with backoff)."""

    __tablename__ = "jobs"
    __table_args__ = (Index(None, "status", "run_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """The outbox: immutable event rows carrying the exact wire payload, written with the change."""

    __tablename__ = "events"
    __table_args__ = (
        Index(None, "organization_id", "id"),
        Index(None, "inbox_id", "id"),
        # Metrics count events by time within a scope.
        Index(None, "organization_id", "created_at"),
        Index(None, "pod_id", "created_at"),
        Index(None, "inbox_id", "created_at"),
        # Readers resume after the highest id they saw; SQLite must never hand out an id twice, even
        # after the newest rows are purged.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str | None] = mapped_column(String(36))
    inbox_id: Mapped[str | None] = mapped_column(String(320))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Thread(Timestamps, Base):
    """A conversation inside one inbox. Summary columns are recomputed from its messages on change."""

    __tablename__ = "threads"
    __table_args__ = (
        Index(None, "inbox_id", "timestamp", "id"),
        Index(None, "pod_id", "timestamp", "id"),
        Index(None, "organization_id", "timestamp", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str] = mapped_column(String(36), nullable=False)
    inbox_id: Mapped[str] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=False)
    subject: Mapped[str | None] = mapped_column(Text)
    base_subject: Mapped[str] = mapped_column(Text, nullable=False, default="")
    labels: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    senders: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    recipients: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    preview: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False, default=list)
    last_message_id: Mapped[str] = mapped_column(Text, nullable=False, default="")
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    received_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Message(Timestamps, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("inbox_id", "message_id"),
        Index(None, "inbox_id", "timestamp", "id"),
        Index(None, "thread_id", "timestamp", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str] = mapped_column(String(36), nullable=False)
    inbox_id: Mapped[str] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=False)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), nullable=False)
    # The API id (angle brackets included); equals the header Message-ID unless that was missing/colliding.
    message_id: Mapped[str] = mapped_column(String(1000), nullable=False)
    header_message_id: Mapped[str | None] = mapped_column(String(1000))
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id"), nullable=False)
    inbound_id: Mapped[str | None] = mapped_column(String(36))
    direction: Mapped[str] = mapped_column(String(16), nullable=False)
    labels: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    from_: Mapped[str] = mapped_column("from", Text, nullable=False, default="")
    from_email: Mapped[str | None] = mapped_column(String(320))
    to: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    cc: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    bcc: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    reply_to: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    subject: Mapped[str | None] = mapped_column(Text)
    preview: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    extracted_text: Mapped[str | None] = mapped_column(Text)
    extracted_html: Mapped[str | None] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    headers: Mapped[dict[str, str]] = mapped_column(JSONType, nullable=False, default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False, default=list)
    size: Mapped[int] = mapped_column(Integer, nullable=False)


class ThreadRef(Base):
    """Every Message-ID an inbox has seen or seen referenced, and the thread it belongs to.

    Referenced-but-unseen ids are JWZ's phantom containers: a parent that arrives after its reply
    finds the reply's thread here.
    """

    __tablename__ = "thread_refs"
    __table_args__ = (Index(None, "thread_id"),)

    inbox_id: Mapped[str] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(1000), primary_key=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), nullable=False)


class ListEntry(Base):
    """Allow/block list entries at organization, pod or inbox scope (REFERENCE §2.11)."""

    __tablename__ = "list_entries"
    __table_args__ = (UniqueConstraint("organization_id", "scope_key", "direction", "list_type", "entry"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str | None] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"))
    inbox_id: Mapped[str | None] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    # "org", "pod#<pod_id>" or "inbox#<inbox_id>": one column makes the uniqueness rule portable.
    scope_key: Mapped[str] = mapped_column(String(400), nullable=False)
    direction: Mapped[str] = mapped_column(String(16), nullable=False)
    list_type: Mapped[str] = mapped_column(String(16), nullable=False)
    entry: Mapped[str] = mapped_column(String(320), nullable=False)
    entry_type: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    read_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ServerSetting(Base):
    """Server-wide values shared by every replica (e.g. the key that signs download links)."""

    __tablename__ = "server_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class IdempotencyRecord(Base):
    """An Idempotency-Key's first answer, replayed for 24 h (REFERENCE §1.12)."""

    __tablename__ = "idempotency_keys"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    response: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Draft(Timestamps, Base):
    __tablename__ = "drafts"
    __table_args__ = (
        UniqueConstraint("inbox_id", "client_id"),
        Index(None, "inbox_id", "updated_at", "id"),
        Index(None, "pod_id", "updated_at", "id"),
        Index(None, "organization_id", "updated_at", "id"),
        Index(None, "send_status", "send_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str] = mapped_column(String(36), nullable=False)
    inbox_id: Mapped[str] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(256))
    labels: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    to: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    cc: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    bcc: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    reply_to: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    # Metadata as on messages plus "blob_id" holding the bytes.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False, default=list)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    forward_of: Mapped[str | None] = mapped_column(Text)
    reply_all: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    references: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    thread_id: Mapped[str | None] = mapped_column(String(36))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)


# --- outbound delivery (issue 5) ---


class DkimKey(Base):
    """A domain's DKIM signing key (RFC 6376); its public half is published at <selector>._domainkey.<domain>."""

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("domain", "selector"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), nullable=False)
    selector: Mapped[str] = mapped_column(String(63), nullable=False)
    algorithm: Mapped[str] = mapped_column(String(32), nullable=False, default="rsa-sha256")
    # PEM (PKCS#8). Stored in the database so every replica signs with the same key.
    private_key: Mapped[str] = mapped_column(Text, nullable=False)
    # base64 DER SubjectPublicKeyInfo: the p= value of the DNS record.
    public_key: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class OutboundRecipient(Timestamps, Base):
    """One external recipient of one sent message, and where its delivery stands.

    status: "pending" (not yet accepted; retried on temporary failures), "delivered" (a receiving
    server said 250), "bounced" (refused permanently, retries exhausted, or bounced later by DSN) or
    "complained" (delivered, then reported as spam). bounce_token is the recipient's VERP token: the
    envelope sender is bounces+<token>@<domain>, so a DSN or ARF report sent there finds its row
    (rows written before tokens were per recipient share their message's token).
    """

    __tablename__ = "outbound_recipients"
    __table_args__ = (UniqueConstraint("message_id", "recipient"), Index(None, "bounce_token"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    recipient: Mapped[str] = mapped_column(String(320), nullable=False)
    bounce_token: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The latest answer about this recipient: SMTP reply code, RFC 3463 status and text.
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_response: Mapped[str | None] = mapped_column(Text)
    remote_host: Mapped[str | None] = mapped_column(String(255))


# --- webhooks (issue 6) ---


class Webhook(Timestamps, Base):
    """A push endpoint (REFERENCE §2.12). Owned by the organization, a pod or an inbox (pod_id/inbox_id)."""

    __tablename__ = "webhooks"
    __table_args__ = (
        UniqueConstraint("organization_id", "scope_key", "client_id"),
        Index(None, "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str | None] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"))
    inbox_id: Mapped[str | None] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    # "org", "pod#<pod_id>" or "inbox#<inbox_id>": the level client_id is unique within.
    scope_key: Mapped[str] = mapped_column(String(400), nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(256))
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(String(64), nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    # Filters: an event matches when its pod or inbox is listed (no filters = the whole owner scope).
    pod_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    inbox_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    headers: Mapped[dict[str, str]] = mapped_column(JSONType, nullable=False, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Start of the current run of failed attempts (cleared by a success); a long run disables the webhook.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event for one webhook: pending until a 2xx, retried on a schedule stored in next_attempt_at."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_row_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "event_row_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False)
    event_row_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    # pending → succeeded | failed (schedule exhausted) | cancelled (webhook disabled).
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    # Attempts started (counted at claim, so a process dying mid-attempt still uses one up).
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The lease of the process attempting it now; another process takes it over once this passes.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """Every HTTP attempt of a delivery, as a web console would list it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    # The start of the receiver's answer, for diagnosis.
    response_body: Mapped[str | None] = mapped_column(Text)


class PollingWebhook(Timestamps, Base):
    """A subscription read with a token instead of pushed to a URL (REFERENCE §2.13)."""

    __tablename__ = "polling_webhooks"
    __table_args__ = (
        UniqueConstraint("organization_id", "scope_key", "client_id"),
        Index(None, "organization_id", "scope_key", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str | None] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"))
    inbox_id: Mapped[str | None] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    scope_key: Mapped[str] = mapped_column(String(400), nullable=False)
    client_id: Mapped[str] = mapped_column(String(256), nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    pod_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    inbox_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # The last batch handed to a reader; its iterator acknowledges every batch up to it.
    last_batch: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class PollingWebhookEvent(Base):
    """An event waiting in a polling subscription: written with the event, removed once acknowledged."""

    __tablename__ = "polling_webhook_events"
    __table_args__ = (
        Index(None, "polling_webhook_id", "batch", "id"),
        Index(None, "event_row_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    polling_webhook_id: Mapped[str] = mapped_column(
        ForeignKey("polling_webhooks.id", ondelete="CASCADE"), nullable=False
    )
    event_row_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    # The batch it was handed out in (NULL: not yet read).
    batch: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# --- custom domains (issue 7) ---


class Domain(Timestamps, Base):
    """A customer domain: its flags and the outcome of the last DNS verification (its key is in dkim_keys)."""

    __tablename__ = "domains"
    __table_args__ = (
        UniqueConstraint("organization_id", "client_id"),
        Index(None, "organization_id", "created_at", "id"),
    )

    # The domain name itself, as in production (one domain belongs to one organization).
    id: Mapped[str] = mapped_column(String(253), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str | None] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"))
    client_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="NOT_STARTED")
    reason: Mapped[str | None] = mapped_column(String(64))
    feedback_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    inbound_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    subdomains_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    tracking_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Per-record outcome of the last verification: {"<type> <name>": {"status", "reason"}}.
    record_status: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- inbox events log (issue 6) ---


class InboxEvent(Base):
    """The label audit log (REFERENCE §2.15): one row per label added to or removed from a message."""

    __tablename__ = "inbox_events"
    __table_args__ = (Index(None, "inbox_id", "id"),)

    # The row id orders the log; event_id is its zero-padded wire form, so both sort the same.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    pod_id: Mapped[str] = mapped_column(String(36), nullable=False)
    inbox_id: Mapped[str] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=False)
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    message_id: Mapped[str] = mapped_column(String(1000), nullable=False)
    label: Mapped[str] = mapped_column(String(256), nullable=False)
    event_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
