"""Full-text search over messages: FTS5 on SQLite, a generated tsvector with GIN on PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same columns on both engines: subject, sender, recipients, body (plain text, else the HTML). The
# indexed columns of a message never change after insert, so only insert and delete are tracked.
_FTS_VALUES = """{r}.rowid, coalesce({r}.subject, ''), {r}."from", {r}."to" || ' ' || {r}.cc || ' ' || {r}.bcc,
                coalesce({r}.text, {r}.html, '')"""
SQLITE_UP = [
    # Contentless (the text lives in messages); SQLite 3.40 has no contentless_delete, so deletes
    # use the 'delete' command with the values that were indexed.
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
        subject, sender, recipients, body, content='', tokenize='unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, subject, sender, recipients, body) VALUES ({_FTS_VALUES.format(r="new")});
    END""",
    f"""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, subject, sender, recipients, body)
        VALUES ('delete', {_FTS_VALUES.format(r="old")});
    END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TABLE IF EXISTS messages_fts",
]
POSTGRES_UP = [
    """ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(subject, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce("from", '') || ' ' || "to"::text || ' ' || cc::text
                                        || ' ' || bcc::text), 'B') ||
        setweight(to_tsvector('simple', left(coalesce(text, html, ''), 500000)), 'C')
    ) STORED""",
    "CREATE INDEX ix_messages_search ON messages USING GIN (search)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_messages_search",
    "ALTER TABLE messages DROP COLUMN IF EXISTS search",
]


def upgrade() -> None:
    # asyncpg runs one statement per execute, so each DDL statement goes on its own.
    for statement in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN:
        op.execute(statement)
