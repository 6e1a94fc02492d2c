"""Recipient and header input from callers: parsed, validated, and never able to inject headers."""

from __future__ import annotations

from email.utils import getaddresses

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from ..mail.build import STRUCTURAL, Mailbox
from .errors import Invalid

MAX_HEADER_VALUE = 998


def valid_address(address: str) -> str:
    """The address, normalised and lower-cased, if email-validator accepts its syntax (no DNS).

    email-validator refuses special-use names (localhost, test, local, …) outright, yet a self-hosted
    server serves exactly such domains (agentmail.localhost by default): their labels are checked
    with the special-use suffix swapped for an ordinary one. Raises EmailNotValidError.
    """
    local, _, domain = address.strip().rpartition("@")
    probe = domain.lower()
    for name in SPECIAL_USE_DOMAIN_NAMES:
        if probe == name or probe.endswith("." + name):
            probe = probe[: len(probe) - len(name)] + "example.com"
            break
    result = validate_email(f"{local}@{probe}", check_deliverability=False, allow_smtputf8=True)
    kept_domain = result.domain if probe == domain.lower() else domain.lower()
    return f"{result.local_part}@{kept_domain}".lower()


def check_header_text(value: str, *, field: str) -> str:
    """Text bound for a header: CR, LF and NUL would let a caller write headers of their own."""
    if any(c in value for c in "\r\n\x00"):
        raise Invalid(f"{field} must not contain line breaks or NUL characters", path=[field])
    return value


def as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def mailboxes(value: str | list[str] | None, *, field: str) -> list[Mailbox]:
    """'addr' or 'Name <addr>' items, validated; duplicates dropped."""
    result: dict[str, Mailbox] = {}
    for item in as_list(value):
        check_header_text(item, field=field)
        parsed = getaddresses([item])
        if len(parsed) != 1 or not parsed[0][1]:
            raise Invalid(f"Invalid address in {field}: {item!r}", path=[field])
        name, address = parsed[0]
        try:
            email = valid_address(address)
        except EmailNotValidError as exc:
            raise Invalid(f"Invalid address in {field}: {item!r} ({exc})", path=[field]) from None
        result.setdefault(email, Mailbox(name=name or None, email=email))
    return list(result.values())


def custom_headers(headers: dict[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(value, str):
            raise Invalid(f"Header {name!r} must be a string", path=["headers", name])
        if not name or any(ord(c) < 33 or ord(c) > 126 or c == ":" for c in name):
            raise Invalid(f"Invalid header name {name!r}", path=["headers", name])
        if name.lower() in STRUCTURAL:
            raise Invalid(f"Header {name} is set by the server", path=["headers", name])
        check_header_text(value, field=f"headers.{name}")
        if len(value) > MAX_HEADER_VALUE:
            raise Invalid(f"Header {name} is too long", path=["headers", name])
        out[name] = value
    return out
