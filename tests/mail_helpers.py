"""Sending real SMTP to the server under test, and waiting for processing to finish."""

from __future__ import annotations

import re
import smtplib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TypeVar

import httpx

from .server import Server

T = TypeVar("T")


def smtp(server: Server) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30)


def crlf(raw: bytes) -> bytes:
    """SMTP lines end in CRLF (RFC 5321 §2.3.8); smtplib sends bytes as they are."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def send_raw(server: Server, raw: bytes, to: list[str], mail_from: str = "sender@example.test") -> None:
    with smtp(server) as client:
        client.sendmail(mail_from, to, crlf(raw))


def build(
    *, to: str | list[str], subject: str = "Hello", text: str | None = "Hi there", html: str | None = None,
    sender: str = "Alice Example <alice@example.test>", message_id: str | None = None,
    in_reply_to: str | None = None, references: list[str] | None = None, headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(idstring=uuid.uuid4().hex[:8], domain="example.test")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        msg[name] = value
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments or []:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def wait_for(check: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition",
             interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def wait_messages(http: httpx.Client, inbox_id: str, count: int, *, timeout: float = 20.0,
                  params: dict[str, str] | None = None) -> list[dict]:
    def check() -> list[dict] | None:
        body = http.get(f"/v0/inboxes/{inbox_id}/messages", params={"limit": 100, **(params or {})}).json()
        return body["messages"] if body.get("count", 0) >= count else None

    return wait_for(check, timeout=timeout, what=f"{count} messages in {inbox_id}")
