"""Foundation: organizations, pods, inboxes, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentmail_server.db.types as amt

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", amt.UTCDateTime(), nullable=False),
        sa.Column("updated_at", amt.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(256)),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
    )
    op.create_table(
        "pods",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("client_id", sa.String(256)),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name="fk_pods_organization_id_organizations", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pods"),
        sa.UniqueConstraint("organization_id", "client_id", name="uq_pods_organization_id_client_id"),
    )
    op.create_index(
        "ix_pods_organization_id_created_at_id", "pods", ["organization_id", "created_at", "id"]
    )
    op.create_table(
        "inboxes",
        sa.Column("id", sa.String(320), nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("pod_id", sa.String(36), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("display_name", sa.String(256)),
        sa.Column("client_id", sa.String(256)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metadata", amt.JSONType),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name="fk_inboxes_organization_id_organizations", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["pod_id"], ["pods.id"], name="fk_inboxes_pod_id_pods", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_inboxes"),
        sa.UniqueConstraint("pod_id", "client_id", name="uq_inboxes_pod_id_client_id"),
    )
    op.create_index(
        "ix_inboxes_organization_id_created_at_id", "inboxes", ["organization_id", "created_at", "id"]
    )
    op.create_index("ix_inboxes_pod_id_created_at_id", "inboxes", ["pod_id", "created_at", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("pod_id", sa.String(36)),
        sa.Column("inbox_id", sa.String(320)),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("permissions", amt.JSONType),
        sa.Column("created_by", sa.String(36)),
        sa.Column("expires_at", amt.UTCDateTime()),
        sa.Column("used_at", amt.UTCDateTime()),
        sa.Column("note", sa.Text()),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name="fk_api_keys_organization_id_organizations", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["pod_id"], ["pods.id"], name="fk_api_keys_pod_id_pods", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name="fk_api_keys_inbox_id_inboxes", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("secret_hash", name="uq_api_keys_secret_hash"),
    )
    op.create_index(
        "ix_api_keys_organization_id_created_at_id", "api_keys", ["organization_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("inboxes")
    op.drop_table("pods")
    op.drop_table("organizations")
