"""Benchmark 1: durable SMTP ingest (messages/s answered 250) against peers on the same machine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import mail
from .env import Workspace, latency_summary, load, log, postgres_available, ratio
from .servers import DOMAIN, Agentmail, Bare, Maildev, Postfix
from .smtp import IngestResult, ingest

INBOX = "bench"


def make_messages(prefix: str, count: int, size: int) -> list[bytes]:
    rcpt = f"{INBOX}@{DOMAIN}"
    return [mail.message(to=rcpt, message_id=f"<{prefix}.{i}@bench.example.com>", size=size, seed=i)
            for i in range(count)]


def processed_count(server: Agentmail) -> int:
    """Inbound transactions fully processed (parsed, threaded, event emitted): read straight from the DB."""
    return int(server.query("SELECT count(*) FROM inbound_mail WHERE processed_at IS NOT NULL")[0][0])


def wait_count(count: Callable[[], int], target: int, timeout: float) -> int:
    """Poll `count` until it reaches `target` or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    done = count()
    while done < target and time.monotonic() < deadline:
        time.sleep(0.25)
        done = count()
    return done


def drain(stored: Agentmail, backlog: int, timeout: float) -> dict[str, Any]:
    """How fast the worker role alone processes what a storage-only server stored: the inbound rate a
    deployment sustains once a burst is over (or with the worker in a process of its own)."""
    stored.stop()
    worker = Agentmail(stored.ws, stored.backend, extra_env={"AGENTMAIL_ROLES": "worker"},
                       name=f"{stored.name}-drain", database_url=stored.database_url).start()
    try:
        done = wait_count(lambda: processed_count(worker), backlog, timeout)
    finally:
        worker.stop()
    first, last = (value if isinstance(value, datetime) else datetime.fromisoformat(value)
                   for value in stored.query("SELECT min(processed_at), max(processed_at) FROM inbound_mail")[0])
    seconds = (last - first).total_seconds()
    log(f"ingest drain: {done} of {backlog} processed by the worker role in {seconds:.2f} s")
    return {"processed": done, "processed_seconds": round(seconds, 2), "drained": done >= backlog,
            "processed_per_s": round((done - 1) / seconds, 1) if seconds > 0 else None, "processed_by": "drain"}


def _run(port: int, msgs: list[bytes], sessions: int, warmup: int) -> IngestResult:
    rcpt = f"{INBOX}@{DOMAIN}"
    if warmup:
        asyncio.run(ingest("127.0.0.1", port, rcpt=rcpt, messages=msgs[:warmup], sessions=min(sessions, warmup)))
    return asyncio.run(ingest("127.0.0.1", port, rcpt=rcpt, messages=msgs[warmup:], sessions=sessions))


def measure(label: str, port: int, msgs: list[bytes], sessions: int, warmup: int,
            after: Callable[[IngestResult, float], dict[str, Any]] | None = None) -> dict[str, Any]:
    before = load()
    started = time.monotonic()
    result = _run(port, msgs, sessions, warmup)
    row: dict[str, Any] = {
        "system": label, "messages": len(msgs) - warmup, "accepted": result.accepted, "refused": result.refused,
        "errors": result.errors, "seconds": round(result.elapsed, 2), "messages_per_s": round(result.rate, 1),
        "latency_250": latency_summary(result.latencies), "load_before": before, "load_after": load(),
    }
    if after is not None:
        row.update(after(result, started))
    log(f"ingest {label}: {row['messages_per_s']} msg/s ({result.accepted} accepted, {result.refused} refused)"
        f" load {row['load_after']}")
    return row


