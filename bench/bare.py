"""The bare baseline: the same stack as agentmail-server (uvicorn + FastAPI, aiosmtpd, one event loop)
doing only the minimum, so its figures are the ceiling ours are compared against.

* SMTP: accept any recipient; on DATA write the message to its own file, fsync it, answer 250 (and,
  when WebSocket clients are connected, send each of them one frame naming the message).
* GET /bare/get, GET /bare/list: a JSON body held in memory (loaded from --payloads), serialised by
  JSONResponse on every request.
* WS /bare/ws: accept, answer every client frame with {"type":"subscribed"}, fan out frames.

    python -m bench.bare --http-port 8001 --smtp-port 2526 --spool /tmp/spool [--payloads file.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class Fanout:
    def __init__(self, frame_bytes: int) -> None:
        self.frame_bytes = frame_bytes
        self.queues: set[asyncio.Queue[str | None]] = set()

    def frame(self, message_id: str, raw: bytes) -> str:
        body = {"type": "event", "event_type": "message.received", "event_id": uuid.uuid4().hex,
                "message": {"message_id": message_id, "text": ""}}
        room = max(0, self.frame_bytes - len(json.dumps(body)))
        text = raw.decode("utf-8", "replace")
        body["message"]["text"] = (text * (room // max(1, len(text)) + 1))[:room]
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    def publish(self, frame: str) -> None:
        for queue in self.queues:
            queue.put_nowait(frame)


class FsyncHandler:
    def __init__(self, spool: Path, fanout: Fanout) -> None:
        self.spool = spool
        self.fanout = fanout

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    def _write(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        name = uuid.uuid4().hex
        await asyncio.to_thread(self._write, self.spool / f"{name}.eml", raw)
        if self.fanout.queues:
            found = MESSAGE_ID.search(raw)
            self.fanout.publish(self.fanout.frame(found.group(1).decode() if found else name, raw))
        return f"250 2.0.0 OK queued as {name}"


def create_app(args: argparse.Namespace) -> FastAPI:
    spool = Path(args.spool)
    spool.mkdir(parents=True, exist_ok=True)
    payloads: dict[str, Any] = json.loads(Path(args.payloads).read_text()) if args.payloads else {}
    fanout = Fanout(args.frame_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        handler = FsyncHandler(spool, fanout)
        server = await loop.create_server(
            lambda: SMTP(handler, data_size_limit=32 * 1024 * 1024, enable_SMTPUTF8=True, decode_data=False,
                         hostname="bare.bench.localhost"),
            host="127.0.0.1", port=args.smtp_port,
        )
        try:
            yield
        finally:
            server.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/bare/get")
    async def get_one() -> JSONResponse:
        return JSONResponse(payloads.get("get", {}))

    @app.get("/bare/list")
    async def get_list() -> JSONResponse:
        return JSONResponse(payloads.get("list", {}))

    @app.websocket("/bare/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        fanout.queues.add(queue)

        async def send_loop() -> None:
            while (frame := await queue.get()) is not None:
                await websocket.send_text(frame)

        sender = asyncio.create_task(send_loop())
        try:
            while True:
                await websocket.receive_text()
                queue.put_nowait('{"type":"subscribed"}')
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            fanout.queues.discard(queue)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--payloads", help="JSON file {\"get\": {...}, \"list\": {...}}")
    parser.add_argument("--frame-bytes", type=int, default=4096, help="size of each fanned-out WebSocket frame")
    args = parser.parse_args()
    # The same uvicorn settings as `agentmail-server serve`.
    uvicorn.run(create_app(args), host="127.0.0.1", port=args.http_port, log_level="warning", proxy_headers=True,
                server_header=False, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
