"""Starting the systems under test: agentmail-server as users run it, and the peer baselines."""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import httpx

from . import profile
from .env import BENCH, PYTHON, ROOT, Child, Workspace, free_port, log, wait_port

DOMAIN = "agentmail.localhost"
MAILDEV_BIN = BENCH / "node" / "node_modules" / "maildev" / "bin" / "maildev"


# --- agentmail-server ---------------------------------------------------------------------------


class Spawned:
    """The process side of a server started with `Workspace.spawn`: its pid and stop()."""

    ws: Workspace
    child: Child | None

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    def stop(self) -> None:
        if self.child is not None:
            self.ws.stop(self.child)
            self.child = None


@dataclass
class Agentmail(Spawned):
    """`python -m agentmail_server serve`, configured only through AGENTMAIL_* variables."""

    ws: Workspace
    backend: str  # "sqlite" | "postgresql"
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = "agentmail"
    api_key: str = field(default_factory=lambda: "am_us_" + secrets.token_hex(32))
    http_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    database_url: str = ""
    database_name: str | None = None
    child: Child | None = None
    profiler: subprocess.Popen[bytes] | None = None
    # Set by `python -m bench --profile`: every server started is sampled by py-spy into this directory.
    profile_dir: ClassVar[Path | None] = None
    # Set by `--server-src DIR`: run the agentmail_server package found in DIR (e.g. a copy of src/ from
    # before a change) instead of the checkout's, for before/after comparisons on the same machine.
    source_dir: ClassVar[Path | None] = None

    def __post_init__(self) -> None:
        self.workdir = self.ws.dir(self.name)
        if not self.database_url:
            if self.backend == "sqlite":
                self.database_url = f"sqlite+aiosqlite:///{self.workdir / 'agentmail.db'}"
            else:
                self.database_name, self.database_url = self.ws.postgres_database()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of `sql` read straight from the server's database (read-only on SQLite), beside the server."""
        if self.backend == "sqlite":
            path = self.database_url.split("///", 1)[1]
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()

        async def fetch() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.database_url.replace("+asyncpg", ""), timeout=10)
            try:
                return [tuple(row) for row in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(fetch())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAIL_")}
        env.update({
            "AGENTMAIL_DATABASE_URL": self.database_url,
            "AGENTMAIL_HTTP_HOST": "127.0.0.1", "AGENTMAIL_HTTP_PORT": str(self.http_port),
            "AGENTMAIL_SMTP_HOST": "127.0.0.1", "AGENTMAIL_SMTP_PORT": str(self.smtp_port),
            "AGENTMAIL_SMTP_HOSTNAME": "mx.bench.localhost",
            "AGENTMAIL_ROOT_API_KEY": self.api_key,
            "AGENTMAIL_LOG_LEVEL": "warning",
            # Local test mail: no DNS lookups for SPF/DKIM/DMARC (nothing outside this machine is reached).
            "AGENTMAIL_INBOUND_AUTH": "off",
            **self.extra_env,
        })
        if Agentmail.source_dir is not None:
            env["PYTHONPATH"] = str(Agentmail.source_dir)
            env["AGENTMAIL_MIGRATIONS_DIR"] = str(ROOT / "migrations")
        return env

    def start(self, timeout: float = 60.0) -> Agentmail:
        self.child = self.ws.spawn(self.name, [PYTHON, "-m", "agentmail_server", "serve"], env=self.env(),
                                   workdir=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.child.alive():
                raise RuntimeError(f"agentmail-server exited:\n{self.child.tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    if "smtp" in self.env().get("AGENTMAIL_ROLES", "smtp"):
                        wait_port(self.smtp_port, 10)
                    if Agentmail.profile_dir is not None:
                        out = Agentmail.profile_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.name}.txt"
                        self.profiler = profile.record(self.child.pid, out)
                        log("profiling into", out)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"agentmail-server did not become healthy:\n{self.child.tail()}")

    def stop(self) -> None:
        super().stop()
        if self.profiler is not None:
            try:
                self.profiler.wait(timeout=60)  # py-spy writes its file once the process is gone
            except subprocess.TimeoutExpired:
                self.profiler.kill()
            self.profiler = None

    def drop(self) -> None:
        """Stop, and drop its PostgreSQL database."""
        self.stop()
        if self.database_name:
            self.ws.drop_database(self.database_name)
            self.database_name = None

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.api_key}"},
                            timeout=timeout)

    def create_inbox(self, username: str) -> str:
        with self.client() as c:
            r = c.post("/v0/inboxes", json={"username": username})
            r.raise_for_status()
            return str(r.json()["inbox_id"])

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.client() as c:
            r = c.request(method, path, **kwargs)
            r.raise_for_status()
            return r.json() if r.content else None


# --- the bare baseline (bench/bare.py) ----------------------------------------------------------