def run(ws: Workspace, *, messages: int, sessions: int, size: int, warmup: int, backends: list[str],
        peers: list[str], drain_timeout: float) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    count = messages
    total = count + warmup

    if "bare" in peers:
        bare = Bare(ws).start()
        try:
            rows.append(measure("bare aiosmtpd + fsync", bare.smtp_port, make_messages("bare", total, size), sessions,
                                warmup))
        finally:
            bare.stop()

    for backend in backends:
        if backend == "postgresql" and not postgres_available():
            skipped[f"agentmail {backend}"] = "no PostgreSQL answers at the bench URL"
            continue
        # The default (the worker role in a process of its own), everything in one process, storage only.
        for label, roles, processes in ((f"agentmail {backend}", "api,smtp,worker", "1"),
                                        (f"agentmail {backend} (one process)", "api,smtp,worker", "0"),
                                        (f"agentmail {backend} (smtp role only)", "api,smtp", "1")):
            server = Agentmail(ws, backend, name=f"ingest-{backend}-{roles}-{processes}",
                               extra_env={"AGENTMAIL_ROLES": roles, "AGENTMAIL_WORKER_PROCESSES": processes})
            server.start()
            try:
                server.create_inbox(INBOX)

                def drained(result: IngestResult, started: float, server: Agentmail = server,
                            roles: str = roles) -> dict[str, Any]:
                    if "worker" not in roles:
                        return {}
                    target = result.accepted + warmup
                    done = wait_count(lambda: processed_count(server), target, drain_timeout)
                    elapsed = time.monotonic() - started
                    return {"processed": done - warmup, "processed_seconds": round(elapsed, 2),
                            "processed_per_s": round((done - warmup) / elapsed, 1) if elapsed else None,
                            "drained": done >= target}

                rows.append(measure(label, server.smtp_port,
                                    make_messages(f"am-{backend}-{roles}-{processes}", total, size),
                                    sessions, warmup, drained))
                if "worker" not in roles:
                    rows[-1].update(drain(server, rows[-1]["accepted"] + warmup, drain_timeout))
            finally:
                server.drop()

    if "maildev" in peers:
        if Maildev.available():
            maildev = Maildev(ws).start()
            try:
                rows.append(measure("maildev (npm, not durable)", maildev.smtp_port,
                                    make_messages("maildev", total, size), sessions, warmup))
            finally:
                maildev.stop()
        else:
            skipped["maildev"] = "bench/node/node_modules missing: run `npm ci --prefix bench/node`"

    if "postfix" in peers:
        reason = Postfix.unavailable_reason()
        if reason:
            skipped["postfix"] = reason
        else:
            postfix = Postfix(ws)
            try:
                postfix.start()

                def delivered(result: IngestResult, started: float, postfix: Postfix = postfix) -> dict[str, Any]:
                    done = wait_count(postfix.delivered, result.accepted + warmup, drain_timeout) - warmup
                    elapsed = time.monotonic() - started
                    return {"processed": done, "processed_seconds": round(elapsed, 2),
                            "processed_per_s": round(done / elapsed, 1), "drained": done >= result.accepted}

                rows.append(measure("postfix (queue fsync, virtual → Maildir)", postfix.smtp_port,
                                    make_messages("postfix", total, size), sessions, warmup, delivered))
            except RuntimeError as exc:
                skipped["postfix"] = str(exc)
            finally:
                postfix.stop()

    bare_rate = next((r["messages_per_s"] for r in rows if r["system"].startswith("bare")), None)
    maildev_rate = next((r["messages_per_s"] for r in rows if r["system"].startswith("maildev")), None)
    for row in rows:
        row["vs_bare"] = ratio(row["messages_per_s"], bare_rate)
        row["vs_maildev"] = ratio(row["messages_per_s"], maildev_rate)
    return {"benchmark": "ingest", "params": {"messages": count, "warmup": warmup, "sessions": sessions,
                                              "message_bytes": len(make_messages("size", 1, size)[0])},
            "rows": rows, "skipped": skipped,
            "targets": {"messages_per_s": 300, "vs_bare": 0.5, "vs_maildev": 1.0}}


def table(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"system": r["system"], "msg/s": r["messages_per_s"], "vs bare": r.get("vs_bare"),
             "vs maildev": r.get("vs_maildev"), "250 p50 ms": r["latency_250"]["p50_ms"],
             "250 p99 ms": r["latency_250"]["p99_ms"], "processed/s": r.get("processed_per_s"),
             "refused": r["refused"], "load": r["load_after"]}
            for r in result["rows"]]
