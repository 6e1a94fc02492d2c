"""How long the inbound parser takes per message (in-process, one core, no database).

    python -m bench.parse_time [--size 10240] [--count 200] [--rounds 5]

Parses the ingest benchmark's messages (multipart/alternative, text + HTML, about `size` bytes) and
reports the fastest round's milliseconds per message, with the share of reply extraction (quote and
signature removal), which runs inside `parse`. Run it with `PYTHONPATH=<copy of src/>` to compare
versions on the same machine.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from agentmail_server.mail import extract
from agentmail_server.mail.parse import parse

from . import mail


def fastest(fn: Any, items: list[Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, (time.perf_counter() - started) / len(items))
    return round(best * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_240)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    raws = [mail.message(to="bench@bench.localhost", message_id=f"<p.{i}@bench.example.com>", size=args.size, seed=i)
            for i in range(args.count)]
    parsed = [parse(raw) for raw in raws]
    result = {
        "size": args.size, "count": args.count,
        "parse_ms": fastest(parse, raws, args.rounds),
        "extract_text_ms": fastest(extract.extract_text, [p.text for p in parsed], args.rounds),
        "extract_html_ms": fastest(extract.extract_html, [p.html for p in parsed], args.rounds),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
