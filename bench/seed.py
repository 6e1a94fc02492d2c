"""Seeding an inbox with many messages fast, as rows indistinguishable from ingested ones.

Rows are built by the server's own code: `mail.parse.parse` for the parsed fields, `new_message` for
the message row, `summarise` for each thread's summary, and written with SQLAlchemy Core through
the server's `Database` (same JSON and timestamp encodings). Only the SMTP hop and the per-message
transactions are skipped.

Parsing every message would take minutes, so each distinct shape (sender, body, root or reply) is
parsed once with placeholder tokens, and a message's fields are that template's with its own tokens
(Message-ID, subject, reference number, threading headers) substituted; a sample is re-parsed from
its exact bytes and must come out identical.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Blob, Inbox, Message, Thread, ThreadRef
from agentmail_server.mail.parse import ParsedMessage, parse
from agentmail_server.mail.threading import base_subject
from agentmail_server.services.ids import new_uuid
from agentmail_server.services.threads_store import new_message, summarise

from . import mail
from .env import log

MID = "QQMIDQQ"
SUBJ = "QQSUBJQQ"
NUM = "QQNUMQQ"  # as long as the 7-digit number it stands for (the preview is cut by length)
PARENT = "QQPARENTQQ"
REFS = "QQREFSQQ"
BODIES = 16
AUTH_HEADER = "mx.bench.localhost; none"  # what ingest writes with AGENTMAIL_INBOUND_AUTH=off


@dataclasses.dataclass
class SeededMessage:
    message_id: str  # the API id, with angle brackets
    raw: bytes


def _template(to: str, sender: tuple[str, str], body: int, reply: bool, size: int) -> bytes:
    raw = mail.message(
        to=to, message_id=f"<{MID}@mail.example.com>", size=size, seed=1000 + body,
        subject=f"Re: {SUBJ}" if reply else SUBJ, sender=sender,
        in_reply_to=f"<{PARENT}@mail.example.com>" if reply else None, references=[REFS] if reply else None,
        date=datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
    )
    # A per-message line at the top of both alternatives, so bodies differ between messages.
    raw = raw.replace(b"7bit\r\n\r\n", f"7bit\r\n\r\nReference number {NUM}.\r\n\r\n".encode(), 1)
    return raw.replace(b"<html><body>\r\n", f"<html><body>\r\n<p>Reference number {NUM}.</p>\r\n".encode(), 1)


def _swap(value: Any, tokens: dict[str, str]) -> Any:
    if isinstance(value, str):
        for token, real in tokens.items():
            if token in value:
                value = value.replace(token, real)
        return value
    if isinstance(value, list):
        return [_swap(v, tokens) for v in value]
    if isinstance(value, dict):
        return {k: _swap(v, tokens) for k, v in value.items()}
    return value


class Corpus:
    """Messages for one inbox: `count` of them in threads of `thread_size`, oldest first."""

    def __init__(self, to: str, *, count: int, thread_size: int, size: int, seed: int = 7) -> None:
        self.to = to
        self.count = count
        self.thread_size = thread_size
        self.size = size
        self.rng = random.Random(seed)
        self.templates: dict[tuple[int, int, bool], tuple[str, ParsedMessage]] = {}
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=count * 60)

    def template(self, sender: int, body: int, reply: bool) -> tuple[str, ParsedMessage]:
        key = (sender, body, reply)
        if key not in self.templates:
            raw = _template(self.to, mail.SENDERS[sender], body, reply, self.size)
            self.templates[key] = (raw.decode(), parse(raw))
        return self.templates[key]

    def messages(self) -> Iterator[tuple[int, SeededMessage, ParsedMessage, datetime]]:
        """(thread number, message, parsed, timestamp) in arrival order."""
        threads = (self.count + self.thread_size - 1) // self.thread_size
        subjects = [f"{self.rng.choice(mail.WORDS).capitalize()} {self.rng.choice(mail.WORDS)} {t}"
                    for t in range(threads)]
        ids: list[list[str]] = [[] for _ in range(threads)]
        for n in range(self.count):
            # Threads interleave: message n belongs to thread n % threads, so replies come much later.
            t = n % threads
            reply = bool(ids[t])
            sender = self.rng.randrange(len(mail.SENDERS))
            text, parsed = self.template(sender, self.rng.randrange(BODIES), reply)
            token_mid = f"{hashlib.sha1(f'{self.to}/{n}'.encode()).hexdigest()[:20]}.{n}"
            timestamp = self.start + timedelta(seconds=n * 60 + self.rng.randint(0, 50))
            refs = " ".join(ids[t])
            tokens = {MID: token_mid, SUBJ: subjects[t], NUM: f"{n:07d}",
                      PARENT: ids[t][-1].strip("<>") if reply else PARENT, REFS: refs}
            date_header = format_datetime(timestamp)
            raw = _swap(text, tokens).replace("Sat, 03 Feb 2001 04:05:06 +0000", date_header, 1).encode()
            msg = dataclasses.replace(
                parsed, **{f.name: _swap(getattr(parsed, f.name), tokens) for f in dataclasses.fields(parsed)
                           if f.name not in ("date", "references", "attachments", "defects")},
                date=timestamp, references=list(ids[t]), attachments=list(parsed.attachments),
                defects=list(parsed.defects),
            )
            msg.headers = {k: (date_header if k == "Date" else v) for k, v in msg.headers.items()}
            mid = f"<{token_mid}@mail.example.com>"
            ids[t].append(mid)
            yield t, SeededMessage(message_id=mid, raw=raw), msg, timestamp

    def check(self, samples: int = 30) -> None:
        """Re-parse a sample from its exact bytes: the substituted fields must be identical."""
        picked = set(random.Random(1).sample(range(self.count), min(samples, self.count)))
        for n, (_, seeded, parsed, _) in enumerate(Corpus(self.to, count=self.count, thread_size=self.thread_size,
                                                          size=self.size).messages()):
            if n in picked:
                real = parse(seeded.raw)
                if real != parsed:
                    diff = [f.name for f in dataclasses.fields(real)
                            if getattr(real, f.name) != getattr(parsed, f.name)]
                    raise AssertionError(f"seeded message {n} differs from its parse in {diff}")
            if n >= max(picked):
                return


def _columns(obj: Any) -> dict[str, Any]:
    table = obj.__table__
    mapper = obj.__mapper__
    return {col.key: getattr(obj, mapper.get_property_by_column(col).key) for col in table.columns}


SUMMARY_FIELDS = ("id", "timestamp", "direction", "attachments", "subject", "labels", "from_", "to", "cc", "bcc",
                  "preview", "message_id", "size")


async def seed(database_url: str, inbox_id: str, corpus: Corpus, *, batch: int = 2000,
               eml_dir: Path | None = None) -> list[str]:
    """Write the corpus into the inbox (and each raw message to eml_dir/mNNNNNN.eml when given).

    Returns the API message ids in arrival order.
    """
    corpus.check()
    db = Database(database_url)
    try:
        async with db.read() as session:
            inbox = await session.scalar(select(Inbox).where(Inbox.id == inbox_id))
        assert inbox is not None, inbox_id
        # Threads first (messages and refs point at them), with their summaries filled in at the end.
        count = (corpus.count + corpus.thread_size - 1) // corpus.thread_size
        threads = [Thread(id=new_uuid(), organization_id=inbox.organization_id, pod_id=inbox.pod_id, inbox_id=inbox.id,
                          subject=None, base_subject="", last_message_id="", labels=[], senders=[], recipients=[],
                          attachments=[], message_count=0, size=0, timestamp=corpus.start, created_at=corpus.start,
                          updated_at=corpus.start)
                   for _ in range(count)]
        for start in range(0, count, batch):
            async with db.write() as session:
                await session.execute(insert(Thread), [_columns(t) for t in threads[start:start + batch]])
        members: list[list[Message]] = [[] for _ in range(count)]
        blobs: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        refs: list[dict[str, Any]] = []
        message_ids: list[str] = []

        async def write() -> None:
            async with db.write() as session:
                await session.execute(insert(Blob), blobs)
                await session.execute(insert(Message), rows)
                await session.execute(insert(ThreadRef), refs)
            blobs.clear()
            rows.clear()
            refs.clear()

        for n, (t, seeded, parsed, timestamp) in enumerate(corpus.messages()):
            if eml_dir is not None:
                (eml_dir / f"m{n:06d}.eml").write_bytes(seeded.raw)
            thread = threads[t]
            if not members[t]:
                thread.subject, thread.base_subject = parsed.subject, base_subject(parsed.subject)
                thread.created_at = timestamp
            blob = Blob(id=new_uuid(), sha256=hashlib.sha256(seeded.raw).hexdigest(), size=len(seeded.raw),
                        data=seeded.raw, created_at=timestamp)
            # As ingest stores it: our Authentication-Results first, the sender's dropped.
            parsed.headers = {"Authentication-Results": AUTH_HEADER,
                              **{k: v for k, v in parsed.headers.items() if k.lower() != "authentication-results"}}
            labels = ["received", "unread"] if corpus.rng.random() < 0.7 else ["received"]
            message = new_message(inbox=inbox, thread_id=thread.id, message_id=seeded.message_id, parsed=parsed,
                                  blob=blob, direction="received", labels=labels, timestamp=timestamp,
                                  inbound_id=new_uuid(), envelope_from=parsed.from_email or "")
            message.created_at = message.updated_at = timestamp
            blobs.append(_columns(blob))
            rows.append(_columns(message))
            # resolve_thread records the message's id and the ids it links to; those are all known already.
            refs.append({"inbox_id": inbox.id, "message_id": seeded.message_id, "thread_id": thread.id})
            members[t].append(Message(**{f: getattr(message, f) for f in SUMMARY_FIELDS}))
            message_ids.append(seeded.message_id)
            if len(rows) >= batch:
                await write()
                if len(message_ids) % 20000 < batch:
                    log(f"seeded {len(message_ids)} messages")
        if rows:
            await write()
        summaries = []
        for t, thread in enumerate(threads):
            summarise(thread, sorted(members[t], key=lambda m: (m.timestamp, m.id)))
            summaries.append(_columns(thread))
        for start in range(0, count, batch):
            async with db.write() as session:
                await session.execute(update(Thread), summaries[start:start + batch])
        log(f"seeded {len(message_ids)} messages in {count} threads")
        return message_ids
    finally:
        await db.dispose()
