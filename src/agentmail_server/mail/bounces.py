"""Bounce addresses, the meaning of SMTP failures, and reading DSNs and ARF reports.

VERP: every sent message gets a random token and goes out with the envelope sender
``bounces+<token>@<inbox domain>``. Receivers send asynchronous bounces and feedback reports to that
address, so a report finds its message by the token alone; the report is then only read for who
failed and why, never for which message it is about.

Reports understood:
* RFC 3464 delivery status notifications (multipart/report; report-type=delivery-status, and the
  RFC 6533 message/global-delivery-status form): per-recipient Action, Status, Diagnostic-Code.
* RFC 5965 ARF feedback reports (report-type=feedback-report): Feedback-Type, Original-Rcpt-To.
* Non-RFC bounces (qmail, Exchange/Outlook, Gmail, Yahoo, Postfix or Exim without a report part):
  plain text. They are recognised by their wording; the failed recipients are the message's own
  recipients named in the notice text above the quoted original, with the status code nearest
  after each (5.0.0 when none is given: such notices are final).
"""

from __future__ import annotations

import email
import email.policy
import re
import secrets
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

BOUNCE_LOCAL = "bounces"
_TOKEN = re.compile(r"^bounces\+([0-9a-f]{24})$")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_CODE = re.compile(r"(?<![\d.])([45]\d\d)(?![\d.])")


def new_token() -> str:
    return secrets.token_hex(12)


def bounce_address(token: str, domain: str) -> str:
    return f"{BOUNCE_LOCAL}+{token}@{domain}"


def bounce_token(address: str) -> str | None:
    """The VERP token of a bounce address, else None. Lower-cased: some MTAs fold local parts."""
    local, at, _ = address.strip().strip("<>").rpartition("@")
    match = _TOKEN.match(local.lower()) if at else None
    return match.group(1) if match else None


# --- what a failure means -----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    type: str  # SES-style: Permanent | Transient
    sub_type: str  # General | NoEmail | MailboxFull | MessageTooLarge | ContentRejected
    suppress: bool  # a recipient-level hard bounce: the address goes on the suppression list


# A refusal without an enhanced code is still about the address when it reads like one.
_NO_MAILBOX = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist|doesn't exist|"
    r"invalid (recipient|mailbox|address)|recipient (address )?rejected|mailbox (unavailable|not found)|"
    r"address rejected|not a valid mailbox|account (has been )?disabled|unrouteable address|user not found",
    re.I,
)
_POLICY = re.compile(r"spam|block|policy|reputation|spf|dkim|dmarc|rbl|blacklist|listed|relay|denied|abuse", re.I)


def classify(status: str, text: str = "", *, stage: str, code: int | None = None) -> Verdict:
    """Classify a final failure. `status` is an RFC 3463 code, `code` the SMTP reply code if any;
    `stage` is where it was learnt (route, connect, mail, rcpt, data, dsn, expired).

    Only verdicts about one recipient's mailbox suppress it: X.1.x destination-mailbox codes (not
    X.1.7/X.1.8, which are about our sender address) and X.2.1 (mailbox disabled) from the receiving
    side (a RCPT or DATA reply, or a DSN), and a 550/551/553 to RCPT without an enhanced code whose
    text is not about policy. Our own routing findings (no MX, null MX, NXDOMAIN) bounce the message
    but suppress nothing: a domain can be repaired, and an outage of its DNS must not leave a
    permanent block behind. 5.7.x (policy, spam, authentication) are about us, not the address.
    """
    klass, subject, detail = (int(x) for x in status.split("."))
    permanent = klass == 5
    generic = (subject, detail) == (0, 0)
    if (subject, detail) == (2, 2):
        sub_type = "MailboxFull"
    elif (subject, detail) in ((3, 4), (2, 3)):
        sub_type = "MessageTooLarge"
    elif subject in (6, 7):
        sub_type = "ContentRejected"
    elif (subject == 1 and detail not in (7, 8)) or (subject, detail) == (2, 1):
        sub_type = "NoEmail"
    elif generic and not _POLICY.search(text) and (
        _NO_MAILBOX.search(text) or (stage == "rcpt" and code in (550, 551, 553))
    ):
        sub_type = "NoEmail"
    else:
        sub_type = "General"
    suppress = permanent and sub_type == "NoEmail" and stage in ("rcpt", "data", "dsn")
    return Verdict(type="Permanent" if permanent else "Transient", sub_type=sub_type, suppress=suppress)


# --- reports ------------------------------------------------------------------------------------


@dataclass
class ReportRecipient:
    address: str
    status: str  # RFC 3463, e.g. "5.1.1"
    diagnostic: str = ""


@dataclass
class Report:
    kind: Literal["bounce", "complaint", "none"]
    recipients: list[ReportRecipient] = field(default_factory=list)
    feedback_type: str = ""


def _address(value: str) -> str:
    """ "rfc822; <user@example.com>" → "user@example.com"."""
    _, _, address = value.partition(";") if ";" in value else ("", "", value)
    return address.strip().strip("<>").strip()


def _header_blocks(text: str) -> list[Message]:
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [HeaderParser().parsestr(block.strip() + "\n") for block in blocks if block.strip()]


