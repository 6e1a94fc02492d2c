"""Full-text matching of messages: FTS5 on SQLite, tsvector on PostgreSQL (see migration 0003).

Both engines get the same query semantics: every word of the query must match the start of a word
in the subject, sender, recipients or body; results are ranked by relevance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, column, func, literal_column, table, text

from .tables import Message

_WORD = re.compile(r"\w+", re.UNICODE)


def query_words(q: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(q)][:32]


@dataclass(frozen=True)
class Match:
    join: Any | None          # extra FROM/JOIN target (SQLite FTS table), or None
    onclause: Any | None
    condition: ColumnElement[bool]
    rank: ColumnElement[Any]  # ascending order = most relevant first


def match(dialect: str, words: list[str]) -> Match:
    if dialect == "postgresql":
        tsquery = func.to_tsquery("simple", bindparam("fts_query", " & ".join(f"'{w}':*" for w in words)))
        vector = literal_column("messages.search")
        return Match(join=None, onclause=None, condition=vector.op("@@")(tsquery),
                     rank=-func.ts_rank(vector, tsquery))
    fts_query = " AND ".join('"' + w.replace('"', '""') + '"*' for w in words)
    fts = table("messages_fts", column("rowid"))
    return Match(
        join=fts,
        onclause=fts.c.rowid == literal_column("messages.rowid"),
        condition=text("messages_fts MATCH :fts_query").bindparams(fts_query=fts_query),
        rank=literal_column("bm25(messages_fts)"),
    )


def matched_messages(stmt: Any, dialect: str, words: list[str]) -> Any:
    """`stmt` (selecting from messages) narrowed to matches, most relevant first."""
    m = match(dialect, words)
    if m.join is not None:
        stmt = stmt.join(m.join, m.onclause)
    return stmt.where(m.condition).order_by(m.rank, Message.timestamp.desc(), Message.id)
