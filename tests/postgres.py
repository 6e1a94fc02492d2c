"""Finding a PostgreSQL server for the tests, or starting a throwaway cluster."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


async def _answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def answers(url: str) -> bool:
    return asyncio.run(_answers(url))


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range where it can.

    A port the kernel hands out for bind(0) comes from the same range as the local ports of outgoing
    connections, so one of the suite's many client connections could take it before (or, after a
    chaos kill, between) the server's binds: the cause of rare "address already in use" restarts.
    """
    floor = _ephemeral_floor()
    if floor > 11_000:
        for _ in range(50):
            port = random.randrange(10_000, floor)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_tool(name: str) -> str | None:
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


@dataclass
class Cluster:
    """A throwaway cluster (initdb + pg_ctl), run as the postgres user when we are root."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _as_postgres(cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    @classmethod
    def start(cls) -> Cluster:
        initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        directory = Path(tempfile.mkdtemp(prefix="am-pg-"))
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
        port = free_port()
        run = lambda cmd: subprocess.run(cls._as_postgres(cmd), check=True, capture_output=True)  # noqa: E731
        run([initdb, "-D", f"{directory}/data", "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync"])
        cluster = cls(directory=directory, port=port)
        cluster.resume()
        return cluster

    def _options(self) -> str:
        return (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")

    def resume(self) -> None:
        """Start the server process (again) on the same data directory and port."""
        pg_ctl = _pg_tool("pg_ctl")
        assert pg_ctl is not None
        subprocess.run(self._as_postgres([pg_ctl, "-D", f"{self.directory}/data", "-l", f"{self.directory}/server.log",
                                          "-w", "-s", "-o", self._options(), "start"]), check=True,
                       capture_output=True)

    def halt(self, mode: str = "fast") -> None:
        """Stop the server process but keep the data: `resume()` brings it back ("immediate" is a crash)."""
        pg_ctl = _pg_tool("pg_ctl")
        assert pg_ctl is not None
        subprocess.run(self._as_postgres([pg_ctl, "-D", f"{self.directory}/data", "-m", mode, "-w", "-s", "stop"]),
                       check=True, capture_output=True)

    def stop(self) -> None:
        pg_ctl = _pg_tool("pg_ctl")
        if pg_ctl:
            subprocess.run(self._as_postgres([pg_ctl, "-D", f"{self.directory}/data", "-m", "immediate", "-w",
                                              "-s", "stop"]), capture_output=True)
        shutil.rmtree(self.directory, ignore_errors=True)


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def fresh_database(admin_url: str) -> tuple[str, str]:
    """A new empty database on the server behind `admin_url`: (name, sqlalchemy url)."""
    name = f"am_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(admin_url, name))
    base = admin_url.rsplit("/", 1)[0]
    return name, f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


def drop_database(admin_url: str, name: str) -> None:
    asyncio.run(_drop_database(admin_url, name))
