"""SPF/DKIM/DMARC on inbound mail, end to end: records served by the local DNS server."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import dkim
import pytest
from agentmail.inboxes import CreateInboxRequest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .dns_server import ZoneServer
from .mail_helpers import build, crlf, send_raw, wait_for

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()

ZONE = f"""
$ORIGIN test.
$TTL 60
guarded   IN TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.guarded IN TXT "v=DMARC1; p=reject"
signed    IN TXT "v=spf1 -all"
_dmarc.signed IN TXT "v=DMARC1; p=reject"
sel._domainkey.signed IN TXT "v=DKIM1; k=rsa; p={PUBLIC}"
"""


@pytest.fixture
def zone(dns: ZoneServer) -> Iterator[ZoneServer]:
    dns.set_zone(ZONE)
    yield dns
    dns.set_zone("")


def _all(http, inbox: str, n: int) -> list[dict]:
    def check() -> list[dict] | None:
        body = http.get(f"/v0/inboxes/{inbox}/messages", params={"include_unauthenticated": "true"}).json()
        return body["messages"] if body["count"] >= n else None

    return wait_for(check)


def test_dmarc_failure_is_labelled_unauthenticated_and_hidden(sdk, http, server, zone):
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"auth-{uuid.uuid4().hex[:8]}")).inbox_id
    forged = build(to=inbox, sender="CEO <ceo@guarded.test>", subject="Wire the money",
                   headers={"Authentication-Results": "evil; dmarc=pass"})
    send_raw(server, forged.as_bytes(), [inbox], mail_from="ceo@guarded.test")
    plain = build(to=inbox, sender="friend@nodmarc.test", subject="Lunch?")
    send_raw(server, plain.as_bytes(), [inbox], mail_from="friend@nodmarc.test")
    items = {m["subject"]: m for m in _all(http, inbox, 2)}
    assert "unauthenticated" in items["Wire the money"]["labels"]
    assert "unauthenticated" not in items["Lunch?"]["labels"]  # no DMARC record: dev mail stays clean
    visible = http.get(f"/v0/inboxes/{inbox}/messages").json()
    assert [m["subject"] for m in visible["messages"]] == ["Lunch?"]
    got = http.get(f"/v0/inboxes/{inbox}/messages/{items['Wire the money']['message_id']}").json()
    results = got["headers"]["Authentication-Results"]
    assert "spf=fail" in results and "dmarc=fail" in results and "evil" not in results


def test_aligned_dkim_signature_passes(sdk, http, server, zone):
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"dkim-{uuid.uuid4().hex[:8]}")).inbox_id
    msg = crlf(build(to=inbox, sender="Billing <billing@signed.test>", subject="Invoice").as_bytes())
    signature = dkim.sign(msg, b"sel", b"signed.test", PRIVATE,
                          include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    send_raw(server, signature + msg, [inbox], mail_from="billing@signed.test")
    [item] = _all(http, inbox, 1)
    assert "unauthenticated" not in item["labels"]
    got = http.get(f"/v0/inboxes/{inbox}/messages/{item['message_id']}").json()
    results = got["headers"]["Authentication-Results"]
    assert "dkim=pass header.d=signed.test" in results and "dmarc=pass" in results
