"""Outbound delivery end to end: the official SDK sends, a fake remote MX behind the test DNS receives.

Each backend gets one server whose outbound port points at the fake MX (tests/fake_mx.py), with a
one-second retry schedule and a two-second job lease. The zone publishes remote.test's MX and the
server's own DKIM key (as `agentmail-server dns-records` shows it).
"""

from __future__ import annotations

import asyncio
import re
import signal
import smtplib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dkim
import dns.resolver
import httpx
import pytest
from agentmail import MessageRejectedError
from agentmail.inboxes import CreateInboxRequest
from sqlalchemy import select

from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Event, InboundMail, OutboundRecipient
from agentmail_server.schemas.lists import ListEntry
from agentmail_server.schemas.messages import Message

from .conftest import BACKENDS, database_url, make_http, make_sdk
from .dns_server import ZoneServer
from .fake_mx import FakeMX
from .mail_helpers import crlf, wait_for
from .server import Server
from .wire import TIMESTAMP, error, ok

BOUNCE_ADDRESS = re.compile(r"^bounces\+[0-9a-f]{24}@agentmail\.localhost$")


@dataclass
class Env:
    server: Server
    mx: FakeMX
    dkim_name: str
    dkim_value: str


@pytest.fixture(scope="module")
def mx() -> Iterator[FakeMX]:
    fake = FakeMX().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mx: FakeMX) -> Iterator[Env]:
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"delivery-{backend}")
    srv = Server(backend=backend, database_url=database_url(backend, tmp, request), workdir=tmp, extra_env={
        "AGENTMAIL_SMTP_OUTBOUND_PORT": str(mx.port),
        "AGENTMAIL_DELIVERY_RETRY_SCHEDULE": "1s,1s,1s",
        "AGENTMAIL_JOB_LEASE_SECONDS": "2",
        "AGENTMAIL_SMTP_HELO_NAME": "mta.agentmail.localhost",
        "AGENTMAIL_DELIVERY_CONNECT_TIMEOUT_SECONDS": "5",
    })
    record = srv.cli("dns-records")  # before the first start: the command makes the key itself
    srv.start()
    try:
        yield Env(srv, mx, record["name"], record["value"])
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def zone(dns: ZoneServer, env: Env) -> Iterator[ZoneServer]:
    dns.set_zone(f"""
$TTL 60
remote.test.     IN MX 10 mx.remote.test.
mx.remote.test.  IN A 127.0.0.1
{env.dkim_name}. IN TXT "{env.dkim_value}"
""")
    yield dns
    dns.set_zone("")


@pytest.fixture
def http(env: Env) -> Iterator[httpx.Client]:
    with make_http(env.server) as client:
        yield client


def _inbox(env: Env) -> str:
    return make_sdk(env.server).inboxes.create(
        request=CreateInboxRequest(username=f"out-{uuid.uuid4().hex[:8]}", display_name="Agent")).inbox_id


def _rows(server: Server, stmt: Any) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(server.database_url)
        try:
            async with db.read() as session:
                return list((await session.scalars(stmt)).all())
        finally:
            await db.dispose()

    return asyncio.run(run())


def _events(server: Server, inbox: str, event_type: str) -> list[dict[str, Any]]:
    rows = _rows(server, select(Event).where(Event.inbox_id == inbox, Event.event_type == event_type)
                 .order_by(Event.id))
    return [row.payload for row in rows]


def _labels(http: httpx.Client, inbox: str, message_id: str) -> list[str]:
    return ok(Message, http.get(f"/v0/inboxes/{inbox}/messages/{message_id}")).labels


def _wait_label(http: httpx.Client, inbox: str, message_id: str, label: str, timeout: float = 20) -> list[str]:
    return wait_for(lambda: (labels := _labels(http, inbox, message_id)) and label in labels and labels,
                    timeout=timeout, what=f"label {label} on {message_id}")


def _check_event(payload: dict[str, Any], event_type: str, key: str, inbox: str, message_id: str,
                 extra: set[str]) -> dict[str, Any]:
    """The exact shape of REFERENCE §2.14.1: required fields only, RFC 3339 millisecond timestamps."""
    assert set(payload) == {"type", "event_type", "event_id", key}
    assert (payload["type"], payload["event_type"]) == ("event", event_type)
    body = payload[key]
    assert set(body) == {"inbox_id", "thread_id", "message_id", "timestamp", "recipients", *extra}
    assert body["inbox_id"] == inbox and body["message_id"] == message_id and TIMESTAMP.match(body["timestamp"])
    return body  # type: ignore[no-any-return]


