"""Inbound mail authentication: SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489).

SPF is pyspf and DKIM is dkimpy, both blocking, so they run in worker threads and do their DNS
through :class:`BlockingDNS` on the caller's resolver. DMARC is the small part done here: policy
discovery (From domain, then organizational domain from the Public Suffix List) and
identifier alignment. The outcome is an Authentication-Results value (RFC 8601) and the
decision for AgentMail's ``unauthenticated`` label.

authheaders was evaluated and not used: it runs SPF on the system resolver (no DNS hook),
verifies only the first DKIM signature, cannot report a DMARC temperror, and its From-domain
regex drops hyphenated domains.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any, TypeVar

import dkim
import dns.asyncresolver
import dns.exception
import dns.name
import spf
from publicsuffixlist import PublicSuffixList

from agentmail_server.mail.dns import BlockingDNS, DNSTempError, txt_records

log = logging.getLogger(__name__)

MODES = ("off", "dmarc", "strict")
# Overall bound for one message; each lookup is further bounded by the resolver's lifetime.
TIMEOUT_SECONDS = 10.0
# RFC 6376 6.1 lets verifiers cap the signatures they try; each costs a DNS lookup.
MAX_DKIM_SIGNATURES = 8
# Legitimate mail has one From domain; beyond this the message is treated as abusive.
MAX_FROM_DOMAINS = 10

_T = TypeVar("_T")
_SPF_RESULTS = frozenset({"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"})
_DMARC1 = re.compile(r"^\s*v\s*=\s*DMARC1\s*(;|$)")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_TOKEN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$")


@dataclass(frozen=True)
class AuthResult:
    spf: str  # pass|fail|softfail|neutral|none|temperror|permerror
    dkim: str  # pass|fail|none|temperror|permerror (pass if any signature passes)
    dkim_domains: tuple[str, ...]  # d= of passing signatures
    dmarc: str  # pass|fail|none|temperror|permerror
    # The policy DMARC asks for this From domain: p= of its own record, or sp= (else p=) of the
    # organizational domain's record when the From domain is a subdomain without one.
    dmarc_policy: str | None
    header: str  # Authentication-Results value: "authserv-id; spf=...; dkim=...; dmarc=..."
    authenticated: bool  # False means: label the message `unauthenticated`


@dataclass(frozen=True)
class _Spf:
    result: str
    identity: str | None = None  # "mailfrom" or "helo": which identity was (or would be) checked
    domain: str | None = None


@dataclass(frozen=True)
class _Sig:
    result: str
    domain: str | None = None
    selector: str | None = None


@dataclass(frozen=True)
class _Policy:
    p: str  # effective policy for the From domain (sp= applied for subdomains)
    adkim: str  # "r" or "s"
    aspf: str


@dataclass(frozen=True)
class _Dmarc:
    result: str
    policy: str | None = None
    domain: str | None = None


# --- domains ---------------------------------------------------------------------------------


@functools.cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # parses the bundled list once (~70 ms)


def organizational_domain(domain: str) -> str:
    """RFC 7489 3.2: public suffix plus one label; a public suffix itself stands for itself."""
    return _psl().privatesuffix(domain) or domain


def _aligned(identifier: str, from_domain: str, mode: str) -> bool:
    if mode == "s":
        return identifier == from_domain
    return organizational_domain(identifier) == organizational_domain(from_domain)


def normalize_domain(text: str) -> str | None:
    """Lower-case A-label form of a domain, or None if it is not a usable DNS domain."""
    text = text.strip().rstrip(".").lower()
    if not text or text.startswith("["):  # address literals have no DNS policy
        return None
    try:
        ascii_name = dns.name.from_text(text).to_text(omit_final_dot=True).lower()
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in ascii_name.split(".")):
        return None
    return ascii_name


def _address_domain(address: str) -> str | None:
    address = address.strip().strip("<>")
    if "@" not in address:
        return None
    return normalize_domain(address.rpartition("@")[2])


def from_domains(raw: bytes) -> list[str]:
    """Distinct domains of all From addresses, in order (RFC 7489 6.6.1 covers several)."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    headers = HeaderParser(policy=compat32).parsestr(head.decode("utf-8", "replace"))
    values = [str(v).replace("\r", " ").replace("\n", " ") for v in headers.get_all("From") or []]
    domains: list[str] = []
    for _, address in getaddresses(values):
        domain = _address_domain(address)
        if domain and domain not in domains:
            domains.append(domain)
    return domains


# --- SPF (pyspf in a thread) -----------------------------------------------------------------

