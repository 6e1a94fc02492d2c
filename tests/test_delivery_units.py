"""Outbound delivery parts without a server: reports, bounce classes, routing, DKIM, the SMTP client."""

from __future__ import annotations

import asyncio
import base64
import email
from collections.abc import Iterator
from datetime import timedelta
from email import policy

import dkim
import pytest

from agentmail_server.config import parse_durations
from agentmail_server.mail import dkim as dkim_mail
from agentmail_server.mail import smtp_out
from agentmail_server.mail.bounces import bounce_address, bounce_token, classify, new_token, parse_report
from agentmail_server.mail.dns import make_resolver

from .dns_server import ZoneServer
from .fake_mx import FakeMX

KNOWN = ["alice@remote.test", "bob@remote.test"]

POSTFIX_DSN = b"""From: MAILER-DAEMON@mx.remote.test (Mail Delivery System)
To: bounces+0123456789abcdef01234567@agentmail.localhost
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

This is the mail system at host mx.remote.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<bob@remote.test>: host store.remote.test said: 550 5.1.1 User unknown

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.test
Arrival-Date: Sat, 21 Nov 2026 10:00:00 +0000

Final-Recipient: rfc822; bob@remote.test
Original-Recipient: rfc822;BOB@remote.test
Action: failed
Status: 5.1.1
Remote-MTA: dns; store.remote.test
Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: Recipient address rejected: User unknown

Final-Recipient: rfc822; alice@remote.test
Action: delayed
Status: 4.4.1

--B1
Content-Type: text/rfc822-headers

From: Someone <someone@agentmail.localhost>
To: alice@remote.test, bob@remote.test
Subject: hello

--B1--
"""

ARF = b"""From: feedback@mail.remote.test
To: bounces+0123456789abcdef01234567@agentmail.localhost
Subject: FW: hello
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="B2"

--B2
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.

--B2
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounces+0123456789abcdef01234567@agentmail.localhost>
Original-Rcpt-To: <alice@remote.test>
Arrival-Date: Sat, 21 Nov 2026 10:00:00 +0000

--B2
Content-Type: message/rfc822

From: Someone <someone@agentmail.localhost>
To: alice@remote.test, bob@remote.test
Subject: hello

hi
--B2--
"""

QMAIL = b"""From: MAILER-DAEMON@remote.test
To: bounces+0123456789abcdef01234567@agentmail.localhost
Subject: failure notice

Hi. This is the qmail-send program at remote.test.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<alice@remote.test>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <bounces+0123456789abcdef01234567@agentmail.localhost>
To: alice@remote.test, bob@remote.test
"""

EXCHANGE = b"""From: postmaster@remote.test
To: bounces+0123456789abcdef01234567@agentmail.localhost
Subject: Undeliverable: hello
Content-Type: text/plain

Delivery has failed to these recipients or groups:

bob@remote.test
The email address you entered couldn't be found. Please check the recipient's email address and try to resend the message.

Diagnostic information for administrators:

Generating server: remote.test

bob@remote.test
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found'

Original message headers:

To: alice@remote.test, bob@remote.test
"""

DELAY = b"""From: MAILER-DAEMON@remote.test
To: bounces+0123456789abcdef01234567@agentmail.localhost
Subject: Delivery Status Notification (Delay)

This is a warning message only. Delivery to alice@remote.test has been delayed; we will continue to try.
"""

OUT_OF_OFFICE = b"""From: Alice <alice@remote.test>
To: bounces+0123456789abcdef01234567@agentmail.localhost
Subject: Automatic reply: hello
Auto-Submitted: auto-replied

I am out of the office. For anything urgent the address bob@remote.test does not exist anymore.
"""


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize("raw", [POSTFIX_DSN, POSTFIX_DSN.replace(b"message/delivery-status",
                                                                  b"message/global-delivery-status")])
def test_rfc3464_dsn_reports_failed_recipients_only(raw):
    report = parse_report(_crlf(raw), KNOWN)
    assert report.kind == "bounce"
    assert [(r.address.lower(), r.status) for r in report.recipients][:1] == [("bob@remote.test", "5.1.1")]
    assert all(r.address.lower() != "alice@remote.test" for r in report.recipients)  # delayed is not failed
    assert "User unknown" in report.recipients[0].diagnostic


def test_arf_complaint():
    report = parse_report(_crlf(ARF), KNOWN)
    assert (report.kind, report.feedback_type) == ("complaint", "abuse")
    assert [r.address for r in report.recipients] == ["alice@remote.test"]
    redacted = _crlf(ARF).replace(b"Original-Rcpt-To: <alice@remote.test>\r\n", b"")
    assert [r.address for r in parse_report(redacted, ["alice@remote.test"]).recipients] == ["alice@remote.test"]
    not_spam = _crlf(ARF).replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    assert parse_report(not_spam, KNOWN).kind == "none"


@pytest.mark.parametrize("raw, expected", [
    (QMAIL, [("alice@remote.test", "5.1.1")]),
    (EXCHANGE, [("bob@remote.test", "5.1.10")]),
])
def test_non_rfc_bounces_name_only_the_failed_recipients(raw, expected):
    report = parse_report(_crlf(raw), KNOWN)
    assert report.kind == "bounce"
    assert [(r.address, r.status) for r in report.recipients] == expected


