"""Custom domains (REFERENCE §2.10): records, verification against a real DNS server, zone files,
inboxes on verified domains, and the domain.verified event."""

from __future__ import annotations

import json
import smtplib
import uuid
from concurrent.futures import ThreadPoolExecutor

import dkim
import dns.resolver
import pytest
from agentmail import Subscribe
from agentmail.core.api_error import ApiError

from agentmail_server.schemas.domains import DomainWire, ListDomainsResponse

from .conftest import database_url, make_http, make_sdk
from .db_access import run_sql
from .dns_server import ZoneServer
from .fake_mx import FakeMX
from .mail_helpers import build, crlf, send_raw, wait_for, wait_messages
from .server import Server
from .wire import error, ok

MX_HOST = "mx.selfhost.test"


@pytest.fixture(scope="module")
def world(request, server, tmp_path_factory):
    """A server of the current backend with its own DNS server, so zones here disturb no other test."""
    zone = ZoneServer.start("")
    mx = FakeMX().start()
    tmp = tmp_path_factory.mktemp(f"domains-{server.backend}")
    srv = Server(backend=server.backend, database_url=database_url(server.backend, tmp, request), workdir=tmp,
                 extra_env={"AGENTMAIL_DNS_NAMESERVERS": zone.nameservers, "AGENTMAIL_SMTP_HOSTNAME": MX_HOST,
                            "AGENTMAIL_DOMAIN_RECHECK_SECONDS": "3600", "AGENTMAIL_SMTP_OUTBOUND_PORT": str(mx.port)})
    srv.mx = mx  # type: ignore[attr-defined]
    srv.start()
    try:
        yield srv, zone
    finally:
        srv.stop()
        mx.stop()
        zone.stop()


def _dnsfunc(zone: ZoneServer):  # type: ignore[no-untyped-def]
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], zone.port

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return b"".join(next(iter(resolver.resolve(name.decode(), "TXT"))).strings)

    return lookup


def _name() -> str:
    return f"d{uuid.uuid4().hex[:10]}.example"


def _records(domain: DomainWire) -> dict[str, object]:
    return {f"{r.type} {r.name}": r for r in domain.records}


def test_create_shows_the_records_to_publish(world):
    srv, _ = world
    name = _name()
    sdk = make_sdk(srv)
    created = sdk.domains.create(domain=name.upper() + ".")
    assert created.domain_id == created.domain == name and created.status == "NOT_STARTED"
    with make_http(srv) as http:
        body = ok(DomainWire, http.get(f"/v0/domains/{name}"))
    assert body.feedback_enabled and body.inbound_enabled and not body.subdomains_enabled
    records = _records(body)
    assert set(records) == {"TXT agentmail._domainkey", "MX @", "MX mail", "TXT mail", "TXT _dmarc"}
    assert all(r.status == "MISSING" for r in body.records)
    assert records["MX @"].value == MX_HOST and records["MX @"].priority == 10
    assert records["TXT agentmail._domainkey"].value.startswith("v=DKIM1; k=rsa; p=MII")
    assert records["TXT mail"].value == f"v=spf1 a:{MX_HOST} -all"
    assert records["TXT _dmarc"].value == f"v=DMARC1; p=reject; rua=mailto:dmarc@{name}"

    updated = sdk.domains.update(name, subdomains_enabled=True, tracking_enabled=True, inbound_enabled=False)
    keys = {f"{r.type} {r.name}" for r in updated.records}
    assert "MX *" in keys and "CNAME link" in keys and "MX @" not in keys

    listed = sdk.domains.list()
    with make_http(srv) as http:
        items = ok(ListDomainsResponse, http.get("/v0/domains")).model_dump(mode="json")
        raw = http.get("/v0/domains").json()["domains"]
    assert name in [d.domain_id for d in listed.domains]
    assert all("records" not in d and "status" not in d for d in raw) and items["count"] >= 1

    zone_text = b"".join(sdk.domains.get_zone_file(name)).decode()
    assert zone_text.startswith(f"$ORIGIN {name}.") and "agentmail._domainkey\tIN\tTXT" in zone_text
    assert sdk.domains.get_setup_link(name).supported is False

    # Usage metrics count domains.
    usage = sdk.metrics.query_usage(usage_types=["domain_count"])
    assert usage["domain_count"][-1].value == len(sdk.domains.list(limit=100).domains)


