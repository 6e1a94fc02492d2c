"""Running the real agentmail-server process for tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .postgres import free_port


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`: its children, theirs, and so on."""
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# Settings every test server gets (conftest points DNS at a local zone server, for instance).
DEFAULT_ENV: dict[str, str] = {}


@dataclass
class Server:
    backend: str
    database_url: str
    workdir: Path
    api_key: str = field(default_factory=lambda: "am_us_" + secrets.token_hex(32))
    http_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"server-{self.http_port}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAIL_")}
        env.update({
            "AGENTMAIL_DATABASE_URL": self.database_url,
            "AGENTMAIL_HTTP_HOST": "127.0.0.1",
            "AGENTMAIL_HTTP_PORT": str(self.http_port),
            "AGENTMAIL_SMTP_HOST": "127.0.0.1",
            "AGENTMAIL_SMTP_PORT": str(self.smtp_port),
            "AGENTMAIL_ROOT_API_KEY": self.api_key,
            "AGENTMAIL_LOG_LEVEL": "warning",
            **DEFAULT_ENV,
        })
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentmail_server", "serve"], cwd=self.workdir, env=self.env(),
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def worker_processes(self) -> list[int]:
        """The worker processes this server started (the worker role runs in children by default):
        forked ones look like the server itself, restarted ones run agentmail_server.workers.child.
        Its other children are multiprocessing's (the mail parsers when the worker role runs here)."""
        assert self.process is not None
        return [pid for pid in children(self.process.pid) if b"agentmail_server" in cmdline(pid)]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cli(self, *args: str) -> dict[str, str]:
        """Run an agentmail-server subcommand against this server's database; parse its --json output."""
        out = subprocess.run(
            [sys.executable, "-m", "agentmail_server", *args, "--json"], cwd=self.workdir, env=self.env(),
            check=True, capture_output=True, text=True, timeout=60,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
