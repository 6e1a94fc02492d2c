"""Benchmark 4: REST get-message and list-messages with a large inbox, against maildev's REST API over
the same messages and a bare FastAPI endpoint answering a same-size JSON from memory. Load from wrk."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from .env import BENCH, Workspace, load, log, postgres_available, ratio
from .seed import Corpus, seed
from .servers import DOMAIN, Agentmail, Bare, Maildev
from .smtp import ingest

INBOX = "rest"
WRK_SCRIPT = BENCH / "wrk.lua"


def wrk(url: str, paths: list[str], *, token: str | None, connections: int, duration: float,
        workdir: Path) -> dict[str, Any]:
    """One wrk run (1 thread) over random paths; requests/s and latency percentiles in ms."""
    paths_file = workdir / f"paths-{abs(hash((url, tuple(paths[:3])))) % 10**8}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s", "-s",
           str(WRK_SCRIPT), url]
    env = {"BENCH_PATHS": str(paths_file), "BENCH_TOKEN": token or "", "PATH": "/usr/bin:/bin"}
    before = load()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 120)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    raw = json.loads(line[6:])
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    return {"connections": connections, "requests": raw["requests"],
            "requests_per_s": round(raw["requests"] / seconds, 1),
            "p50_ms": raw["p50_us"] / 1000, "p95_ms": raw["p95_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "non_2xx": raw["non_2xx"], "errors": errors,
            "bytes_per_response": round(raw["bytes"] / raw["requests"]) if raw["requests"] else None,
            "load_before": before, "load_after": load()}


def load_runs(label: str, base_url: str, endpoints: dict[str, list[str]], *, token: str | None,
              connections: int, duration: float, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for endpoint, paths in endpoints.items():
        wrk(base_url, paths, token=token, connections=connections, duration=min(2.0, duration), workdir=workdir)
        for conns in dict.fromkeys((1, connections)):
            result = wrk(base_url, paths, token=token, connections=conns, duration=duration, workdir=workdir)
            rows.append({"system": label, "endpoint": endpoint, **result})
            log(f"rest {label} {endpoint} c={conns}: {result['requests_per_s']} req/s p50 {result['p50_ms']} "
                f"p95 {result['p95_ms']} ms ({result['non_2xx']} non-2xx, {result['errors']} errors) "
                f"load {result['load_after']}")
    return rows


def agentmail(ws: Workspace, backend: str, *, messages: int, thread_size: int, size: int, connections: int,
              duration: float, eml_dir: Path | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    server = Agentmail(ws, backend, name=f"rest-{backend}")
    server.start()
    try:
        inbox = server.create_inbox(INBOX)
        started = time.monotonic()
        corpus = Corpus(inbox, count=messages, thread_size=thread_size, size=size)
        ids = asyncio.run(seed(server.database_url, inbox, corpus, eml_dir=eml_dir))
        seeded = {"messages": len(ids), "threads": (messages + thread_size - 1) // thread_size,
                  "seconds": round(time.monotonic() - started, 1)}
        log(f"rest {backend}: seeded {seeded}")
        sample = random.Random(3).sample(ids, min(len(ids), 20000))
        base = f"/v0/inboxes/{quote(inbox, safe='@')}/messages"
        endpoints = {"get": [f"{base}/{quote(mid, safe='@')}" for mid in sample], "list": [base]}
        with server.client() as client:
            bodies = {"get": client.get(endpoints["get"][0]).raise_for_status().json(),
                      "list": client.get(base).raise_for_status().json()}
            assert bodies["list"]["count"] == 50, bodies["list"]["count"]
        rows = load_runs(f"agentmail {backend}", server.base_url, endpoints, token=server.api_key,
                         connections=connections, duration=duration, workdir=ws.dir("wrk"))
        for row in rows:
            row["seeded"] = seeded
        return rows, bodies
    finally:
        server.drop()


def maildev(ws: Workspace, *, eml_dir: Path, messages: int, connections: int, duration: float) -> list[dict[str, Any]]:
    """maildev with the same messages, delivered the way maildev gets mail: over SMTP.

    (Loading them from its --mail-directory at start does not work at this size: it reads every
    file at once and gives up on part of them.)
    """
    peer = Maildev(ws)
    peer.start()
    try:
        started = time.monotonic()
        raws = [path.read_bytes() for path in sorted(eml_dir.glob("*.eml"))]
        result = asyncio.run(ingest("127.0.0.1", peer.smtp_port, rcpt=f"{INBOX}@{DOMAIN}", messages=raws, sessions=20))
        if result.accepted != len(raws):
            raise RuntimeError(f"maildev accepted {result.accepted} of {len(raws)}: {result.errors}")
        # Its store fills as each message is parsed, a little after the 250: wait for the last one.
        deadline = time.monotonic() + 300
        newest: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            newest = httpx.get(f"{peer.base_url}/email", params={"skip": messages - 1000}, timeout=120).json()
            if len(newest) >= 1000:
                break
            time.sleep(2)
        log(f"rest maildev: {messages} messages delivered and stored in {time.monotonic() - started:.0f} s")
        # maildev looks a message up by scanning its whole store, so where the ids come from does not matter.
        ids = [m["id"] for m in newest]
        endpoints = {"get": [f"/email/{i}" for i in ids],
                     # maildev has no page size: skip to the newest 50 (its only way to get one page).
                     "list": [f"/email?skip={messages - 50}"]}
        return load_runs("maildev (npm)", peer.base_url, endpoints, token=None, connections=connections,
                         duration=duration, workdir=ws.dir("wrk"))
    finally:
        peer.stop()


def bare(ws: Workspace, bodies: dict[str, Any], *, connections: int, duration: float) -> list[dict[str, Any]]:
    payloads = ws.dir("bare-rest") / "payloads.json"
    payloads.write_text(json.dumps(bodies))
    peer = Bare(ws, name="bare-rest", args=["--payloads", str(payloads)]).start()
    try:
        return load_runs("bare FastAPI (JSON from memory)", peer.base_url,
                         {"get": ["/bare/get"], "list": ["/bare/list"]}, token=None, connections=connections,
                         duration=duration, workdir=ws.dir("wrk"))
    finally:
        peer.stop()


def run(ws: Workspace, *, backends: list[str], peers: list[str], messages: int, thread_size: int, duration: float,
        connections: int, size: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    bodies: dict[str, Any] | None = None
    eml_dir: Path | None = None
    if "maildev" in peers:
        if Maildev.available():
            eml_dir = ws.dir("maildev-mail")
        else:
            skipped["maildev"] = "bench/node/node_modules missing: run `npm ci --prefix bench/node`"
    for backend in backends:
        if backend == "postgresql" and not postgres_available():
            skipped[f"agentmail {backend}"] = "no PostgreSQL answers at the bench URL"
            continue
        # The first seeding also writes the raw messages for maildev (the same bytes, the same order).
        write_eml = eml_dir is not None and not any(eml_dir.iterdir())
        got, body = agentmail(ws, backend, messages=messages, thread_size=thread_size, size=size,
                              connections=connections, duration=duration, eml_dir=eml_dir if write_eml else None)
        rows += got
        bodies = bodies or body
    if "bare" in peers and bodies is not None:
        rows += bare(ws, bodies, connections=connections, duration=duration)
    if eml_dir is not None and any(eml_dir.iterdir()):
        try:
            rows += maildev(ws, eml_dir=eml_dir, messages=messages, connections=connections, duration=duration)
        except Exception as exc:  # a peer failing must not cost the figures already measured
            log(f"rest maildev failed: {exc!r}")
            skipped["maildev"] = f"failed: {exc!r}"
    for row in rows:
        def peer(prefix: str, row: dict[str, Any] = row) -> dict[str, Any] | None:
            return next((r for r in rows if r["system"].startswith(prefix) and r["endpoint"] == row["endpoint"]
                         and r["connections"] == row["connections"]), None)
        b, m = peer("bare"), peer("maildev")
        row["rps_vs_bare"] = ratio(row["requests_per_s"], b["requests_per_s"]) if b else None
        row["rps_vs_maildev"] = ratio(row["requests_per_s"], m["requests_per_s"]) if m else None
    return {"benchmark": "rest", "params": {"messages": messages, "thread_size": thread_size, "message_bytes": size,
                                            "duration_s": duration, "connections": [1, connections],
                                            "inbox": f"{INBOX}@{DOMAIN}"},
            "rows": rows, "skipped": skipped, "targets": {"p95_ms": 20, "rps_vs_bare": 0.5, "rps_vs_maildev": 1.0}}


def table(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"system": r["system"], "endpoint": r["endpoint"], "conns": r["connections"], "req/s": r["requests_per_s"],
             "p50 ms": r["p50_ms"], "p95 ms": r["p95_ms"], "p99 ms": r["p99_ms"], "vs bare": r["rps_vs_bare"],
             "vs maildev": r["rps_vs_maildev"], "bytes": r["bytes_per_response"],
             "bad": r["non_2xx"] + r["errors"], "load": r["load_after"]}
            for r in result["rows"]]
