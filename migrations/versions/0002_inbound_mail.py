"""Inbound mail: blobs, inbound envelopes, jobs, events, threads, messages, thread refs, list entries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentmail_server.db.types as amt

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "server_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_settings")),
    )
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blobs")),
    )
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blobs_sha256"), ["sha256"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", amt.JSONType, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", amt.UTCDateTime(), nullable=False),
        sa.Column("locked_until", amt.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("finished_at", amt.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_status_run_at"), ["status", "run_at"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("pod_id", sa.String(length=36), nullable=True),
        sa.Column("inbox_id", sa.String(length=320), nullable=True),
        sa.Column("payload", amt.JSONType, nullable=False),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_inbox_id_id"), ["inbox_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_organization_id_id"), ["organization_id", "id"], unique=False)

    op.create_table(
        "inbound_mail",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("blob_id", sa.String(length=36), nullable=False),
        sa.Column("mail_from", sa.Text(), nullable=False),
        sa.Column("rcpt_to", amt.JSONType, nullable=False),
        sa.Column("peer", sa.String(length=128), nullable=True),
        sa.Column("helo", sa.String(length=255), nullable=True),
        sa.Column("tls", sa.Boolean(), nullable=False),
        sa.Column("received_at", amt.UTCDateTime(), nullable=False),
        sa.Column("processed_at", amt.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"], name=op.f("fk_inbound_mail_blob_id_blobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_mail")),
    )
    op.create_table(
        "list_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("pod_id", sa.String(length=36), nullable=True),
        sa.Column("inbox_id", sa.String(length=320), nullable=True),
        sa.Column("scope_key", sa.String(length=400), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("list_type", sa.String(length=16), nullable=False),
        sa.Column("entry", sa.String(length=320), nullable=False),
        sa.Column("entry_type", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_list_entries_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_list_entries_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["pod_id"], ["pods.id"], name=op.f("fk_list_entries_pod_id_pods"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entries")),
        sa.UniqueConstraint(
            "organization_id",
            "scope_key",
            "direction",
            "list_type",
            "entry",
            name=op.f("uq_list_entries_organization_id_scope_key_direction_list_type_entry"),
        ),
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("pod_id", sa.String(length=36), nullable=False),
        sa.Column("inbox_id", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("base_subject", sa.Text(), nullable=False),
        sa.Column("labels", amt.JSONType, nullable=False),
        sa.Column("senders", amt.JSONType, nullable=False),
        sa.Column("recipients", amt.JSONType, nullable=False),
        sa.Column("preview", sa.Text(), nullable=True),
        sa.Column("attachments", amt.JSONType, nullable=False),
        sa.Column("last_message_id", sa.Text(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", amt.UTCDateTime(), nullable=False),
        sa.Column("received_timestamp", amt.UTCDateTime(), nullable=True),
        sa.Column("sent_timestamp", amt.UTCDateTime(), nullable=True),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("updated_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_threads_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_threads_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
    )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_threads_inbox_id_timestamp_id"), ["inbox_id", "timestamp", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_threads_organization_id_timestamp_id"), ["organization_id", "timestamp", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_threads_pod_id_timestamp_id"), ["pod_id", "timestamp", "id"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("pod_id", sa.String(length=36), nullable=False),
        sa.Column("inbox_id", sa.String(length=320), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=1000), nullable=False),
        sa.Column("header_message_id", sa.String(length=1000), nullable=True),
        sa.Column("blob_id", sa.String(length=36), nullable=False),
        sa.Column("inbound_id", sa.String(length=36), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("labels", amt.JSONType, nullable=False),
        sa.Column("timestamp", amt.UTCDateTime(), nullable=False),
        sa.Column("from", sa.Text(), nullable=False),
        sa.Column("from_email", sa.String(length=320), nullable=True),
        sa.Column("to", amt.JSONType, nullable=False),
        sa.Column("cc", amt.JSONType, nullable=False),
        sa.Column("bcc", amt.JSONType, nullable=False),
        sa.Column("reply_to", amt.JSONType, nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("preview", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("extracted_text", sa.Text(), nullable=True),
        sa.Column("extracted_html", sa.Text(), nullable=True),
        sa.Column("in_reply_to", sa.Text(), nullable=True),
        sa.Column("references", amt.JSONType, nullable=False),
        sa.Column("headers", amt.JSONType, nullable=False),
        sa.Column("attachments", amt.JSONType, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("updated_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"], name=op.f("fk_messages_blob_id_blobs")),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_messages_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_messages_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_messages_thread_id_threads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("inbox_id", "message_id", name=op.f("uq_messages_inbox_id_message_id")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_inbox_id_timestamp_id"), ["inbox_id", "timestamp", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_messages_thread_id_timestamp_id"), ["thread_id", "timestamp", "id"], unique=False
        )

    op.create_table(
        "thread_refs",
        sa.Column("inbox_id", sa.String(length=320), nullable=False),
        sa.Column("message_id", sa.String(length=1000), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_thread_refs_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_thread_refs_thread_id_threads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("inbox_id", "message_id", name=op.f("pk_thread_refs")),
    )
    with op.batch_alter_table("thread_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thread_refs_thread_id"), ["thread_id"], unique=False)


def downgrade() -> None:
    op.drop_table("server_settings")
    with op.batch_alter_table("thread_refs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_refs_thread_id"))

    op.drop_table("thread_refs")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_thread_id_timestamp_id"))
        batch_op.drop_index(batch_op.f("ix_messages_inbox_id_timestamp_id"))

    op.drop_table("messages")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threads_pod_id_timestamp_id"))
        batch_op.drop_index(batch_op.f("ix_threads_organization_id_timestamp_id"))
        batch_op.drop_index(batch_op.f("ix_threads_inbox_id_timestamp_id"))

    op.drop_table("threads")
    op.drop_table("list_entries")
    op.drop_table("inbound_mail")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_organization_id_id"))
        batch_op.drop_index(batch_op.f("ix_events_inbox_id_id"))

    op.drop_table("events")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status_run_at"))

    op.drop_table("jobs")
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blobs_sha256"))

    op.drop_table("blobs")
