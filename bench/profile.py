"""Sampling profiles of the server under benchmark load (py-spy), and a text summary of them.

`python -m bench <benchmark> --profile` records every agentmail-server process it starts with
`py-spy record --format raw` (collapsed stacks) into bench/results/profiles/. Summarise one with

    python -m bench.profile bench/results/profiles/<file>.txt [--top 30] [--match agentmail_server]

py-spy is not a project dependency: `.venv/bin/pip install py-spy`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")


def py_spy() -> str | None:
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def record(pid: int, out: Path, rate: int = 100) -> subprocess.Popen[bytes]:
    """Start sampling `pid` and its children until it exits; collapsed stacks go to `out`."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    out.parent.mkdir(parents=True, exist_ok=True)
    # --subprocesses: the server's worker process (and its parser) are sampled into the same file.
    return subprocess.Popen([tool, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
                             "--output", str(out), "--nonblocking", "--subprocesses"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _short(frame: str) -> str:
    # "function (module/path.py:123)" → "function (path.py)" keeps lines readable and merges line numbers.
    m = re.match(r"^(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    name, path = m.groups()
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def summarise(path: Path, top: int = 30, match: str | None = None) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        stack, count = m.group(1).split(";"), int(m.group(2))
        frames = [_short(f) for f in stack]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return f"{path}: no samples"

    def rows(counter: Counter[str]) -> list[str]:
        picked = [(f, c) for f, c in counter.most_common() if match is None or match in f][:top]
        return [f"  {100 * c / total:5.1f}%  {f}" for f, c in picked]

    return "\n".join([f"{path}: {total} samples", "self time:", *rows(own), "inclusive:", *rows(inclusive)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", help="only frames containing this text (e.g. agentmail_server)")
    args = parser.parse_args()
    for path in args.files:
        print(summarise(path, args.top, args.match))


if __name__ == "__main__":
    main()