@dataclass
class Bare(Spawned):
    """A bare aiosmtpd + uvicorn/FastAPI process: the ceiling of our stack (see bench/bare.py)."""

    ws: Workspace
    name: str = "bare"
    args: list[str] = field(default_factory=list)
    http_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    child: Child | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> Bare:
        workdir = self.ws.dir(self.name)
        self.child = self.ws.spawn(
            self.name,
            [PYTHON, "-m", "bench.bare", "--http-port", str(self.http_port), "--smtp-port", str(self.smtp_port),
             "--spool", str(workdir / "spool"), *self.args],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, workdir=workdir,
        )
        wait_port(self.http_port, 30, self.child.proc)
        wait_port(self.smtp_port, 30, self.child.proc)
        return self


# --- maildev (npm) ------------------------------------------------------------------------------


@dataclass
class Maildev(Spawned):
    ws: Workspace
    name: str = "maildev"
    mail_dir: Path | None = None
    smtp_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    child: Child | None = None

    @staticmethod
    def available() -> bool:
        return MAILDEV_BIN.exists() and shutil.which("node") is not None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> Maildev:
        workdir = self.ws.dir(self.name)
        self.mail_dir = self.mail_dir or workdir / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.child = self.ws.spawn(
            self.name,
            ["node", "--max-old-space-size=8192", str(MAILDEV_BIN), "--smtp", str(self.smtp_port),
             "--web", str(self.web_port), "--ip", "127.0.0.1", "--mail-directory", str(self.mail_dir), "--silent"],
            # At start maildev reads every file of its directory at once: one descriptor per message.
            workdir=workdir, max_files=1_048_576,
        )
        wait_port(self.smtp_port, 30, self.child.proc)
        wait_port(self.web_port, 30, self.child.proc)
        return self


# --- Postfix (Debian package), one instance confined to the workspace ---------------------------


POSTFIX_DAEMONS = Path("/usr/lib/postfix/sbin")


@dataclass
class Postfix:
    """A private Postfix instance: own config and queue directories, SMTP on a high loopback port,
    every recipient of the bench domain delivered by `virtual` into one Maildir."""

    ws: Workspace
    name: str = "postfix"
    smtp_port: int = field(default_factory=free_port)
    running: bool = False

    @staticmethod
    def unavailable_reason() -> str | None:
        if shutil.which("postfix") is None and not Path("/usr/sbin/postfix").exists():
            return "the postfix package is not installed (apt-get install postfix)"
        if os.geteuid() != 0:
            return "a private Postfix instance needs root (its daemons drop to the postfix user)"
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            return "no postfix user"
        return None

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["/usr/sbin/postfix", "-c", str(self.config_dir), *args], capture_output=True,
                              text=True, timeout=60)

    def start(self) -> Postfix:
        base = self.ws.dir(self.name)
        self.config_dir = base / "etc"
        self.queue_dir = base / "spool"
        self.data_dir = base / "data"
        self.maildir = base / "maildir"
        for d in (self.config_dir, self.queue_dir, self.data_dir, self.maildir):
            d.mkdir(parents=True, exist_ok=True)
        postfix = pwd.getpwnam("postfix")
        # Postfix checks that its directories are not writable by others; the workspace is mkdtemp'd 0700.
        os.chmod(base, 0o755)
        os.chmod(self.ws.root, 0o755)
        shutil.chown(self.data_dir, "postfix")
        shutil.chown(self.maildir, "postfix", postfix.pw_gid)
        (self.config_dir / "main.cf").write_text(MAIN_CF.format(
            queue=self.queue_dir, data=self.data_dir, maildir=self.maildir, domain=DOMAIN,
            uid=postfix.pw_uid, gid=postfix.pw_gid, log=base / "postfix.log", base=base,
        ))
        (self.config_dir / "master.cf").write_text(MASTER_CF.format(port=self.smtp_port))
        for step in (("check",), ("start",)):
            out = self._postfix(*step)
            if out.returncode != 0:
                raise RuntimeError(f"postfix {step[0]} failed: {out.stdout}{out.stderr}")
        self.running = True
        wait_port(self.smtp_port, 30)
        return self

    def delivered(self) -> int:
        new = self.maildir / "bench" / "new"
        return sum(1 for _ in new.iterdir()) if new.exists() else 0

    def stop(self) -> None:
        if self.running:
            out = self._postfix("stop")
            if out.returncode != 0:
                log("postfix stop:", out.stdout, out.stderr)
            self.running = False


MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.localhost
mydomain = bench.localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 100
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {maildir}
virtual_mailbox_maps = static:bench/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_mailbox_limit = 0
message_size_limit = 33554432
maillog_file = {log}
maillog_file_prefixes = {base}
biff = no
append_dot_mydomain = no
smtputf8_enable = yes
"""

# The stock master.cf services, without chroot (the instance lives in a temporary directory), with
# smtpd on a high loopback port and postlog for maillog_file.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