def test_verification_against_the_published_zone(world):
    srv, zone = world
    name = _name()
    sdk = make_sdk(srv)
    sdk.domains.create(domain=name)
    zone_text = b"".join(sdk.domains.get_zone_file(name)).decode()
    with make_http(srv) as http:
        inbox_body = {"username": "agent", "domain": name}
        error(http.post("/v0/inboxes", json=inbox_body), 403, "domain_not_verified")

        # The generated zone file, served as is, verifies every record, and subscribers hear of it.
        with sdk.websockets.connect() as socket:
            socket.send_subscribe(Subscribe(event_types=["domain.verified"]))
            assert socket.recv().type == "subscribed"
            zone.set_zone(zone_text)
            # Three verifications at once still announce the domain once.
            with ThreadPoolExecutor(3) as pool:
                assert list(pool.map(lambda _: sdk.domains.verify(name), range(3))) == [None] * 3
            heard = socket.recv()
        assert heard.event_type == "domain.verified" and heard.domain.domain_id == name
        assert heard.domain.status == "VERIFIED"
        verified = ok(DomainWire, http.get(f"/v0/domains/{name}"))
        assert verified.status == "VERIFIED" and verified.reason is None
        assert {r.status for r in verified.records} == {"VALID"}

        rows = run_sql(srv.database_url, "SELECT payload FROM events WHERE event_type = 'domain.verified'")
        payloads = [json.loads(p) if isinstance(p, str) else p for (p,) in rows]
        [event] = [p for p in payloads if p["domain"]["domain_id"] == name]
        assert event["type"] == "event" and event["event_id"]
        assert DomainWire.model_validate(event["domain"]).status == "VERIFIED"
        sdk.domains.verify(name)  # already verified: no second event
        again = run_sql(srv.database_url, "SELECT count(*) FROM events WHERE event_type = 'domain.verified'")
        assert again[0][0] == len(payloads)

        # Inboxes on the verified domain exist and receive mail over SMTP.
        inbox = http.post("/v0/inboxes", json=inbox_body).json()
        assert inbox["inbox_id"] == f"agent@{name}"
        send_raw(srv, crlf(build(to=inbox["inbox_id"], subject="custom domain", text="hi\n").as_bytes()),
                 [inbox["inbox_id"]])
        [message] = wait_messages(http, inbox["inbox_id"], 1)
        assert message["subject"] == "custom domain"
        error(http.post("/v0/inboxes", json={"username": "x", "domain": f"sub.{name}"}), 422)
        error(http.delete(f"/v0/domains/{name}"), 409)  # its inbox still receives there

        # Mail from the domain is signed with the domain's own published key, and bounces come back
        # to mail.<domain>, which its MX record points here.
        zone.set_zone(zone_text + "remote.test. 60 IN MX 10 mx.remote.test.\nmx.remote.test. 60 IN A 127.0.0.1\n")
        rcpt = f"peer-{uuid.uuid4().hex[:6]}@remote.test"
        sdk.inboxes.messages.send(inbox["inbox_id"], to=[rcpt], subject="signed", text="hello\n")
        [got] = wait_for(lambda: srv.mx.to(rcpt), what="delivery to the remote MX")
        head = got.data.split(b"\r\n\r\n")[0].decode()
        assert f"d={name};" in head.replace(" ", "") or f"d={name}\r\n" in head
        assert dkim.verify(got.data, dnsfunc=_dnsfunc(zone))
        assert got.mail_from.startswith("bounces+") and got.mail_from.endswith(f"@mail.{name}")
        # With feedback_enabled off, a bounce still marks the message but no notice lands in the inbox.
        sdk.domains.update(name, feedback_enabled=False)
        sent_id = next(m["message_id"] for m in http.get(f"/v0/inboxes/{inbox['inbox_id']}/messages").json()["messages"]
                       if m["subject"] == "signed")
        dsn = crlf(f"""From: MAILER-DAEMON@remote.test
To: {got.mail_from}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="RPT"

--RPT
Content-Type: text/plain

Gone.

--RPT
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.test

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1

--RPT--
""".encode())
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as client:
            client.ehlo("remote.test")
            client.sendmail("", [got.mail_from], dsn)
        wait_for(lambda: "bounced" in http.get(f"/v0/inboxes/{inbox['inbox_id']}/messages/{sent_id}").json()["labels"]
                 or None, what="the bounce applied")
        settled = ("SELECT (SELECT count(*) FROM inbound_mail WHERE source = 'feedback' AND processed_at IS NULL)"
                   " + (SELECT count(*) FROM jobs WHERE kind = 'process_inbound' AND status IN ('queued', 'running'))")
        wait_for(lambda: run_sql(srv.database_url, settled)[0][0] == 0 or None, what="the report fully processed")
        received = [m for m in http.get(f"/v0/inboxes/{inbox['inbox_id']}/messages").json()["messages"]
                    if "received" in m["labels"]]
        assert [m["subject"] for m in received] == ["custom domain"]

        # A send-only domain (inbound_enabled false) takes no mail here: its RCPTs are refused, and a
        # hosted sender's mail to it goes out through the domain's own MX, not straight into the inbox.
        sdk.domains.update(name, inbound_enabled=False)
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as client:
            client.ehlo("remote.test")
            client.mail("someone@remote.test")
            code, reply = client.rcpt(inbox["inbox_id"])
        assert (code, reply[:5]) == (550, b"5.7.1")
        other = http.post("/v0/inboxes", json={"username": f"o{uuid.uuid4().hex[:8]}"}).json()["inbox_id"]
        sent = sdk.inboxes.messages.send(other, to=[inbox["inbox_id"]], subject="to send-only", text="hi\n")
        [(pk,)] = run_sql(srv.database_url, f"SELECT id FROM messages WHERE message_id = '{sent.message_id}'")
        jobs = run_sql(srv.database_url, "SELECT payload FROM jobs WHERE kind = 'deliver_outbound'")
        payloads = [json.loads(p) if isinstance(p, str) else p for (p,) in jobs]
        assert [p["recipients"] for p in payloads if p["message"] == pk] == [[inbox["inbox_id"]]]
        assert run_sql(srv.database_url, "SELECT count(*) FROM inbound_mail WHERE source = 'local' "
                                         f"AND mail_from = '{other}'")[0][0] == 0
        sdk.domains.update(name, inbound_enabled=True)
        send_raw(srv, crlf(build(to=inbox["inbox_id"], subject="inbound again", text="hi\n").as_bytes()),
                 [inbox["inbox_id"]])
        wait_messages(http, inbox["inbox_id"], 2, params={"labels": "received"})
    zone.set_zone("")


