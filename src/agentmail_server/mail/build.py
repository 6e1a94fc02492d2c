"""The one MIME builder: compose RFC 5322 bytes for outgoing mail."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

# Headers the builder owns; callers' custom headers may not replace them.
STRUCTURAL = frozenset({
    "from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "in-reply-to", "references",
    "mime-version", "content-type", "content-transfer-encoding", "content-disposition", "sender", "return-path",
})


@dataclass(frozen=True)
class Mailbox:
    name: str | None
    email: str

    def header(self) -> Address:
        local, _, domain = self.email.rpartition("@")
        return Address(display_name=self.name or "", username=local, domain=domain)

    def display(self) -> str:
        return str(self.header())


@dataclass
class OutAttachment:
    filename: str | None
    content_type: str
    disposition: str
    content_id: str | None
    data: bytes


@dataclass
class Composition:
    sender: Mailbox
    message_id: str
    date: datetime
    to: list[Mailbox] = field(default_factory=list)
    cc: list[Mailbox] = field(default_factory=list)
    reply_to: list[Mailbox] = field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[OutAttachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def _unstructured(msg: EmailMessage, name: str, value: str) -> None:
    """Set a free-text header. Non-ASCII text is encoded here rather than by the policy, whose folder
    (CPython 3.11) can put the space between two words outside the encoded words, where RFC 2047
    §6.2 makes readers drop it ("в главном" arrives as "вглавном")."""
    if value.isascii():
        msg[name] = value
        return
    # Header keeps every space inside the encoded words; lines stay short enough that the policy
    # emits them as they are.
    encoded = Header(value, "utf-8", maxlinelen=76, header_name=name).encode(linesep="\n")
    msg.set_raw(name, encoded)


def compose(c: Composition) -> bytes:
    """CRLF-terminated bytes. Bcc recipients are envelope-only and never appear in the headers."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = c.sender.header()
    if c.to:
        msg["To"] = [m.header() for m in c.to]
    if c.cc:
        msg["Cc"] = [m.header() for m in c.cc]
    if c.reply_to:
        msg["Reply-To"] = [m.header() for m in c.reply_to]
    if c.subject:
        _unstructured(msg, "Subject", c.subject)
    msg["Date"] = format_datetime(c.date)
    msg["Message-ID"] = c.message_id
    if c.in_reply_to:
        msg["In-Reply-To"] = c.in_reply_to
    if c.references:
        msg["References"] = " ".join(c.references)
    for name, value in c.headers.items():
        _unstructured(msg, name, value)
    text = c.text if c.text is not None or c.html is not None else ""
    if text is not None:
        msg.set_content(text)
    if c.html is not None:
        if text is None:
            msg.set_content(c.html, subtype="html")
        else:
            msg.add_alternative(c.html, subtype="html")
    for att in c.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=att.filename, disposition=att.disposition, cid=_cid(att.content_id))
    return msg.as_bytes()


def _cid(content_id: str | None) -> str | None:
    if not content_id:
        return None
    return content_id if content_id.startswith("<") else f"<{content_id}>"