# pyspf resolves through its module-level DNSLookup and has no per-query hook; route it to the
# bridge of the check that is running (the context variable is per thread/task), and leave it
# unchanged for anyone else in the process.
_spf_bridge: contextvars.ContextVar[BlockingDNS | None] = contextvars.ContextVar("spf_bridge", default=None)
_pyspf_lookup = spf.DNSLookup


def _spf_dns_lookup(name: str, qtype: str, strict: Any = True, timeout: Any = None) -> list[tuple[Any, Any]]:
    bridge = _spf_bridge.get()
    if bridge is None:
        return _pyspf_lookup(name, qtype, strict, timeout)
    records = bridge.lookup(name, qtype)
    if records is None:
        raise spf.TempError(f"DNS lookup failed: {name} {qtype}")
    key = (name, qtype)
    # The value shapes pyspf's own dnspython adapter produces.
    if qtype in ("A", "AAAA"):
        return [(key, r.address) for r in records]  # type: ignore[attr-defined]
    if qtype == "MX":
        return [(key, (r.preference, r.exchange)) for r in records]  # type: ignore[attr-defined]
    if qtype == "PTR":
        return [(key, r.target.to_text(True)) for r in records]  # type: ignore[attr-defined]
    if qtype in ("TXT", "SPF"):
        return [(key, r.strings) for r in records]  # type: ignore[attr-defined]
    return []


spf.DNSLookup = _spf_dns_lookup


def _spf_identity(mail_from: str | None, helo: str | None) -> _Spf:
    mail_from = (mail_from or "").strip().strip("<>")
    if mail_from:
        return _Spf("none", "mailfrom", _address_domain(mail_from) if "@" in mail_from else normalize_domain(mail_from))
    # RFC 7208 2.4: a null reverse-path is checked as postmaster@HELO.
    if helo and normalize_domain(helo):
        return _Spf("none", "helo", normalize_domain(helo))
    return _Spf("none")


def _check_spf(
    bridge: BlockingDNS, client_ip: str | None, mail_from: str | None, helo: str | None, receiver: str
) -> _Spf:
    identity = _spf_identity(mail_from, helo)
    if identity.domain is None or not client_ip:
        return identity
    try:
        address = ipaddress.ip_address(client_ip.strip().strip("[]"))
    except ValueError:
        return identity
    # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; SPF's ip4 terms must see a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    ip = str(address)
    sender = (mail_from or "").strip().strip("<>") if identity.identity == "mailfrom" else ""
    token = _spf_bridge.set(bridge)
    try:
        # querytime=0: no pyspf-wide clock; the bridge's deadline bounds the whole check.
        result, _code, _explanation = spf.query(
            i=ip, s=sender, h=helo or identity.domain, receiver=receiver, querytime=0
        ).check()
    except Exception:
        log.warning("SPF check raised for %s", identity.domain, exc_info=True)
        result = "permerror"
    finally:
        _spf_bridge.reset(token)
    result = result if result in _SPF_RESULTS else "permerror"
    return _Spf(result, identity.identity, identity.domain)


# --- DKIM (dkimpy in a thread) ---------------------------------------------------------------


class _QuietLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    # dkimpy logs every bad or keyless signature as an error; from the open internet that is
    # routine, not an operator problem.
    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


_dkim_log = _QuietLog(logging.getLogger(__name__ + ".dkimpy"), {})


def _has_signature_header(raw: bytes) -> bool:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    return re.search(rb"(?im)^dkim-signature\s*:", head) is not None


def _verify_signature(verifier: dkim.DKIM, idx: int, bridge: BlockingDNS) -> _Sig:
    verifier.signature_fields = {}
    key_lookups: list[bool] = []

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        value = bridge.dkim_txt(name, timeout)
        key_lookups.append(value is not None)
        return value

    try:
        if verifier.verify(idx=idx, dnsfunc=dnsfunc):
            result = "pass"
        else:
            # dkimpy answers False both for a bad signature and for a missing key record;
            # RFC 6376 6.1.2 makes the latter a permanent error, not a failed signature.
            result = "fail" if any(key_lookups) else "permerror"
    except DNSTempError:
        result = "temperror"
    except dkim.ValidationError:
        # Raised before the key lookup it is a malformed/expired signature; after, a mismatch.
        result = "fail" if key_lookups else "permerror"
    except Exception:  # dkim.DKIMException for malformed input, or a library bug on odd input
        log.debug("DKIM signature %d raised", idx, exc_info=True)
        result = "permerror"
    fields = verifier.signature_fields or {}
    domain = normalize_domain(fields.get(b"d", b"").decode("ascii", "replace"))
    selector = fields.get(b"s", b"").decode("ascii", "replace").strip().lower()
    return _Sig(result, domain, selector if _TOKEN.match(selector) else None)