def _published_key(zone: ZoneServer):  # type: ignore[no-untyped-def]
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], zone.port

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        answer = resolver.resolve(name.decode(), "TXT")
        return b"".join(next(iter(answer)).strings)

    return dnsfunc


def test_delivered_with_dkim_one_transaction_per_recipient(env: Env, http: httpx.Client, zone: ZoneServer):
    inbox = _inbox(env)
    tag = uuid.uuid4().hex[:8]
    alice, bob, carol = f"alice-{tag}@remote.test", f"bob-{tag}@remote.test", f"carol-{tag}@remote.test"
    sent = make_sdk(env.server).inboxes.messages.send(
        inbox, to=[f"Alice <{alice}>"], cc=[bob], bcc=[carol], subject="Grüße", text="Hällo\n.\n.leading dot\n")
    copies = [wait_for(lambda r=r: env.mx.to(r), what="the fake MX to receive the message") for r in (alice, bob, carol)]
    [got] = copies[0]

    # VERP: each recipient its own transaction and bounce address, all over one connection.
    assert [c.rcpt_tos for [c] in copies] == [[alice], [bob], [carol]]
    assert len({c.mail_from for [c] in copies}) == 3 and len({c.session for [c] in copies}) == 1
    assert len({c.data for [c] in copies}) == 1  # signed once
    assert BOUNCE_ADDRESS.match(got.mail_from) and got.helo == "mta.agentmail.localhost"
    assert got.tls, "STARTTLS was offered and must be used"
    assert "BODY=8BITMIME" in got.mail_options and any(o.startswith("SIZE=") for o in got.mail_options)
    assert carol.encode() not in got.data, "Bcc recipients are envelope-only"
    assert f"Message-ID: {sent.message_id}".encode() in got.data
    assert b"\r\n.\r\n.leading dot\r\n" in got.data  # dot-stuffed on the wire, restored by the receiver
    assert got.data.startswith(b"DKIM-Signature:")
    assert dkim.verify(got.data, dnsfunc=_published_key(zone)), "the signature must verify against DNS"
    assert "d=agentmail.localhost" in got.data.decode(errors="replace").split("\r\n\r\n")[0]
    assert env.dkim_name == "agentmail._domainkey.agentmail.localhost"
    assert env.dkim_value.startswith("v=DKIM1; k=rsa; p=")

    labels = _wait_label(http, inbox, sent.message_id, "delivered")
    assert "delayed" not in labels and "bounced" not in labels
    [event] = wait_for(lambda: _events(env.server, inbox, "message.delivered"))
    body = _check_event(event, "message.delivered", "delivery", inbox, sent.message_id, set())
    assert sorted(body["recipients"]) == sorted([alice, bob, carol]) and body["thread_id"] == sent.thread_id
    thread = http.get(f"/v0/inboxes/{inbox}/threads/{sent.thread_id}").json()
    assert "delivered" in thread["labels"]


def test_hard_bounce_suppresses_and_the_next_send_is_rejected(env: Env, http: httpx.Client):
    inbox = _inbox(env)
    sdk = make_sdk(env.server)
    gone = f"reject-{uuid.uuid4().hex[:8]}@remote.test"
    sent = sdk.inboxes.messages.send(inbox, to=gone, subject="Hello", text="anyone there?")
    labels = _wait_label(http, inbox, sent.message_id, "bounced")
    assert "delivered" not in labels and "delayed" not in labels
    [event] = _events(env.server, inbox, "message.bounced")
    body = _check_event(event, "message.bounced", "bounce", inbox, sent.message_id, {"type", "sub_type"})
    assert (body["type"], body["sub_type"]) == ("Permanent", "NoEmail")
    assert body["recipients"] == [{"address": gone, "status": "5.1.1"}]
    assert env.mx.to(gone) == []

    entry = ok(ListEntry, http.get(f"/v0/lists/send/block/{gone}"))
    assert entry.read_only and entry.entry == gone
    error(http.delete(f"/v0/lists/send/block/{gone}"), 409, "cannot_delete")
    with pytest.raises(MessageRejectedError) as refused:
        sdk.inboxes.messages.send(inbox, to=gone, subject="Again", text="?")
    assert refused.value.status_code == 403
    assert len(_events(env.server, inbox, "message.rejected")) == 1


