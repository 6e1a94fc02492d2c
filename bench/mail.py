"""Realistic test messages: multipart/alternative (text + HTML), unique Message-IDs, a chosen size."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

WORDS = (
    "order invoice shipping delivery account password reset meeting agenda quarterly report customer "
    "support ticket refund request please thanks regards update schedule tomorrow review draft contract "
    "attached summary question answer follow-up status project deadline budget approval team"
).split()

SENDERS = [
    ("Alice Martin", "alice.martin@example.com"), ("Bob Chen", "bob.chen@example.org"),
    ("Carla Díaz", "carla@example.net"), ("Deepak Rao", "deepak.rao@example.com"),
    ("Emma Wilson", "emma@example.io"), ("Farid Haddad", "farid.haddad@example.co"),
    ("Grace Kim", "grace.kim@example.com"), ("Hugo Moreau", "hugo@example.fr"),
]


def paragraph(rng: random.Random, words: int) -> str:
    picked = [rng.choice(WORDS) for _ in range(words)]
    picked[0] = picked[0].capitalize()
    return " ".join(picked) + "."


def paragraphs(rng: random.Random) -> Iterator[str]:
    """Endless plain-text paragraphs wrapped at 72 columns."""
    while True:
        yield "\r\n".join(textwrap.wrap(paragraph(rng, rng.randint(12, 40)), 72))


def message(*, to: str, message_id: str, size: int = 10_240, seed: int = 0, subject: str | None = None,
            sender: tuple[str, str] | None = None, in_reply_to: str | None = None,
            references: list[str] | None = None, date: datetime | None = None) -> bytes:
    """One RFC 5322 message of about `size` bytes: text/plain and text/html alternatives."""
    rng = random.Random(seed)
    name, addr = sender or rng.choice(SENDERS)
    subject = subject or f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} #{seed}"
    headers = [
        f"From: {name} <{addr}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(date or datetime.now(UTC))}",
        f"Message-ID: {message_id}",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(f"References: {' '.join(references)}")
    headers += ["MIME-Version: 1.0", 'Content-Type: multipart/alternative; boundary="=_bench_alt"']
    head = "\r\n".join(headers)
    frame = (
        f"{head}\r\n\r\n"
        "--=_bench_alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        "{text}\r\n"
        "--=_bench_alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        "<html><body>\r\n{html}</body></html>\r\n"
        "--=_bench_alt--\r\n"
    )
    # Paragraphs go into both alternatives (the HTML one with <p> markup) until the size is reached.
    texts: list[str] = []
    htmls: list[str] = []
    total = len(frame) - len("{text}{html}")
    for para in paragraphs(rng):
        if total >= size and texts:
            break
        texts.append(para)
        htmls.append(f"<p>{para}</p>\r\n")
        total += len(para) + 4 + len(htmls[-1])
    raw = frame.replace("{text}", "\r\n\r\n".join(texts), 1).replace("{html}", "".join(htmls), 1)
    return raw.encode("utf-8")