def _report_blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status or feedback-report part, however the parser left it
    (the stdlib splits message/delivery-status into blocks, and parses other message/* subtypes as
    one message whose headers are the first block)."""
    payload = part.get_payload()
    if part.get_content_type() == "message/delivery-status" and isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return _header_blocks(_text_of(part))


def _dsn(part: Message) -> Report:
    recipients = []
    for block in _report_blocks(part)[1:]:  # the first block is about the reporting MTA
        action = str(block.get("Action", "")).strip().lower()
        address = _address(str(block.get("Original-Recipient") or block.get("Final-Recipient") or ""))
        if action != "failed" or not address:
            continue  # delayed, delivered, relayed and expanded are not failures
        diagnostic = str(block.get("Diagnostic-Code", "")).partition(";")[2].strip() \
            or str(block.get("Diagnostic-Code", "")).strip()
        match = _STATUS.search(str(block.get("Status", ""))) or _STATUS.search(diagnostic)
        status = ".".join(match.groups()) if match else "5.0.0"
        # Final-Recipient alone may be a forwarding target; keep both so the caller can match either.
        final = _address(str(block.get("Final-Recipient", "")))
        recipients.append(ReportRecipient(address, status, diagnostic))
        if final and final.lower() != address.lower():
            recipients.append(ReportRecipient(final, status, diagnostic))
    return Report("bounce" if recipients else "none", recipients)


def _arf(part: Message, known: list[str], whole: Message) -> Report:
    blocks = _report_blocks(part)
    fields = blocks[0] if blocks else Message()
    feedback_type = str(fields.get("Feedback-Type", "abuse")).strip().lower() or "abuse"
    if feedback_type == "not-spam":
        return Report("none")
    named = [_address(str(v)) for v in fields.get_all("Original-Rcpt-To", [])]
    recipients = [ReportRecipient(a, "") for a in named if a]
    if not recipients:
        # Many providers redact Original-Rcpt-To; the returned original's To/Cc may still name one.
        for sub in whole.walk():
            if sub.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
                text = _text_of(sub)
                recipients = [ReportRecipient(a, "") for a in known if a.lower() in text.lower()]
                break
    return Report("complaint", recipients, feedback_type)


def _text_of(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n".join(p.as_string() if isinstance(p, Message) else str(p) for p in payload)
    raw = part.get_payload(decode=True)
    return raw.decode(part.get_content_charset() or "utf-8", "replace") if isinstance(raw, bytes) else str(payload)


# --- non-RFC bounces ----------------------------------------------------------------------------

_FAILURE = re.compile(
    r"undeliverable|undelivered|could not be delivered|couldn't be delivered|delivery (has )?failed|"
    r"failed permanently|delivery to the following recipient|unable to deliver|permanent (error|failure)|"
    r"mail delivery (failed|subsystem)|returned mail|failure notice|not going to try again|"
    r"this is the qmail-send program|this is the mail system at host|message not delivered|"
    r"delivery status notification \(failure\)|user unknown|no such user|does not exist|address rejected",
    re.I,
)
_DELAY = re.compile(
    r"warning message only|will (continue to )?(retry|try)|has not yet been delivered|still trying|"
    r"delivery status notification \(delay\)|delivery (has been )?delayed|delayed mail",
    re.I,
)
# Where bounce notices start quoting the original message (nothing below is about the failure).
_ORIGINAL = re.compile(
    r"^(-+ ?(original message|below this line|this is a copy|returned message|headers of the original)"
    r"|original message headers|--- below this line)|^(received|return-path|dkim-signature):",
    re.I | re.M,
)


def _notice_text(message: Message) -> str:
    """The human-readable notice: text parts not inside an attached original, cut at the quote."""
    texts: list[str] = []

    def visit(part: Message) -> None:
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/global"):
            return
        if part.is_multipart():
            for sub in part.get_payload():  # type: ignore[union-attr]
                visit(sub)
        elif ctype in ("text/plain", "text/html"):
            text = _text_of(part)
            if ctype == "text/html":
                text = re.sub(r"<[^>]+>", " ", text)
            texts.append(text)

    visit(message)
    text = "\n".join(texts)
    cut = _ORIGINAL.search(text)
    return text[: cut.start()] if cut else text


def _plain_bounce(message: Message, known: list[str]) -> Report:
    subject = str(message.get("Subject", ""))
    sender = str(message.get("From", "")).lower()
    text = _notice_text(message)
    both = f"{subject}\n{text}"
    # Out-of-office and other replies to the envelope sender also land here: only a notice from a
    # mailer daemon, or one whose subject says it failed, is read as a bounce.
    daemon = any(name in sender for name in ("mailer-daemon", "postmaster", "mail delivery"))
    if not (daemon or _FAILURE.search(subject)) or not _FAILURE.search(both):
        return Report("none")
    if _DELAY.search(both) and not re.search(r"permanent|gave up|too long", both, re.I):
        return Report("none")
    lowered = text.lower()
    found = sorted((lowered.find(a.lower()), a) for a in known if a.lower() in lowered)
    recipients = []
    for i, (at, address) in enumerate(found):
        # The reason for one address lies between it and the next failed address.
        end = found[i + 1][0] if i + 1 < len(found) else len(text)
        window = text[at: min(end, at + 400)]
        match = _STATUS.search(window)
        code = _CODE.search(window)
        if match:
            status = ".".join(match.groups())
        elif code:
            status = f"{code.group(1)[0]}.0.0"
        else:
            status = "5.0.0"
        recipients.append(ReportRecipient(address, status, " ".join(window.split())[:300]))
    if not recipients:
        return Report("bounce")  # a failure notice naming none of them: the caller decides
    failed = [r for r in recipients if r.status.startswith("5")]
    # A notice about temporary trouble (4.x.x) is not a bounce.
    return Report("bounce", failed) if failed else Report("none")


def parse_report(raw: bytes, known: list[str]) -> Report:
    """Read a DSN, ARF report or plain-text bounce. `known` are the original message's recipients,
    used to find recipients in non-RFC notices and redacted complaints."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            return _dsn(part)
        if ctype == "message/feedback-report":
            return _arf(part, known, message)
    return _plain_bounce(message, known)
