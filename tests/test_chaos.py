"""Chaos: SIGKILL the server (and stop PostgreSQL) at random points while work flows; nothing acknowledged is lost.

Each test drives a few rounds of load, kills the server at a moment a seeded RNG chooses, restarts it on the same
database and goes on; at the end it holds what was acknowledged (SMTP 250, HTTP 200) against what the server stored
or delivered. Stored data is exactly-once; what leaves the server (remote MX, webhook receiver) is at-least-once: a
job killed mid-way runs again once its lease (2 s here) has passed.

The seed is printed (pytest shows it with a failure): AGENTMAIL_CHAOS_SEED=<seed> replays the same choices (kill
points are "after the n-th acknowledgement plus a delay", so timings still vary with the machine). Bounded: three
restarts per test, two tests per backend and one for PostgreSQL restarts: about a minute per backend.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import smtplib
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from agentmail.inboxes import CreateInboxRequest

from .conftest import BACKENDS, database_url, make_http, make_sdk
from .db_access import run_sql
from .dns_server import ZoneServer
from .fake_mx import FakeMX
from .mail_helpers import build, crlf, wait_for
from .postgres import Cluster, _pg_tool, drop_database, fresh_database
from .server import Server
from .webhook_helpers import deliveries
from .webhook_receiver import Receiver

SEED = int(os.environ.get("AGENTMAIL_CHAOS_SEED") or secrets.randbits(32))
JOB_LEASE_SECONDS = 2
STALL_SECONDS = 3.0  # how long the fake MX holds back its reply to a stall-… recipient's first DATA
REMOTE_DOMAINS = ("remote.test", "other.test")


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    name = request.node.name
    print(f"chaos seed {SEED} for {name} (rerun with AGENTMAIL_CHAOS_SEED={SEED})")
    return random.Random(f"{SEED}:{name}")


# --- one server per backend, with a fake remote MX and a webhook receiver --------------------------------------


@dataclass
class Chaos:
    server: Server
    mx: FakeMX
    receiver: Receiver

    def crash(self) -> None:
        self.server.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.server.start(timeout=60)

    def sdk(self) -> Any:
        return make_sdk(self.server)

    def inbox(self, prefix: str) -> str:
        return self.sdk().inboxes.create(
            request=CreateInboxRequest(username=f"{prefix}-{uuid.uuid4().hex[:8]}")).inbox_id


@pytest.fixture(scope="module", params=BACKENDS)
def chaos(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"chaos-{backend}")
    mx = FakeMX().start()
    mx.handler.stall_seconds = STALL_SECONDS
    receiver = Receiver()
    srv = Server(backend=backend, database_url=database_url(backend, tmp, request), workdir=tmp, extra_env={
        "AGENTMAIL_JOB_LEASE_SECONDS": str(JOB_LEASE_SECONDS),
        "AGENTMAIL_SMTP_OUTBOUND_PORT": str(mx.port),
        "AGENTMAIL_SMTP_HELO_NAME": "mta.agentmail.localhost",
        "AGENTMAIL_DELIVERY_RETRY_SCHEDULE": "1s,1s,1s,1s,1s,1s",
        "AGENTMAIL_DELIVERY_CONNECT_TIMEOUT_SECONDS": "5",
        "AGENTMAIL_WEBHOOK_ALLOW_HTTP": "true",
        "AGENTMAIL_WEBHOOK_ALLOW_PRIVATE": "true",
        "AGENTMAIL_WEBHOOK_POLL_SECONDS": "0.2",
        "AGENTMAIL_WEBHOOK_RETRY_DELAYS": ",".join(["0.2"] * 12),
        "AGENTMAIL_WEBHOOK_TIMEOUT_SECONDS": "5",
    })
    try:
        yield Chaos(server=srv.start(), mx=mx, receiver=receiver)
    finally:
        srv.stop()
        receiver.close()
        mx.stop()


@pytest.fixture
def running(chaos: Chaos, dns: ZoneServer) -> Iterator[Chaos]:
    """Every test starts with the server up (a failed one may have left it dead) and the remote domains in DNS."""
    if chaos.server.process is None or chaos.server.process.poll() is not None:
        chaos.server.process = None
        chaos.restart()
    dns.set_zone("$TTL 60\n" + "".join(f"{d}. IN MX 10 mx.{d}.\nmx.{d}. IN A 127.0.0.1\n" for d in REMOTE_DOMAINS))
    yield chaos
    dns.set_zone("")


# --- helpers --------------------------------------------------------------------------------------------------


def _messages(http: httpx.Client, inbox: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        response = http.get(f"/v0/inboxes/{inbox}/messages", params={"limit": 500, **({"page_token": token} if token
                                                                                         else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["messages"]
        token = body.get("next_page_token")
        if not token:
            return items


def _kill_after(chaos: Chaos, rng: random.Random, progress: Callable[[], int], at_least: int, what: str) -> None:
    """SIGKILL once `progress()` reaches `at_least`, plus a random delay: the kill lands wherever work then is."""
    wait_for(lambda: progress() >= at_least, timeout=60, what=f"{at_least} {what} before the kill", interval=0.01)
    time.sleep(rng.uniform(0, 0.4))
    chaos.crash()


@dataclass
class Mail:
    message_id: str
    rcpt: list[str]
    raw: bytes


@dataclass
class SmtpLoad:
    """Sender threads, one connection each, sending until stopped; like an MTA, a message that was not answered 250
    stays queued (`pending`) and is sent again, same bytes, by the next round."""

    port: int
    make: Callable[[random.Random], Mail]
    attempted: dict[str, Mail] = field(default_factory=dict)
    acked: list[str] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    pending: list[Mail] = field(default_factory=list)
    resent: int = 0  # messages sent again after a round ended without their 250
    persistent: bool = False  # keep reconnecting (a database outage) instead of giving up when the server is gone
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, senders: int, rng: random.Random) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, args=(random.Random(rng.random()),), daemon=True)
                         for _ in range(senders)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self._threads), "a sender thread hung"

    def _next(self, rng: random.Random) -> Mail:
        with self._lock:
            if self.pending:
                self.resent += 1
                return self.pending.pop(0)
            mail = self.make(rng)
            self.attempted[mail.message_id] = mail
            return mail

    def _run(self, rng: random.Random) -> None:
        client: smtplib.SMTP | None = None
        mail: Mail | None = None
        try:
            while not self._stop.is_set():
                mail = mail or self._next(rng)
                try:
                    if client is None:
                        client = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                    client.sendmail("load@example.test", mail.rcpt, mail.raw)
                except smtplib.SMTPResponseException as exc:  # refused (4xx): the message stays ours to retry
                    with self._lock:
                        self.codes[exc.smtp_code] += 1
                    if exc.smtp_code == 421 or not self.persistent:
                        client = _close(client)
                    time.sleep(0.05)
                    continue
                except smtplib.SMTPRecipientsRefused as exc:
                    with self._lock:
                        self.codes.update(code for code, _ in exc.recipients.values())
                    client = _close(client)
                    time.sleep(0.05)
                    continue
                except (smtplib.SMTPException, OSError):  # the server died mid-transaction: not acknowledged
                    client = _close(client)
                    if not self.persistent:
                        return
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self.codes[250] += 1
                    self.acked.append(mail.message_id)
                mail = None
        finally:
            if mail is not None:
                with self._lock:
                    self.pending.append(mail)
            _close(client)


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        try:
            client.close()
        except OSError:
            pass
    return None


def _mail(rcpt: list[str], tag: str, rng: random.Random) -> Mail:
    message_id = f"<chaos-{tag}-{uuid.uuid4().hex[:12]}@example.test>"
    msg: EmailMessage = build(to=rcpt, subject=f"chaos {tag}", text="x" * rng.randint(10, 3000),
                              message_id=message_id)
    return Mail(message_id=message_id, rcpt=rcpt, raw=crlf(msg.as_bytes()))


def _inbound_drained(server: Server) -> None:
    """Wait until no inbound job is queued or running: then nothing can add a copy any more (a job the dead process
    held is retaken once its lease passes, and may still be running when the messages are all there)."""
    sql = "SELECT count(*) FROM jobs WHERE kind = 'process_inbound' AND status IN ('queued', 'running')"
    wait_for(lambda: run_sql(server.database_url, sql)[0][0] == 0, timeout=60, what="the inbound queue drained",
             interval=0.2)


def _check_inbox(http: httpx.Client, server: Server, inbox: str, load: SmtpLoad) -> list[str]:
    """Every acknowledged message for `inbox` is there once; nothing is there that was never sent."""
    acked = {m for m in load.acked if inbox in load.attempted[m].rcpt}
    attempted = {m for m, mail in load.attempted.items() if inbox in mail.rcpt}
    _inbound_drained(server)
    stored = [m["message_id"] for m in _messages(http, inbox)]
    duplicated = [m for m, n in Counter(stored).items() if n > 1]
    assert not duplicated, f"stored twice: {duplicated}"
    assert acked <= set(stored), f"lost: {sorted(acked - set(stored))}"
    # A second copy of a message would be stored under a derived id (<hash.original-id>), so this finds it too.
    assert set(stored) <= attempted, f"stored but never sent: {set(stored) - attempted}"
    return stored


# --- SMTP ingest and webhook dispatch ---------------------------------------------------------------------------


def _expire_webhook_leases(server: Server) -> None:
    """A delivery the dead process had claimed is retried once its lease passes: 2 x the request timeout + 30 s,
    too long for a test, so the expiry is brought forward (no live process holds a lease now)."""
    run_sql(server.database_url, "UPDATE webhook_deliveries SET locked_until = NULL WHERE status = 'pending'")


@pytest.mark.usefixtures("running")
def test_random_kills_during_smtp_ingest_and_webhook_dispatch(chaos: Chaos, rng: random.Random):
    """Concurrent SMTP senders, some messages for two inboxes in one transaction; one inbox's message.received
    events go to a webhook receiver that fails now and then. Three rounds, each killed at a random point (after
    some 250s or after some webhook requests, plus a random delay: in the listener, an ingest job, a dispatch).
    Unanswered messages are sent again by the next round, as an MTA would.

    Every 250 is stored exactly once per recipient inbox and has exactly one event; every event reaches the
    receiver at least once, always with the svix-id of its event, the same body and a valid signature."""
    one, two = chaos.inbox("ingest"), chaos.inbox("ingest")
    path = f"/chaos-{uuid.uuid4().hex[:8]}"
    receiver = chaos.receiver
    receiver.script(path, [rng.choice([200, 200, 200, 500, 503]) for _ in range(20)])
    hook = chaos.sdk().webhooks.create(url=receiver.url(path), event_types=["message.received"], inbox_ids=[one])

    def make(r: random.Random) -> Mail:
        return _mail(r.choice([[one], [one], [two], [one, two]]), "ingest", r)

    load = SmtpLoad(chaos.server.smtp_port, make)
    rounds = 3
    for _ in range(rounds):
        acked, requested = len(load.acked), len(receiver.requests(path))
        load.start(senders=4, rng=rng)
        if rng.random() < 0.5:
            _kill_after(chaos, rng, lambda acked=acked: len(load.acked) - acked, rng.randint(5, 40), "250s")
        else:
            _kill_after(chaos, rng, lambda requested=requested: len(receiver.requests(path)) - requested,
                        rng.randint(1, 8), "webhook requests")
        load.stop()
        _expire_webhook_leases(chaos.server)
        chaos.restart()
    # The queued leftovers go out once more, with the server up to the end.
    load.start(senders=2, rng=rng)
    wait_for(lambda: not load.pending, timeout=30, what="the resent leftovers")
    load.stop()

    with make_http(chaos.server) as http:
        stored = {inbox: _check_inbox(http, chaos.server, inbox, load) for inbox in (one, two)}
    assert len(load.acked) >= rounds, "too little mail got through to test anything"
    assert set(load.codes) <= {250}, f"unexpected SMTP replies {dict(load.codes)}"

    rows = run_sql(chaos.server.database_url,
                   "SELECT event_id, payload FROM events WHERE inbox_id = :inbox AND event_type = 'message.received'",
                   inbox=one)
    events = {event_id: (payload if isinstance(payload, dict) else json.loads(payload)) for event_id, payload in rows}
    per_message = Counter(p["message"]["message_id"] for p in events.values())
    assert sorted(per_message) == sorted(stored[one]), "every stored message has one event, and no other has"
    assert max(per_message.values(), default=1) == 1, "a message has two message.received events"

    wait_for(lambda: {r.json()["event_id"] for r in receiver.requests(path)} >= set(events), timeout=60,
             what="every event delivered", interval=0.2)
    wait_for(lambda: all(d["status"] == "succeeded" for d in deliveries(chaos.server, hook.webhook_id)),
             timeout=30, what="every webhook delivery finished")
    copies: dict[str, list[Any]] = defaultdict(list)
    for request in receiver.requests(path):
        copies[request.json()["event_id"]].append(request)
    assert set(copies) == set(events), "a webhook request for an event that is not this inbox's"
    for event_id, requests in copies.items():
        assert {r.headers["svix-id"] for r in requests} == {f"msg_{event_id}"}
        assert len({r.body for r in requests}) == 1, "retries of one event must carry the same body"
        for request in requests:
            request.verify(hook.secret)
    print(f"ingest: {len(load.attempted)} sent, {load.resent} resent, {len(load.acked)} acknowledged, "
          f"{sum(map(len, stored.values()))} stored; webhooks: {len(events)} events, "
          f"{sum(map(len, copies.values()))} requests")


# --- API sends with Idempotency-Key, and their outbound delivery -----------------------------------------------


def _remote_recipient(r: random.Random) -> str:
    """Recipients at the fake MX: most accepted at once, some greylisted (451 first), some whose first DATA is
    answered only after a stall (the worker is usually killed meanwhile); two domains, two transactions."""
    kind = r.choices(["ok", "greylist", "stall"], weights=[6, 2, 1])[0]
    return f"{kind}-{uuid.uuid4().hex[:10]}@{r.choice(REMOTE_DOMAINS)}"


@pytest.mark.usefixtures("running")
def test_random_kills_during_idempotent_sends_and_delivery(chaos: Chaos, rng: random.Random):
    """Concurrent API sends with Idempotency-Key to a hosted inbox and, for half of them, to recipients at a fake
    remote MX. Three rounds, each killed at a random point (after some answered sends, plus a random delay: in a
    send transaction, a local delivery, an SMTP transaction to the remote).

    After each restart every request is sent again with its key: an answered one replays the same ids, an
    unanswered one either replays (it had committed) or sends now. In the end each key is one sent message, the
    hosted inbox received each once, every remote recipient got its message at least once (copies are allowed:
    a transaction cut off before its reply is repeated), and each is labelled delivered, none bounced."""
    sender, recipient = chaos.inbox("api"), chaos.inbox("api")
    tag = uuid.uuid4().hex[:6]
    bodies: dict[str, dict[str, Any]] = {}
    acked: dict[str, dict[str, str]] = {}
    unexpected: list[str] = []
    lock = threading.Lock()

    def body_for(key: str, r: random.Random) -> dict[str, Any]:
        body: dict[str, Any] = {"to": [recipient], "subject": f"send {key}", "text": "y" * r.randint(1, 3000)}
        if r.random() < 0.5:
            body["cc"] = [_remote_recipient(r) for _ in range(r.randint(1, 3))]
        return body

    def post(client: httpx.Client, key: str) -> httpx.Response:
        return client.post(f"/v0/inboxes/{sender}/messages/send", json=bodies[key], headers={"Idempotency-Key": key})

    def worker(n: int, round_no: int, r: random.Random) -> None:
        with make_http(chaos.server) as client:
            for i in range(1000):
                key = f"chaos-{tag}-{round_no}-{n}-{i}"
                with lock:
                    bodies[key] = body_for(key, r)
                try:
                    response = post(client, key)
                except httpx.HTTPError:
                    return  # the server died: this request is unanswered
                with lock:
                    if response.status_code != 200:
                        unexpected.append(f"{key}: {response.status_code} {response.text[:200]}")
                        return
                    acked[key] = response.json()

    rounds = 3
    for round_no in range(rounds):
        start = len(acked)
        threads = [threading.Thread(target=worker, args=(n, round_no, random.Random(rng.random())), daemon=True)
                   for n in range(3)]
        for thread in threads:
            thread.start()
        _kill_after(chaos, rng, lambda start=start: len(acked) - start, rng.randint(3, 20), "answered sends")
        for thread in threads:
            thread.join(timeout=30)
        chaos.restart()
        assert not unexpected, unexpected

        keys = list(bodies)
        rng.shuffle(keys)
        with make_http(chaos.server) as client:
            for key in keys:
                response = post(client, key)
                assert response.status_code == 200, (key, response.status_code, response.text)
                if key in acked:
                    assert response.json() == acked[key], f"{key} replayed a different message"
                acked[key] = response.json()

    wanted = {a["message_id"] for a in acked.values()}
    remote = {acked[k]["message_id"]: b["cc"] for k, b in bodies.items() if "cc" in b}
    with make_http(chaos.server) as http:
        sent = _messages(http, sender)
        by_subject = Counter(m["subject"] for m in sent)
        assert {s: n for s, n in by_subject.items() if n > 1} == {}, "a key sent twice"
        assert by_subject.keys() == {f"send {k}" for k in bodies}
        assert {m["message_id"] for m in sent} == wanted
        assert {m["thread_id"] for m in sent} == {a["thread_id"] for a in acked.values()}

        # The hosted recipient has each message exactly once, under the same Message-ID.
        _inbound_drained(chaos.server)
        assert sorted(m["message_id"] for m in _messages(http, recipient)) == sorted(wanted)

        def missing() -> list[tuple[str, str]]:
            return [(m, r) for m, rcpt in remote.items() for r in rcpt
                    if not any(m.encode() in d.data for d in chaos.mx.to(r))]

        wait_for(lambda: not missing(), timeout=60, what="every remote recipient to receive its message",
                 interval=0.2)

        def labels(message_id: str) -> list[str]:
            response = http.get(f"/v0/inboxes/{sender}/messages/{message_id}")
            assert response.status_code == 200, response.text
            return response.json()["labels"]  # type: ignore[no-any-return]

        wait_for(lambda: all("delivered" in (ls := labels(m)) and "delayed" not in ls for m in remote), timeout=30,
                 what="every remote send labelled delivered", interval=0.3)
        assert not [m for m in remote if "bounced" in labels(m)]
    copies = Counter((m, r) for m, rcpt in remote.items() for r in rcpt for d in chaos.mx.to(r) if m.encode() in d.data)
    print(f"sends: {len(bodies)} keys; delivery: {len(remote)} messages to {len(copies)} remote recipients, "
          f"{sum(n - 1 for n in copies.values())} repeated")


# --- PostgreSQL restarted under load ----------------------------------------------------------------------------


async def _terminate_all(admin_url: str, database: str) -> int:
    conn = await asyncpg.connect(admin_url)
    try:
        return len(await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database))
    finally:
        await conn.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster this test may stop and start (never the shared server)."""
    if not _pg_tool("initdb"):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("PostgreSQL server binaries are required under CI=true")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    pg = Cluster.start()
    try:
        yield pg
    finally:
        pg.stop()


