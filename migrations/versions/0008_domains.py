"""custom domains

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentmail_server.db.types as amt

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.String(length=253), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("pod_id", sa.String(length=36), nullable=True),
        sa.Column("client_id", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("feedback_enabled", sa.Boolean(), nullable=False),
        sa.Column("inbound_enabled", sa.Boolean(), nullable=False),
        sa.Column("subdomains_enabled", sa.Boolean(), nullable=False),
        sa.Column("tracking_enabled", sa.Boolean(), nullable=False),
        sa.Column("record_status", amt.JSONType, nullable=False),
        sa.Column("verified_at", amt.UTCDateTime(), nullable=True),
        sa.Column("checked_at", amt.UTCDateTime(), nullable=True),
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("updated_at", amt.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_domains_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["pod_id"], ["pods.id"], name=op.f("fk_domains_pod_id_pods"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("organization_id", "client_id", name=op.f("uq_domains_organization_id_client_id")),
    )
    op.create_index(op.f("ix_domains_organization_id_created_at_id"), "domains",
                    ["organization_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_domains_organization_id_created_at_id"), table_name="domains")
    op.drop_table("domains")
