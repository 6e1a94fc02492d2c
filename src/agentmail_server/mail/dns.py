"""The one DNS resolver the mail code uses, plus a bridge for blocking libraries.

Everything that looks up DNS (SPF, DKIM keys, DMARC policies, later MX routing and domain
verification) goes through a resolver made here, so AGENTMAIL_DNS_NAMESERVERS is honoured
everywhere. Blocking libraries (dkimpy, pyspf) run in a worker thread and reach that same
resolver through :class:`BlockingDNS`, which hops back onto the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdata
import dns.resolver

log = logging.getLogger(__name__)

# Big enough for 4096-bit DKIM keys and long SPF records over UDP, small enough to avoid
# IP fragmentation (the DNS Flag Day 2020 value).
_EDNS_PAYLOAD = 1232


class DNSTempError(Exception):
    """A lookup that may succeed later (timeout, SERVFAIL, no server reachable).

    Deliberately not a dkim.DKIMException: dkimpy swallows its own exceptions into "fail",
    and a temporary DNS problem must surface as temperror instead.
    """


def _parse_nameserver(item: str) -> dns.nameserver.Do53Nameserver:
    item = item.strip()
    port = 53
    if item.startswith("["):  # [v6]:port
        host, _, rest = item[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif item.count(":") == 1:  # v4:port
        host, _, port_text = item.partition(":")
        port = int(port_text)
    else:  # bare v4 or v6
        host = item
    # dnspython wants literal addresses; a hostname here would need DNS to find DNS.
    ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"nameserver port out of range: {item!r}")
    return dns.nameserver.Do53Nameserver(host, port)


def parse_nameservers(nameservers: str) -> list[dns.nameserver.Do53Nameserver]:
    """Parse "10.0.0.1,10.0.0.2:5353,[::1]:53"; raises ValueError on a bad entry."""
    parsed = []
    for item in nameservers.split(","):
        if not item.strip():
            continue
        try:
            parsed.append(_parse_nameserver(item))
        except ValueError as exc:
            raise ValueError(f"invalid nameserver {item.strip()!r} in AGENTMAIL_DNS_NAMESERVERS: {exc}") from exc
    if not parsed:
        raise ValueError("AGENTMAIL_DNS_NAMESERVERS is set but names no nameserver")
    return parsed


def make_resolver(nameservers: str | None, *, lifetime: float = 3.0) -> dns.asyncresolver.Resolver:
    """A resolver for the configured nameservers (None: the system's resolv.conf).

    ``lifetime`` bounds one lookup including retries and server failover.
    """
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = parse_nameservers(nameservers)
    else:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            # Keep the server up; every lookup then fails as a temporary error, which the
            # callers already treat as "could not check" rather than as a verdict.
            log.warning("no DNS resolver configuration found; set AGENTMAIL_DNS_NAMESERVERS")
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = []
    resolver.lifetime = lifetime
    # Leave room to fail over to a second server within one lifetime.
    resolver.timeout = min(2.0, lifetime)
    resolver.use_edns(0, 0, _EDNS_PAYLOAD)
    # Search domains would turn a missing record into a lookup of some local name.
    resolver.search = []
    resolver.use_search_by_default = False
    return resolver


async def lookup(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> list[dns.rdata.Rdata] | None:
    """Records of one type at ``name``, after CNAMEs.

    [] when the name or type does not exist (a definite answer); None when no definite answer
    could be had (timeout, SERVFAIL, unreachable servers) so callers can report temperror.
    """
    try:
        qname = dns.name.from_text(name)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return []  # Not a valid DNS name, so it cannot exist.
    try:
        answer = await resolver.resolve(qname, rdtype, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError) as exc:
        log.debug("DNS %s %s failed: %r", name, rdtype, exc)
        return None
    return list(answer)


def join_txt(rdata: dns.rdata.Rdata) -> bytes:
    # A TXT record longer than 255 bytes is published as several strings meant to be joined.
    strings: Sequence[bytes] = rdata.strings  # type: ignore[attr-defined]
    return b"".join(strings)


async def txt_records(resolver: dns.asyncresolver.Resolver, name: str) -> list[str] | None:
    """TXT records at ``name``, each with its strings joined; [] if none; None on temperror."""
    records = await lookup(resolver, name, "TXT")
    if records is None:
        return None
    return [join_txt(r).decode("utf-8", "replace") for r in records]


class BlockingDNS:
    """Lookups for blocking libraries running in a worker thread (``asyncio.to_thread``).

    Each call is run on the event loop's resolver and waited for, so the thread shares the
    configured nameservers. After ``deadline`` (``time.monotonic()``) every lookup fails at once
    as temporary, which makes a thread abandoned by a timeout wind down quickly.
    """

    def __init__(self, resolver: dns.asyncresolver.Resolver, loop: asyncio.AbstractEventLoop, deadline: float):
        self.resolver = resolver
        self.loop = loop
        self.deadline = deadline

    def lookup(self, name: str, rdtype: str) -> list[dns.rdata.Rdata] | None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            # Called on an event loop thread: waiting here would block the loop it needs.
            log.error("BlockingDNS used from an event loop thread; run the caller with asyncio.to_thread")
            return None
        try:
            future = asyncio.run_coroutine_threadsafe(lookup(self.resolver, name, rdtype), self.loop)
        except RuntimeError:  # the loop has closed under an abandoned thread
            return None
        try:
            return future.result(timeout=remaining)
        except TimeoutError:
            future.cancel()
            return None
        except Exception as exc:  # cancelled with the loop shutting down, or similar
            log.debug("DNS %s %s failed in bridge: %r", name, rdtype, exc)
            return None

    def dkim_txt(self, name: bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's ``dnsfunc``: the key record's TXT value, or None if there is none.

        ``timeout`` is dkimpy's; the resolver's lifetime and our deadline bound the lookup.
        """
        try:
            text = name.decode("ascii")
        except UnicodeDecodeError:
            return None
        records = self.lookup(text, "TXT")
        if records is None:
            raise DNSTempError(f"TXT lookup for {text} failed")
        if not records:
            return None
        # RFC 6376 3.6.2.2 leaves several key records undefined; prefer one that looks like a key.
        values = [join_txt(r) for r in records]
        for value in values:
            if b"p=" in value:
                return value
        return values[0]
