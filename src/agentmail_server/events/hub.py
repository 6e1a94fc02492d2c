"""The WebSocket hub: fans committed events out to subscribed connections (issue 6)."""

from __future__ import annotations

from ..config import Settings
from ..db.engine import Database


class Hub:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
