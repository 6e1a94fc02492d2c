"""The one benchmark runner: `python -m bench <benchmark> [options]` (see BENCHMARKS.md).

Every benchmark starts agentmail-server the way users do (`python -m agentmail_server serve`,
AGENTMAIL_* variables), measures the baselines in the same run, prints a table, and writes JSON to
bench/results/. Defaults are the sizes BENCHMARKS.md reports; --quick shrinks them to a smoke run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

from .env import BENCH, load, log, machine, workspace

RESULTS = BENCH / "results"
BACKENDS = ("sqlite", "postgresql")

# name → (full-size defaults, --quick overrides)
SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "ingest": ({"messages": 2000, "warmup": 100, "sessions": 20, "size": 10_240, "drain_timeout": 600.0},
               {"messages": 200, "warmup": 20, "drain_timeout": 60.0}),
    "ws-latency": ({"subscribers": 1000, "messages": 60, "interval": 0.5, "size": 2048, "clients": 2, "deflate": 1},
                   {"subscribers": 50, "messages": 10, "interval": 0.2}),
    "webhooks": ({"latency_messages": 50, "interval": 0.3, "webhooks": 20, "burst_messages": 100, "size": 2048},
                 {"latency_messages": 5, "webhooks": 3, "burst_messages": 10}),
    "rest": ({"messages": 100_000, "thread_size": 5, "duration": 15.0, "connections": 10, "size": 2048},
             {"messages": 2000, "duration": 3.0}),
    "ws-memory": ({"connections": 5000, "clients": 2, "idle": 10.0, "deflate": 1},
                  {"connections": 200, "idle": 2.0}),
}
ORDER = ("ingest", "ws-latency", "webhooks", "rest", "ws-memory")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, list):
        return "/".join(f"{v:.2f}" if isinstance(v, float) else _fmt(v) for v in value)
    return str(value)


def print_table(result: dict[str, Any]) -> None:
    rows = result.get("table") or []
    if not rows:
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(f"\n== {result['benchmark']} ==")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    for name, reason in (result.get("skipped") or {}).items():
        print(f"  skipped {name}: {reason}")


MODULES = {"ingest": "ingest", "ws-latency": "wslatency", "webhooks": "webhooks", "rest": "rest",
           "ws-memory": "wsmemory"}


def module(name: str) -> Any:
    return importlib.import_module(f"bench.{MODULES[name]}")


def run_one(name: str, args: argparse.Namespace, sizes: dict[str, Any], ws: Any) -> dict[str, Any]:
    backends = [b for b in args.backends.split(",") if b]
    peers = [p for p in args.peers.split(",") if p]
    return module(name).run(ws, backends=backends, peers=peers, **sizes)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=[*ORDER, "all"])
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes (seconds, not minutes)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--peers", default="bare,maildev,postfix",
                        help="baselines to run where they apply: bare,maildev,postfix")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a size, e.g. --set messages=500 (see SIZES in bench/run.py)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON results")
    parser.add_argument("--no-save", action="store_true", help="print only; write no JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace (logs, databases)")
    parser.add_argument("--server-src", type=Path,
                        help="run agentmail_server from this directory (a copy of src/) instead of the checkout's")
    parser.add_argument("--tag", default="", help="a word added to the result file name and JSON (e.g. before)")
    parser.add_argument("--profile", action="store_true",
                        help="sample every agentmail-server process with py-spy into <out>/profiles/")
    args = parser.parse_args(argv)

    names = list(ORDER) if args.benchmark == "all" else [args.benchmark]
    from .servers import Agentmail
    if args.profile:
        Agentmail.profile_dir = args.out / "profiles"
    if args.server_src:
        Agentmail.source_dir = args.server_src.resolve()
        log("agentmail_server from", Agentmail.source_dir)
    info = machine()
    log("machine:", json.dumps(info))
    failures = 0
    for name in names:
        full, quick = SIZES[name]
        sizes = {**full, **(quick if args.quick else {})}
        for item in args.set:
            key, _, value = item.partition("=")
            if key in sizes:
                sizes[key] = type(sizes[key])(value)
        started = time.time()
        with workspace(keep=args.keep) as ws:
            if args.keep:
                log("workspace:", ws.root)
            try:
                result = run_one(name, args, sizes, ws)
            except Exception as exc:
                log(f"{name} failed: {exc!r}")
                failures += 1
                if args.keep:
                    raise
                continue
        result.update({"machine": info, "sizes": sizes, "quick": args.quick, "tag": args.tag,
                       "server_src": str(args.server_src or "src"), "started": started,
                       "seconds": round(time.time() - started, 1), "load_at_end": load()})
        result["table"] = module(name).table(result)
        print_table(result)
        if not args.no_save:
            args.out.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
            suffix = ("-quick" if args.quick else "") + (f"-{args.tag}" if args.tag else "")
            path = args.out / f"{name}{suffix}-{stamp}.json"
            path.write_text(json.dumps(result, indent=1, default=str) + "\n")
            log("wrote", path)
    return 1 if failures else 0