@pytest.mark.parametrize("raw", [DELAY, OUT_OF_OFFICE])
def test_delay_notices_and_auto_replies_are_not_bounces(raw):
    assert parse_report(_crlf(raw), KNOWN).kind == "none"


@pytest.mark.parametrize("status, text, stage, code, expected", [
    ("5.1.1", "User unknown", "rcpt", 550, ("Permanent", "NoEmail", True)),
    ("5.1.1", "User unknown", "dsn", None, ("Permanent", "NoEmail", True)),
    ("5.0.0", "Requested action not taken: mailbox unavailable", "rcpt", 550, ("Permanent", "NoEmail", True)),
    ("5.0.0", "Message rejected as spam", "rcpt", 550, ("Permanent", "General", False)),
    ("5.7.1", "Rejected by policy", "rcpt", 554, ("Permanent", "ContentRejected", False)),
    ("5.1.7", "Bad sender address", "mail", 553, ("Permanent", "General", False)),
    ("5.1.2", "no MX", "route", None, ("Permanent", "NoEmail", False)),  # our finding: never suppressed
    ("5.1.10", "null MX", "route", None, ("Permanent", "NoEmail", False)),
    ("4.2.2", "Mailbox full", "expired", 452, ("Transient", "MailboxFull", False)),
    ("5.3.4", "Message too big", "data", 552, ("Permanent", "MessageTooLarge", False)),
    ("4.4.1", "no answer", "expired", None, ("Transient", "General", False)),
])
def test_classify(status, text, stage, code, expected):
    verdict = classify(status, text, stage=stage, code=code)
    assert (verdict.type, verdict.sub_type, verdict.suppress) == expected


def test_bounce_addresses_round_trip():
    token = new_token()
    address = bounce_address(token, "agentmail.localhost")
    assert bounce_token(address) == token and bounce_token(f"<{address.upper()}>") == token
    assert bounce_token("bounces@agentmail.localhost") is None
    assert bounce_token("bounces+tag@agentmail.localhost") is None


def test_retry_schedule_parsing():
    assert parse_durations("30, 5m,2h ,1d,") == (
        timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=2), timedelta(days=1))
    with pytest.raises(ValueError):
        parse_durations("5 minutes")


def test_dkim_signature_verifies_and_covers_the_recommended_headers():
    pair = dkim_mail.generate_key()
    raw = _crlf(b"From: A <a@agentmail.localhost>\nTo: b@remote.test\nSubject: Hi\nDate: Sat, 21 Nov 2026 10:00:00 +0000\n"
                b"Message-ID: <x@agentmail.localhost>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nbody\n.leading dot\n")
    signed = dkim_mail.sign(raw, domain="agentmail.localhost", selector="agentmail", private_pem=pair.private_pem)
    record = dkim_mail.record_value(pair.public_b64).encode()
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record
                       if name == b"agentmail._domainkey.agentmail.localhost." else None)
    header = email.message_from_bytes(signed, policy=policy.default)["DKIM-Signature"]
    tags = dict(t.strip().split("=", 1) for t in str(header).split(";") if "=" in t)
    assert tags["a"] == "rsa-sha256" and tags["c"] == "relaxed/relaxed" and "l" not in tags
    signed_headers = tags["h"].replace(" ", "").split(":")
    assert signed_headers.count("from") == 2  # oversigned: a second From cannot be added
    assert {"to", "subject", "date", "message-id", "mime-version", "content-type"} <= set(signed_headers)
    der = base64.b64decode(pair.public_b64)
    assert len(der) > 256  # a 2048-bit modulus


