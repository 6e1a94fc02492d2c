"""Property tests of the inbound MIME parser (mail/parse.py), no server.

Messages are built with the stdlib `email` package from generated parts (encoded-word headers, charsets, nested
multiparts, inline images, attachments with non-ASCII names, forwarded messages), then:

* well-formed ones parse back to what was put in: headers, addresses, ids, date, bodies, attachments and their bytes;
* mangled ones (truncated, boundaries broken, transfer encodings damaged, line endings changed, bytes flipped) never
  make `parse` or `attachment_bytes` raise, and stay within the documented limits;
* RFC 2047 encoded words made by the stdlib encoders decode back to the text, on both of the parser's decoders (the
  modern one and the linear one for long values).

Deterministic and bounded (derandomize, no example database): AGENTMAIL_FUZZ_SCALE=10 runs ten times as many
examples for a local soak.
"""

from __future__ import annotations

import email.base64mime
import email.charset
import email.quoprimime
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from types import SimpleNamespace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agentmail_server.mail.parse import MAX_DEFECTS, MAX_LEAF_PARTS, PREVIEW_CHARS, attachment_bytes, parse
from agentmail_server.services.threads_store import new_message

from .test_mail_parse import assert_sane

SCALE = float(os.environ.get("AGENTMAIL_FUZZ_SCALE", "1"))
UNFOLDED = default_policy.clone(max_line_length=None)


def fuzz(examples: int) -> settings:
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


# --- text -------------------------------------------------------------------------------------------------------

# Printable text of any script. Excluded: controls (the parser keeps them, but the stdlib's folding does not round-
# trip them), line and paragraph separators (splitlines() breaks there), surrogates and private use.
_CHAR = st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"))
_WORD = st.text(_CHAR.filter(lambda c: not c.isspace()), min_size=1, max_size=12)


def _phrase(min_words: int = 1, max_words: int = 8) -> st.SearchStrategy[str]:
    return st.lists(_WORD, min_size=min_words, max_size=max_words).map(" ".join)


_BODY_LINE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
                                   whitelist_characters="\t"), max_size=120)
_BODY = st.lists(_BODY_LINE, min_size=1, max_size=12).map("\n".join)

# Body charsets. The parser reads some legacy labels as the superset browsers use (the WHATWG encoding standard):
# the text comes back as the superset decodes the bytes.
_SUPERSET = {"iso-8859-1": "cp1252", "shift_jis": "cp932", "gb2312": "gb18030", "euc-kr": "cp949"}
_CHARSETS = ["utf-8", "utf-8", "iso-8859-1", "iso-8859-15", "iso-8859-2", "koi8-r", "windows-1251", "euc-jp",
             "iso-2022-jp", "shift_jis", "gb2312", "euc-kr"]


def _expected_text(text: str, charset: str) -> str | None:
    """What the parser must return for `text` sent in `charset` (None: not representable, skip)."""
    try:
        data = text.encode(charset)
        return data.decode(_SUPERSET.get(charset, charset))
    except UnicodeError:
        return None


def _as_sent(text: str) -> str:
    """set_content ends every line with a newline; the parser gives "\\n" line ends."""
    return "\n".join(text.splitlines()) + "\n"


# --- addresses and ids ------------------------------------------------------------------------------------------

