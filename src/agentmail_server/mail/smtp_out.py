"""Outbound SMTP: find where a domain's mail goes (RFC 5321 §5.1) and run one transaction there.

One call of :func:`deliver` is one SMTP transaction for one destination (a recipient domain, or the
configured smarthost) carrying all of its recipients, and answers an outcome per recipient:
"delivered" (2xx to the final dot), "bounced" (a 5xx about it) or "deferred" (4xx, no reachable
host, timeouts, a dropped connection: try again later). It never raises for network trouble; what
the outcomes mean for the message is the caller's business (services/delivery.py).

Routing: MX records by preference (equal preferences shuffled), a null MX (RFC 7505) refuses the
domain, no MX means the domain itself (implicit MX, A/AAAA), and every address of every host is
tried in turn until one answers. STARTTLS is used whenever offered, without certificate checks
(opportunistic TLS, RFC 7435: encryption against passive listeners, and never a reason to fail);
if the handshake fails, the same host is retried in plaintext, as MTAs commonly do.

Connections are reused per destination: after a transaction the session goes back to a small pool
(RFC 5321 lets a client start the next MAIL on the same connection) and the next message for that
host takes it, saving the TCP, TLS and EHLO round trips. A pooled session the server has dropped
meanwhile is noticed at MAIL and replaced by a fresh connection, never reported as a failure.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email import encoders
from typing import Literal

import aiosmtplib
import dns.asyncresolver

from ..db.text import storable
from .dns import lookup

log = logging.getLogger("agentmail_server.delivery")

Outcome = Literal["delivered", "bounced", "deferred"]
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: str = "auto"  # auto | starttls | tls | none
    verify: bool = True

    @classmethod
    def parse(cls, value: str, **options: object) -> Relay:
        host, port = value.strip(), 587
        if host.startswith("["):  # [v6]:port
            inner, _, rest = host[1:].partition("]")
            host, port = inner, int(rest[1:]) if rest.startswith(":") else 587
        elif host.count(":") == 1:
            host, _, port_text = host.partition(":")
            port = int(port_text)
        return cls(host=host, port=port, **options)  # type: ignore[arg-type]


PoolKey = tuple[str, str, int, bool]  # host, address, port, STARTTLS wanted


@dataclass
class _Idle:
    client: aiosmtplib.SMTP
    since: float
    uses: int


class ConnectionPool:
    """Idle SMTP sessions by destination, each used by one transaction at a time."""

    def __init__(self, *, idle_seconds: float = 30.0, max_uses: int = 100, max_idle_per_host: int = 4) -> None:
        # Receivers commonly drop idle clients after 30-60 s and limit messages per connection.
        self.idle_seconds = idle_seconds
        self.max_uses = max_uses
        self.max_idle_per_host = max_idle_per_host
        self._idle: dict[PoolKey, list[_Idle]] = {}

    def take(self, key: PoolKey) -> _Idle | None:
        idle = self._idle.get(key, [])
        now = time.monotonic()
        while idle:
            entry = idle.pop()
            if entry.client.is_connected and now - entry.since < self.idle_seconds:
                return entry
            entry.client.close()
        return None

    def give(self, key: PoolKey, client: aiosmtplib.SMTP, uses: int) -> bool:
        """Keep `client` for the next transaction; False when it should be closed instead."""
        idle = self._idle.setdefault(key, [])
        if not client.is_connected or uses >= self.max_uses or len(idle) >= self.max_idle_per_host:
            return False
        idle.append(_Idle(client, time.monotonic(), uses))
        return True

    def close(self) -> None:
        for idle in self._idle.values():
            for entry in idle:
                entry.client.close()
        self._idle.clear()


@dataclass(frozen=True)
class OutboundConfig:
    resolver: dns.asyncresolver.Resolver
    helo: str
    port: int = 25
    relay: Relay | None = None
    connect_timeout: float = 30.0
    command_timeout: float = 300.0
    data_timeout: float = 600.0
    # None: a new connection for every transaction.
    pool: ConnectionPool | None = None


@dataclass
class Result:
    """What happened to one recipient in one attempt."""

    address: str
    outcome: Outcome
    code: int | None  # the SMTP reply code, None when no server said anything about it
    status: str  # RFC 3463 enhanced status, from the reply or derived from the code
    text: str
    stage: str  # route | connect | mail | rcpt | data
    host: str | None = None

    def __post_init__(self) -> None:
        # A remote server's words (Latin-1 bytes, even NUL) must not stop the outcome from being stored:
        # a failed record would mean sending the message again.
        self.text = storable(self.text, limit=2000) or ""


@dataclass
class Envelope:
    sender: str
    recipients: list[str]
    message: bytes
    # Applied to the exact bytes that go out (after any 8-bit downgrade): DKIM signing.
    finish: Callable[[bytes], Awaitable[bytes]] | None = None
    smtputf8: bool = field(init=False)
    eight_bit: bool = field(init=False)

    def __post_init__(self) -> None:
        head = self.message.split(b"\r\n\r\n", 1)[0]
        local_parts = [self.sender, *(r.rpartition("@")[0] for r in self.recipients)]
        self.smtputf8 = not head.isascii() or not all(part.isascii() for part in local_parts)
        self.eight_bit = not self.message.isascii()


def enhanced_status(code: int | None, text: str) -> str:
    """The RFC 2034 enhanced code at the start of a reply, else the generic one for its class."""
    match = _ENHANCED.match(text or "")
    if match and (code is None or match.group(1) == str(code)[0]):
        return ".".join(match.groups())
    return f"{str(code)[0]}.0.0" if code else "4.0.0"


def outcome_of(code: int) -> Outcome:
    if 200 <= code < 300:
        return "delivered"
    return "bounced" if code >= 500 else "deferred"


def _wire_address(address: str) -> str:
    """An ASCII local part with an IDN domain goes out with the domain's A-label (no SMTPUTF8 needed)."""
    local, at, domain = address.rpartition("@")
    if at and local.isascii() and not domain.isascii():
        try:
            return f"{local}@{domain.encode('idna').decode('ascii')}"
        except UnicodeError:
            return address
    return address


