"""Nothing acknowledged is lost: SIGKILL the server while mail is arriving, restart, count."""

from __future__ import annotations

import os
import signal
import smtplib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentmail.inboxes import CreateInboxRequest

from .conftest import make_http, make_sdk, running_server
from .mail_helpers import build, crlf, wait_for
from .server import Server, cmdline, descendants

SENDERS = 6
PER_SENDER = 40


@pytest.fixture
def crash_server(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Iterator[Server]:
    with running_server(request, server.backend, tmp_path, {"AGENTMAIL_JOB_LEASE_SECONDS": "2"}) as srv:
        yield srv


def _all_message_ids(http, inbox: str) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        params = {"limit": 1000, **({"page_token": token} if token else {})}
        body = http.get(f"/v0/inboxes/{inbox}/messages", params=params).json()
        ids += [m["message_id"] for m in body["messages"]]
        token = body.get("next_page_token")
        if not token:
            return ids


def test_sigkill_during_ingest_loses_and_duplicates_nothing(crash_server: Server):
    sdk = make_sdk(crash_server)
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"crash-{uuid.uuid4().hex[:8]}")).inbox_id
    acked: list[str] = []
    attempted: list[str] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        try:
            client = smtplib.SMTP("127.0.0.1", crash_server.smtp_port, timeout=10)
        except OSError:
            return
        try:
            for i in range(PER_SENDER):
                msg = build(to=inbox, subject=f"load {n}-{i}", text="x" * 2000,
                            message_id=f"<crash-{n}-{i}-{uuid.uuid4().hex[:6]}@example.test>")
                with lock:
                    attempted.append(msg["Message-ID"])
                try:
                    client.sendmail("load@example.test", [inbox], crlf(msg.as_bytes()))
                except (smtplib.SMTPException, OSError):
                    return  # the server died mid-transaction: not acknowledged
                with lock:
                    acked.append(msg["Message-ID"])
        finally:
            try:
                client.close()
            except OSError:
                pass

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 60, timeout=60, what="60 acknowledged messages")
    crash_server.stop(signal.SIGKILL)
    for t in threads:
        t.join(timeout=30)
    assert 60 <= len(acked) < SENDERS * PER_SENDER, "the kill must land mid-run"

    crash_server.start()
    with make_http(crash_server) as http:
        def all_there() -> list[str] | None:
            ids = _all_message_ids(http, inbox)
            return ids if set(acked) <= set(ids) else None

        stored = wait_for(all_there, timeout=60, what="every acknowledged message after restart")
        time.sleep(3)  # let any straggling retries run; they must not add copies
        stored = _all_message_ids(http, inbox)
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert set(acked) <= set(stored)
    assert set(stored) <= set(attempted), "stored something nobody sent"


def _parsing_processes(pid: int) -> list[int]:
    """The server's mail parsing processes (multiprocessing "spawn" workers, started by its worker
    process or, with the worker role in the server process, by the server itself)."""
    return [child for child in descendants(pid) if b"spawn_main" in cmdline(child)]


def test_a_killed_parsing_process_is_replaced_and_no_message_lost(crash_server: Server):
    sdk = make_sdk(crash_server)
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"parse-{uuid.uuid4().hex[:8]}")).inbox_id
    assert crash_server.process is not None
    with make_http(crash_server) as http, smtplib.SMTP("127.0.0.1", crash_server.smtp_port, timeout=30) as client:
        def send(subject: str) -> None:
            client.sendmail("a@remote.test", [inbox], crlf(build(to=inbox, subject=subject, text="x\n").as_bytes()))

        def subjects() -> set[str]:
            return {m["subject"] for m in http.get(f"/v0/inboxes/{inbox}/messages").json()["messages"]}

        send("first")
        wait_for(lambda: "first" in subjects() or None, what="the first message processed")
        [child] = _parsing_processes(crash_server.process.pid)  # started with the worker
        os.kill(child, signal.SIGKILL)
        for n in range(3):
            send(f"after {n}")
        wait_for(lambda: subjects() == {"first", "after 0", "after 1", "after 2"} or None,
                 what="every message processed by a new parsing process")
        [replacement] = _parsing_processes(crash_server.process.pid)
        assert replacement != child and crash_server.process.poll() is None


def test_parsing_processes_exit_with_a_killed_server(crash_server: Server):
    """A SIGKILLed server used to leave its parsing child waiting for work forever."""
    assert crash_server.process is not None
    pid = crash_server.process.pid
    children = wait_for(lambda: _parsing_processes(pid) or None, what="the parsing process")
    crash_server.stop(signal.SIGKILL)

    def gone() -> bool | None:
        return all(not Path(f"/proc/{child}").exists() or b"spawn_main" not in cmdline(child)
                   for child in children) or None

    wait_for(gone, timeout=10, what="the orphaned parsing process to exit")
    crash_server.start()