def test_wrong_key_and_missing_dmarc_are_reported_per_record(world):
    srv, zone = world
    name, other = _name(), _name()
    sdk = make_sdk(srv)
    sdk.domains.create(domain=name)
    sdk.domains.create(domain=other)
    mine = b"".join(sdk.domains.get_zone_file(name)).decode()
    theirs = b"".join(sdk.domains.get_zone_file(other)).decode()
    wrong_key = next(line for line in theirs.splitlines() if "_domainkey" in line)
    lines = [line for line in mine.splitlines() if "_domainkey" not in line and "_dmarc" not in line]
    zone.set_zone("\n".join([*lines, wrong_key]) + "\n")
    sdk.domains.verify(name)
    with make_http(srv) as http:
        body = ok(DomainWire, http.get(f"/v0/domains/{name}"))
    records = _records(body)
    assert body.status == "INVALID" and body.reason == "dns_records_invalid"
    assert (records["TXT agentmail._domainkey"].status, records["TXT agentmail._domainkey"].reason) == (
        "INVALID", "value_mismatch")
    assert records["TXT _dmarc"].status == "MISSING"
    assert {records[k].status for k in ("MX @", "MX mail", "TXT mail")} == {"VALID"}

    zone.set_servfail({f"mail.{name}"})
    sdk.domains.verify(name)
    assert sdk.domains.get(name).status == "FAILED"
    zone.set_servfail(set())
    zone.set_zone("")


