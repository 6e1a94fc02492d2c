"""NOTIFY for SQLite: wake-ups between the processes that share one database file.

PostgreSQL carries our wake-ups itself (`pg_notify` inside the writing transaction, LISTEN in every
process). SQLite has no such thing, and its processes share a host, so each listening process binds
a UNIX datagram socket in a directory that belongs to the database file, and a process that
committed events or jobs sends one datagram, after the commit, to every other socket there.

A datagram carries lines of "<channel> <payload>", the same channels and payloads as the
PostgreSQL NOTIFYs, so one set of handlers serves both. It is only a hint: the database stays the
truth and every consumer also polls, so a datagram that cannot be sent (a peer's buffer is full, a
peer just died) costs latency, never work. Sockets of processes that died without cleaning up
refuse datagrams and are removed by the next sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.orm import Session

log = logging.getLogger("agentmail_server.db.host_notify")

# sun_path holds 108 bytes with its NUL on Linux (104 on the BSDs); a longer path cannot be bound.
MAX_SOCKET_PATH = 103
# A socket's name in the directory: "<pid>-<8 hex digits>.sock", a pid having at most 7 digits.
SUFFIX = ".sock"
MAX_NAME = 1 + 7 + 1 + 8 + len(SUFFIX)
# Lines are packed into datagrams of at most this size (well below any system's datagram limit).
MAX_DATAGRAM = 16 * 1024

Handler = Callable[[str, str], None]


@functools.lru_cache(maxsize=16)
def socket_dir(database: str | None) -> Path | None:
    """The directory of the sockets for the SQLite file `database` (None: in memory, no peers)."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    path = Path(database).resolve()
    beside = path.with_name(path.name + ".notify")
    if len(str(beside)) + MAX_NAME <= MAX_SOCKET_PATH:
        return beside
    # A deep database path: a short directory named after it, in the temporary directory.
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"agentmail-{digest}.notify"


class _Peers:
    """The other processes' sockets in one directory, re-listed only when the directory changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp: int | None = None
        self._paths: list[str] = []

    def paths(self) -> list[str]:
        try:
            stamp = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            self._stamp, self._paths = None, []
            return []
        if stamp != self._stamp:
            self._stamp = stamp
            self._paths = [entry.path for entry in os.scandir(self.directory) if entry.name.endswith(SUFFIX)]
        return self._paths

    def forget(self, path: str) -> None:
        with contextlib.suppress(ValueError):
            self._paths.remove(path)


class _Sender:
    """This process's one sending socket and the peer lists it has seen."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self._peers: dict[Path, _Peers] = {}
        # Paths bound by this process: a process does not notify itself (it wakes its own consumers
        # directly after the commit).
        self.own: set[str] = set()

    def send(self, directory: Path, lines: Iterable[str]) -> None:
        peers = self._peers.get(directory)
        if peers is None:
            peers = self._peers[directory] = _Peers(directory)
        targets = [path for path in peers.paths() if path not in self.own]
        if not targets:
            return
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        for datagram in _pack(lines):
            for path in targets:
                try:
                    self._socket.sendto(datagram, path)
                except (ConnectionRefusedError, FileNotFoundError):
                    # Nobody reads this socket any more: its process died without removing it.
                    peers.forget(path)
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                except OSError as exc:  # full buffer (BlockingIOError) and the like: a lost hint
                    log.debug("wake-up to %s not sent: %s", path, exc)


def _pack(lines: Iterable[str]) -> list[bytes]:
    datagrams: list[bytes] = []
    current = bytearray()
    for line in lines:
        encoded = line.encode()
        if current and len(current) + len(encoded) + 1 > MAX_DATAGRAM:
            datagrams.append(bytes(current))
            current.clear()
        current += encoded + b"\n"
    if current:
        datagrams.append(bytes(current))
    return datagrams


_SENDER = _Sender()


def send(database: str | None, lines: Iterable[str]) -> None:
    """After a commit: tell every other process on this SQLite file ("<channel> <payload>" lines).

    Never raises: it runs in after-commit hooks, where an error would reach a caller whose work is
    already committed (an SMTP client would be told 451 for a message that is stored).
    """
    try:
        directory = socket_dir(database)
        if directory is not None:
            _SENDER.send(directory, lines)
    except Exception as exc:
        log.warning("wake-ups not sent: %s", exc)


def send_after_commit(session: Session, channel: str, payloads: Iterable[str]) -> None:
    """From an after-commit hook: the NOTIFYs `channel` would carry on PostgreSQL, to the other
    processes on `session`'s database when it is SQLite (on PostgreSQL the transaction sent them)."""
    try:
        bind = session.get_bind()
        if bind.dialect.name == "sqlite":
            send(bind.url.database, [f"{channel} {payload}" for payload in payloads])
    except Exception as exc:
        log.warning("wake-ups not sent: %s", exc)


class Endpoint:
    """This process's socket for one SQLite file: received lines go to `handler(channel, payload)`."""

    def __init__(self, database: str | None, handler: Handler) -> None:
        self.directory = socket_dir(database)
        self.handler = handler
        self.path: str | None = None
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = str(self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(path)
            sock.setblocking(False)
            # Room for a burst of wake-ups while the event loop is busy (hints beyond it are dropped).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:
            sock.close()
            raise
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        self._socket, self.path = sock, path
        _SENDER.own.add(path)

    def close(self) -> None:
        if self._socket is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._socket.fileno())
        self._socket.close()
        self._socket = None
        if self.path is not None:
            _SENDER.own.discard(self.path)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = None

    def _readable(self) -> None:
        assert self._socket is not None
        while True:
            try:
                datagram = self._socket.recv(MAX_DATAGRAM * 2)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("reading wake-ups failed: %s", exc)
                return
            for line in datagram.decode(errors="replace").splitlines():
                channel, _, payload = line.partition(" ")
                try:
                    self.handler(channel, payload)
                except Exception:
                    log.exception("handling wake-up %r failed", line)
