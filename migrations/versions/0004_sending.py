"""Sending: idempotency keys, drafts, local delivery source

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentmail_server.db.types as amt

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response", amt.JSONType, nullable=False),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_idempotency_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "drafts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("pod_id", sa.String(length=36), nullable=False),
        sa.Column("inbox_id", sa.String(length=320), nullable=False),
        sa.Column("client_id", sa.String(length=256), nullable=True),
        sa.Column("labels", amt.JSONType, nullable=False),
        sa.Column("to", amt.JSONType, nullable=False),
        sa.Column("cc", amt.JSONType, nullable=False),
        sa.Column("bcc", amt.JSONType, nullable=False),
        sa.Column("reply_to", amt.JSONType, nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("attachments", amt.JSONType, nullable=False),
        sa.Column("in_reply_to", sa.Text(), nullable=True),
        sa.Column("forward_of", sa.Text(), nullable=True),
        sa.Column("reply_all", sa.Boolean(), nullable=False),
        sa.Column("references", amt.JSONType, nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=True),
        sa.Column("send_at", amt.UTCDateTime(), nullable=True),
        sa.Column("send_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("updated_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_drafts_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_drafts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
        sa.UniqueConstraint("inbox_id", "client_id", name=op.f("uq_drafts_inbox_id_client_id")),
    )
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_drafts_inbox_id_updated_at_id"), ["inbox_id", "updated_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_drafts_organization_id_updated_at_id"), ["organization_id", "updated_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_drafts_pod_id_updated_at_id"), ["pod_id", "updated_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_drafts_send_status_send_at"), ["send_status", "send_at"], unique=False)

    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="smtp", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.drop_column("source")

    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drafts_send_status_send_at"))
        batch_op.drop_index(batch_op.f("ix_drafts_pod_id_updated_at_id"))
        batch_op.drop_index(batch_op.f("ix_drafts_organization_id_updated_at_id"))
        batch_op.drop_index(batch_op.f("ix_drafts_inbox_id_updated_at_id"))

    op.drop_table("drafts")
    op.drop_table("idempotency_keys")
