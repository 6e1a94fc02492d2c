"""Benchmark 3: event → first webhook attempt latency, and sustained webhook deliveries/s to a local receiver."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from agentmail_server.events import signing

from . import mail
from .env import PYTHON, ROOT, Child, Workspace, free_port, latency_summary, load, log, postgres_available, ratio
from .servers import Agentmail
from .smtp import ingest
from .wslatency import _send_paced

INBOX = "hooks"


class Receiver:
    def __init__(self, ws: Workspace, name: str) -> None:
        self.ws = ws
        self.port = free_port()
        self.out = ws.dir("receivers") / f"{name}.json"
        self.child: Child = ws.spawn(f"receiver-{name}", [PYTHON, "-m", "bench.receiver", "--port", str(self.port),
                                                          "--out", str(self.out)],
                                     env={**os.environ, "PYTHONPATH": str(ROOT)}, pipes=True)
        assert self.child.proc.stdout is not None
        if not self.child.proc.stdout.readline().startswith(b"ready"):
            raise RuntimeError(f"receiver did not start:\n{self.child.tail()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def finish(self) -> list[list[Any]]:
        """[path, svix-id, message id, time.time(), time.monotonic(), body bytes] per request received."""
        assert self.child.proc.stdin is not None
        self.child.proc.stdin.write(b"stop\n")
        self.child.proc.stdin.flush()
        self.child.proc.wait(timeout=60)
        self.ws.stop(self.child)
        return json.loads(self.out.read_text())  # type: ignore[no-any-return]


def event_times(server: Agentmail) -> dict[str, float]:
    """event_id → created_at (epoch seconds) of every event, read straight from the database."""
    return {event_id: _epoch(at) for event_id, at in server.query("SELECT event_id, created_at FROM events")}


def _epoch(value: Any) -> float:
    # PostgreSQL gives aware datetimes; SQLite the stored text, which is UTC.
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def wait_for(receiver_count: Any, target: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while receiver_count() < target and time.monotonic() < deadline:
        time.sleep(0.2)


def delivered_count(server: Agentmail) -> int:
    return int(server.query("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")[0][0])


def sustained(times: list[float]) -> dict[str, Any]:
    """Deliveries/s over the whole span, and over its middle 80 % (ramp-up and tail cut off)."""
    times = sorted(times)
    out: dict[str, Any] = {"deliveries": len(times)}
    if len(times) > 1:
        out["per_s"] = round((len(times) - 1) / (times[-1] - times[0]), 1)
    if len(times) >= 10:
        lo, hi = int(len(times) * 0.1), int(len(times) * 0.9)
        out["middle_per_s"] = round((hi - lo) / (times[hi] - times[lo]), 1)
    return out


def agentmail(ws: Workspace, backend: str, *, latency_messages: int, interval: float, webhooks: int,
              burst_messages: int, size: int) -> dict[str, Any]:
    receiver = Receiver(ws, f"agentmail-{backend}")
    server = Agentmail(ws, backend, name=f"hooks-{backend}", extra_env={
        "AGENTMAIL_WEBHOOK_ALLOW_PRIVATE": "true", "AGENTMAIL_WEBHOOK_ALLOW_HTTP": "true"})
    server.start()
    try:
        inbox = server.create_inbox(INBOX)
        server.api("POST", "/v0/webhooks", json={"url": receiver.url("/hook/0"), "event_types": ["message.received"]})
        before = load()
        # Latency: one webhook, messages paced so that attempts do not queue behind each other.
        accepted = asyncio.run(_send_paced(server.smtp_port, inbox, f"hl{backend}", latency_messages, interval, size))
        wait_for(lambda: delivered_count(server), len(accepted), 60)
        load_latency = load()
        # Throughput: more webhooks, a burst of messages, every delivery to the same receiver.
        for k in range(1, webhooks):
            server.api("POST", "/v0/webhooks", json={"url": receiver.url(f"/hook/{k}"),
                                                     "event_types": ["message.received"]})
        msgs = [mail.message(to=inbox, message_id=f"<hb{backend}.{i}@bench.example.com>", size=size, seed=i)
                for i in range(burst_messages)]
        burst_started = time.monotonic()
        asyncio.run(ingest("127.0.0.1", server.smtp_port, rcpt=inbox, messages=msgs, sessions=5))
        expected = len(accepted) + burst_messages * webhooks
        wait_for(lambda: delivered_count(server), expected, 600)
        records = receiver.finish()
        created = event_times(server)
    finally:
        server.drop()
        if receiver.child.alive():
            receiver.finish()
    latency_records = [r for r in records if r[2] in accepted]
    first_attempt = [r[3] - created[r[1].removeprefix("msg_")] for r in latency_records
                     if r[1].removeprefix("msg_") in created]
    from_250 = [r[4] - accepted[r[2]] for r in latency_records]
    burst = [r[4] for r in records if r[2] not in accepted]
    row = {
        "system": f"agentmail {backend}", "webhooks": webhooks, "events_latency": len(accepted),
        "event_to_attempt": latency_summary(first_attempt), "smtp250_to_attempt": latency_summary(from_250),
        "burst": {**sustained(burst), "expected": burst_messages * webhooks,
                  "span_s": round(max(burst) - burst_started, 2) if burst else None},
        "body_bytes": int(statistics.median(r[5] for r in records)) if records else None,
        "load_before": before, "load_latency": load_latency, "load_after": load(),
    }
    log(f"webhooks agentmail {backend}: event→attempt p50 {row['event_to_attempt']['p50_ms']} ms, "
        f"p99 {row['event_to_attempt']['p99_ms']} ms; burst {row['burst']} load {row['load_after']}")
    return row


async def _bare_posts(url: str, count: int, concurrency: int, body: str) -> list[float]:
    """Signed POSTs of `body` with the dispatcher's client settings (no keep-alive), `concurrency` at once."""
    secret = signing.new_secret()
    latencies: list[float] = []
    next_index = 0
    async with httpx.AsyncClient(timeout=15, follow_redirects=False, trust_env=False,
                                 limits=httpx.Limits(max_keepalive_connections=0)) as client:
        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                next_index += 1
                msg_id = f"msg_{os.urandom(16).hex()}"
                started = time.monotonic()
                headers = {"Content-Type": "application/json",
                           **signing.headers(secret, msg_id, int(time.time()), body)}
                response = await client.post(url, content=body.encode(), headers=headers)
                response.raise_for_status()
                latencies.append(time.monotonic() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def bare(ws: Workspace, *, count: int, concurrency: int, body_bytes: int) -> dict[str, Any]:
    receiver = Receiver(ws, "bare")
    body = json.dumps({"type": "event", "event_type": "message.received",
                       "message": {"message_id": "<bare@bench>", "text": "x" * max(0, body_bytes - 120)}})
    before = load()
    try:
        single = asyncio.run(_bare_posts(receiver.url("/bare"), 50, 1, body))
        asyncio.run(_bare_posts(receiver.url("/bare"), count, concurrency, body))
    finally:
        records = receiver.finish()
    times = [r[4] for r in records][50:]
    row = {"system": "bare signed POSTs (httpx, no keep-alive)", "concurrency": concurrency,
           "event_to_attempt": latency_summary(single), "burst": {**sustained(times), "expected": count},
           "load_before": before, "load_after": load()}
    log(f"webhooks bare: single POST p50 {row['event_to_attempt']['p50_ms']} ms; burst {row['burst']}")
    return row


def run(ws: Workspace, *, backends: list[str], peers: list[str], latency_messages: int, interval: float,
        webhooks: int, burst_messages: int, size: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for backend in backends:
        if backend == "postgresql" and not postgres_available():
            skipped[f"agentmail {backend}"] = "no PostgreSQL answers at the bench URL"
            continue
        rows.append(agentmail(ws, backend, latency_messages=latency_messages, interval=interval, webhooks=webhooks,
                              burst_messages=burst_messages, size=size))
    if "bare" in peers:
        # The dispatcher's default concurrency (AGENTMAIL_WEBHOOK_CONCURRENCY=8), a body of the events' size.
        body = next((r["body_bytes"] for r in rows if r.get("body_bytes")), int(size * 2.5))
        rows.append(bare(ws, count=burst_messages * webhooks, concurrency=8, body_bytes=body))
    base = next((r for r in rows if r["system"].startswith("bare")), None)
    for row in rows:
        row["burst"]["vs_bare"] = ratio(row["burst"].get("middle_per_s"), base["burst"].get("middle_per_s")) \
            if base else None
    return {"benchmark": "webhooks", "params": {"latency_messages": latency_messages, "interval": interval,
                                                "webhooks": webhooks, "burst_messages": burst_messages,
                                                "size": size},
            "rows": rows, "skipped": skipped}


def table(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"system": r["system"], "event→attempt p50 ms": r["event_to_attempt"]["p50_ms"],
             "p99 ms": r["event_to_attempt"]["p99_ms"],
             "250→attempt p50 ms": (r.get("smtp250_to_attempt") or {}).get("p50_ms"),
             "deliveries/s": r["burst"].get("middle_per_s"), "vs bare": r["burst"].get("vs_bare"),
             "delivered": f"{r['burst']['deliveries']}/{r['burst']['expected']}", "load": r["load_after"]}
            for r in result["rows"]]
