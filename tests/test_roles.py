"""The production shape: api, smtp and worker as separate processes on one PostgreSQL database.

Three `agentmail-server serve` processes share a database and a root API key:

    api      AGENTMAIL_ROLES=api     REST + WebSocket; takes no jobs, listens for no SMTP
    smtp     AGENTMAIL_ROLES=smtp    the inbound SMTP listener; stores envelopes and queues jobs
    worker   AGENTMAIL_ROLES=worker  runs the jobs: inbound processing, outbound delivery

Every process answers GET /health on its HTTP port (that is what a container healthcheck polls).

Mail comes in over SMTP to the smtp process while no worker runs: it is stored and queued, and stays
queued (the api and smtp processes run no jobs). Once the worker starts, the message is processed,
the api process's WebSocket subscriber gets message.received and the SDK on the api process sees it.
A reply sent through the api process waits, again, until a worker runs, which then delivers it to a
fake remote MX found through the test DNS server.

The worker polls for jobs only once a minute here, so once it runs, new work queued by the other
processes (mail in over SMTP, a send through the API) reaches it only by their NOTIFY.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from agentmail.inboxes import CreateInboxRequest
from sqlalchemy import select

from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Job

from .conftest import database_url, make_http, make_sdk
from .dns_server import ZoneServer
from .fake_mx import FakeMX
from .mail_helpers import build, send_raw, wait_for
from .server import Server
from .test_websocket import Raw

# Long enough that a process which took jobs would have done so (workers poll every second).
IDLE = 2.0


@dataclass
class Cluster:
    api: Server
    smtp: Server
    worker: Server
    mx: FakeMX


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path, dns: ZoneServer) -> Iterator[Cluster]:
    # PostgreSQL only: separate role processes share one database there (SQLite has one writing
    # process; run every role in one process on it).
    url = database_url("postgres", tmp_path, request)
    mx = FakeMX().start()
    dns.set_zone("""
