"""Direct SQL against a test server's database, for arranging states the API cannot reach (old rows)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


def run_sql(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async def go() -> list[tuple[Any, ...]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(sql), params)
                return [tuple(row) for row in result.fetchall()] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(go())
