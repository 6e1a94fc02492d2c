"""Inbound SPF/DKIM/DMARC checks against a local DNS server and real dkimpy signatures."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Iterator

import dkim
import dns.asyncresolver
import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from agentmail_server.mail import auth
from agentmail_server.mail.auth import AuthResult, authenticate, from_domains, organizational_domain
from agentmail_server.mail.dns import lookup, make_resolver, parse_nameservers, txt_records
from tests.dns_server import ZoneServer, blackhole_nameservers

AUTHSERV = "mx.agentmail.test"
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


# --- keys and zone ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Keys:
    def __init__(self) -> None:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_private = rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.rsa_dns = "v=DKIM1; k=rsa; p=" + _b64(
            rsa_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        ed_key = ed25519.Ed25519PrivateKey.generate()
        self.ed_private = _b64(
            ed_key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
        ).encode()
        self.ed_dns = "v=DKIM1; k=ed25519; p=" + _b64(
            ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_dns = "v=DKIM1; k=rsa; p=" + _b64(
            other.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


def zone_text(keys: Keys) -> str:
    # An 11-deep include chain for the RFC 7208 4.6.4 lookup limit.
    chain = "\n".join(f'deep{i}.example.org. IN TXT "v=spf1 include:deep{i + 1}.example.org -all"' for i in range(12))
    return f"""