def test_seven_bit_downgrade_keeps_the_text():
    raw = _crlf("From: a@x.test\nTo: b@y.test\nSubject: s\nMIME-Version: 1.0\n"
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße\n".encode())
    out = smtp_out.seven_bit(raw)
    assert out is not None and out.isascii()
    assert email.message_from_bytes(out, policy=policy.default).get_content().strip() == "Grüße"


# --- routing and the SMTP client against local servers -------------------------------------------


@pytest.fixture
def zone(dns: ZoneServer) -> Iterator[ZoneServer]:
    dns.set_zone("""
$ORIGIN test.
$TTL 60
pref      IN MX 20 backup.pref
pref      IN MX 10 primary.pref
primary.pref IN A 127.0.0.1
backup.pref  IN A 127.0.0.1
nullmx    IN MX 0 .
implicit  IN A 127.0.0.1
nomail    IN TXT "v=spf1 -all"
deadmx    IN MX 10 gone.deadmx
""")
    yield dns
    dns.set_zone("")


async def test_mx_routing(zone):
    resolver = make_resolver(zone.nameservers)
    assert await smtp_out.mx_hosts(resolver, "pref.test") == ["primary.pref.test", "backup.pref.test"]
    assert await smtp_out.mx_hosts(resolver, "implicit.test") == ["implicit.test"]
    with pytest.raises(smtp_out.RouteError) as null:
        await smtp_out.mx_hosts(resolver, "nullmx.test")
    assert null.value.status == "5.1.10" and null.value.permanent
    config = smtp_out.OutboundConfig(resolver=resolver, helo="mta.test", port=1)
    for domain in ("nomail.test", "missing.test", "deadmx.test"):
        [result] = await smtp_out.deliver(config, domain, smtp_out.Envelope("s@a.test", [f"x@{domain}"], b"x\r\n"))
        assert (result.outcome, result.status, result.stage) == ("bounced", "5.1.2", "route")
    zone.set_servfail({"pref.test"})
    [result] = await smtp_out.deliver(config, "pref.test", smtp_out.Envelope("s@a.test", ["x@pref.test"], b"x\r\n"))
    assert (result.outcome, result.status) == ("deferred", "4.4.3")
    # Nothing listens on port 1: connection refused is temporary.
    [result] = await smtp_out.deliver(config, "implicit.test",
                                      smtp_out.Envelope("s@a.test", ["x@implicit.test"], b"x\r\n"))
    assert (result.outcome, result.stage) == ("deferred", "connect")


async def test_relay_with_auth_and_per_recipient_outcomes():
    mx = FakeMX(tls=False, credentials=("user", "secret")).start()
    try:
        relay = smtp_out.Relay.parse(f"127.0.0.1:{mx.port}", username="user", password="secret", tls="none")
        config = smtp_out.OutboundConfig(resolver=make_resolver("127.0.0.1:9"), helo="mta.test", relay=relay)
        message = _crlf(b"From: a@agentmail.localhost\nTo: ok@one.test\nSubject: s\n\n.dot line\n")
        env = smtp_out.Envelope("bounces+x@agentmail.localhost", ["ok@one.test", "reject-me@two.test",
                                                                  "full-box@three.test"], message)
        results = {r.address: r for r in await smtp_out.deliver(config, "", env)}
        assert (results["ok@one.test"].outcome, results["ok@one.test"].code) == ("delivered", 250)
        assert (results["reject-me@two.test"].outcome, results["reject-me@two.test"].status) == ("bounced", "5.1.1")
        assert (results["full-box@three.test"].outcome, results["full-box@three.test"].status) == ("deferred", "4.2.2")
        [got] = mx.received
        assert got.login == "user" and got.mail_from == "bounces+x@agentmail.localhost"
        assert got.rcpt_tos == ["ok@one.test"] and b"\r\n.dot line\r\n" in got.data  # dot-stuffing undone

        wrong = smtp_out.Relay.parse(f"127.0.0.1:{mx.port}", username="user", password="nope", tls="none")
        config = smtp_out.OutboundConfig(resolver=config.resolver, helo="mta.test", relay=wrong)
        [result] = await smtp_out.deliver(config, "", smtp_out.Envelope("s@a.test", ["ok@one.test"], message))
        assert result.outcome == "deferred"  # our credentials are wrong: keep the mail, not bounce it
        assert await asyncio.to_thread(lambda: len(mx.received)) == 1
    finally:
        mx.stop()


async def test_connections_are_reused_per_destination_and_stale_ones_replaced():
    mx = FakeMX(tls=True).start()
    zone = ZoneServer.start("reuse.test. 60 IN MX 10 mx.reuse.test.\nmx.reuse.test. 60 IN A 127.0.0.1\n")
    try:
        pool = smtp_out.ConnectionPool()
        config = smtp_out.OutboundConfig(resolver=make_resolver(zone.nameservers), helo="mta.test", port=mx.port,
                                         pool=pool)

        def env(n: int) -> smtp_out.Envelope:
            return smtp_out.Envelope("s@a.test", [f"rcpt{n}@reuse.test"], _crlf(f"Subject: {n}\n\nbody\n".encode()))

        for n in range(3):
            [result] = await smtp_out.deliver(config, "reuse.test", env(n))
            assert result.outcome == "delivered"
        sessions = await asyncio.to_thread(lambda: [d.session for d in mx.received])
        assert len(sessions) == 3 and len(set(sessions)) == 1, "one connection carried all three messages"
        assert all(d.tls for d in mx.received)

        # The server drops the idle session (as receivers do after a while): the next message goes
        # out on a fresh connection instead of failing.
        [idle] = pool._idle[("mx.reuse.test", "127.0.0.1", mx.port, True)]
        idle.client.close()
        [result] = await smtp_out.deliver(config, "reuse.test", env(3))
        assert result.outcome == "delivered"
        sessions = await asyncio.to_thread(lambda: [d.session for d in mx.received])
        assert len(set(sessions)) == 2

        # Without a pool every message has its own connection.
        plain = smtp_out.OutboundConfig(resolver=config.resolver, helo="mta.test", port=mx.port)
        for n in (4, 5):
            await smtp_out.deliver(plain, "reuse.test", env(n))
        sessions = await asyncio.to_thread(lambda: [d.session for d in mx.received])
        assert len(set(sessions)) == 4
        pool.close()
    finally:
        zone.stop()
        mx.stop()