def test_mixed_outcomes_and_a_temporary_failure_retried(env: Env, http: httpx.Client):
    inbox = _inbox(env)
    tag = uuid.uuid4().hex[:8]
    fine, gone, grey = f"ok-{tag}@remote.test", f"reject-{tag}@remote.test", f"greylist-{tag}@remote.test"
    sent = make_sdk(env.server).inboxes.messages.send(inbox, to=[fine, gone, grey], subject="Mixed", text="x")

    def settled() -> list[str] | None:
        labels = _labels(http, inbox, sent.message_id)
        return labels if {"delivered", "bounced"} <= set(labels) and "delayed" not in labels \
            and env.mx.to(grey) else None

    labels = wait_for(settled, what="all three recipients decided")
    first = env.mx.to(fine)
    assert [d.rcpt_tos for d in first] == [[fine]]  # one transaction; the refused and deferred ones left out
    assert [d.rcpt_tos for d in env.mx.to(grey)] == [[grey]]  # the retry carried only the deferred one
    assert env.mx.handler.rcpt_attempts.count(grey) == 2 and env.mx.handler.rcpt_attempts.count(gone) == 1
    assert "sent" in labels
    delivered = [e["delivery"]["recipients"] for e in _events(env.server, inbox, "message.delivered")]
    assert delivered == [[fine], [grey]]
    [bounce] = _events(env.server, inbox, "message.bounced")
    assert bounce["bounce"]["recipients"] == [{"address": gone, "status": "5.1.1"}]
    rows = {r.recipient: r for r in _rows(env.server, select(OutboundRecipient))
            if r.recipient in (fine, gone, grey)}
    assert {a: (r.status, r.attempts) for a, r in rows.items()} == {
        fine: ("delivered", 1), gone: ("bounced", 1), grey: ("delivered", 2)}
    assert rows[grey].last_code == 250 and rows[gone].last_status == "5.1.1"


def test_retries_exhausted_and_missing_domains_bounce_without_suppression(env: Env, http: httpx.Client):
    inbox = _inbox(env)
    sdk = make_sdk(env.server)
    full = f"full-{uuid.uuid4().hex[:8]}@remote.test"
    nowhere = f"someone@nowhere-{uuid.uuid4().hex[:8]}.test"
    to_full = sdk.inboxes.messages.send(inbox, to=full, subject="Full", text="x")
    to_nowhere = sdk.inboxes.messages.send(inbox, to=nowhere, subject="Nowhere", text="x")
    _wait_label(http, inbox, to_nowhere.message_id, "bounced")
    _wait_label(http, inbox, to_full.message_id, "bounced", timeout=30)  # 1 + 3 attempts, a second apart
    bounces = {e["bounce"]["message_id"]: e["bounce"] for e in _events(env.server, inbox, "message.bounced")}
    assert (bounces[to_full.message_id]["type"], bounces[to_full.message_id]["sub_type"]) == ("Transient",
                                                                                             "MailboxFull")
    assert bounces[to_full.message_id]["recipients"] == [{"address": full, "status": "4.2.2"}]
    assert env.mx.handler.rcpt_attempts.count(full) == 4
    assert bounces[to_nowhere.message_id]["type"] == "Permanent"
    assert bounces[to_nowhere.message_id]["recipients"] == [{"address": nowhere, "status": "5.1.2"}]
    # Neither is a verdict on the address itself: sending to them again is allowed.
    for address in (full, nowhere):
        error(http.get(f"/v0/lists/send/block/{address}"), 404)
        sdk.inboxes.messages.send(inbox, to=address, subject="Again", text="x")


def _report(bounce_to: str, content_type: str, parts: str, subject: str = "Undelivered Mail") -> bytes:
    return crlf(f"""From: MAILER-DAEMON@mx.remote.test
To: {bounce_to}
Subject: {subject}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type={content_type}; boundary="RPT"

{parts}
--RPT--
""".encode())