def test_postgres_restarted_while_mail_flows(cluster: Cluster, tmp_path: Path, rng: random.Random):
    """PostgreSQL goes away three ways while senders keep going: every backend terminated, a fast shutdown and a
    crash (immediate shutdown), each followed by a start. SMTP answers 4xx meanwhile (never 5xx, which would
    bounce the mail, and never 250 for mail it could not store); afterwards every 250 is stored once, and the
    server process never died."""
    name, url = fresh_database(cluster.url)
    # The throwaway cluster runs with synchronous_commit=off; a crash would then lose commits the server already
    # confirmed, which no server can help. This database commits durably.
    asyncio.run(_alter(cluster.url, f'ALTER DATABASE "{name}" SET synchronous_commit = on'))
    srv = Server(backend="postgres", database_url=url, workdir=tmp_path,
                 extra_env={"AGENTMAIL_JOB_LEASE_SECONDS": str(JOB_LEASE_SECONDS)}).start()
    try:
        inbox = make_sdk(srv).inboxes.create(request=CreateInboxRequest(username=f"pg-{uuid.uuid4().hex[:8]}")).inbox_id
        load = SmtpLoad(srv.smtp_port, lambda r: _mail([inbox], "pg", r), persistent=True)
        load.start(senders=3, rng=rng)
        outages = ["terminate", "fast", "immediate"]
        rng.shuffle(outages)
        refused_while_down = 0
        for outage in outages:
            target = len(load.acked) + rng.randint(3, 15)
            wait_for(lambda target=target: len(load.acked) >= target, timeout=60,
                     what="mail accepted after the database came back")
            time.sleep(rng.uniform(0, 0.3))
            before = sum(n for code, n in load.codes.items() if code != 250)
            if outage == "terminate":
                assert asyncio.run(_terminate_all(cluster.url, name)) > 0
            else:
                cluster.halt(outage)
                time.sleep(rng.uniform(1.0, 2.0))
                refused_while_down += sum(n for code, n in load.codes.items() if code != 250) - before
                cluster.resume()
            assert srv.process is not None and srv.process.poll() is None, f"the server died:\n{srv.log()[-3000:]}"
        target = len(load.acked) + 5
        wait_for(lambda: len(load.acked) >= target, timeout=60, what="mail accepted at the end")
        load.stop()
        assert refused_while_down > 0, "nothing was refused while the database was down"
        assert all(400 <= code < 500 or code == 250 for code in load.codes), f"SMTP replies {dict(load.codes)}"

        # The message each sender held at the end was never answered: send it once more, as its MTA would.
        load.persistent = False
        load.start(senders=1, rng=rng)
        wait_for(lambda: not load.pending, timeout=30, what="the resent leftovers")
        load.stop()
        with make_http(srv) as http:
            assert http.get("/health").status_code == 200
            _check_inbox(http, srv, inbox, load)
        assert srv.process is not None and srv.process.poll() is None
        print(f"postgres outages {outages}: {len(load.attempted)} sent, {len(load.acked)} acknowledged, "
              f"replies {dict(load.codes)}")
    finally:
        srv.stop()
        drop_database(cluster.url, name)


async def _alter(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