$TTL 60
remote.test.     IN MX 10 mx.remote.test.
mx.remote.test.  IN A 127.0.0.1
""")
    common = {"AGENTMAIL_JOB_LEASE_SECONDS": "2", "AGENTMAIL_DELIVERY_RETRY_SCHEDULE": "1s,1s,1s"}
    api = Server(backend="postgres", database_url=url, workdir=tmp_path / "api",
                 extra_env={**common, "AGENTMAIL_ROLES": "api"})
    smtp = Server(backend="postgres", database_url=url, workdir=tmp_path / "smtp", api_key=api.api_key,
                  extra_env={**common, "AGENTMAIL_ROLES": "smtp"})
    worker = Server(backend="postgres", database_url=url, workdir=tmp_path / "worker", api_key=api.api_key,
                    extra_env={**common, "AGENTMAIL_ROLES": "worker", "AGENTMAIL_JOB_POLL_SECONDS": "60",
                               "AGENTMAIL_SMTP_OUTBOUND_PORT": str(mx.port),
                               "AGENTMAIL_DELIVERY_CONNECT_TIMEOUT_SECONDS": "5"})
    try:
        api.start()  # first: applies the migrations and creates the organization of the root key
        smtp.start()
        yield Cluster(api, smtp, worker, mx)
    finally:
        for srv in (worker, smtp, api):
            srv.stop()
        mx.stop()
        dns.set_zone("")


def _jobs(server: Server) -> list[tuple[str, str]]:
    async def run() -> list[tuple[str, str]]:
        db = Database(server.database_url)
        try:
            async with db.read() as session:
                rows = (await session.execute(select(Job.kind, Job.status).order_by(Job.id))).all()
                return [(kind, status) for kind, status in rows]
        finally:
            await db.dispose()

    return asyncio.run(run())


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _health(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/health", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_roles_in_separate_processes_exchange_mail(cluster: Cluster) -> None:
    api, smtp, worker, mx = cluster.api, cluster.smtp, cluster.worker, cluster.mx
    sdk = make_sdk(api)
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"roles-{uuid.uuid4().hex[:8]}")).inbox_id
    subject = f"roles {uuid.uuid4().hex[:8]}"
    assert _health(api)["status"] == "ok" and _health(smtp)["status"] == "ok"
    assert _listens(smtp.smtp_port) and not _listens(api.smtp_port)
    # Only the api process serves the API; the others answer health, readiness and metrics.
    assert httpx.get(f"{smtp.base_url}/v0/inboxes", headers={"Authorization": f"Bearer {smtp.api_key}"},
                     timeout=5).status_code == 404
    assert httpx.get(f"{smtp.base_url}/ready", timeout=5).json()["smtp"] == "ok"

    with make_http(api) as http, Raw(api) as ws:
        ws.subscribe(inbox_ids=[inbox], event_types=["message.received"])

        # 1. SMTP into the smtp process, no worker running: stored and queued, not processed.
        message = build(to=inbox, subject=subject, sender="Alice <alice@remote.test>", text="Hello roles")
        send_raw(smtp, message.as_bytes(), [inbox], mail_from="alice@remote.test")
        time.sleep(IDLE)
        jobs = _jobs(api)
        assert ("process_inbound", "queued") in jobs and all(status == "queued" for _, status in jobs), jobs
        assert sdk.inboxes.messages.list(inbox_id=inbox).count == 0
        ws.quiet(0.2)

        # 2. The worker starts, processes it; the api process's WebSocket subscriber hears of it.
        worker.start()
        assert _health(worker)["status"] == "ok" and not _listens(worker.smtp_port)
        assert httpx.get(f"{worker.base_url}/v0/inboxes", headers={"Authorization": f"Bearer {worker.api_key}"},
                         timeout=5).status_code == 404
        frame = ws.event(timeout=15)
        assert frame["event_type"] == "message.received" and frame["message"]["subject"] == subject
        listed = sdk.inboxes.messages.list(inbox_id=inbox)
        assert [m.subject for m in listed.messages] == [subject]
        received = listed.messages[0]
        assert received.from_ == "Alice <alice@remote.test>"

        # 3. A reply through the api process with the worker stopped: queued, nothing delivered.
        worker.stop()
        reply = sdk.inboxes.messages.reply(inbox, received.message_id, text="Thanks, Alice")
        time.sleep(IDLE)
        assert ("deliver_outbound", "queued") in _jobs(api), _jobs(api)
        assert mx.to("alice@remote.test") == []

        # 4. The worker comes back and delivers it to the remote MX.
        worker.start()
        (delivery,) = wait_for(lambda: mx.to("alice@remote.test"), timeout=20, what="delivery to the fake MX")
        assert b"Thanks, Alice" in delivery.data and f"Re: {subject}".encode() in delivery.data

        def delivered() -> bool:
            labels = http.get(f"/v0/inboxes/{inbox}/messages/{reply.message_id}").json()["labels"]
            return "delivered" in labels

        wait_for(delivered, what="the reply labelled delivered")
        assert all(status != "queued" for _, status in _jobs(api)), _jobs(api)

        # 5. With the worker running (and not polling for a minute), work queued by the other processes
        # wakes it: mail into the smtp process is processed, a send through the api process delivered.
        second = f"roles again {uuid.uuid4().hex[:8]}"
        send_raw(smtp, build(to=inbox, subject=second, sender="Alice <alice@remote.test>", text="More").as_bytes(),
                 [inbox], mail_from="alice@remote.test")
        frame = ws.event(timeout=15)
        assert frame["event_type"] == "message.received" and frame["message"]["subject"] == second
        sdk.inboxes.messages.send(inbox, to=["bob@remote.test"], subject="woken", text="Hello Bob")
        wait_for(lambda: mx.to("bob@remote.test"), timeout=15, what="delivery woken by NOTIFY")
