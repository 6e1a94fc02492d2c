"""Benchmark 5: resident memory of the server holding many idle, subscribed WebSocket connections."""

from __future__ import annotations

import time
from typing import Any

from .env import Workspace, cpu_seconds, load, log, postgres_available, ratio, rss_kib
from .servers import Agentmail, Bare
from .wslatency import Subscribers

INBOX = "idle"


def measure(ws: Workspace, label: str, *, pid: int, url: str, subscribe: dict[str, Any], connections: int,
            clients: int, idle: float, deflate: bool) -> dict[str, Any]:
    time.sleep(1.0)
    rss_before = rss_kib(pid)
    before = load()
    started = time.monotonic()
    group = Subscribers(ws, f"idle-{label.replace(' ', '-')}", url, subscribe, connections, clients,
                        deflate=deflate).start(timeout=900)
    connect_seconds = time.monotonic() - started
    rss_connected = rss_kib(pid)
    cpu_before = cpu_seconds(pid)
    time.sleep(idle)
    rss_idle = rss_kib(pid)
    cpu_idle = cpu_seconds(pid) - cpu_before
    group.finish(wait=0)
    row = {
        "system": label, "connections": group.connected, "failed": group.failed,
        "rss_before_mib": round(rss_before / 1024, 1), "rss_idle_mib": round(rss_idle / 1024, 1),
        "rss_connected_mib": round(rss_connected / 1024, 1),
        "kib_per_connection": round((rss_idle - rss_before) / max(1, group.connected), 1),
        "connect_seconds": round(connect_seconds, 1), "idle_seconds": idle,
        "idle_cpu_percent": round(100 * cpu_idle / idle, 1), "load_before": before, "load_after": load(),
    }
    log(f"ws-memory {label}: {row['connections']} connections, RSS {row['rss_before_mib']} → {row['rss_idle_mib']} MiB"
        f" ({row['kib_per_connection']} KiB each) load {row['load_after']}")
    return row


def run(ws: Workspace, *, backends: list[str], peers: list[str], connections: int, clients: int,
        idle: float, deflate: int = 1) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for backend in backends:
        if backend == "postgresql" and not postgres_available():
            skipped[f"agentmail {backend}"] = "no PostgreSQL answers at the bench URL"
            continue
        server = Agentmail(ws, backend, name=f"idle-{backend}",
                           extra_env={"AGENTMAIL_WS_MAX_CONNECTIONS_PER_ORG": str(connections + 10)})
        server.start()
        try:
            inbox = server.create_inbox(INBOX)
            rows.append(measure(ws, f"agentmail {backend}", pid=server.pid,
                                url=f"ws://127.0.0.1:{server.http_port}/v0?api_key={server.api_key}",
                                subscribe={"type": "subscribe", "event_types": ["message.received"],
                                           "inbox_ids": [inbox]},
                                connections=connections, clients=clients, idle=idle, deflate=bool(deflate)))
        finally:
            server.drop()
    if "bare" in peers:
        bare = Bare(ws, name="bare-idle").start()
        try:
            rows.append(measure(ws, "bare uvicorn WebSocket", pid=bare.pid, url=f"ws://127.0.0.1:{bare.http_port}/bare/ws",
                                subscribe={"type": "subscribe"}, connections=connections, clients=clients, idle=idle,
                                deflate=bool(deflate)))
        finally:
            bare.stop()
    base = next((r for r in rows if r["system"].startswith("bare")), None)
    for row in rows:
        row["rss_vs_bare"] = ratio(row["rss_idle_mib"], base["rss_idle_mib"]) if base else None
        row["per_connection_vs_bare"] = ratio(row["kib_per_connection"], base["kib_per_connection"]) if base else None
    return {"benchmark": "ws-memory", "params": {"connections": connections, "clients": clients, "idle_s": idle,
                                                 "permessage_deflate": bool(deflate)},
            "rows": rows, "skipped": skipped, "targets": {"rss_mib": 1024}}


def table(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"system": r["system"], "connections": r["connections"], "failed": r["failed"],
             "RSS before MiB": r["rss_before_mib"], "RSS idle MiB": r["rss_idle_mib"],
             "KiB/conn": r["kib_per_connection"], "vs bare": r["rss_vs_bare"], "idle CPU %": r["idle_cpu_percent"],
             "connect s": r["connect_seconds"], "load": r["load_after"]}
            for r in result["rows"]]
