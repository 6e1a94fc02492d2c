"""WebSocket subscribers in one process: connect, subscribe, record when each event frame arrives.

    python -m bench.wsclient --url ws://127.0.0.1:8000/v0?api_key=… --count 500 --subscribe '{"type":"subscribe"}'
        --out arrivals.json [--expect 100]

Prints "ready <connected> <failed>" once every connection has its answer to the subscribe frame, then
records arrivals (time.monotonic(), which is system-wide, so the driver's clock compares) until each
connection has seen --expect event frames or a line "stop" arrives on stdin; then writes --out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

MARK = '"message_id":"'


def message_id(frame: str) -> str | None:
    """The event's message id, found without parsing the whole frame (the client must stay cheap)."""
    start = frame.find(MARK)
    if start < 0:
        return None
    start += len(MARK)
    return frame[start:frame.find('"', start)]


class Subscribers:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.arrivals: list[tuple[str, float]] = []
        self.sizes: list[int] = []
        self.failed: list[str] = []
        self.done = asyncio.Event()
        self.remaining = 0

    async def one(self, index: int, ready: asyncio.Barrier | None, gate: asyncio.Semaphore) -> None:
        args = self.args
        conn: ClientConnection | None = None
        try:
            async with gate:
                conn = await connect(args.url, max_size=None, ping_interval=None, open_timeout=60,
                                     compression="deflate" if args.deflate else None)
                await conn.send(args.subscribe)
                while True:  # skip anything until the answer to the subscribe frame
                    answer = await asyncio.wait_for(conn.recv(), 60)
                    if isinstance(answer, str) and '"subscribed"' in answer:
                        break
                    if isinstance(answer, str) and '"error"' in answer:
                        raise RuntimeError(answer[:300])
        except Exception as exc:
            self.failed.append(f"{type(exc).__name__}: {exc}"[:300])
            if conn is not None:
                await conn.close()
            return
        finally:
            if ready is not None:
                with contextlib.suppress(asyncio.BrokenBarrierError):
                    await ready.wait()
        seen = 0
        try:
            async for frame in conn:
                now = time.monotonic()
                if isinstance(frame, bytes):
                    frame = frame.decode("utf-8", "replace")
                mid = message_id(frame)
                if mid is None:
                    continue
                self.arrivals.append((mid, now))
                if len(self.sizes) < 200:
                    self.sizes.append(len(frame.encode()))
                seen += 1
                if args.expect and seen >= args.expect:
                    break
        except Exception:
            pass
        finally:
            self.remaining -= 1
            if self.remaining <= 0:
                self.done.set()
            await conn.close()

    async def run(self) -> dict[str, Any]:
        args = self.args
        self.remaining = args.count
        gate = asyncio.Semaphore(args.parallel_connects)
        ready = asyncio.Barrier(args.count + 1)
        tasks = [asyncio.create_task(self.one(i, ready, gate)) for i in range(args.count)]
        await ready.wait()
        print(f"ready {args.count - len(self.failed)} {len(self.failed)}", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        stop = asyncio.create_task(reader.readline())
        await asyncio.wait({stop, asyncio.create_task(self.done.wait())}, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"connected": args.count - len(self.failed), "failed": len(self.failed), "failures": self.failed[:5],
                "arrivals": self.arrivals, "frame_bytes": self.sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--subscribe", required=True, help="the JSON frame each connection sends first")
    parser.add_argument("--out", required=True)
    parser.add_argument("--expect", type=int, default=0, help="event frames per connection before finishing")
    parser.add_argument("--parallel-connects", type=int, default=50)
    parser.add_argument("--deflate", type=int, default=1, help="offer permessage-deflate (the SDKs do)")
    args = parser.parse_args()
    result = asyncio.run(Subscribers(args).run())
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
