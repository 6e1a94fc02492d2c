"""Inbound MIME parsing: raw RFC 5322 bytes -> the fields of an AgentMail `Message`.

Everything here runs on untrusted bytes after the SMTP 250, so `parse` never raises: whatever
cannot be understood is skipped and noted in `defects`. Structure comes from the stdlib `email`
package; this module only decides which leaf is the body, which are attachments, and how to turn
headers and payloads into clean `str` values (no lone surrogates, no NULs: the database and the
JSON encoder reject both).
"""

from __future__ import annotations

import base64
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors
from email.generator import BytesGenerator
from email.header import decode_header
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from email.policy import default as _default_policy
from email.utils import getaddresses, parsedate_to_datetime
from email.utils import quote as _quote
from io import BytesIO

from .extract import extract_html, extract_text

MAX_LEAF_PARTS = 1000
MAX_DEPTH = 50
MAX_HEADER_BYTES = 1024 * 1024
MAX_DEFECTS = 100
PREVIEW_CHARS = 200
# The stdlib's RFC 5322 header parser is the most forgiving decoder we have, but it is quadratic
# in the header length (seconds at ~100 KiB); longer values take the linear legacy decoders.
_MODERN_HEADER_LIMIT = 8 * 1024
_MAX_MSG_ID = 998


@dataclass
class ParsedAttachment:
    part: str
    filename: str | None
    content_type: str
    content_disposition: str
    content_id: str | None
    size: int


@dataclass
class ParsedMessage:
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str | None = None
    from_: str = ""
    from_email: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    date: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    html: str | None = None
    extracted_text: str | None = None
    extracted_html: str | None = None
    preview: str | None = None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


