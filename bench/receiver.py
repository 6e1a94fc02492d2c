"""A lean local webhook receiver: answers every request 200 at once and records when it arrived.

    python -m bench.receiver --port 9000 --out arrivals.json

Prints "ready" once listening; on a line "stop" on stdin writes --out: one [path, svix-id,
message id, time.time(), time.monotonic(), body bytes] per request, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

MARK = b'"message_id":"'
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class Receiver(asyncio.Protocol):
    records: list[tuple[str, str, str, float, float, int]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            start = body.find(MARK)
            mid = ""
            if start >= 0:
                start += len(MARK)
                mid = body[start:body.find(b'"', start)].decode()
            parts = head[0].split()
            self.records.append((parts[1] if len(parts) > 1 else "", headers.get("svix-id", ""), mid, time.time(),
                                 time.monotonic(), length))
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


async def main_async(args: argparse.Namespace) -> None:
    """Serve until a line arrives on stdin."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", args.port, backlog=1024)
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    asyncio.run(main_async(args))
    Path(args.out).write_text(json.dumps(Receiver.records))


if __name__ == "__main__":
    main()