_ATOM = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=1, max_size=10)
_LOCAL = st.lists(_ATOM, min_size=1, max_size=3).map(".".join) | st.tuples(_ATOM, _ATOM).map("+".join)
_DOMAIN = st.lists(_ATOM, min_size=1, max_size=3).map(lambda labels: ".".join([*labels, "test"]))
_ADDR = st.tuples(_LOCAL, _DOMAIN).map("@".join)
_MSG_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+-/=?^_`{|}~"
_MSG_ID = st.tuples(st.text(st.sampled_from(_MSG_ID_CHARS), min_size=1, max_size=30), _DOMAIN).map(
    lambda t: f"<{t[0]}@{t[1]}>")
_NAME = _phrase(1, 4)
_MAILBOX = st.tuples(st.one_of(st.just(""), _NAME), _ADDR)


def _mailbox_header(name: str, addr: str) -> Address:
    return Address(display_name=name, addr_spec=addr)


# --- messages ---------------------------------------------------------------------------------------------------


@dataclass
class Part:
    """An expected attachment: what parse() must list, and the bytes attachment_bytes() must return."""

    filename: str | None
    content_type: str
    disposition: str
    content_id: str | None
    data: bytes | None  # None: a forwarded message (its bytes are re-serialised, only checked to be there)


@dataclass
class Model:
    subject: str
    sender: tuple[str, str]
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    message_id: str
    in_reply_to: str | None
    references: list[str]
    date: datetime
    custom: str
    text: str | None
    charset: str
    cte: str | None
    html: str | None
    parts: list[Part] = field(default_factory=list)


_ATTACHMENT_TYPES = ["application/pdf", "application/octet-stream", "image/png", "image/jpeg", "text/plain",
                     "text/csv", "audio/mpeg", "application/vnd.ms-excel"]
_FILENAME = st.one_of(st.none(), _phrase(1, 3).map(lambda s: s[:60].strip() + ".bin").filter(lambda s: s != ".bin"))


@st.composite
def models(draw: st.DrawFn) -> Model:
    charset = draw(st.sampled_from(_CHARSETS))
    text = draw(st.one_of(st.none(), _BODY))
    if text is not None:
        assume(_expected_text(_as_sent(text), charset) is not None)
    html = draw(st.one_of(st.none(), _BODY.map(lambda b: f"<div>{b}</div>")))
    model = Model(
        subject=draw(_phrase(0, 30)), sender=draw(_MAILBOX), to=draw(st.lists(_MAILBOX, min_size=1, max_size=4)),
        cc=draw(st.lists(_MAILBOX, max_size=3)), message_id=draw(_MSG_ID),
        in_reply_to=draw(st.one_of(st.none(), _MSG_ID)), references=draw(st.lists(_MSG_ID, max_size=5)),
        date=draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                               timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                          timezone(timedelta(hours=-8))]))).replace(microsecond=0),
        custom=draw(_phrase(1, 12)), text=text, charset=charset,
        cte=draw(st.sampled_from([None, "base64", "quoted-printable"])), html=html,
    )
    if html is not None:
        for i in range(draw(st.integers(0, 2))):
            model.parts.append(Part(None, "image/png", "inline", f"img{i}.{draw(_ATOM)}@example.test",
                                    draw(st.binary(max_size=300))))
    for _ in range(draw(st.integers(0, 3))):
        model.parts.append(Part(draw(_FILENAME), draw(st.sampled_from(_ATTACHMENT_TYPES)), "attachment", None,
                                draw(st.binary(max_size=2000))))
    if draw(st.booleans()):
        model.parts.append(Part(None, "message/rfc822", "attachment", None, None))
    return model


def build(model: Model) -> bytes:
    msg = EmailMessage()
    msg["From"] = _mailbox_header(*model.sender)
    msg["To"] = [_mailbox_header(*m) for m in model.to]
    if model.cc:
        msg["Cc"] = [_mailbox_header(*m) for m in model.cc]
    msg["Subject"] = model.subject
    msg["Date"] = format_datetime(model.date)
    msg["Message-ID"] = model.message_id
    if model.in_reply_to:
        msg["In-Reply-To"] = model.in_reply_to
    if model.references:
        msg["References"] = " ".join(model.references)
    msg["X-Fuzz"] = model.custom
    if model.text is not None:
        msg.set_content(model.text, charset=model.charset, cte=model.cte)
    if model.html is not None:
        if model.text is None:
            msg.set_content(model.html, subtype="html")
        else:
            msg.add_alternative(model.html, subtype="html")
        inline = [p for p in model.parts if p.disposition == "inline"]
        if inline:
            html_part = msg if model.text is None else msg.get_payload()[1]
            for part in inline:
                assert part.data is not None
                html_part.add_related(part.data, "image", "png", cid=f"<{part.content_id}>", disposition="inline")
    if model.text is None and model.html is None and any(p.disposition == "attachment" for p in model.parts):
        msg.make_mixed()
    for part in model.parts:
        if part.disposition == "inline":
            continue
        if part.data is None:
            inner = EmailMessage()
            inner["Subject"] = "forwarded"
            inner["Message-ID"] = "<inner@example.test>"
            inner.set_content("inner body")
            inner.add_attachment(b"inner attachment", "application", "octet-stream", filename="inner.bin")
            msg.add_attachment(inner)
        else:
            maintype, subtype = part.content_type.split("/")
            msg.add_attachment(part.data, maintype, subtype, filename=part.filename)
    # CPython's header folder drops the space between two encoded words when it folds there (RFC 2047 makes such
    # whitespace invisible): serialise unfolded. Folded encoded words are covered below, made by the legacy encoder.
    return re.sub(rb"(?<!\r)\n", b"\r\n", msg.as_bytes(policy=UNFOLDED))


def _address(display: str) -> tuple[str, str]:
    return parseaddr(display)


@fuzz(100)
@given(models())
def test_well_formed_messages_round_trip(model: Model):
    raw = build(model)
    parsed = parse(raw)
    assert_sane(parsed)
    assert parsed.defects == [], parsed.defects

    assert parsed.subject == model.subject
    assert parsed.headers["Subject"] == model.subject
    assert parsed.headers["X-Fuzz"] == model.custom
    assert parsed.from_email == model.sender[1].lower()
    assert _address(parsed.from_) == model.sender
    assert [_address(v) for v in parsed.to] == model.to
    assert [_address(v) for v in parsed.cc] == model.cc
    assert parsed.message_id == model.message_id
    assert parsed.in_reply_to == model.in_reply_to
    assert parsed.references == [r for r in dict.fromkeys(model.references) if r != model.message_id]
    assert parsed.date == model.date.astimezone(UTC)

    if model.text is not None:
        assert parsed.text == _expected_text(_as_sent(model.text), model.charset)
        assert parsed.preview is not None and len(parsed.preview) <= PREVIEW_CHARS
        assert parsed.extracted_text is not None
    elif model.html is None and not model.parts:
        assert parsed.text == ""  # no body part at all: the message itself is an empty text/plain
    else:
        assert parsed.text is None and parsed.preview is None
    assert parsed.html == (_as_sent(model.html) if model.html is not None else None)

    assert [(a.filename, a.content_type, a.content_disposition, a.content_id) for a in parsed.attachments] == [
        (p.filename, p.content_type, p.disposition, p.content_id) for p in model.parts]
    assert len({a.part for a in parsed.attachments}) == len(parsed.attachments)
    for attachment, part in zip(parsed.attachments, model.parts, strict=True):
        fetched = attachment_bytes(raw, attachment.part)
        assert fetched is not None and len(fetched) == attachment.size
        if part.data is not None:
            assert fetched == part.data
        else:  # the forwarded message is one attachment; its own attachment is not ours
            assert b"inner attachment" not in fetched and b"Message-ID: <inner@example.test>" in fetched

    # Stored as a message row (services/threads_store.py): each attachment gets its own id, stable for the row.
    def row() -> object:
        return new_message(inbox=SimpleNamespace(id="in@x.test", organization_id="o", pod_id="p"),  # type: ignore[arg-type]
                           thread_id="t", message_id=model.message_id, parsed=parsed,
                           blob=SimpleNamespace(id="b", size=len(raw)), direction="received",  # type: ignore[arg-type]
                           labels=["received"], timestamp=model.date)

    first, second = row(), row()
    ids = [a["attachment_id"] for a in first.attachments]  # type: ignore[attr-defined]
    assert len(set(ids)) == len(ids) == len(model.parts)
    assert [a["part"] for a in first.attachments] == [a.part for a in parsed.attachments]  # type: ignore[attr-defined]
    assert set(ids).isdisjoint(a["attachment_id"] for a in second.attachments)  # type: ignore[attr-defined]


# --- mangled messages -------------------------------------------------------------------------------------------

_MANGLES = [
    "truncate", "drop_line", "break_boundary", "damage_base64", "bare_lf", "bare_cr", "flip_bytes", "unknown_charset",
    "duplicate_headers", "eight_bit_header", "strip_mime_version", "nest_deeper",
]


def mangle(raw: bytes, how: str, at: int, junk: bytes) -> bytes:
    lines = raw.split(b"\r\n")
    if how == "truncate":
        return raw[: at % (len(raw) + 1)]
    if how == "drop_line":
        del lines[at % len(lines)]
    elif how == "break_boundary":
        boundaries = [i for i, line in enumerate(lines) if line.startswith(b"--")]
        if boundaries:
            i = boundaries[at % len(boundaries)]
            lines[i] = lines[i][: max(2, len(lines[i]) // 2)] + junk.replace(b"\r", b"").replace(b"\n", b"")
    elif how == "damage_base64":
        i = at % len(lines)
        lines[i] = lines[i] + b"=*!" + junk[:3].replace(b"\r", b"").replace(b"\n", b"")
    elif how == "bare_lf":
        return raw.replace(b"\r\n", b"\n")
    elif how == "bare_cr":
        return raw.replace(b"\r\n", b"\r")
    elif how == "flip_bytes" and raw:
        data = bytearray(raw)
        for k, byte in enumerate(junk):
            data[(at + k * 7919) % len(data)] = byte
        return bytes(data)
    elif how == "unknown_charset":
        return re.sub(rb'charset="?[A-Za-z0-9_-]+"?', b'charset="x-' + junk.hex().encode()[:20] + b'"', raw)
    elif how == "duplicate_headers":
        head_end = lines.index(b"") if b"" in lines else len(lines)
        lines[:head_end] = lines[:head_end] * 2
    elif how == "eight_bit_header":
        lines.insert(0, b"Subject: " + junk.replace(b"\r", b"").replace(b"\n", b""))
    elif how == "strip_mime_version":
        lines = [line for line in lines if not line.lower().startswith(b"mime-version")]
    elif how == "nest_deeper":
        wrapped = b"\r\n".join(lines)
        for depth in range(at % 60):
            wrapped = (f'Content-Type: multipart/mixed; boundary="d{depth}"\r\n\r\n--d{depth}\r\n'.encode() + wrapped
                       + f"\r\n--d{depth}--\r\n".encode())
        return wrapped
    return b"\r\n".join(lines)


@fuzz(100)
@given(models(), st.lists(st.tuples(st.sampled_from(_MANGLES), st.integers(0, 10**6), st.binary(min_size=1,
                                                                                              max_size=40)),
                          min_size=1, max_size=4))
def test_mangled_messages_never_raise_and_stay_within_limits(model: Model, damage: list[tuple[str, int, bytes]]):
    raw = build(model)
    for how, at, junk in damage:
        raw = mangle(raw, how, at, junk)
    parsed = parse(raw)  # documented never to raise
    assert_sane(parsed)
    assert len(parsed.defects) <= MAX_DEFECTS + 1
    assert len(parsed.attachments) <= MAX_LEAF_PARTS
    for attachment in parsed.attachments:
        fetched = attachment_bytes(raw, attachment.part)
        assert fetched is not None and len(fetched) == attachment.size
    assert attachment_bytes(raw, "999.1") is None


# --- RFC 2047 encoded words -------------------------------------------------------------------------------------

_HEADER_CHARSETS = ["utf-8", "iso-8859-1", "iso-8859-15", "koi8-r", "shift_jis", "euc-jp", "gb2312", "big5",
                    "utf-16"]


def _encoded_words(text: str, charset: str, encoding: str, maxlinelen: int) -> tuple[str, str] | None:
    """The stdlib's encoder with B or Q forced: (folded header value, the charset it declares), None when that
    charset cannot carry the text (euc-jp, for one, is sent as iso-2022-jp)."""
    cs = email.charset.Charset(charset)
    declared = str(cs.output_charset or cs.input_charset)
    try:
        text.encode(declared)
    except UnicodeError:
        return None
    cs.header_encoding = email.charset.BASE64 if encoding == "b" else email.charset.QP
    return Header(text, cs, maxlinelen=maxlinelen).encode(), declared


def _parse_header(name: str, value: str) -> str | None:
    raw = f"{name}: {value}\r\nFrom: a@example.test\r\n\r\n".replace("\n ", "\r\n ").encode()
    return parse(raw.replace(b"\r\r\n", b"\r\n")).subject


def _display_name(value: str) -> str:
    parsed = parse(f"From: {value} <a@example.test>\r\n\r\n".replace("\n ", "\r\n ").encode())
    assert parsed.from_email == "a@example.test"
    name, addr = _address(parsed.from_)
    assert addr == "a@example.test"
    return name


@fuzz(100)
@given(_phrase(1, 40), st.sampled_from(_HEADER_CHARSETS), st.sampled_from(["b", "q"]),
       st.sampled_from([40, 76, 998]))
def test_encoded_words_decode_back_to_the_text(text: str, charset: str, encoding: str, maxlinelen: int):
    """Folded (several words per header) or not, in a Subject and in a display name."""
    made = _encoded_words(text, charset, encoding, maxlinelen)
    assume(made is not None)
    assert made is not None
    encoded, declared = made
    expected = _expected_text(text, declared)
    assume(expected is not None)
    assert _parse_header("Subject", encoded) == expected
    if encoding == "b":  # Q words may carry address specials (",", "<", "@") as they are: not for phrases
        assert _display_name(encoded) == expected
    if declared != "utf-16":  # the linear decoder joins same-charset words' bytes: a BOM per word shows there
        # Long enough for the linear decoder (over 8 KiB): the whitespace between encoded words goes, as above.
        copies = 8200 // len(encoded) + 2
        assert _parse_header("Subject", " ".join([encoded] * copies)) == expected * copies


@fuzz(80)
@given(_phrase(1, 20), st.lists(st.integers(1, 400), max_size=6), st.lists(st.sampled_from(["b", "q"]),
                                                                             min_size=7, max_size=7))
def test_a_character_split_across_encoded_words_is_rejoined(text: str, cuts: list[int], encodings: list[str]):
    """Mailers cut UTF-8 into words by bytes, a character's bytes landing in two words (RFC 2047 forbids it; it is
    common): the text comes back whole, in a Subject and in a display name."""
    data = text.encode()
    points = sorted({c % len(data) for c in cuts} - {0})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    words = [
        (email.base64mime.header_encode(chunk, "utf-8") if how == "b" else
         email.quoprimime.header_encode(chunk, "utf-8"))
        for chunk, how in zip(chunks, encodings, strict=False)
    ]
    value = "\n ".join(words) if len(words) > 2 else " ".join(words)
    assert _parse_header("Subject", value) == text
    assert _display_name(" ".join(email.base64mime.header_encode(c, "utf-8") for c in chunks)) == text


@fuzz(80)
@given(st.lists(st.tuples(st.booleans(), _phrase(1, 5)), min_size=1, max_size=6))
def test_encoded_and_plain_runs_mix(runs: list[tuple[bool, str]]):
    """Encoded words next to plain words: whitespace between two encoded words goes, elsewhere it stays."""
    assume(not any("=?" in t for enc, t in runs if not enc))  # plain text that looks like an encoded word
    value = " ".join(email.base64mime.header_encode(t.encode(), "utf-8") if enc else t for enc, t in runs)
    expected = ""
    for i, (enc, t) in enumerate(runs):
        if i:
            expected += "" if enc and runs[i - 1][0] else " "
        expected += t
    assert _parse_header("Subject", value) == expected
