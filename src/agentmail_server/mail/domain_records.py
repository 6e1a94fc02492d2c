"""The DNS records a custom domain publishes for this server, checking them, and the BIND zone file.

Names are relative to the domain, as the API shows them ("@", "mail", "_dmarc", …). What "valid"
means is deliberately tolerant where operators legitimately differ: an SPF record may authorise
more senders than ours, a DMARC record may choose its own policy, an MX set may hold other hosts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dns.asyncresolver

from .dns import lookup, txt_records

MX_PRIORITY = 10
ZONE_TTL = 3600


class LookupFailed(Exception):
    """No definite DNS answer (timeout, SERVFAIL): the check could not be made."""


@dataclass(frozen=True)
class Record:
    type: str  # TXT | MX | CNAME
    name: str
    value: str
    priority: int | None = None

    @property
    def key(self) -> str:
        return f"{self.type} {self.name}"


@dataclass(frozen=True)
class Check:
    status: str  # MISSING | INVALID | VALID
    reason: str | None = None


@dataclass(frozen=True)
class DomainSetup:
    domain: str
    mx_host: str
    dkim_selector: str
    dkim_txt: str
    inbound_enabled: bool
    subdomains_enabled: bool
    tracking_enabled: bool
    tracking_host: str

    def records(self) -> list[Record]:
        records = [Record("TXT", f"{self.dkim_selector}._domainkey", self.dkim_txt)]
        if self.inbound_enabled:
            records.append(Record("MX", "@", self.mx_host, MX_PRIORITY))
        # "mail" is the bounce (Return-Path) host: its MX brings DSNs back, its SPF aligns with the domain.
        records += [
            Record("MX", "mail", self.mx_host, MX_PRIORITY),
            Record("TXT", "mail", f"v=spf1 a:{self.mx_host} -all"),
            Record("TXT", "_dmarc", f"v=DMARC1; p=reject; rua=mailto:dmarc@{self.domain}"),
        ]
        if self.subdomains_enabled:
            records.append(Record("MX", "*", self.mx_host, MX_PRIORITY))
        if self.tracking_enabled:
            records.append(Record("CNAME", "link", self.tracking_host))
        return records

    def fqdn(self, name: str) -> str:
        return self.domain if name == "@" else f"{name}.{self.domain}"


def _host(value: str) -> str:
    return value.rstrip(".").lower()


def _one(values: list[str], prefix: str) -> tuple[str | None, Check | None]:
    found = [v for v in values if v.strip().lower().startswith(prefix)]
    if not found:
        return None, Check("MISSING")
    if len(found) > 1:
        return None, Check("INVALID", "duplicate_records")
    return found[0], None


def _dkim_key(value: str) -> str:
    tags = dict(part.split("=", 1) for part in (p.strip() for p in value.split(";")) if "=" in part)
    return re.sub(r"\s+", "", tags.get("p", ""))


async def _txt(resolver: dns.asyncresolver.Resolver, name: str) -> list[str]:
    values = await txt_records(resolver, name)
    if values is None:
        raise LookupFailed(name)
    return values


async def check_record(resolver: dns.asyncresolver.Resolver, setup: DomainSetup, record: Record) -> Check:
    name = setup.fqdn(record.name)
    if record.type in ("MX", "CNAME"):
        answers = await lookup(resolver, name, record.type)
        if answers is None:
            raise LookupFailed(name)
        # The host an MX names, or a CNAME's target.
        hosts = {_host((a.exchange if record.type == "MX" else a.target).to_text()) for a in answers}  # type: ignore[attr-defined]
        if not hosts:
            return Check("MISSING")
        return Check("VALID") if _host(record.value) in hosts else Check("INVALID", "value_mismatch")
    values = await _txt(resolver, name)
    if record.name.endswith("._domainkey"):
        found = [v for v in values if "p=" in v]
        if not found:
            return Check("MISSING")
        if len(found) > 1:
            return Check("INVALID", "duplicate_records")
        return Check("VALID") if _dkim_key(found[0]) == _dkim_key(record.value) else Check("INVALID", "value_mismatch")
    if record.value.startswith("v=spf1"):
        spf, problem = _one(values, "v=spf1")
        if problem:
            return problem
        wanted = record.value.split()[1].lower()
        return Check("VALID") if wanted in (spf or "").lower().split() else Check("INVALID", "value_mismatch")
    dmarc, problem = _one(values, "v=dmarc1")
    if problem:
        return problem
    policy = re.search(r"(?:^|;)\s*p\s*=\s*(none|quarantine|reject)\s*(?:;|$)", dmarc or "", re.IGNORECASE)
    return Check("VALID") if policy else Check("INVALID", "value_mismatch")


def _quote_txt(value: str) -> str:
    # A TXT string holds at most 255 bytes; longer values (DKIM keys) are published as several.
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def zone_file(setup: DomainSetup) -> str:
    lines = [f"$ORIGIN {setup.domain}.", f"$TTL {ZONE_TTL}"]
    for record in setup.records():
        if record.type == "MX":
            data = f"{record.priority} {record.value}."
        elif record.type == "CNAME":
            data = f"{record.value}."
        else:
            data = _quote_txt(record.value)
        lines.append(f"{record.name}\tIN\t{record.type}\t{data}")
    return "\n".join(lines) + "\n"