def test_rules_errors_and_scopes(world):
    srv, zone = world
    sdk = make_sdk(srv)
    with make_http(srv) as http:
        error(http.post("/v0/domains", json={"domain": "nodot"}), 400)
        error(http.post("/v0/domains", json={"domain": "bad_label!.example"}), 400)
        error(http.post("/v0/domains", json={}), 400)
        error(http.post("/v0/domains", json={"domain": "agentmail.localhost"}), 422)
        error(http.post("/v0/domains", json={"domain": "x.agentmail.localhost"}), 422)
        name = _name()
        first = http.post("/v0/domains", json={"domain": name, "client_id": "dom-1"}).json()
        assert http.post("/v0/domains", json={"domain": _name(), "client_id": "dom-1"}).json() == first
        error(http.post("/v0/domains", json={"domain": name}), 403, "already_exists")
        error(http.patch(f"/v0/domains/{name}", json={}), 400)
        error(http.get("/v0/domains/missing.example"), 404)
        error(http.post("/v0/inboxes", json={"username": "a", "domain": "unknown.example"}), 404)

        google = _name()
        zone.set_zone(f"{google}. 60 IN MX 1 aspmx.l.google.com.\n")
        error(http.post("/v0/domains", json={"domain": google}), 422)
        assert http.post("/v0/domains", json={"domain": google, "allow_conflicting_provider": True}).status_code == 200
        zone.set_zone("")

        # Pod domains: visible to the pod (with the organization's), invisible to other pods.
        pod_a = http.post("/v0/pods", json={"name": "a"}).json()["pod_id"]
        pod_b = http.post("/v0/pods", json={"name": "b"}).json()["pod_id"]
        pod_domain = _name()
        assert http.post(f"/v0/pods/{pod_a}/domains", json={"domain": pod_domain}).json()["pod_id"] == pod_a
        key_a = http.post(f"/v0/pods/{pod_a}/api-keys", json={"name": "a"}).json()["api_key"]
        key_b = http.post(f"/v0/pods/{pod_b}/api-keys", json={"name": "b"}).json()["api_key"]
    with make_http(srv, key_a) as a, make_http(srv, key_b) as b:
        assert pod_domain in [d["domain_id"] for d in a.get(f"/v0/pods/{pod_a}/domains").json()["domains"]]
        assert name in [d["domain_id"] for d in a.get("/v0/domains").json()["domains"]]
        error(b.get(f"/v0/pods/{pod_b}/domains/{pod_domain}"), 404)
        error(b.get(f"/v0/domains/{pod_domain}"), 404)
        error(b.get(f"/v0/pods/{pod_a}/domains"), 404)
        error(b.delete(f"/v0/pods/{pod_b}/domains/{pod_domain}"), 404)
        # The organization's domains are used from a pod but managed by the organization.
        error(a.delete(f"/v0/pods/{pod_a}/domains/{name}"), 404)
        assert a.delete(f"/v0/pods/{pod_a}/domains/{pod_domain}").status_code == 204
        error(a.get(f"/v0/pods/{pod_a}/domains/{pod_domain}"), 404)
    with pytest.raises(ApiError) as caught:
        make_sdk(srv, key_b).domains.get(name + "x")
    assert caught.value.status_code == 404
    sdk.domains.delete(name)
    with pytest.raises(ApiError):
        sdk.domains.get(name)
