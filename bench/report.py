"""Markdown tables from saved results: `python -m bench.report bench/results/*.json`."""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

from .run import MODULES, _fmt


def markdown(result: dict[str, Any]) -> str:
    rows = result.get("table") or importlib.import_module(f"bench.{MODULES[result['benchmark']]}").table(result)
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(result.get("started", 0)))
    head = (f"**{result['benchmark']}**{' ' + result['tag'] if result.get('tag') else ''} — {started}, "
            f"{result.get('seconds')} s, load at start {_fmt(result['machine'].get('load_at_start'))}, "
            f"at end {_fmt(result.get('load_at_end'))}; sizes {json.dumps(result.get('sizes'))}")
    lines = [head, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    for name, reason in (result.get("skipped") or {}).items():
        lines.append(f"\nskipped {name}: {reason}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    for path in parser.parse_args().files:
        print(markdown(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
