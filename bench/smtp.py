"""A lean SMTP client (plain asyncio streams) and the concurrent-sessions ingest driver."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


class SMTPError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def wire_data(raw: bytes) -> bytes:
    """The DATA payload: CRLF line ends, dot-stuffed, with the terminating dot line."""
    body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if body.startswith(b"."):
        body = b"." + body
    body = body.replace(b"\r\n.", b"\r\n..")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


class Session:
    """One SMTP connection; `send` runs one MAIL/RCPT/DATA transaction and returns the final reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, helo: str = "bench.localhost") -> Session:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        session = cls(reader, writer)
        await session.expect(220)
        await session.command(f"EHLO {helo}", 250)
        return session

    async def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("connection closed by the server")
            lines.append(line[4:].decode("utf-8", "replace").rstrip())
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    async def expect(self, code: int) -> str:
        got, text = await self.reply()
        if got != code:
            raise SMTPError(got, text)
        return text

    async def command(self, line: str, code: int) -> str:
        self.writer.write(line.encode() + b"\r\n")
        return await self.expect(code)

    async def send(self, mail_from: str, rcpt_to: list[str], data: bytes) -> tuple[int, str]:
        """`data` as made by wire_data. Returns the reply to the final dot (any code)."""
        await self.command(f"MAIL FROM:<{mail_from}>", 250)
        for rcpt in rcpt_to:
            await self.command(f"RCPT TO:<{rcpt}>", 250)
        await self.command("DATA", 354)
        self.writer.write(data)
        return await self.reply()

    async def close(self) -> None:
        try:
            self.writer.write(b"QUIT\r\n")
            await asyncio.wait_for(self.reply(), 5)
        except Exception:
            pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except Exception:
            pass


@dataclass
class IngestResult:
    accepted: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # end of DATA → final reply, accepted only
    accepted_at: dict[int, float] = field(default_factory=dict)  # message index → monotonic 250 time

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0


async def ingest(host: str, port: int, *, rcpt: str, messages: list[bytes], sessions: int,
                 mail_from: str = "sender@example.com", limit: float = 600.0) -> IngestResult:
    """Send every message over `sessions` concurrent persistent connections, as fast as replies allow."""
    result = IngestResult()
    datas = [wire_data(m) for m in messages]
    next_index = 0

    async def one_session() -> None:
        nonlocal next_index
        session = await Session.open(host, port)
        try:
            while next_index < len(datas):
                i = next_index
                next_index += 1
                started = time.monotonic()
                code, text = await session.send(mail_from, [rcpt], datas[i])
                done = time.monotonic()
                if code == 250:
                    result.accepted += 1
                    result.latencies.append(done - started)
                    result.accepted_at[i] = done
                else:
                    result.refused += 1
                    if len(result.errors) < 5:
                        result.errors.append(f"{code} {text}")
                    await session.command("RSET", 250)
        finally:
            await session.close()

    started = time.monotonic()
    async with asyncio.timeout(limit):
        outcomes = await asyncio.gather(*(one_session() for _ in range(sessions)), return_exceptions=True)
    result.elapsed = time.monotonic() - started
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and len(result.errors) < 5:
            result.errors.append(repr(outcome))
    return result