def _send_report(server: Server, to: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.sendmail("", [to], raw)  # reports come from the null sender


def test_dsn_and_arf_reports_mark_the_right_message(env: Env, http: httpx.Client):
    inbox = _inbox(env)
    sdk = make_sdk(env.server)
    tag = uuid.uuid4().hex[:8]
    late, happy = f"late-{tag}@remote.test", f"happy-{tag}@remote.test"
    bystander, forger = f"other-{tag}@remote.test", f"forger-{tag}@remote.test"
    first = sdk.inboxes.messages.send(inbox, to=[late, bystander, forger], subject="First", text="x")
    second = sdk.inboxes.messages.send(inbox, to=happy, subject="Second", text="y")
    _wait_label(http, inbox, first.message_id, "delivered")
    _wait_label(http, inbox, second.message_id, "delivered")
    [to_late] = env.mx.to(late)
    [to_forger] = wait_for(lambda: env.mx.to(forger), what="the forger's copy")
    [to_happy] = env.mx.to(happy)
    # One bounce address per recipient (VERP), even for recipients of one message.
    assert len({to_late.mail_from, to_forger.mail_from, to_happy.mail_from}) == 3

    failure = f"""--RPT
Content-Type: text/plain

Your message could not be delivered to {late}.

--RPT
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.test

Final-Recipient: rfc822; {late}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 mailbox no longer exists

--RPT
Content-Type: text/rfc822-headers

Message-ID: {first.message_id}
To: {late}, {bystander}
"""
    # A recipient cannot get a co-recipient suppressed: a forged report naming `late`, sent to the
    # forger's own bounce address, speaks for the forger only (VERP: the address identifies the recipient).
    _send_report(env.server, to_forger.mail_from, _report(to_forger.mail_from, "delivery-status", failure))
    [forged] = wait_for(lambda: _events(env.server, inbox, "message.bounced"), what="the forged report applied")
    body = _check_event(forged, "message.bounced", "bounce", inbox, first.message_id, {"type", "sub_type"})
    assert [r["address"] for r in body["recipients"]] == [forger]
    error(http.get(f"/v0/lists/send/block/{late}"), 404)

    _send_report(env.server, to_late.mail_from, _report(to_late.mail_from, "delivery-status", failure))
    labels = _wait_label(http, inbox, first.message_id, "bounced")
    assert "delivered" in labels  # the bystander still got it
    [_, bounce] = wait_for(lambda: _events(env.server, inbox, "message.bounced")[1:] and
                           _events(env.server, inbox, "message.bounced"), what="the bounce event")
    body = _check_event(bounce, "message.bounced", "bounce", inbox, first.message_id, {"type", "sub_type"})
    assert (body["type"], body["sub_type"], body["recipients"]) == (
        "Permanent", "NoEmail", [{"address": late, "status": "5.1.1"}])
    assert ok(ListEntry, http.get(f"/v0/lists/send/block/{late}")).read_only

    arf = _report(to_happy.mail_from, "feedback-report", f"""--RPT
Content-Type: text/plain

This is an abuse report.

--RPT
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: RemoteFBL/1.0
Version: 1
Original-Rcpt-To: <{happy}>

--RPT
Content-Type: message/rfc822

Message-ID: {second.message_id}
To: {happy}
Subject: Second

y
""", subject="Complaint about message")
    _send_report(env.server, to_happy.mail_from, arf)
    _send_report(env.server, to_happy.mail_from, arf)  # a repeated report changes nothing
    labels = _wait_label(http, inbox, second.message_id, "complained")
    assert "delivered" in labels and "bounced" not in labels

    def reports_done() -> bool:
        rows = [r for r in _rows(env.server, select(InboundMail).where(InboundMail.source == "feedback"))
                if to_happy.mail_from in r.rcpt_to]
        return len(rows) == 2 and all(r.processed_at for r in rows)

    wait_for(reports_done, what="both reports processed")

    # The reports themselves reach the sending inbox as received mail (feedback_enabled), once each.
    def notices() -> list[str] | None:
        listed = http.get(f"/v0/inboxes/{inbox}/messages").json()["messages"]
        found = sorted(m["subject"] for m in listed if "received" in m["labels"])
        return found if len(found) >= 3 else None

    assert wait_for(notices, what="bounce and complaint notices in the inbox") == [
        "Complaint about message", "Undelivered Mail", "Undelivered Mail"]  # the forged one too
    [complaint] = _events(env.server, inbox, "message.complained")
    body = _check_event(complaint, "message.complained", "complaint", inbox, second.message_id, {"type", "sub_type"})
    assert (body["type"], body["recipients"]) == ("abuse", [happy])
    with pytest.raises(MessageRejectedError):
        sdk.inboxes.messages.send(inbox, to=happy, subject="Third", text="z")

    # Only tokens of sent messages are accepted: the listener is never an open relay.
    with smtplib.SMTP("127.0.0.1", env.server.smtp_port, timeout=30) as client:
        client.ehlo()
        client.mail("")
        code, _ = client.rcpt(f"bounces+{uuid.uuid4().hex[:24]}@agentmail.localhost")
        assert code == 550


def test_worker_killed_mid_delivery_delivers_after_restart(env: Env, http: httpx.Client):
    inbox = _inbox(env)
    stall = f"stall-{uuid.uuid4().hex[:8]}@remote.test"
    sent = make_sdk(env.server).inboxes.messages.send(inbox, to=stall, subject="Slow", text="x")
    wait_for(lambda: env.mx.to(stall), what="the stalled DATA")  # the remote has it, the reply is held back
    env.server.stop(signal.SIGKILL)
    env.server.start()
    with make_http(env.server) as fresh:
        labels = _wait_label(fresh, inbox, sent.message_id, "delivered", timeout=30)
    assert "bounced" not in labels
    copies = len(env.mx.to(stall))
    assert 1 <= copies <= 2, f"the remote received {copies} copies"
    assert len(_events(env.server, inbox, "message.delivered")) == 1


def test_metrics_count_what_a_scripted_scenario_generated(env: Env, http: httpx.Client):
    """Sends, deliveries, bounces and receptions: the metrics API reports exactly the events written."""
    inbox, peer = _inbox(env), _inbox(env)
    tag = uuid.uuid4().hex[:8]
    sdk = make_sdk(env.server)
    first = sdk.inboxes.messages.send(inbox, to=[f"ok-{tag}@remote.test", f"reject-{tag}@remote.test"],
                                      subject="one", text="x")
    second = sdk.inboxes.messages.send(inbox, to=[f"ok2-{tag}@remote.test"], subject="two", text="y")
    sdk.inboxes.messages.send(peer, to=[inbox], subject="local", text="z")  # a reception, no SMTP hop
    _wait_label(http, inbox, first.message_id, "bounced")
    _wait_label(http, inbox, second.message_id, "delivered")
    wait_for(lambda: len(_events(env.server, inbox, "message.received")) == 1 or None, what="the reception")

    expected = {kind: len(_events(env.server, inbox, kind)) for kind in
                ("message.sent", "message.delivered", "message.bounced", "message.received")}
    assert expected == {"message.sent": 2, "message.delivered": 2, "message.bounced": 1, "message.received": 1}
    counts = sdk.inboxes.metrics.query_events(inbox, event_types=list(expected))
    assert {kind: sum(b.count for b in buckets) for kind, buckets in counts.items()} == expected
    # Bounce rate over the window: one bounced recipient of three sent.
    rates = http.get(f"/v0/inboxes/{inbox}/metrics/rates", params={"rate_types": "bounce"}).json()["bounce"]
    latest = rates[-1]
    assert latest["sent"] == 3 and abs(latest["rate"] - 1 / 3) < 1e-9


class _Latin1Relay:
    """A bare SMTP server whose replies carry bytes that are not UTF-8 (and a NUL), as some do."""

    def __init__(self) -> None:
        self.data_count = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"220 relay.test ESMTP caf\xe9\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-relay.test\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go\r\n")
                    await writer.drain()
                    while await reader.readline() not in (b".\r\n", b""):
                        pass
                    self.data_count += 1
                    writer.write(b"250 2.0.0 Ok: queued as caf\xe9\x00\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
            writer.close()

        server = self._loop.run_until_complete(asyncio.start_server(serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    def start(self) -> _Latin1Relay:
        self._thread.start()
        self._started.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


def test_a_reply_that_is_not_utf8_is_recorded_and_not_resent(request, env: Env, tmp_path):
    relay = _Latin1Relay().start()
    srv = Server(backend=env.server.backend, database_url=database_url(env.server.backend, tmp_path, request),
                 workdir=tmp_path, extra_env={"AGENTMAIL_SMTP_RELAY": f"127.0.0.1:{relay.port}",
                                              "AGENTMAIL_SMTP_RELAY_TLS": "none",
                                              "AGENTMAIL_DELIVERY_RETRY_SCHEDULE": "1s,1s,1s",
                                              "AGENTMAIL_JOB_LEASE_SECONDS": "2"}).start()
    try:
        with make_http(srv) as http:
            inbox = http.post("/v0/inboxes", json={"username": f"l1-{uuid.uuid4().hex[:8]}"}).json()["inbox_id"]
            sent = http.post(f"/v0/inboxes/{inbox}/messages/send",
                             json={"to": ["someone@elsewhere.test"], "subject": "s", "text": "t"}).json()
            _wait_label(http, inbox, sent["message_id"], "delivered")
            time.sleep(3)  # long enough for a lease to expire and a failed record to resend
        assert relay.data_count == 1
        [row] = _rows(srv, select(OutboundRecipient))
        assert row.status == "delivered" and row.last_code == 250 and "\x00" not in (row.last_response or "")
    finally:
        srv.stop()
        relay.stop()
