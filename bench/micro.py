"""Where a REST request's time goes, measured in-process without HTTP (robust to a busy machine: each
figure is the fastest of many rounds, not an average).

    python -m bench.micro [--messages 20000] [--rounds 30]

Seeds a SQLite inbox (bench/seed.py), then times the pieces of GET message and GET messages: the key
lookup, an empty read transaction, the message query, a page of 50 rows with and without the body
columns, building the response models and serialising them; and counts the aiosqlite thread hops
(round trips between the event loop and the database thread) of each request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite.core
from sqlalchemy import select, text
from sqlalchemy.orm import defer

from agentmail_server.db.engine import Database
from agentmail_server.db.pagination import paginate
from agentmail_server.db.tables import Message
from agentmail_server.schemas.messages import ListMessagesResponse, MessageItem
from agentmail_server.schemas.messages import Message as MessageWire
from agentmail_server.services import api_keys, messages

from .env import load, log, workspace
from .seed import Corpus, seed
from .servers import Agentmail

BODIES = (Message.text, Message.html, Message.extracted_text, Message.extracted_html)


async def fastest(fn: Callable[[], Awaitable[Any]], rounds: int, per_round: int = 10) -> float:
    """Milliseconds per call: the fastest round's mean."""
    await fn()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(per_round):
            await fn()
        best = min(best, (time.perf_counter() - started) / per_round)
    return round(best * 1000, 3)


async def measure(url: str, key: str, inbox: str, ids: list[str], rounds: int) -> dict[str, Any]:
    db = Database(url)
    try:
        principal = await api_keys.authenticate(db, key)
        rng = random.Random(5)

        async def page(options: tuple[Any, ...]) -> list[Message]:
            async with db.read() as session:
                stmt = select(Message).options(*options).where(Message.inbox_id == inbox)
                result = await paginate(session, stmt, endpoint="x", order=[Message.timestamp, Message.id], limit=50,
                                        page_token=None)
            return result.items

        async def empty_tx() -> None:
            async with db.read() as session:
                await session.execute(text("SELECT 1"))

        rows = await page(())
        one = await messages.get_message(db, principal, inbox, ids[0])

        async def build() -> Any:
            return [MessageItem.of(m) for m in rows]

        items = await build()

        async def dump() -> Any:
            return ListMessagesResponse(count=50, limit=50, next_page_token=None, messages=items).model_dump_json(
                exclude_none=True)

        async def get_dump() -> Any:
            return MessageWire.of(one).model_dump_json(exclude_none=True)

        timings = {
            "authenticate (key lookup)": await fastest(lambda: api_keys.authenticate(db, key), rounds),
            "read transaction with SELECT 1": await fastest(empty_tx, rounds),
            "get_message (inbox + message)": await fastest(
                lambda: messages.get_message(db, principal, inbox, rng.choice(ids)), rounds),
            "Message model + JSON (one)": await fastest(get_dump, rounds),
            "page of 50, all columns": await fastest(lambda: page(()), rounds),
            "page of 50, bodies deferred": await fastest(
                lambda: page(tuple(defer(c, raiseload=True) for c in BODIES)), rounds),
            "50 MessageItem models": await fastest(build, rounds),
            "page JSON serialisation": await fastest(dump, rounds),
        }
        hops: list[str] = []
        original = aiosqlite.core.Connection._execute

        async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            hops.append(getattr(fn, "__name__", "?"))
            return await original(self, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
        try:
            await api_keys.authenticate(db, key)
            auth_hops = len(hops)
            hops.clear()
            await messages.get_message(db, principal, inbox, ids[1])
            get_hops = len(hops)
        finally:
            aiosqlite.core.Connection._execute = original  # type: ignore[method-assign]
        return {"ms": timings, "aiosqlite_hops": {"authenticate": auth_hops, "get_message": get_hops}}
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=2048, help="bytes per seeded message")
    args = parser.parse_args()
    with workspace() as ws:
        server = Agentmail(ws, "sqlite", name="micro").start()
        inbox = server.create_inbox("micro")
        ids = asyncio.run(seed(server.database_url, inbox, Corpus(inbox, count=args.messages, thread_size=5,
                                                                   size=args.size)))
        server.stop()
        before = load()
        result = asyncio.run(measure(server.database_url, server.api_key, inbox, ids[:5000], args.rounds))
        result.update({"messages": args.messages, "message_bytes": args.size, "load_before": before,
                       "load_after": load()})
    log("micro:", json.dumps(result))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
