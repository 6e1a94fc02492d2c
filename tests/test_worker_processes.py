"""The worker role in a child process of `serve` (the default), and the wake-ups between them.

`serve` runs the API, WebSocket and SMTP listener itself and the worker role (inbound processing,
delivery, webhook dispatch, periodic tasks) in a supervised child. Work and events cross between
them through the database and its wake-ups: LISTEN/NOTIFY on PostgreSQL, datagrams between the
processes sharing the file on SQLite (`db/host_notify.py`). Every poll interval here is a minute,
so a test that passes within seconds passed on the wake-ups alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from agentmail.inboxes import CreateInboxRequest

from agentmail_server.db import host_notify
from agentmail_server.db.engine import Database
from agentmail_server.events.listen import Listener

from .conftest import make_http, make_sdk, running_server
from .mail_helpers import build, send_raw, wait_for
from .server import Server, cmdline, descendants
from .test_websocket import Raw
from .webhook_receiver import Receiver

SLOW_POLLS = {
    "AGENTMAIL_JOB_POLL_SECONDS": "60", "AGENTMAIL_WS_POLL_SECONDS": "60", "AGENTMAIL_WEBHOOK_POLL_SECONDS": "60",
    "AGENTMAIL_WEBHOOK_ALLOW_HTTP": "true", "AGENTMAIL_WEBHOOK_ALLOW_PRIVATE": "true",
}


@pytest.fixture
def split_server(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Iterator[Server]:
    with running_server(request, server.backend, tmp_path, SLOW_POLLS) as srv:
        yield srv


def _ready(srv: Server) -> dict[str, str]:
    return httpx.get(f"{srv.base_url}/ready", timeout=10).json()  # type: ignore[no-any-return]


def _counter(srv: Server, line_start: str) -> float:
    text = httpx.get(f"{srv.base_url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


def _new_inbox(srv: Server) -> str:
    sdk = make_sdk(srv)
    return sdk.inboxes.create(request=CreateInboxRequest(username=f"wp-{uuid.uuid4().hex[:8]}")).inbox_id


def test_work_and_events_cross_between_the_server_and_its_worker_process(split_server: Server,
                                                                         receiver: Receiver) -> None:
    srv = split_server
    [worker] = srv.worker_processes()
    assert _ready(srv) == {"status": "ready", "database": "ok", "smtp": "ok", "worker": "ok"}
    sdk = make_sdk(srv)
    inbox = _new_inbox(srv)
    path = f"/wp-{uuid.uuid4().hex[:8]}"
    sdk.webhooks.create(url=receiver.url(path), event_types=["message.sent", "message.received"])

    with Raw(srv) as ws:
        ws.subscribe(inbox_ids=[inbox], event_types=["message.received"])
        # SMTP (this process) → job → the worker process → event → this process's WebSocket hub.
        subject = f"split {uuid.uuid4().hex[:6]}"
        send_raw(srv, build(to=inbox, subject=subject, text="over there").as_bytes(), [inbox])
        frame = ws.event(timeout=10)
        assert frame["event_type"] == "message.received" and frame["message"]["subject"] == subject
    # ... and its webhook delivery, made by the worker process's dispatcher.
    [received] = receiver.wait(path, 1, timeout=10)
    assert received.json()["event_type"] == "message.received"

    # An API send commits message.sent here: the worker process's dispatcher hears of its delivery.
    sdk.inboxes.messages.send(inbox, to=_new_inbox(srv), subject="next door", text="hello")
    got = receiver.wait(path, 3, timeout=10)
    assert sorted(r.json()["event_type"] for r in got) == ["message.received", "message.received", "message.sent"]
    # Attempts are counted in the worker process and exposed by this one.
    wait_for(lambda: _counter(srv, 'agentmail_webhook_attempts_total{outcome="success"}') >= 3,
             timeout=10, what="the webhook attempts counted in /metrics")
    assert srv.worker_processes() == [worker]


def test_a_crashed_worker_process_is_replaced(split_server: Server) -> None:
    srv = split_server
    [worker] = srv.worker_processes()
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: _ready(srv)["worker"] == "0 of 1 processes running" or None, timeout=10,
             what="/ready to report the missing worker process")
    wait_for(lambda: _ready(srv)["status"] == "ready" or None, timeout=30, what="a new worker process")
    [replacement] = srv.worker_processes()
    assert replacement != worker
    inbox = _new_inbox(srv)
    send_raw(srv, build(to=inbox, subject="after the crash").as_bytes(), [inbox])
    with make_http(srv) as http:
        wait_for(lambda: http.get(f"/v0/inboxes/{inbox}/messages").json()["count"] == 1 or None, timeout=10,
                 what="the replacement to process mail")
    assert "exited with -9; restarting" in srv.log()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_the_worker_process_ends_with_the_server(split_server: Server, sig: int) -> None:
    srv = split_server
    assert srv.process is not None
    below = descendants(srv.process.pid)
    [worker] = srv.worker_processes()
    assert worker in below
    srv.stop(sig)

    def gone() -> bool | None:
        return all(b"agentmail_server" not in cmdline(pid) and b"spawn_main" not in cmdline(pid)
                   for pid in below) or None

    wait_for(gone, timeout=10, what="the worker process (and its parser) to exit")
    if sig == signal.SIGTERM:
        _assert_nothing_left_to_the_resource_tracker(srv, below)
    srv.start()  # the fixture stops it again


def _assert_nothing_left_to_the_resource_tracker(srv: Server, below: list[int]) -> None:
    """Once every process below the stopped server has exited (multiprocessing's resource tracker,
    which reports what the others left behind, last), its log has no such report."""
    wait_for(lambda: all(not cmdline(pid) for pid in below) or None, timeout=10,
             what="every process below the server to exit")
    assert "leaked" not in srv.log(), srv.log()[-2000:]


def test_worker_processes_0_keeps_the_worker_in_the_serving_process(request: pytest.FixtureRequest,
                                                                  server: Server, tmp_path: Path) -> None:
    with running_server(request, server.backend, tmp_path, {"AGENTMAIL_WORKER_PROCESSES": "0"}) as srv:
        assert srv.worker_processes() == []
        assert "worker" not in _ready(srv)
        inbox = _new_inbox(srv)
        send_raw(srv, build(to=inbox, subject="in process").as_bytes(), [inbox])
        with make_http(srv) as http:
            wait_for(lambda: http.get(f"/v0/inboxes/{inbox}/messages").json()["count"] == 1 or None,
                     what="the message processed")
        assert srv.process is not None
        below = descendants(srv.process.pid)
        assert any(b"spawn_main" in cmdline(pid) for pid in below)  # the parser runs
        srv.stop()
        _assert_nothing_left_to_the_resource_tracker(srv, below)


# --- the SQLite channel on its own ----------------------------------------------------------------


def test_host_notify_reaches_every_other_process_on_the_file(tmp_path: Path) -> None:
    database = str(tmp_path / "agentmail.db")

    async def run() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        heard_a: list[tuple[str, str]] = []
        heard_b: list[tuple[str, str]] = []
        a = host_notify.Endpoint(database, lambda c, p: heard_a.append((c, p)))
        b = host_notify.Endpoint(database, lambda c, p: heard_b.append((c, p)))
        a.open()
        b.open()
        try:
            # One process stands for two here: a sender skips only sockets it bound itself, so
            # take b's socket out of "own" to see b's datagram reach a, and a's reach b.
            host_notify._SENDER.own.discard(b.path)
            host_notify.send(database, ["agentmail_jobs process_inbound:2", "agentmail_events 7:1"])
            await asyncio.sleep(0.1)
            return heard_a, heard_b
        finally:
            a.close()
            b.close()

    heard_a, heard_b = asyncio.run(run())
    assert heard_a == [] and heard_b == [("agentmail_jobs", "process_inbound:2"), ("agentmail_events", "7:1")]
    directory = host_notify.socket_dir(database)
    assert directory is not None and list(directory.iterdir()) == []  # closed endpoints remove their sockets


def test_host_notify_removes_sockets_of_dead_processes_and_splits_big_batches(tmp_path: Path) -> None:
    database = str(tmp_path / "agentmail.db")
    directory = host_notify.socket_dir(database)
    assert directory is not None
    directory.mkdir()
    stale = directory / "999999-dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(str(stale))  # bound, then closed without unlinking: what a killed process leaves
    live_path = directory / "1-live.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as live:
        live.bind(str(live_path))
        live.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        lines = [f"agentmail_events {n}:0" for n in range(5000)]
        host_notify.send(database, lines)
        live.settimeout(1)
        got: list[str] = []
        while len(got) < len(lines):
            datagram = live.recv(1 << 16)
            assert len(datagram) <= host_notify.MAX_DATAGRAM
            got += datagram.decode().splitlines()
    assert got == lines
    assert not stale.exists()


def test_host_notify_paths(tmp_path: Path) -> None:
    assert host_notify.socket_dir(None) is None and host_notify.socket_dir(":memory:") is None
    short = Path(tempfile.mkdtemp(prefix="am-", dir="/tmp"))
    try:
        assert host_notify.socket_dir(str(short / "a.db")) == short / "a.db.notify"
    finally:
        short.rmdir()
    # Beside a deep database path a socket's path would not fit in sun_path: a short directory instead.
    deep = tmp_path / ("d" * 90) / "agentmail.db"
    elsewhere = host_notify.socket_dir(str(deep))
    assert elsewhere is not None and elsewhere.name.startswith("agentmail-") and len(str(elsewhere)) < 60
    assert host_notify.socket_dir(str(deep)) == elsewhere  # every process finds the same directory


def test_host_notify_problems_cost_wake_ups_not_commits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = str(tmp_path / "agentmail.db")
    directory = host_notify.socket_dir(database)
    assert directory is not None
    directory.write_text("not a directory")  # neither listed nor bound in
    host_notify.send(database, ["agentmail_jobs process_inbound:1"])  # after a commit: must not raise
    assert "wake-ups not sent" in caplog.text

    async def listen() -> None:
        db = Database(f"sqlite+aiosqlite:///{database}")
        listener = Listener(db)
        try:
            await listener.start()  # a process that cannot be woken still starts, and polls
        finally:
            await listener.stop()
            await db.dispose()

    asyncio.run(listen())
    assert "no wake-ups from other processes" in caplog.text
