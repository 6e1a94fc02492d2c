"""inbox events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentmail_server.db.types as amt

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("pod_id", sa.String(length=36), nullable=False),
        sa.Column("inbox_id", sa.String(length=320), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=1000), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("event_at", amt.UTCDateTime(), nullable=False),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_inbox_events_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"], name=op.f("fk_inbox_events_inbox_id_inboxes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_events")),
    )
    op.create_index(op.f("ix_inbox_events_inbox_id_id"), "inbox_events", ["inbox_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_inbox_events_inbox_id_id"), table_name="inbox_events")
    op.drop_table("inbox_events")