class _RawHeaders(Compat32):
    """compat32 parsing, but header values come back exactly as received.

    compat32 would wrap 8-bit header values in `email.header.Header` objects with an unknown
    charset; we want the bytes so we can try UTF-8 (SMTPUTF8) and fall back to latin-1.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        return value


# CRLF only matters when a message/rfc822 part is serialised back to bytes (.eml convention).
_POLICY = _RawHeaders(linesep="\r\n")
_UNSTRUCTURED = HeaderRegistry(default_class=UnstructuredHeader, use_default_map=False)
_FOLDING = re.compile(r"[\r\n]+")
# SMTP forces CRLF on the wire; API clients expect the text as composed, with "\n".
_NEWLINES = re.compile(r"\r\n?")
_MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")
_BARE_MSG_ID = re.compile(r"[^\s<>,;\"()]+@[^\s<>,;\"()]+")
_BOUNDARY_LINE = re.compile(rb"^--([!#-~]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
_MIME_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_B64_ALPHABET = re.compile(rb"[^A-Za-z0-9+/]")
_ADDRESS_SPECIALS = frozenset('()<>@,:;."[]\\')
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
# Labels that mailers declare while really using the superset (as the WHATWG encoding standard
# maps them for browsers); decoding with the superset loses nothing when the label was right.
_CHARSET_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "iso-8859-9": "cp1254",
    "big5": "big5hkscs",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}


# --------------------------------------------------------------------------------------------
# Public API


def parse(raw: bytes) -> ParsedMessage:
    """Parse one message. Never raises: malformed input yields partial fields plus `defects`."""
    result = ParsedMessage()
    notes = _Notes(result.defects)
    try:
        msg = _load(bytes(raw or b""), notes)
    except Exception as exc:  # the stdlib parser itself gave up: nothing structural to salvage
        notes.add(f"message could not be parsed: {type(exc).__name__}")
        return _scrubbed(result)
    for stage in (_fill_headers, _fill_body):
        try:
            stage(msg, result, notes)
        except Exception as exc:  # keep what the other stage produced
            notes.add(f"{stage.__name__.removeprefix('_fill_')} skipped after internal error: {type(exc).__name__}")
    return _scrubbed(result)


def attachment_bytes(raw: bytes, part: str) -> bytes | None:
    """Decoded bytes of the leaf at MIME section `part` (as listed by `parse`), None if absent."""
    try:
        notes = _Notes([])
        msg = _load(bytes(raw or b""), notes)
        for path, leaf in _leaves(msg, notes):
            if path == part:
                return _leaf_bytes(leaf, notes, path)
    except Exception:
        return None
    return None


# --------------------------------------------------------------------------------------------
# Loading and walking


class _Notes:
    """Bounded, de-duplicated defect list (a hostile message can produce millions)."""

    def __init__(self, target: list[str]) -> None:
        self.items = target
        self.no_salvage = False

    def add(self, note: str) -> None:
        if note in self.items:
            return
        if len(self.items) < MAX_DEFECTS:
            self.items.append(note)
        elif len(self.items) == MAX_DEFECTS:
            self.items.append("further defects omitted")


def _load(raw: bytes, notes: _Notes) -> Message:
    try:
        msg = BytesParser(policy=_POLICY).parsebytes(raw)
    except RecursionError:
        # The stdlib feed parser recurses once per nesting level; keep the headers at least.
        notes.add("MIME nesting too deep to parse; body left unparsed")
        notes.no_salvage = True
        msg = BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True)
    return msg


def _leaves(msg: Message, notes: _Notes) -> Iterator[tuple[str, Message]]:
    """Leaf parts with their RFC 3501 section numbers, depth-first, iteratively and bounded.

    message/* parts are leaves: a forwarded message is an attachment, not part of our body.
    """
    _note_defects(msg, "message", notes)
    top_children = _children(msg, notes)
    if top_children is None:
        yield "1", msg
        return
    count = 0
    stack: list[tuple[str, int, Iterator[tuple[int, Message]]]] = [("", 1, enumerate(top_children, 1))]
    while stack:
        prefix, depth, siblings = stack[-1]
        nxt = next(siblings, None)
        if nxt is None:
            stack.pop()
            continue
        index, part = nxt
        path = f"{prefix}{index}"
        if not isinstance(part, Message):
            notes.add(f"part {path}: not a MIME entity")
            continue
        _note_defects(part, f"part {path}", notes)
        children = _children(part, notes)
        if children is not None:
            if depth >= MAX_DEPTH:
                notes.add(f"MIME nesting deeper than {MAX_DEPTH} levels; deeper parts ignored")
                continue
            stack.append((f"{path}.", depth + 1, enumerate(children, 1)))
            continue
        count += 1
        if count > MAX_LEAF_PARTS:
            notes.add(f"more than {MAX_LEAF_PARTS} MIME parts; the rest ignored")
            return
        yield path, part


def _children(part: Message, notes: _Notes) -> list[Message] | None:
    if part.get_content_maintype() != "multipart":
        return None
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload or None
    return _salvage_multipart(part, notes)


def _salvage_multipart(part: Message, notes: _Notes) -> list[Message] | None:
    """A multipart whose declared boundary never appears: retry with the first delimiter-looking line.

    Mailers that rewrite bodies sometimes change the boundary but not the header (or drop the
    parameter); the parts are still there.
    """
    body = _raw_body(part)
    if notes.no_salvage or not body:
        return None
    found = _BOUNDARY_LINE.search(body)
    if found is None or b'"' in found.group(1) or b"\\" in found.group(1):
        return None
    boundary = found.group(1).decode("ascii")
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
    try:
        sub = BytesParser(policy=_POLICY).parsebytes(head + body)
    except RecursionError:
        notes.no_salvage = True
        return None
    kids = sub.get_payload()
    if not isinstance(kids, list) or not kids:
        return None
    notes.add(f"multipart boundary not found; parts recovered using boundary {boundary!r}")
    return kids


def _note_defects(part: Message, where: str, notes: _Notes) -> None:
    for defect in getattr(part, "defects", ()):
        doc = (type(defect).__doc__ or "").strip().splitlines()
        detail = f" ({doc[0].rstrip('.')})" if doc else ""
        notes.add(f"{where}: {type(defect).__name__}{detail}")


# --------------------------------------------------------------------------------------------
# Headers


def _fill_headers(msg: Message, result: ParsedMessage, notes: _Notes) -> None:
    items = _capped_items(msg, notes)
    headers: dict[str, str] = {}
    by_name: dict[str, list[str]] = {}
    for name, value in items:
        text = str(value)
        by_name.setdefault(name.lower(), []).append(text)
        if name not in headers:
            headers[name] = _header_text(text, notes, name)
    result.headers = headers

    def raw_all(name: str) -> list[str]:
        return [_unfold(_unescape_8bit(v)) for v in by_name.get(name, ())]

    def raw_first(name: str) -> str | None:
        values = raw_all(name)
        return values[0] if values else None

    message_ids = _msg_ids(raw_first("message-id") or "")
    result.message_id = message_ids[0] if message_ids else None
    if result.message_id is None:
        notes.add("Message-ID missing or unparseable")
    reply_ids = _msg_ids(raw_first("in-reply-to") or "")
    result.in_reply_to = reply_ids[0] if reply_ids else None
    references = _msg_ids(" ".join(raw_all("references")))
    result.references = [ref for ref in dict.fromkeys(references) if ref != result.message_id]

    subject = raw_first("subject")
    result.subject = _decode_words(subject).strip() if subject is not None else None

    senders = _addresses(raw_all("from"))
    if senders:
        result.from_ = _display(*senders[0])
        result.from_email = senders[0][1].lower()
    elif (sender := raw_first("from")) is not None:
        # Keep what was written (e.g. "MAILER-DAEMON (Mail Delivery System)"), but a null "<>" is no sender.
        sender = _decode_words(sender).strip()
        result.from_ = sender if sender.strip("<> \t") else ""
        notes.add("From header has no parseable address")
    else:
        notes.add("From header missing")
    result.to = [_display(*pair) for pair in _addresses(raw_all("to"))]
    result.cc = [_display(*pair) for pair in _addresses(raw_all("cc"))]
    result.bcc = [_display(*pair) for pair in _addresses(raw_all("bcc"))]
    result.reply_to = [_display(*pair) for pair in _addresses(raw_all("reply-to"))]

    date = raw_first("date")
    if date is None:
        notes.add("Date header missing")
    else:
        result.date = _parse_date(date)
        if result.date is None:
            notes.add("Date header unparseable")


def _capped_items(msg: Message, notes: _Notes) -> list[tuple[str, str]]:
    """The top-level headers, cut at MAX_HEADER_BYTES (the parser itself has already used them all)."""
    items = msg.items()
    total = 0
    for index, (name, value) in enumerate(items):
        total += len(name) + len(str(value)) + 4
        if total > MAX_HEADER_BYTES:
            notes.add(f"header block over {MAX_HEADER_BYTES} bytes; {len(items) - index} header(s) dropped")
            return items[:index]
    return items


def _header_text(value: object, notes: _Notes | None = None, name: str = "") -> str:
    """8-bit bytes as UTF-8 (else latin-1), unfolded, RFC 2047 words decoded."""
    text = _unescape_8bit(str(value), notes, name)
    return _decode_words(_unfold(text))


def _unescape_8bit(value: str, notes: _Notes | None = None, name: str = "") -> str:
    # BytesParser hands raw 8-bit header bytes over as surrogate escapes; SMTPUTF8 mail is UTF-8.
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already real text (not from the byte parser)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if notes is not None:
            notes.add(f"header {name}: 8-bit bytes are not UTF-8; decoded as latin-1")
        return data.decode("latin-1")


def _unfold(value: str) -> str:
    return _FOLDING.sub("", value)


def _decode_words(value: str) -> str:
    if "=?" not in value:
        return value
    if len(value) <= _MODERN_HEADER_LIMIT:
        try:
            return str(_UNSTRUCTURED("x-decoded", value))
        except Exception:  # stdlib parser bug on hostile input: use the legacy decoder
            pass
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            # decode_header turns unencoded runs into raw-unicode-escape bytes; undo exactly that.
            out.append(_decode_bytes(chunk, "raw-unicode-escape"))
        else:
            out.append(_decode_bytes(chunk, charset.split("*", 1)[0]))
    return "".join(out)


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs from every occurrence; entries without an '@' are dropped."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        found = _modern_addresses(value) if len(value) <= _MODERN_HEADER_LIMIT else None
        if found is None:
            found = [(_decode_words(name), addr) for name, addr in getaddresses([value])]
        pairs.extend((name.strip(), addr.strip()) for name, addr in found if "@" in addr)
    return pairs


# Two or more encoded words with only whitespace between them.
_ENCODED_RUN = re.compile(r"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=(?:[ \t]+=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)+")


def _join_encoded_words(value: str) -> str:
    """Each run of adjacent encoded words as one word, for the stdlib's address parser.

    In a display name it keeps the whitespace between adjacent words (RFC 2047 §6.2 drops it: "日本語 テスト" for
    "日本語テスト") and decodes each word alone, garbling a character that a mailer split across two words. The
    unstructured decoder does both right, so a run is decoded with it and handed over re-encoded as one word.
    """
    def joined(run: re.Match[str]) -> str:
        text = _decode_words(run.group(0))
        return f"=?utf-8?b?{base64.b64encode(text.encode('utf-8', 'replace')).decode('ascii')}?="

    return _ENCODED_RUN.sub(joined, value) if "=?" in value else value


def _modern_addresses(value: str) -> list[tuple[str, str]] | None:
    try:
        header = _default_policy.header_factory("to", _join_encoded_words(value))
        return [(a.display_name or "", a.addr_spec or "") for a in header.addresses]
    except Exception:  # e.g. IndexError on "bob@" in 3.11; the legacy parser copes
        return None


def _display(name: str, addr: str) -> str:
    if not name:
        return addr
    if not _ADDRESS_SPECIALS.isdisjoint(name) or name != name.strip():
        name = f'"{_quote(name)}"'  # keeps the string round-trippable through parseaddr
    return f"{name} <{addr}>"


def _msg_ids(value: str) -> list[str]:
    ids = _MSG_ID.findall(value)
    if not ids:  # some mailers omit the angle brackets
        ids = _BARE_MSG_ID.findall(value)
    return [f"<{i}>" for i in ids if len(i) <= _MAX_MSG_ID]


def _parse_date(value: str) -> datetime | None:
    for parser in (parsedate_to_datetime, datetime.fromisoformat):  # some bulk mailers send ISO 8601
        try:
            parsed = parser(value.strip())
            if parsed.tzinfo is None:  # "-0000": time is UTC, zone unknown (RFC 5322 §3.3)
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except Exception:  # garbage raises TypeError/ValueError/IndexError/OverflowError by turns
            continue
    return None


# --------------------------------------------------------------------------------------------
# Body and attachments


def _fill_body(msg: Message, result: ParsedMessage, notes: _Notes) -> None:
    for path, leaf in _leaves(msg, notes):
        if not leaf.keys() and not isinstance(leaf.get_payload(), list) and not _raw_body(leaf):
            notes.add(f"part {path}: empty part without headers ignored")
            continue
        ctype = _content_type(leaf)
        filename = _filename(leaf)
        disposition = _disposition(leaf)
        if disposition != "attachment" and filename is None:
            if ctype == "text/plain" and result.text is None:
                result.text = _decode_text(leaf, notes, path)
                continue
            if ctype == "text/html" and result.html is None:
                result.html = _decode_text(leaf, notes, path, html=True)
                continue
            if ctype.startswith("multipart/") and result.text is None:
                notes.add(f"part {path}: multipart without parts; kept as text")
                result.text = _decode_text(leaf, notes, path)
                continue
        content_id = _content_id(leaf)
        result.attachments.append(
            ParsedAttachment(
                part=path,
                filename=filename,
                content_type=ctype,
                content_disposition=disposition or ("inline" if content_id else "attachment"),
                content_id=content_id,
                size=len(_leaf_bytes(leaf, notes, path)),
            )
        )
    if result.text is not None:
        result.preview = " ".join(result.text[: PREVIEW_CHARS * 50].split())[:PREVIEW_CHARS]
    result.extracted_text = extract_text(result.text)
    result.extracted_html = extract_html(result.html)


def _content_type(part: Message) -> str:
    # compat32 keeps comments and stray spaces ("text/plain (x)"); RFC 2045 §5.2 says an invalid
    # type means the default one.
    try:
        value = _COMMENT.sub("", part.get_content_type()).replace(" ", "").replace("\t", "")
        return value if _MIME_TYPE.fullmatch(value) else part.get_default_type()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    value = part.get("content-disposition")
    if value is None:
        return None
    kind = _unescape_8bit(str(value)).split(";", 1)[0].strip().lower()
    if not kind:
        return None
    # RFC 2183 §2.8: an unrecognised disposition type is treated as "attachment".
    return "inline" if kind == "inline" else "attachment"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()  # RFC 2231 (incl. continuations), then Content-Type name=
    except Exception:
        return None
    if name is None:
        return None
    # Outlook and Gmail put RFC 2047 words inside the quoted parameter, which RFC 2231 forbids.
    text = _decode_words(_unfold(_unescape_8bit(str(name)))).strip()
    return text or None


def _content_id(part: Message) -> str | None:
    value = part.get("content-id")
    if value is None:
        return None
    # "<id>" per RFC 2045; bare ids and doubled brackets are seen too.
    text = _unfold(_unescape_8bit(str(value))).strip(" \t<>")
    return text or None


def _leaf_bytes(part: Message, notes: _Notes, path: str) -> bytes:
    try:
        if part.get_content_maintype() == "message" and isinstance(part.get_payload(), list):
            return _message_part_bytes(part)
        _normalise_cte(part)
        payload = part.get_payload(decode=True)
    except Exception as exc:  # e.g. RecursionError serialising a deeply nested forward
        notes.add(f"part {path}: content could not be decoded ({type(exc).__name__})")
        return b""
    # Decoding records its own defects (bad base64 padding, ...) on the part.
    _note_defects(part, f"part {path}", notes)
    if isinstance(payload, bytes):
        if any(isinstance(d, errors.InvalidBase64LengthDefect) for d in part.defects):
            return _lenient_base64(part)
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _normalise_cte(part: Message) -> None:
    # compat32 compares the raw value, so " BASE64 " or "Base64 (comment)" would go undecoded.
    value = part.get("content-transfer-encoding")
    if value is None:
        return
    clean = _COMMENT.sub("", str(value)).strip().lower()
    if clean != value:
        part.replace_header("content-transfer-encoding", clean)


def _lenient_base64(part: Message) -> bytes:
    """Base64 whose length is not a multiple of 4 (truncated mail): decode the complete quanta."""
    clean = _B64_ALPHABET.sub(b"", _raw_body(part))
    return base64.b64decode(clean[: len(clean) // 4 * 4])


def _raw_body(part: Message) -> bytes:
    """The body exactly as received (still transfer-encoded).

    `get_payload()` re-decodes 8-bit text with replacement characters, which would lose bytes,
    so this reads the stored payload directly.
    """
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str):
        return b""
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # set programmatically with real text, not by the byte parser
        return payload.encode("utf-8", "surrogateescape")


def _message_part_bytes(part: Message) -> bytes:
    inner = part.get_payload()
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte in ("base64", "quoted-printable") and len(inner) == 1:
        # Illegal but common (Exchange): the parser read the encoded text as a header-less
        # message, so its body is the encoded form of the real message.
        holder = Message(policy=_POLICY)
        holder["Content-Transfer-Encoding"] = cte
        holder.set_payload(_raw_body(inner[0]).decode("ascii", "surrogateescape"))
        decoded = holder.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else b""
    chunks = []
    for sub in inner:
        buffer = BytesIO()
        BytesGenerator(buffer, mangle_from_=False, policy=_POLICY).flatten(sub)
        chunks.append(buffer.getvalue())
    return b"\r\n".join(chunks)


def _decode_text(part: Message, notes: _Notes, path: str, *, html: bool = False) -> str:
    data = _leaf_bytes(part, notes, path)
    charset = None
    try:
        charset = part.get_content_charset()
    except Exception:
        notes.add(f"part {path}: unreadable charset parameter")
    if charset is None and html:
        # HTML often declares its charset only in a <meta> tag.
        meta = _META_CHARSET.search(data[:4096])
        charset = meta.group(1).decode("ascii").lower() if meta else None
    text = _decode_bytes(data, charset, notes, path)
    return _NEWLINES.sub("\n", text)


def _decode_bytes(data: bytes, charset: str | None, notes: _Notes | None = None, where: str = "") -> str:
    """Declared charset (or its superset); on failure UTF-8; then the declared one with replacement."""
    codec = _codec(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError, TypeError, ValueError):
            pass
    elif charset and notes is not None:
        notes.add(f"part {where}: unknown charset {charset[:40]!r}; decoded as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec is not None:
        if notes is not None:
            notes.add(f"part {where}: bytes invalid in charset {charset!r}; undecodable bytes replaced")
        try:
            return data.decode(codec, errors="replace")
        except (UnicodeError, LookupError, TypeError, ValueError):
            pass
    return data.decode("utf-8", errors="replace")


_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"})


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = _CHARSET_SUPERSETS.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    # Reject bytes-to-bytes codecs ("base64", "zlib") and Python's own text transforms
    # ("unicode_escape" would interpret backslash escapes) that a hostile charset= could name.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


# --------------------------------------------------------------------------------------------
# Output hygiene


def _scrub(value: str) -> str:
    if _BAD_CHARS.search(value) is None:
        return value
    value = value.replace("\x00", "")
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _scrubbed(result: ParsedMessage) -> ParsedMessage:
    for name in (
        "message_id",
        "in_reply_to",
        "subject",
        "from_",
        "from_email",
        "text",
        "html",
        "extracted_text",
        "extracted_html",
        "preview",
    ):
        value = getattr(result, name)
        if isinstance(value, str):
            setattr(result, name, _scrub(value))
    for name in ("references", "to", "cc", "bcc", "reply_to"):
        setattr(result, name, [_scrub(v) for v in getattr(result, name)])
    result.headers = {_scrub(k): _scrub(v) for k, v in result.headers.items()}
    for attachment in result.attachments:
        if attachment.filename is not None:
            attachment.filename = _scrub(attachment.filename)
        if attachment.content_id is not None:
            attachment.content_id = _scrub(attachment.content_id)
        attachment.content_type = _scrub(attachment.content_type)
    return result
