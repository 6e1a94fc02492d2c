"""Benchmark 2: SMTP 250 → WebSocket frame latency with many connected subscribers."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from . import mail
from .env import PYTHON, ROOT, Child, Workspace, latency_summary, load, log, postgres_available, ratio
from .servers import DOMAIN, Agentmail, Bare
from .smtp import Session, wire_data

INBOX = "ws"


@dataclass
class Subscribers:
    """`total` WebSocket subscribers spread over `processes` client processes (bench/wsclient.py)."""

    ws: Workspace
    name: str
    url: str
    subscribe: dict[str, Any]
    total: int
    processes: int
    expect: int = 0
    deflate: bool = True
    children: list[Child] = field(default_factory=list)
    connected: int = 0
    failed: int = 0

    def start(self, timeout: float = 300.0) -> Subscribers:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        share = [self.total // self.processes + (i < self.total % self.processes) for i in range(self.processes)]
        workdir = self.ws.dir(self.name)
        for i, count in enumerate(c for c in share if c):
            self.children.append(self.ws.spawn(
                f"{self.name}-{i}",
                [PYTHON, "-m", "bench.wsclient", "--url", self.url, "--count", str(count),
                 "--subscribe", json.dumps(self.subscribe), "--out", str(workdir / f"out-{i}.json"),
                 "--expect", str(self.expect), "--deflate", str(int(self.deflate))],
                env=env, workdir=workdir, pipes=True,
            ))
        deadline = time.monotonic() + timeout
        for child in self.children:
            assert child.proc.stdout is not None
            line = b""
            while time.monotonic() < deadline and not line.startswith(b"ready"):
                line = child.proc.stdout.readline()
                if not line and child.proc.poll() is not None:
                    raise RuntimeError(f"subscriber process exited:\n{child.tail()}")
            _, ok, bad = line.decode().split()
            self.connected += int(ok)
            self.failed += int(bad)
        return self

    def finish(self, wait: float) -> dict[str, Any]:
        """Let the processes end by themselves within `wait` seconds, else tell them to stop; merge results."""
        deadline = time.monotonic() + wait
        for child in self.children:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:
                pass
        for child in self.children:
            if child.proc.poll() is None and child.proc.stdin is not None:
                try:
                    child.proc.stdin.write(b"stop\n")
                    child.proc.stdin.flush()
                except OSError:
                    pass
        merged: dict[str, Any] = {"arrivals": [], "frame_bytes": [], "failures": []}
        workdir = self.ws.dir(self.name)
        for i, child in enumerate(self.children):
            child.proc.wait(timeout=120)
            out = json.loads((workdir / f"out-{i}.json").read_text())
            merged["arrivals"] += out["arrivals"]
            merged["frame_bytes"] += out["frame_bytes"]
            merged["failures"] += out["failures"]
            self.ws.stop(child)
        return merged


async def _send_paced(port: int, rcpt: str, prefix: str, count: int, interval: float, size: int) -> dict[str, float]:
    """One SMTP session sending `count` messages `interval` apart; message id → monotonic time of the 250."""
    accepted: dict[str, float] = {}
    session = await Session.open("127.0.0.1", port)
    try:
        for i in range(count):
            mid = f"<{prefix}.{i}@bench.example.com>"
            data = wire_data(mail.message(to=rcpt, message_id=mid, size=size, seed=i))
            tick = time.monotonic()
            code, text = await session.send("sender@example.com", [rcpt], data)
            if code == 250:
                accepted[mid] = time.monotonic()
            else:
                log(f"refused: {code} {text}")
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - tick)))
    finally:
        await session.close()
    return accepted


def measure(ws: Workspace, label: str, *, url: str, subscribe: dict[str, Any], smtp_port: int, rcpt: str,
            subscribers: int, clients: int, messages: int, interval: float, size: int, deflate: bool,
            pid: int) -> dict[str, Any]:
    group = Subscribers(ws, f"subs-{label.replace(' ', '-')}", url, subscribe, subscribers, clients,
                        expect=messages, deflate=deflate).start()
    log(f"ws-latency {label}: {group.connected} subscribers connected ({group.failed} failed)")
    before = load()
    prefix = f"ws{int(time.time() * 1000) % 10**8}"
    accepted = asyncio.run(_send_paced(smtp_port, rcpt, prefix, messages, interval, size))
    merged = group.finish(wait=15.0)
    latencies: list[float] = []
    first: dict[str, float] = {}
    for mid, at in merged["arrivals"]:
        sent = accepted.get(mid)
        if sent is None:
            continue
        latencies.append(at - sent)
        first[mid] = min(first.get(mid, at), at)
    expected = len(accepted) * group.connected
    row = {
        "system": label, "subscribers": group.connected, "failed_connections": group.failed,
        "messages": len(accepted), "frames": len(latencies), "frames_expected": expected,
        "all_frames": latency_summary(latencies),
        "first_frame": latency_summary([first[m] - accepted[m] for m in first]),
        "frame_bytes": int(statistics.median(merged["frame_bytes"])) if merged["frame_bytes"] else None,
        "load_before": before, "load_after": load(),
    }
    log(f"ws-latency {label}: p50 {row['all_frames']['p50_ms']} ms p99 {row['all_frames']['p99_ms']} ms "
        f"({row['frames']}/{expected} frames) load {row['load_after']}")
    return row


def run(ws: Workspace, *, backends: list[str], peers: list[str], subscribers: int, messages: int, interval: float,
        size: int, clients: int, deflate: int = 1) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    frame_bytes: int | None = None
    common = {"subscribers": subscribers, "clients": clients, "messages": messages, "interval": interval,
              "size": size, "deflate": bool(deflate)}
    for backend in backends:
        if backend == "postgresql" and not postgres_available():
            skipped[f"agentmail {backend}"] = "no PostgreSQL answers at the bench URL"
            continue
        # Room for the subscribers plus the odd extra connection (the production cap is 1000).
        server = Agentmail(ws, backend, name=f"ws-{backend}",
                           extra_env={"AGENTMAIL_WS_MAX_CONNECTIONS_PER_ORG": str(max(1000, subscribers + 10))})
        server.start()
        try:
            inbox = server.create_inbox(INBOX)
            row = measure(ws, f"agentmail {backend}", url=f"ws://127.0.0.1:{server.http_port}/v0?api_key={server.api_key}",
                          subscribe={"type": "subscribe", "event_types": ["message.received"], "inbox_ids": [inbox]},
                          smtp_port=server.smtp_port, rcpt=inbox, pid=server.pid, **common)
            rows.append(row)
            frame_bytes = frame_bytes or row["frame_bytes"]
        finally:
            server.drop()
    if "bare" in peers:
        bare = Bare(ws, args=["--frame-bytes", str(frame_bytes or 4096)]).start()
        try:
            rows.append(measure(ws, "bare fsync + fan-out", url=f"ws://127.0.0.1:{bare.http_port}/bare/ws",
                                subscribe={"type": "subscribe"}, smtp_port=bare.smtp_port, rcpt=f"{INBOX}@{DOMAIN}",
                                pid=bare.pid, **common))
        finally:
            bare.stop()
    base = next((r for r in rows if r["system"].startswith("bare")), None)
    for row in rows:
        for part in ("all_frames", "first_frame"):
            for q in ("p50_ms", "p99_ms"):
                row[part][f"{q[:3]}_vs_bare"] = ratio(row[part][q], base[part][q]) if base else None
    return {"benchmark": "ws-latency", "params": common, "rows": rows, "skipped": skipped,
            "targets": {"p99_ms": 50}}


def table(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"system": r["system"], "subscribers": r["subscribers"], "frames": f"{r['frames']}/{r['frames_expected']}",
             "p50 ms": r["all_frames"]["p50_ms"], "p99 ms": r["all_frames"]["p99_ms"],
             "p99 vs bare": r["all_frames"].get("p99_vs_bare"), "1st p50 ms": r["first_frame"]["p50_ms"],
             "1st p99 ms": r["first_frame"]["p99_ms"], "frame B": r["frame_bytes"], "load": r["load_after"]}
            for r in result["rows"]]
