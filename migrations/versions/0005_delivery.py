"""delivery: DKIM keys and per-recipient outbound delivery state

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentmail_server.db.types as amt

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dkim_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("selector", sa.String(length=63), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dkim_keys")),
        sa.UniqueConstraint("domain", "selector", name=op.f("uq_dkim_keys_domain_selector")),
    )
    op.create_table(
        "outbound_recipients",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("bounce_token", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        sa.Column("remote_host", sa.String(length=255), nullable=True),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("updated_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_outbound_recipients_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_recipients")),
        sa.UniqueConstraint("message_id", "recipient", name=op.f("uq_outbound_recipients_message_id_recipient")),
    )
    with op.batch_alter_table("outbound_recipients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_recipients_bounce_token"), ["bounce_token"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound_recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_recipients_bounce_token"))
    op.drop_table("outbound_recipients")
    op.drop_table("dkim_keys")
