"""Fetching a caller-supplied URL without becoming a proxy into the private network (SSRF guard)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from .errors import Forbidden

MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(15.0)


def _refused(reason: str) -> Forbidden:
    return Forbidden(f"Attachment URL refused: {reason}", code="message_rejected", name="MessageRejectedError")


class AddressRefused(Exception):
    """A host that does not resolve, or resolves to an address the caller may not reach."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: IPv4 in the low 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use translation: never public
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 SIIT


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (and routes or translates to), if any."""
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64 or address in _IPV4_TRANSLATED or int(address) >> 32 == 0:  # last: IPv4-compatible
        found.append(low)
    return found


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally reachable, and so is every IPv4 address it embeds (::ffff:127.0.0.1, 2002:7f00:1::, …)."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return False
        return all(inner.is_global for inner in _embedded_ipv4(address))
    return True


async def resolve_checked(hostname: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses `hostname` resolves to, all public unless `allow_private` (else AddressRefused)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except OSError:
        raise AddressRefused(f"cannot resolve {hostname}") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not allow_private and not is_public_address(address):
            raise AddressRefused(f"{hostname} resolves to a non-public address")
        addresses.append(str(address))
    if not addresses:
        raise AddressRefused(f"cannot resolve {hostname}")
    return addresses


async def _check_host(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refused("only http and https URLs can be fetched")
    try:
        await resolve_checked(parts.hostname, parts.port or 443, allow_private=allow_private)
    except AddressRefused as exc:
        raise _refused(str(exc)) from None


async def fetch_url(url: str, *, allow_private: bool, max_bytes: int) -> bytes:
    """The body of `url` (2xx, after at most five redirects, each hop re-checked), up to max_bytes."""
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            await _check_host(url, allow_private=allow_private)
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if not response.is_success:
                        raise _refused(f"the URL answered {response.status_code}")
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > max_bytes:
                            raise _refused(f"larger than {max_bytes} bytes")
                    return bytes(data)
            except httpx.HTTPError as exc:
                raise _refused(f"fetch failed ({type(exc).__name__})") from None
    raise _refused("too many redirects")