def _check_dkim(raw: bytes, bridge: BlockingDNS) -> list[_Sig]:
    try:
        verifier = dkim.DKIM(raw, logger=_dkim_log, minkey=1024)
        count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
    except Exception:
        return [_Sig("permerror")] if _has_signature_header(raw) else []
    return [_verify_signature(verifier, idx, bridge) for idx in range(min(count, MAX_DKIM_SIGNATURES))]


def _dkim_summary(sigs: list[_Sig]) -> str:
    for result in ("pass", "temperror", "fail", "permerror"):
        if any(s.result == result for s in sigs):
            return result
    return "none"


# --- DMARC -----------------------------------------------------------------------------------


def _parse_dmarc(record: str, *, subdomain: bool) -> _Policy | None:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip().lower())
    p = tags.get("p")
    if p not in ("none", "quarantine", "reject"):
        # RFC 7489 6.6.3 step 6: a record without a valid p= counts as p=none only if it asks
        # for reports; otherwise as no record.
        if not tags.get("rua"):
            return None
        p = "none"
    sp = tags.get("sp")
    if subdomain and sp in ("none", "quarantine", "reject"):
        p = sp
    adkim = "s" if tags.get("adkim") == "s" else "r"
    aspf = "s" if tags.get("aspf") == "s" else "r"
    return _Policy(p, adkim, aspf)


async def _dmarc_record(resolver: dns.asyncresolver.Resolver, domain: str) -> list[str] | None:
    records = await txt_records(resolver, f"_dmarc.{domain}")
    if records is None:
        return None
    return [r for r in records if _DMARC1.match(r)]


async def _discover_policy(resolver: dns.asyncresolver.Resolver, from_domain: str) -> tuple[str, _Policy | None]:
    """RFC 7489 6.6.3: ("found", policy), ("none", None) or ("temperror", None)."""
    records = await _dmarc_record(resolver, from_domain)
    subdomain = False
    if records == []:
        org = organizational_domain(from_domain)
        if org != from_domain:
            records = await _dmarc_record(resolver, org)
            subdomain = True
    if records is None:
        return "temperror", None
    if len(records) != 1:  # none, or several (which RFC 7489 treats as none)
        return "none", None
    policy = _parse_dmarc(records[0], subdomain=subdomain)
    return ("found", policy) if policy else ("none", None)


def _evaluate(from_domain: str, status: str, policy: _Policy | None, spf_result: _Spf, sigs: list[_Sig]) -> _Dmarc:
    if status != "found" or policy is None:
        return _Dmarc(status, None, from_domain)
    spf_aligned = spf_result.domain is not None and _aligned(spf_result.domain, from_domain, policy.aspf)
    dkim_aligned = [s.result for s in sigs if s.domain and _aligned(s.domain, from_domain, policy.adkim)]
    if (spf_aligned and spf_result.result == "pass") or "pass" in dkim_aligned:
        return _Dmarc("pass", policy.p, from_domain)
    # Only a temporary error on an aligned identifier could still have turned into a pass.
    if (spf_aligned and spf_result.result == "temperror") or "temperror" in dkim_aligned:
        return _Dmarc("temperror", policy.p, from_domain)
    return _Dmarc("fail", policy.p, from_domain)


def _combine(verdicts: list[_Dmarc]) -> _Dmarc:
    # Several From domains: the strictest verdict decides (RFC 7489 6.6.1).
    for result in ("fail", "temperror", "permerror", "none"):
        for verdict in verdicts:
            if verdict.result == result:
                return verdict
    return verdicts[0]


def _relaxed_pass(from_domain: str, spf_result: _Spf, sigs: list[_Sig]) -> bool:
    if spf_result.result == "pass" and spf_result.domain and _aligned(spf_result.domain, from_domain, "r"):
        return True
    return any(s.result == "pass" and s.domain and _aligned(s.domain, from_domain, "r") for s in sigs)


# --- assembly --------------------------------------------------------------------------------