$ORIGIN example.com.
$TTL 300
@                 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
@                 IN MX 10 mx1
mx1               IN A 192.0.2.25
relay             IN A 198.51.100.7
bounce.sub        IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc            IN TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.com"
_dmarc            IN TXT "unrelated text at the same name"
rsa1._domainkey   IN TXT "{keys.rsa_dns}"
ed1._domainkey    IN TXT "{keys.ed_dns}"
wrong._domainkey  IN TXT "{keys.other_dns}"
alias._domainkey  IN CNAME keys.example.net.
rsa1._domainkey.sub IN TXT "{keys.rsa_dns}"
mech              IN TXT "v=spf1 mx:example.com a:relay.example.com include:_spf.example.net -all"
voids             IN TXT "v=spf1 a:v1.example.com a:v2.example.com a:v3.example.com -all"
$ORIGIN example.net.
keys              IN TXT "{keys.rsa_dns}"
_spf              IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
soft              IN TXT "v=spf1 ip4:127.0.0.1 ~all"
neutral           IN TXT "v=spf1 ?all"
nodmarc           IN TXT "v=spf1 ip4:127.0.0.0/8 -all"
nodmarc           IN A 127.0.0.1
broken            IN TXT "v=spf1 ip4:192.0.2.0/24 bogus -all"
rsa1._domainkey.nodmarc IN TXT "{keys.rsa_dns}"
$ORIGIN strictalign.com.
_dmarc            IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
@                 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mail              IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
rsa1._domainkey.mail IN TXT "{keys.rsa_dns}"
rsa1._domainkey   IN TXT "{keys.rsa_dns}"
$ORIGIN monitor.com.
_dmarc            IN TXT "v=DMARC1; p=none"
@                 IN TXT "v=spf1 -all"
$ORIGIN example.org.
{chain}
"""


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def zone(keys: Keys) -> Iterator[ZoneServer]:
    with ZoneServer(zone_text(keys)) as server:
        yield server


@pytest.fixture
def resolver(zone: ZoneServer) -> dns.asyncresolver.Resolver:
    return make_resolver(zone.nameservers, lifetime=2.0)


def message(from_: str = "Alice <alice@example.com>", body: bytes = b"Hello there.\r\n", extra: bytes = b"") -> bytes:
    return (
        f"From: {from_}\r\nTo: bob@agentmail.test\r\nSubject: hi\r\n"
        "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


def sign(msg: bytes, keys: Keys, *, domain: str = "example.com", selector: str = "rsa1", ed: bool = False) -> bytes:
    if ed:
        sig = dkim.sign(
            msg, selector.encode(), domain.encode(), keys.ed_private, signature_algorithm=b"ed25519-sha256",
            include_headers=SIGNED_HEADERS, canonicalize=(b"relaxed", b"relaxed"),
        )  # fmt: skip
    else:
        sig = dkim.sign(
            msg, selector.encode(), domain.encode(), keys.rsa_private,
            include_headers=SIGNED_HEADERS, canonicalize=(b"relaxed", b"relaxed"),
        )  # fmt: skip
    return sig + msg


async def check(
    resolver: dns.asyncresolver.Resolver,
    raw: bytes,
    *,
    mail_from: str = "bounce@example.com",
    client_ip: str | None = "192.0.2.5",
    helo: str | None = "mail.example.com",
    mode: str = "dmarc",
) -> AuthResult:
    return await authenticate(
        raw, mail_from=mail_from, helo=helo, client_ip=client_ip, resolver=resolver, mode=mode, authserv_id=AUTHSERV
    )


# --- the DNS test server and resolver --------------------------------------------------------


def test_parse_nameservers() -> None:
    parsed = parse_nameservers("10.0.0.1, 10.0.0.2:5353,[::1]:5300,::2")
    assert [(n.address, n.port) for n in parsed] == [
        ("10.0.0.1", 53),
        ("10.0.0.2", 5353),
        ("::1", 5300),
        ("::2", 53),
    ]
    for bad in ("dns.example.com", "10.0.0.1:0", "10.0.0.1:x", " , "):
        with pytest.raises(ValueError):
            parse_nameservers(bad)
    resolver = make_resolver("127.0.0.1:5353", lifetime=1.5)
    assert [(n.address, n.port) for n in resolver.nameservers] == [("127.0.0.1", 5353)]
    assert resolver.lifetime == 1.5


async def test_zone_server_answers(zone: ZoneServer, keys: Keys) -> None:
    resolver = make_resolver(zone.nameservers, lifetime=2.0)
    assert await txt_records(resolver, "example.com") == ["v=spf1 ip4:192.0.2.0/24 -all"]
    # A 2048-bit key record is longer than one 255-byte string: split in the zone, joined here.
    assert await txt_records(resolver, "rsa1._domainkey.example.com") == [keys.rsa_dns]
    answer = await resolver.resolve("rsa1._domainkey.example.com", "TXT")
    assert all(len(s) <= 255 for s in answer[0].strings) and len(answer[0].strings) > 1
    # CNAME chains end up in the answer section, where dnspython looks.
    assert await txt_records(resolver, "alias._domainkey.example.com") == [keys.rsa_dns]
    assert [r.to_text() for r in await lookup(resolver, "example.com", "MX")] == ["10 mx1.example.com."]
    assert [r.to_text() for r in await lookup(resolver, "mx1.example.com", "A")] == ["192.0.2.25"]
    # Existing name without the type, and an empty non-terminal: NoAnswer, not NXDOMAIN.
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("mx1.example.com", "AAAA")
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("_domainkey.example.com", "TXT")
    with pytest.raises(dns.resolver.NXDOMAIN):
        await resolver.resolve("missing.example.com", "TXT")
    assert await txt_records(resolver, "missing.example.com") == []
    # Over TCP too.
    answer = await resolver.resolve("example.com", "TXT", tcp=True)
    assert answer[0].strings == (b"v=spf1 ip4:192.0.2.0/24 -all",)


async def test_zone_server_set_zone_and_stop() -> None:
    server = ZoneServer.start('example.test. 60 IN TXT "one"')
    try:
        resolver = make_resolver(server.nameservers, lifetime=1.0)
        assert server.nameservers == f"127.0.0.1:{server.port}"
        assert await txt_records(resolver, "example.test") == ["one"]
        server.set_zone('example.test. 60 IN TXT "two"\nexample.test. 60 IN AAAA 2001:db8::1')
        assert await txt_records(resolver, "example.test") == ["two"]
        assert [r.to_text() for r in await lookup(resolver, "example.test", "AAAA")] == ["2001:db8::1"]
    finally:
        server.stop()
    # No server: neither a record nor a definite "none", but a temporary error.
    assert await txt_records(resolver, "example.test") is None


# --- SPF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mail_from", "client_ip", "expected"),
    [
        ("bounce@example.com", "192.0.2.5", "pass"),
        ("bounce@example.com", "198.51.100.1", "fail"),
        ("x@soft.example.net", "127.0.0.2", "softfail"),
        ("x@soft.example.net", "127.0.0.1", "pass"),
        ("x@neutral.example.net", "127.0.0.1", "neutral"),
        ("x@nospf.example.org", "192.0.2.5", "none"),
        ("x@broken.example.net", "192.0.2.5", "permerror"),
        # mx, a: and include: go through the same resolver.
        ("x@mech.example.com", "192.0.2.25", "pass"),
        ("x@mech.example.com", "198.51.100.7", "pass"),
        ("x@mech.example.com", "203.0.113.9", "pass"),
        ("x@mech.example.com", "192.0.2.26", "fail"),
        # RFC 7208 4.6.4: more than 10 DNS-querying terms, and more than 2 void lookups.
        ("x@deep0.example.org", "192.0.2.5", "permerror"),
        ("x@voids.example.com", "192.0.2.5", "permerror"),
    ],
)
async def test_spf(resolver: dns.asyncresolver.Resolver, mail_from: str, client_ip: str, expected: str) -> None:
    result = await check(resolver, message(), mail_from=mail_from, client_ip=client_ip)
    assert result.spf == expected


async def test_spf_ipv4_mapped_client(resolver: dns.asyncresolver.Resolver) -> None:
    assert (await check(resolver, message(), client_ip="::ffff:192.0.2.5")).spf == "pass"
    assert (await check(resolver, message(), client_ip="2001:db8::5")).spf == "fail"


async def test_spf_null_sender_uses_helo(resolver: dns.asyncresolver.Resolver) -> None:
    result = await check(resolver, message(), mail_from="", helo="example.com", client_ip="192.0.2.5")
    assert result.spf == "pass"
    assert result.header.split("; ")[1] == "spf=pass smtp.helo=example.com"
    # The HELO identity aligns with From for DMARC when the reverse path is null.
    assert result.dmarc == "pass"


async def test_spf_without_client_ip_is_none(resolver: dns.asyncresolver.Resolver) -> None:
    result = await check(resolver, message(), client_ip=None)
    assert result.spf == "none"
    assert result.header.split("; ")[1] == "spf=none smtp.mailfrom=example.com"


# --- DKIM ------------------------------------------------------------------------------------


async def test_dkim_pass_rsa_and_ed25519(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    for selector, ed in (("rsa1", False), ("ed1", True)):
        raw = sign(message(), keys, selector=selector, ed=ed)
        result = await check(resolver, raw, mail_from="x@nospf.example.org")
        assert (result.dkim, result.dkim_domains) == ("pass", ("example.com",))
        assert f"dkim=pass header.d=example.com header.s={selector}" in result.header


async def test_dkim_key_behind_cname(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    result = await check(resolver, sign(message(), keys, selector="alias"))
    assert result.dkim == "pass"


async def test_dkim_fail_after_tampering(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    raw = sign(message(), keys).replace(b"Hello there.", b"Hello th3re.")
    result = await check(resolver, raw, mail_from="x@nospf.example.org")
    assert (result.dkim, result.dkim_domains) == ("fail", ())
    raw = sign(message(), keys).replace(b"Subject: hi", b"Subject: HI")
    assert (await check(resolver, raw)).dkim == "fail"
    # Signed with one key, published with another.
    assert (await check(resolver, sign(message(), keys, selector="wrong"))).dkim == "fail"


async def test_dkim_missing_key_is_permerror(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    result = await check(resolver, sign(message(), keys, selector="nokey"), mail_from="x@nospf.example.org")
    assert (result.dkim, result.dkim_domains) == ("permerror", ())
    assert "dkim=permerror header.d=example.com header.s=nokey" in result.header


async def test_dkim_second_signature_passes(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    good = sign(message(), keys, selector="ed1", ed=True)
    raw = sign(good, keys, selector="nokey")  # newest signature on top: index 0 has no key
    assert dkim.verify(raw, dnsfunc=lambda *_a, **_k: None) is False  # dkim.verify stops at the first
    result = await check(resolver, raw, mail_from="x@nospf.example.org")
    assert (result.dkim, result.dkim_domains) == ("pass", ("example.com",))
    assert result.header == (
        f"{AUTHSERV}; spf=none smtp.mailfrom=nospf.example.org; "
        "dkim=permerror header.d=example.com header.s=nokey; dkim=pass header.d=example.com header.s=ed1; "
        "dmarc=pass (p=reject) header.from=example.com"
    )


async def test_no_signature_is_none(resolver: dns.asyncresolver.Resolver) -> None:
    result = await check(resolver, message())
    assert (result.dkim, result.dkim_domains) == ("none", ())


# --- DMARC -----------------------------------------------------------------------------------


async def test_dmarc_pass_via_aligned_dkim(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    result = await check(resolver, sign(message(), keys), mail_from="x@nospf.example.org")
    assert result == AuthResult(
        spf="none",
        dkim="pass",
        dkim_domains=("example.com",),
        dmarc="pass",
        dmarc_policy="reject",
        header=f"{AUTHSERV}; spf=none smtp.mailfrom=nospf.example.org; "
        "dkim=pass header.d=example.com header.s=rsa1; dmarc=pass (p=reject) header.from=example.com",
        authenticated=True,
    )


async def test_dmarc_pass_via_aligned_spf(resolver: dns.asyncresolver.Resolver) -> None:
    result = await check(resolver, message(), mail_from="bounce@example.com", client_ip="192.0.2.5")
    assert result == AuthResult(
        spf="pass",
        dkim="none",
        dkim_domains=(),
        dmarc="pass",
        dmarc_policy="reject",
        header=f"{AUTHSERV}; spf=pass smtp.mailfrom=example.com; dkim=none; dmarc=pass (p=reject) header.from=example.com",
        authenticated=True,
    )


async def test_dmarc_fail_with_reject(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    # Spoofed From: SPF passes for an unrelated domain and DKIM is by an unrelated domain.
    raw = sign(message(), keys, domain="nodmarc.example.net")
    for mode in ("dmarc", "strict"):
        result = await check(resolver, raw, mail_from="x@nodmarc.example.net", client_ip="127.0.0.1", mode=mode)
        assert result == AuthResult(
            spf="pass",
            dkim="pass",
            dkim_domains=("nodmarc.example.net",),
            dmarc="fail",
            dmarc_policy="reject",
            header=f"{AUTHSERV}; spf=pass smtp.mailfrom=nodmarc.example.net; "
            "dkim=pass header.d=nodmarc.example.net header.s=rsa1; dmarc=fail (p=reject) header.from=example.com",
            authenticated=False,
        )


async def test_dmarc_fail_when_aligned_checks_fail(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    raw = sign(message(), keys).replace(b"Hello there.", b"Tampered.")
    result = await check(resolver, raw, mail_from="bounce@example.com", client_ip="198.51.100.1")
    assert (result.spf, result.dkim, result.dmarc, result.authenticated) == ("fail", "fail", "fail", False)


async def test_dmarc_p_none_still_fails(resolver: dns.asyncresolver.Resolver) -> None:
    result = await check(resolver, message("a@monitor.com"), mail_from="x@nospf.example.org")
    assert (result.dmarc, result.dmarc_policy, result.authenticated) == ("fail", "none", False)


async def test_dmarc_relaxed_alignment_via_org_domain(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    assert organizational_domain("a.b.sub.example.com") == "example.com"
    assert organizational_domain("mail.example.co.uk") == "example.co.uk"
    # From a subdomain without its own record: the org domain's record applies, with sp=.
    result = await check(resolver, sign(message("x@sub.example.com"), keys), mail_from="x@nospf.example.org")
    assert (result.dkim, result.dmarc, result.dmarc_policy) == ("pass", "pass", "quarantine")
    assert result.header.endswith("dmarc=pass (p=quarantine) header.from=sub.example.com")
    # DKIM by a subdomain, From the parent.
    result = await check(resolver, sign(message(), keys, domain="sub.example.com"), mail_from="x@nospf.example.org")
    assert (result.dkim_domains, result.dmarc) == (("sub.example.com",), "pass")
    # SPF for a subdomain of the From domain.
    result = await check(resolver, message(), mail_from="b@bounce.sub.example.com", client_ip="192.0.2.9")
    assert (result.spf, result.dmarc) == ("pass", "pass")
    # A subdomain From with nothing aligned fails under the org domain's sp=quarantine.
    result = await check(resolver, message("x@sub.example.com"), mail_from="x@nospf.example.org")
    assert (result.dmarc, result.dmarc_policy, result.authenticated) == ("fail", "quarantine", False)


async def test_dmarc_strict_alignment(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    # adkim=s / aspf=s: a subdomain identifier no longer aligns.
    raw = sign(message("a@strictalign.com"), keys, domain="mail.strictalign.com")
    result = await check(resolver, raw, mail_from="b@mail.strictalign.com", client_ip="192.0.2.5")
    assert (result.spf, result.dkim, result.dmarc) == ("pass", "pass", "fail")
    raw = sign(message("a@strictalign.com"), keys, domain="strictalign.com")
    result = await check(resolver, raw, mail_from="x@nospf.example.org")
    assert result.dmarc == "pass"


async def test_dmarc_none_without_record(resolver: dns.asyncresolver.Resolver) -> None:
    result = await check(resolver, message("a@nodmarc.example.net"), mail_from="x@nospf.example.org")
    assert (result.dmarc, result.dmarc_policy) == ("none", None)
    assert result.header.endswith("; dmarc=none header.from=nodmarc.example.net")


async def test_several_from_domains_strictest_wins(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    raw = sign(message("a@nodmarc.example.net, b@example.com"), keys, domain="nodmarc.example.net")
    assert from_domains(raw) == ["nodmarc.example.net", "example.com"]
    result = await check(resolver, raw, mail_from="x@nodmarc.example.net", client_ip="127.0.0.1")
    assert (result.dmarc, result.dmarc_policy, result.authenticated) == ("fail", "reject", False)
    assert result.header.endswith("dmarc=fail (p=reject) header.from=example.com")


# --- modes -----------------------------------------------------------------------------------


async def test_mode_off_does_no_lookups() -> None:
    sock, nameservers = blackhole_nameservers()
    try:
        started = time.monotonic()
        result = await authenticate(
            b"garbage", mail_from="a@example.com", helo=None, client_ip="192.0.2.1",
            resolver=make_resolver(nameservers, lifetime=5.0), mode="off", authserv_id=AUTHSERV,
        )  # fmt: skip
        assert time.monotonic() - started < 0.5
    finally:
        sock.close()
    assert result == AuthResult("none", "none", (), "none", None, f"{AUTHSERV}; none", True)


@pytest.mark.parametrize(
    ("from_", "mail_from", "client_ip", "dmarc_mode", "strict_mode"),
    [
        # No DMARC record, nothing passes: only strict marks it (local development mail).
        ("a@nodmarc.example.net", "x@nospf.example.org", "192.0.2.5", True, False),
        # No DMARC record, aligned SPF pass (relaxed: nodmarc.example.net is its own org domain).
        ("a@nodmarc.example.net", "x@nodmarc.example.net", "127.0.0.1", True, True),
        # No DMARC record, SPF passes but for an unrelated domain.
        ("a@nodmarc.example.net", "bounce@example.com", "192.0.2.5", True, False),
        # DMARC record: pass, fail.
        ("a@example.com", "bounce@example.com", "192.0.2.5", True, True),
        ("a@example.com", "bounce@example.com", "198.51.100.1", False, False),
    ],
)
async def test_mode_decisions(
    resolver: dns.asyncresolver.Resolver,
    from_: str,
    mail_from: str,
    client_ip: str,
    dmarc_mode: bool,
    strict_mode: bool,
) -> None:
    raw = message(from_)
    assert (
        await check(resolver, raw, mail_from=mail_from, client_ip=client_ip, mode="dmarc")
    ).authenticated is dmarc_mode
    assert (
        await check(resolver, raw, mail_from=mail_from, client_ip=client_ip, mode="strict")
    ).authenticated is strict_mode


async def test_strict_mode_without_record_accepts_aligned_dkim(
    resolver: dns.asyncresolver.Resolver, keys: Keys
) -> None:
    raw = sign(message("a@nodmarc.example.net"), keys, domain="nodmarc.example.net")
    result = await check(resolver, raw, mail_from="x@nospf.example.org", mode="strict")
    assert (result.dmarc, result.dkim, result.authenticated) == ("none", "pass", True)
    # A DKIM pass by some other domain proves nothing about this From.
    raw = sign(message("a@nodmarc.example.net"), keys, domain="example.com")
    result = await check(resolver, raw, mail_from="x@nospf.example.org", mode="strict")
    assert (result.dmarc, result.dkim, result.authenticated) == ("none", "pass", False)


async def test_unknown_mode_behaves_as_dmarc(resolver: dns.asyncresolver.Resolver) -> None:
    result = await check(resolver, message("a@nodmarc.example.net"), mail_from="x@nospf.example.org", mode="bogus")
    assert result.authenticated is True


# --- DNS failures and time bound -------------------------------------------------------------


async def test_temperror_when_dns_server_is_stopped(keys: Keys) -> None:
    server = ZoneServer.start(zone_text(keys))
    resolver = make_resolver(server.nameservers, lifetime=1.0)
    raw = sign(message(), keys)
    assert (await check(resolver, raw)).dmarc == "pass"
    server.stop()
    started = time.monotonic()
    result = await check(resolver, raw)
    elapsed = time.monotonic() - started
    assert result == AuthResult(
        spf="temperror",
        dkim="temperror",
        dkim_domains=(),
        dmarc="temperror",
        dmarc_policy=None,
        header=f"{AUTHSERV}; spf=temperror smtp.mailfrom=example.com; "
        "dkim=temperror header.d=example.com header.s=rsa1; dmarc=temperror header.from=example.com",
        authenticated=True,  # a DNS outage never marks mail unauthenticated in dmarc mode
    )
    assert elapsed < 3.0  # the three checks run concurrently, each bounded by the 1 s lifetime
    assert (await check(resolver, raw, mode="strict")).authenticated is False


async def test_temperror_in_aligned_check_is_not_fail(zone: ZoneServer, keys: Keys) -> None:
    # The DMARC record is reachable but the DKIM key lookup fails: no verdict rather than a fail.
    resolver = make_resolver(zone.nameservers, lifetime=1.0)
    raw = sign(message(), keys)
    zone.set_servfail({"rsa1._domainkey.example.com"})
    try:
        result = await check(resolver, raw, mail_from="bounce@example.com", client_ip="198.51.100.1")
        assert (result.spf, result.dkim, result.dmarc, result.dmarc_policy) == (
            "fail",
            "temperror",
            "temperror",
            "reject",
        )
        assert result.authenticated is True
        # A temporary error for an unaligned signature cannot change the verdict.
        raw = sign(message(), keys, domain="nodmarc.example.net")
        zone.set_servfail({"rsa1._domainkey.nodmarc.example.net"})
        result = await check(resolver, raw, mail_from="bounce@example.com", client_ip="198.51.100.1")
        assert (result.dkim, result.dmarc, result.authenticated) == ("temperror", "fail", False)
    finally:
        zone.set_servfail(set())


async def test_overall_time_bound(monkeypatch: pytest.MonkeyPatch, keys: Keys) -> None:
    # A server that never answers and a lookup lifetime far beyond the bound.
    monkeypatch.setattr(auth, "TIMEOUT_SECONDS", 1.0)
    sock, nameservers = blackhole_nameservers()
    try:
        resolver = make_resolver(nameservers, lifetime=30.0)
        started = time.monotonic()
        result = await check(resolver, sign(message(), keys))
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert elapsed < 2.0
    assert (result.spf, result.dkim, result.dmarc, result.authenticated) == (
        "temperror",
        "temperror",
        "temperror",
        True,
    )


# --- malformed input -------------------------------------------------------------------------

MALFORMED = [
    b"",
    b"\r\n\r\n",
    b"not a message at all",
    b"\x00\xff\xfe garbage \x80\x81",
    b"From:\r\n\r\nbody",
    b"From: <>\r\n\r\n",
    b"From: a@[192.0.2.1]\r\n\r\n",
    b'From: "unterminated <a@example.com\r\n\r\n',
    b"From: a@exa mple..com\r\n\r\n",
    b"From: a@" + b"x" * 300 + b".com\r\n\r\n",
    "From: José <jose@bücher.example>\r\n\r\nhé".encode(),
    b"From: a@example.com\r\nDKIM-Signature: garbage\r\n\r\nbody",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=rsa1; h=from; bh=AAAA; b=AAAA\r\nFrom: a@example.com\r\n\r\nx",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=; s=; h=; bh=; b=\r\n\r\n",
    b"From: a@example.com\r\n continued\r\n\tfolded\r\nX: " + b"y" * 100_000 + b"\r\n\r\n",
    b"From a@example.com Mon Jan  1 00:00:00 2024\nFrom: a@example.com\n\nmbox style",
]


@pytest.mark.parametrize("raw", MALFORMED)
async def test_malformed_never_raises(resolver: dns.asyncresolver.Resolver, raw: bytes) -> None:
    for mode in ("dmarc", "strict"):
        result = await check(resolver, raw, mode=mode)
        assert isinstance(result, AuthResult)
        assert result.header.startswith(f"{AUTHSERV}; spf=pass smtp.mailfrom=example.com; dkim=")
        assert result.dkim in ("none", "fail", "permerror")


async def test_malformed_specifics(resolver: dns.asyncresolver.Resolver) -> None:
    result = await check(resolver, b"no headers", mode="dmarc")
    assert (result.dmarc, result.authenticated) == ("permerror", True)
    assert result.header == f"{AUTHSERV}; spf=pass smtp.mailfrom=example.com; dkim=none; dmarc=permerror"
    assert (await check(resolver, b"no headers", mode="strict")).authenticated is False
    result = await check(resolver, b"From: a@example.com\r\nDKIM-Signature: garbage\r\n\r\nbody")
    assert (result.dkim, result.dmarc) == ("permerror", "pass")
    assert from_domains("From: José <jose@bücher.example>\r\n\r\n".encode()) == ["xn--bcher-kva.example"]
    # Odd envelope values and bad client IPs are not errors either.
    result = await check(resolver, message(), mail_from="<>", helo="[192.0.2.1]", client_ip="not-an-ip")
    assert (result.spf, result.header.split("; ")[1]) == ("none", "spf=none")


async def test_random_bytes_never_raise(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    rng = random.Random(6376)
    base = sign(message(), keys)
    for _ in range(30):
        raw = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        result = await check(resolver, bytes(raw))
        assert isinstance(result, AuthResult)


async def test_too_many_from_domains_is_unauthenticated(resolver: dns.asyncresolver.Resolver) -> None:
    from_ = ", ".join(f"a@d{i}.example.net" for i in range(auth.MAX_FROM_DOMAINS + 1))
    result = await check(resolver, message(from_))
    assert (result.dmarc, result.authenticated) == ("permerror", False)


async def test_concurrent_checks(resolver: dns.asyncresolver.Resolver, keys: Keys) -> None:
    raws = [sign(message(f"a{i}@example.com"), keys) for i in range(20)]
    results = await asyncio.gather(*(check(resolver, raw, mail_from="x@nospf.example.org") for raw in raws))
    assert {r.dmarc for r in results} == {"pass"}
