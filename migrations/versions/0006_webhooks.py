"""webhooks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import agentmail_server.db.types as amt

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _owner_columns(table: str) -> list[Any]:
    return [
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("pod_id", sa.String(length=36), nullable=True),
        sa.Column("inbox_id", sa.String(length=320), nullable=True),
        sa.Column("scope_key", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f(f"fk_{table}_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["pod_id"], ["pods.id"], name=op.f(f"fk_{table}_pod_id_pods"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"], name=op.f(f"fk_{table}_inbox_id_inboxes"),
                                ondelete="CASCADE"),
    ]


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=64), nullable=False),
        *_owner_columns("webhooks"),
        sa.Column("client_id", sa.String(length=256), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("event_types", amt.JSONType, nullable=False),
        sa.Column("pod_ids", amt.JSONType, nullable=False),
        sa.Column("inbox_ids", amt.JSONType, nullable=False),
        sa.Column("headers", amt.JSONType, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("failing_since", amt.UTCDateTime(), nullable=True),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("updated_at", amt.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("organization_id", "scope_key", "client_id",
                            name=op.f("uq_webhooks_organization_id_scope_key_client_id")),
    )
    op.create_index(op.f("ix_webhooks_organization_id_created_at_id"), "webhooks",
                    ["organization_id", "created_at", "id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("event_row_id", BIGINT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", amt.UTCDateTime(), nullable=False),
        sa.Column("locked_until", amt.UTCDateTime(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("finished_at", amt.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhooks.id"],
                                name=op.f("fk_webhook_deliveries_webhook_id_webhooks"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_row_id"], ["events.id"],
                                name=op.f("fk_webhook_deliveries_event_row_id_events"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("webhook_id", "event_row_id", name=op.f("uq_webhook_deliveries_webhook_id_event_row_id")),
    )
    op.create_index(op.f("ix_webhook_deliveries_status_next_attempt_at"), "webhook_deliveries",
                    ["status", "next_attempt_at"])
    op.create_index(op.f("ix_webhook_deliveries_event_row_id"), "webhook_deliveries", ["event_row_id"])

    op.create_table(
        "webhook_attempts",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("delivery_id", BIGINT, nullable=False),
        sa.Column("attempted_at", amt.UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhook_deliveries.id"],
                                name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(op.f("ix_webhook_attempts_delivery_id_id"), "webhook_attempts", ["delivery_id", "id"])

    op.create_table(
        "polling_webhooks",
        sa.Column("id", sa.String(length=64), nullable=False),
        *_owner_columns("polling_webhooks"),
        sa.Column("client_id", sa.String(length=256), nullable=False),
        sa.Column("event_types", amt.JSONType, nullable=False),
        sa.Column("pod_ids", amt.JSONType, nullable=False),
        sa.Column("inbox_ids", amt.JSONType, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("last_batch", sa.Integer(), nullable=False),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("updated_at", amt.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polling_webhooks")),
        sa.UniqueConstraint("organization_id", "scope_key", "client_id",
                            name=op.f("uq_polling_webhooks_organization_id_scope_key_client_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_polling_webhooks_token_hash")),
    )
    op.create_index(op.f("ix_polling_webhooks_organization_id_scope_key_created_at_id"), "polling_webhooks",
                    ["organization_id", "scope_key", "created_at", "id"])

    op.create_table(
        "polling_webhook_events",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("polling_webhook_id", sa.String(length=64), nullable=False),
        sa.Column("event_row_id", BIGINT, nullable=False),
        sa.Column("batch", sa.Integer(), nullable=True),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["polling_webhook_id"], ["polling_webhooks.id"],
                                name=op.f("fk_polling_webhook_events_polling_webhook_id_polling_webhooks"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_row_id"], ["events.id"],
                                name=op.f("fk_polling_webhook_events_event_row_id_events"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polling_webhook_events")),
    )
    op.create_index(op.f("ix_polling_webhook_events_polling_webhook_id_batch_id"), "polling_webhook_events",
                    ["polling_webhook_id", "batch", "id"])
    op.create_index(op.f("ix_polling_webhook_events_event_row_id"), "polling_webhook_events", ["event_row_id"])


def downgrade() -> None:
    op.drop_table("polling_webhook_events")
    op.drop_table("polling_webhooks")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