def _header(authserv_id: str, spf_result: _Spf, sigs: list[_Sig], dmarc_verdict: _Dmarc) -> str:
    parts = [authserv_id]
    spf_part = f"spf={spf_result.result}"
    if spf_result.domain:
        prop = "smtp.mailfrom" if spf_result.identity == "mailfrom" else "smtp.helo"
        spf_part += f" {prop}={spf_result.domain}"
    parts.append(spf_part)
    for sig in sigs:
        dkim_part = f"dkim={sig.result}"
        if sig.domain:
            dkim_part += f" header.d={sig.domain}"
        if sig.selector:
            dkim_part += f" header.s={sig.selector}"
        parts.append(dkim_part)
    if not sigs:
        parts.append("dkim=none")
    dmarc_part = f"dmarc={dmarc_verdict.result}"
    if dmarc_verdict.policy:
        dmarc_part += f" (p={dmarc_verdict.policy})"
    if dmarc_verdict.domain:
        dmarc_part += f" header.from={dmarc_verdict.domain}"
    parts.append(dmarc_part)
    return "; ".join(parts)


async def _bounded(awaitable: Awaitable[_T], deadline: float, fallback: _T) -> _T:
    try:
        return await asyncio.wait_for(awaitable, max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        return fallback
    except Exception:
        log.exception("mail authentication step failed")
        return fallback


async def _authenticate(
    raw: bytes,
    mail_from: str | None,
    helo: str | None,
    client_ip: str | None,
    resolver: dns.asyncresolver.Resolver,
    mode: str,
    authserv_id: str,
) -> AuthResult:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    bridge = BlockingDNS(resolver, asyncio.get_running_loop(), deadline)
    try:
        domains = from_domains(raw)
    except Exception:
        domains = []
    too_many = len(domains) > MAX_FROM_DOMAINS
    checked = [] if too_many else domains

    async def discover_all() -> list[tuple[str, _Policy | None]]:
        return list(await asyncio.gather(*(_discover_policy(resolver, d) for d in checked)))

    identity = _spf_identity(mail_from, helo)
    spf_result, sigs, policies = await asyncio.gather(
        _bounded(
            asyncio.to_thread(_check_spf, bridge, client_ip, mail_from, helo, authserv_id),
            deadline,
            _Spf("temperror", identity.identity, identity.domain),
        ),
        _bounded(
            asyncio.to_thread(_check_dkim, raw, bridge),
            deadline,
            [_Sig("temperror")] if _has_signature_header(raw) else [],
        ),
        _bounded(discover_all(), deadline, [("temperror", None)] * len(checked)),
    )

    if checked:
        verdict = _combine([_evaluate(d, s, p, spf_result, sigs) for d, (s, p) in zip(checked, policies, strict=True)])
    else:
        # No usable From address (or an abusive number of them): DMARC cannot be applied.
        verdict = _Dmarc("permerror")

    if too_many:
        authenticated = False
    elif mode == "strict":
        authenticated = verdict.result == "pass" or (
            verdict.result == "none" and bool(checked) and all(_relaxed_pass(d, spf_result, sigs) for d in checked)
        )
    else:
        authenticated = verdict.result != "fail"

    return AuthResult(
        spf=spf_result.result,
        dkim=_dkim_summary(sigs),
        dkim_domains=tuple(dict.fromkeys(s.domain for s in sigs if s.result == "pass" and s.domain)),
        dmarc=verdict.result,
        dmarc_policy=verdict.policy,
        header=_header(authserv_id, spf_result, sigs, verdict),
        authenticated=authenticated,
    )


async def authenticate(
    raw: bytes,
    *,
    mail_from: str,
    helo: str | None,
    client_ip: str | None,
    resolver: dns.asyncresolver.Resolver,
    mode: str,
    authserv_id: str,
) -> AuthResult:
    """Check SPF, DKIM and DMARC for one received message. Never raises; bounded in time.

    ``mode`` is AGENTMAIL_INBOUND_AUTH: "off" (no lookups, everything authenticated), "dmarc"
    (unauthenticated only when the From domain publishes DMARC and the message fails it) or
    "strict" (authenticated only on a DMARC pass, or without a DMARC record on an SPF or DKIM
    pass aligned with From). A DNS temperror never yields a DMARC fail.
    """
    mode = (mode or "dmarc").strip().lower()
    if mode not in MODES:
        log.warning("unknown inbound auth mode %r; using 'dmarc'", mode)
        mode = "dmarc"
    if mode == "off":
        return AuthResult("none", "none", (), "none", None, f"{authserv_id}; none", True)
    try:
        # The steps bound themselves; this is the backstop for anything that does not.
        async with asyncio.timeout(TIMEOUT_SECONDS + 1):
            return await _authenticate(raw, mail_from, helo, client_ip, resolver, mode, authserv_id)
    except Exception:
        log.exception("mail authentication failed")
        return AuthResult(
            "temperror",
            "temperror",
            (),
            "temperror",
            None,
            f"{authserv_id}; spf=temperror; dkim=temperror; dmarc=temperror",
            mode != "strict",
        )
