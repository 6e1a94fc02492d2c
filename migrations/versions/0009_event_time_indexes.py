"""event time indexes for metrics; events ids never reused on SQLite

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_events_organization_id_created_at": ["organization_id", "created_at"],
    "ix_events_pod_id_created_at": ["pod_id", "created_at"],
    "ix_events_inbox_id_created_at": ["inbox_id", "created_at"],
}


def _autoincrement(on: bool) -> None:
    # SQLite reuses the highest rowid after it is deleted unless the table says AUTOINCREMENT, which
    # only a rebuild can add; event readers resume by id, so an id must never come back.
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("events", recreate="always", table_kwargs={"sqlite_autoincrement": on}):
            pass


def upgrade() -> None:
    _autoincrement(True)
    for name, columns in INDEXES.items():
        op.create_index(op.f(name), "events", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(op.f(name), table_name="events")
    _autoincrement(False)