# --- routing ------------------------------------------------------------------------------------


class RouteError(Exception):
    def __init__(self, status: str, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5")


async def mx_hosts(resolver: dns.asyncresolver.Resolver, domain: str) -> list[str]:
    """Hosts to try for `domain`, best first (RFC 5321 §5.1); RouteError when there are none."""
    records = await lookup(resolver, domain, "MX")
    if records is None:
        raise RouteError("4.4.3", f"DNS lookup of MX records for {domain} failed")
    if not records:
        # No MX: the domain itself is the implicit MX if it has an address (checked by the caller).
        return [domain]
    targets = [(r.preference, str(r.exchange).rstrip(".")) for r in records]  # type: ignore[attr-defined]
    if all(not name for _, name in targets):
        raise RouteError("5.1.10", f"{domain} publishes a null MX: it accepts no mail (RFC 7505)")
    by_preference: dict[int, list[str]] = {}
    for preference, name in targets:
        if name:
            by_preference.setdefault(preference, []).append(name)
    hosts: list[str] = []
    for preference in sorted(by_preference):
        group = by_preference[preference]
        random.shuffle(group)  # spread load over equal-preference hosts, as §5.1 asks
        hosts += [h for h in group if h not in hosts]
    return hosts


async def host_addresses(resolver: dns.asyncresolver.Resolver, host: str) -> list[str] | None:
    """IPv4 then IPv6 addresses of `host` ([] if none; None if DNS could not answer)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    v4, v6 = await asyncio.gather(lookup(resolver, host, "A"), lookup(resolver, host, "AAAA"))
    if v4 is None and v6 is None:
        return None
    # IPv4 first: IPv6 sending addresses often lack the reverse DNS and reputation receivers want.
    return [r.to_text() for r in (v4 or [])] + [r.to_text() for r in (v6 or [])]


# --- one transaction ----------------------------------------------------------------------------


class _TryNext(Exception):
    """Nothing was decided at this address (no connection, bad greeting, TLS trouble): try another."""

    def __init__(self, text: str, code: int | None = None, *, tls_failed: bool = False) -> None:
        super().__init__(text)
        self.text, self.code, self.tls_failed = text, code, tls_failed


def _opportunistic_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _verified_tls(verify: bool) -> ssl.SSLContext:
    return ssl.create_default_context() if verify else _opportunistic_tls()


def seven_bit(message: bytes) -> bytes | None:
    """The message with every 8bit/binary body part re-encoded quoted-printable (RFC 6152 §3 downgrade),
    or None when the headers themselves are 8-bit (only SMTPUTF8 can carry those)."""
    head = message.split(b"\r\n\r\n", 1)[0]
    if not head.isascii():
        return None
    parsed = email.message_from_bytes(message, policy=email.policy.compat32)
    for part in parsed.walk():
        if part.is_multipart():
            continue
        if str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower() in ("8bit", "binary"):
            payload = part.get_payload(decode=True)
            del part["Content-Transfer-Encoding"]
            part.set_payload(payload)
            encoders.encode_quopri(part)
    return parsed.as_bytes(policy=email.policy.SMTP)


async def _open(config: OutboundConfig, host: str, address: str, port: int, *, use_tls: bool) -> aiosmtplib.SMTP:
    """A session ready for MAIL: connected, greeted, TLS and AUTH as configured; _TryNext otherwise."""
    relay = config.relay
    implicit_tls = relay is not None and (relay.tls == "tls" or (relay.tls == "auto" and relay.port == 465))
    client = aiosmtplib.SMTP(
        hostname=address, port=port, local_hostname=config.helo, timeout=config.command_timeout,
        start_tls=False, use_tls=implicit_tls,
        tls_context=_verified_tls(relay.verify) if implicit_tls and relay else None,
    )
    try:
        try:
            await client.connect(timeout=config.connect_timeout)
        except aiosmtplib.SMTPConnectResponseError as exc:
            raise _TryNext(f"{host} [{address}] greeted with {exc.code} {exc.message}", exc.code) from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            raise _TryNext(f"cannot connect to {host} [{address}]:{port}: {exc}") from None
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            try:
                await client.helo()  # a pre-ESMTP server (RFC 5321 §3.2)
            except aiosmtplib.SMTPHeloError as exc:
                raise _TryNext(f"{host} [{address}] refused HELO: {exc.code} {exc.message}", exc.code) from None
        tls_required = relay is not None and (relay.tls == "starttls" or (relay.tls == "auto" and relay.username))
        if not implicit_tls and (use_tls or tls_required) and (relay is None or relay.tls != "none"):
            if client.supports_extension("starttls"):
                try:
                    context = _verified_tls(relay.verify) if relay else _opportunistic_tls()
                    await client.starttls(server_hostname=host, tls_context=context)
                    await client.ehlo()
                except (ssl.SSLError, aiosmtplib.SMTPException, OSError) as exc:
                    raise _TryNext(f"STARTTLS with {host} failed: {exc}", tls_failed=relay is None) from None
            elif tls_required:
                raise _TryNext(f"{host} does not offer STARTTLS, which the relay settings require")
        if relay is not None and relay.username:
            try:
                await client.login(relay.username, relay.password or "")
            except aiosmtplib.SMTPAuthenticationError as exc:
                # Our credentials are wrong: keep the mail and retry, an operator can fix the setting.
                raise _AuthFailed(f"relay authentication failed: {exc.code} {exc.message}") from None
    except BaseException:
        client.close()
        raise
    return client


class _AuthFailed(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Stale(Exception):
    """A pooled session turned out to be dead before anything was sent on it."""


async def _transaction(config: OutboundConfig, host: str, address: str, port: int, env: Envelope, *,
                       use_tls: bool) -> list[Result]:
    key: PoolKey = (host, address, port, use_tls)
    pooled = config.pool.take(key) if config.pool is not None else None
    if pooled is not None:
        try:
            return await _send(config, host, pooled.client, env, key, pooled.uses, reused=True)
        except _Stale:
            log.debug("pooled session with %s [%s] was closed; reconnecting", host, address)
    try:
        client = await _open(config, host, address, port, use_tls=use_tls)
    except _AuthFailed as exc:
        return [_result(host, r, None, exc.text, "connect", "deferred") for r in env.recipients]
    return await _send(config, host, client, env, key, 0, reused=False)


def _result(host: str, rcpt: str, code: int | None, text: str, stage: str, outcome: Outcome | None = None) -> Result:
    status = enhanced_status(code, text)
    return Result(address=rcpt, outcome=outcome or (outcome_of(code) if code else "deferred"), code=code,
                  status=status, text=text.strip(), stage=stage, host=host)


async def _send(config: OutboundConfig, host: str, client: aiosmtplib.SMTP, env: Envelope, key: PoolKey,
                uses: int, *, reused: bool) -> list[Result]:
    """One MAIL transaction on an open session; the session is pooled again or closed afterwards."""
    decided: dict[str, Result] = {}
    keep = False

    def result(rcpt: str, code: int | None, text: str, stage: str, outcome: Outcome | None = None) -> Result:
        return _result(host, rcpt, code, text, stage, outcome)

    try:
        message = env.message
        options: list[str] = []
        if env.smtputf8:
            if not client.supports_extension("smtputf8"):
                text = f"{host} does not support SMTPUTF8, which this message's addresses or headers need"
                keep = True
                return [result(r, 554, f"5.6.7 {text}", "mail", "bounced") for r in env.recipients]
            options.append("SMTPUTF8")
        if env.eight_bit:
            if client.supports_extension("8bitmime"):
                options.append("BODY=8BITMIME")
            else:
                message = seven_bit(message) or message
        if env.finish is not None:
            message = await env.finish(message)
        if client.supports_extension("size"):
            options.append(f"SIZE={len(message)}")
        encoding = "utf-8" if env.smtputf8 else "ascii"

        try:
            await client.mail(env.sender, options=options, encoding=encoding)
        except aiosmtplib.SMTPSenderRefused as exc:
            if reused and exc.code == 421:
                raise _Stale() from None
            await _quietly(client.rset())
            keep = True
            return [result(r, exc.code, exc.message, "mail") for r in env.recipients]
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException, OSError, TimeoutError):
            if reused:
                raise _Stale() from None
            raise
        accepted: list[str] = []
        for rcpt in env.recipients:
            try:
                await client.rcpt(_wire_address(rcpt), encoding=encoding)
                accepted.append(rcpt)
            except aiosmtplib.SMTPRecipientRefused as exc:
                decided[rcpt] = result(rcpt, exc.code, exc.message, "rcpt")
        if not accepted:
            await client.rset()
            keep = True
            return list(decided.values())
        try:
            reply = await client.data(message, timeout=config.data_timeout)
            for rcpt in accepted:
                decided[rcpt] = result(rcpt, reply.code, reply.message, "data")
            keep = True
        except aiosmtplib.SMTPDataError as exc:
            for rcpt in accepted:
                decided[rcpt] = result(rcpt, exc.code, exc.message, "data")
            keep = True  # a refusal of this message leaves the session itself in order
        return [decided[r] for r in env.recipients]
    except _Stale:
        client.close()
        raise
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        keep = False
        # Lost connection or timeout mid-session: whatever is undecided is retried later. After the
        # final dot this may deliver twice, which RFC 5321 §4.1.1.4 accepts over losing mail.
        text = f"4.4.2 connection with {host} failed: {exc!r}"
        return [decided.get(r) or result(r, None, text, "data", "deferred") for r in env.recipients]
    finally:
        if not (keep and config.pool is not None and config.pool.give(key, client, uses + 1)):
            if keep:
                await _quietly(client.quit())
            client.close()


async def _quietly(step: Awaitable[object]) -> None:
    try:
        await asyncio.wait_for(step, 30)
    except Exception:
        pass


async def deliver(config: OutboundConfig, domain: str, env: Envelope) -> list[Result]:
    """One transaction for `env.recipients` (all at `domain`, or anything when relaying)."""
    if config.relay is not None:
        targets: Sequence[tuple[str, int]] = [(config.relay.host, config.relay.port)]
    else:
        try:
            targets = [(host, config.port) for host in await mx_hosts(config.resolver, domain)]
        except RouteError as exc:
            return [Result(r, "bounced" if exc.permanent else "deferred", None, exc.status, exc.text, "route")
                    for r in env.recipients]
    last = "no address records"
    dns_failed = False
    for host, port in targets:
        addresses = await host_addresses(config.resolver, host) if config.relay is None else [host]
        if addresses is None:
            dns_failed = True
            last = f"DNS lookup of {host}'s addresses failed"
            continue
        for address in addresses:
            for use_tls in (True, False):
                try:
                    return await _transaction(config, host, address, port, env, use_tls=use_tls)
                except _TryNext as exc:
                    log.info("delivery to %s via %s [%s]: %s", domain, host, address, exc.text)
                    last = exc.text
                    if not exc.tls_failed:
                        break
    if config.relay is None and not dns_failed and last == "no address records":
        # Neither MX hosts nor the domain itself have an address: nothing will ever accept this mail.
        text = f"5.1.2 {domain} has no mail server (no MX and no address records)"
        return [Result(r, "bounced", None, "5.1.2", text, "route") for r in env.recipients]
    status = "4.4.3" if dns_failed else "4.4.1"
    return [Result(r, "deferred", None, status, f"{status} {last}", "connect") for r in env.recipients]
