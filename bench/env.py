"""The machine, its load, ports, child processes, throwaway PostgreSQL databases and small statistics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get("AGENTMAIL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def log(*parts: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages (what `uptime` prints)."""
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    info: dict[str, Any] = {
        "nproc": os.cpu_count(), "cpu_model": model, "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "load_at_start": load(),
    }
    with contextlib.suppress(Exception):
        info["postgresql"] = asyncio.run(_pg_version())
    with contextlib.suppress(Exception):
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True, timeout=5).stdout.strip()
    return info


async def _pg_version() -> str:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def process_tree(pid: int) -> list[int]:
    """`pid` and every live process below it (the server's worker process and parsers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += process_tree(int(child))
    return found


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) of a process and of every process below it, summed."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and the processes below it have used so far."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    """A child process we started (its own process group, so we stop exactly what we started)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def spawn(cls, name: str, cmd: Sequence[str], *, workdir: Path, env: dict[str, str] | None = None,
              pipes: bool = False, max_files: int | None = None) -> Child:
        """Output goes to <workdir>/<name>.log; with `pipes`, stdout and stdin are pipes to us instead.
        `max_files` raises the child's open-files limit (root may go past the shell's hard limit)."""
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / f"{name}.log"
        out = log_path.open("ab")

        def limits() -> None:
            if max_files:
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, max_files), max(hard, max_files)))

        proc = subprocess.Popen(list(cmd), cwd=workdir, env=env, stdout=subprocess.PIPE if pipes else out,
                                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL, stderr=out,
                                start_new_session=True, preexec_fn=limits if max_files else None)
        out.close()
        return cls(name=name, proc=proc, log_path=log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Workspace:
    """A temporary directory for one run; children registered here are stopped on exit."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="agentmail-bench-")))
    keep: bool = False
    children: list[Child] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)

    def dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def spawn(self, name: str, cmd: Sequence[str], *, env: dict[str, str] | None = None,
              workdir: Path | None = None, pipes: bool = False, max_files: int | None = None) -> Child:
        child = Child.spawn(name, cmd, workdir=workdir or self.root, env=env, pipes=pipes, max_files=max_files)
        self.children.append(child)
        return child

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def postgres_database(self) -> tuple[str, str]:
        """A new empty database on the bench PostgreSQL server: (name, SQLAlchemy URL)."""
        name = f"am_bench_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        self.databases.append(name)
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        return name, f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(Exception):
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.databases:
            self.databases.remove(name)

    def close(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        for name in list(self.databases):
            self.drop_database(name)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_available() -> bool:
    try:
        asyncio.run(_pg_version())
    except Exception:
        return False
    return True


@contextlib.contextmanager
def workspace(keep: bool = False) -> Iterator[Workspace]:
    ws = Workspace(keep=keep)
    try:
        yield ws
    finally:
        ws.close()


# --- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """p50/p95/p99/max in milliseconds."""
    ms = [s * 1000 for s in seconds]

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    return {"n": len(ms), "p50_ms": r(percentile(ms, 50)), "p95_ms": r(percentile(ms, 95)),
            "p99_ms": r(percentile(ms, 99)), "max_ms": r(max(ms) if ms else None)}


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return round(value / baseline, 3)
