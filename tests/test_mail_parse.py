"""Unit tests for the inbound MIME parser and reply extraction (no server needed)."""

from __future__ import annotations

import base64
import quopri
from datetime import UTC, datetime
from email.utils import parseaddr

import pytest
import quotequail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailparser_reply.parser import EmailMessage

from agentmail_server.mail import extract
from agentmail_server.mail.extract import extract_html, extract_text
from agentmail_server.mail.parse import (
    MAX_LEAF_PARTS,
    ParsedAttachment,
    ParsedMessage,
    attachment_bytes,
    parse,
)

from .corpus import PDF_BYTES, PNG_1PX, generate_corpus

CORPUS = generate_corpus()


def eml(text: str | bytes) -> bytes:
    """Test messages are written with "\\n"; the wire has CRLF."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


HEAD = "From: Alice <alice@example.com>\nTo: bob@example.org\nDate: Mon, 06 Jan 2025 10:00:00 +0000\n"


def simple(body: str, *, ctype: str = "text/plain; charset=utf-8", cte: str | None = None, extra: str = "") -> bytes:
    head = HEAD + "Subject: t\nMessage-ID: <t@x>\nMIME-Version: 1.0\n" + f"Content-Type: {ctype}\n" + extra
    if cte:
        head += f"Content-Transfer-Encoding: {cte}\n"
    return eml(head + "\n" + body)


def assert_sane(parsed: ParsedMessage) -> None:
    assert isinstance(parsed, ParsedMessage)
    strings = [parsed.from_, *parsed.to, *parsed.cc, *parsed.bcc, *parsed.reply_to, *parsed.references]
    strings += [*parsed.headers, *parsed.headers.values(), *parsed.defects]
    optional = [
        parsed.message_id,
        parsed.in_reply_to,
        parsed.subject,
        parsed.from_email,
        parsed.text,
        parsed.html,
        parsed.extracted_text,
        parsed.extracted_html,
        parsed.preview,
    ]
    for value in optional:
        assert value is None or isinstance(value, str)
    for value in strings + [v for v in optional if v is not None]:
        assert isinstance(value, str)
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates: the DB and JSON need valid UTF-8
    for msg_id in [parsed.message_id, parsed.in_reply_to, *parsed.references]:
        assert msg_id is None or (msg_id.startswith("<") and msg_id.endswith(">"))
    assert parsed.message_id not in parsed.references
    assert len(parsed.references) == len(set(parsed.references))
    assert parsed.date is None or parsed.date.utcoffset().total_seconds() == 0
    assert (parsed.preview is None) == (parsed.text is None)
    assert parsed.preview is None or len(parsed.preview) <= 200
    assert len(parsed.attachments) <= MAX_LEAF_PARTS
    for att in parsed.attachments:
        assert isinstance(att, ParsedAttachment)
        assert att.content_disposition in ("inline", "attachment")
        assert att.content_type == att.content_type.lower() and att.content_type.count("/") == 1
        assert att.size >= 0 and all(p.isdigit() for p in att.part.split("."))
        assert att.content_id is None or not att.content_id.startswith("<")
    assert not [d for d in parsed.defects if "internal error" in d or "could not be parsed" in d]


# --------------------------------------------------------------------------------------------
# Headers


def test_headers_addresses_and_subject() -> None:
    raw = eml(
        "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.DE>\n"
        'To: "Smith, John" <john@example.com>, jane@example.org\n'
        "To: =?utf-8?B?5byg5LiJ?= <zhang@example.cn>\n"
        "Cc: Team: a@example.org, b@example.org;, undisclosed-recipients:;\n"
        "Bcc: hidden@example.org\n"
        "Reply-To: Support <support@example.com>\n"
        "Subject: =?utf-8?B?5Lit5paH?=\n =?utf-8?Q?_and_more?= plain\n"
        "Subject: second subject loses\n"
        "Date: Mon, 6 Jan 2025 10:00:00 +0100\n"
        "Message-ID: <abc@host>\n"
        "X-Folded: one\n\ttwo\n"
        "\n"
        "Body\n"
    )
    parsed = parse(raw)
    assert parsed.from_ == "Jürgen Müller <Juergen@Example.DE>"
    assert parsed.from_email == "juergen@example.de"
    assert parsed.to == ['"Smith, John" <john@example.com>', "jane@example.org", "张三 <zhang@example.cn>"]
    assert parsed.cc == ["a@example.org", "b@example.org"]
    assert parsed.bcc == ["hidden@example.org"]
    assert parsed.reply_to == ["Support <support@example.com>"]
    assert parsed.subject == "中文 and more plain"
    assert parsed.date == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    assert parsed.message_id == "<abc@host>"
    assert parsed.headers["Subject"] == "中文 and more plain"
    assert parsed.headers["X-Folded"] == "one\ttwo"
    assert parsed.headers["To"] == '"Smith, John" <john@example.com>, jane@example.org'
    assert list(parsed.headers)[:3] == ["From", "To", "Cc"]
    assert parsed.text == "Body\n"
    assert parsed.defects == []
    assert_sane(parsed)


def test_header_names_keep_their_spelling() -> None:
    parsed = parse(eml("from: a@example.com\nX-lower-UPPER: v\nX-EMPTY:\n\nbody\n"))
    assert parsed.headers == {"from": "a@example.com", "X-lower-UPPER": "v", "X-EMPTY": ""}
    assert parsed.from_email == "a@example.com"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?UTF-8?B?SGVsbG8gV8O2cmxk?=", "Hello Wörld"),
        ("=?utf-8?q?Caf=C3=A9_au_lait?=", "Café au lait"),
        ("=?iso-8859-1?Q?caf=E9?= =?koi8-r?B?8NLJ18XU?=", "caféПривет"),
        ("=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=", "テスト"),
        ("=?gb2312?B?1tDOxA==?=", "中文"),
        ("=?utf-8?B?8J+agA==?= launch", "🚀 launch"),
        ("Re: =?utf-8?q?r=C3=A9sum=C3=A9?= ok", "Re: résumé ok"),
        ("=?utf-8?Q?a?==?utf-8?Q?b?=", "ab"),
        ("=?utf-8*en?q?tagged?=", "tagged"),
        ("=?utf-8?Q?never_ends", "=?utf-8?Q?never_ends"),
        ("=?x-klingon?Q?tlhIngan?= Hol", "tlhIngan Hol"),
        ("=?utf-8?B?/w==?= bad utf8", "\ufffd bad utf8"),
        ("  padded  ", "padded"),
    ],
)
def test_rfc2047_subjects(subject: str, expected: str) -> None:
    parsed = parse(eml(f"Subject: {subject}\n\nx\n"))
    assert parsed.subject == expected
    assert_sane(parsed)


def test_8bit_headers_utf8_then_latin1() -> None:
    utf8 = parse(eml("From: Jürgen <j@example.de>\nSubject: 会议 🚀\n\nx\n"))
    assert (utf8.subject, utf8.from_) == ("会议 🚀", "Jürgen <j@example.de>")
    latin = parse(b"From: J\xfcrgen <j@example.de>\r\nSubject: caf\xe9\r\n\r\nx\r\n")
    assert (latin.subject, latin.from_) == ("café", "Jürgen <j@example.de>")
    assert "header Subject: 8-bit bytes are not UTF-8; decoded as latin-1" in latin.defects


def test_nul_and_control_bytes_in_headers() -> None:
    parsed = parse(b"Subject: a\x00b\x07c\r\nFrom: x@example.com\r\n\r\nbo\x00dy\r\n")
    assert parsed.subject == "ab\x07c"
    assert parsed.headers["Subject"] == "ab\x07c"
    assert parsed.text == "body\n"


@pytest.mark.parametrize(
    ("name", "addr"),
    [
        ("Smith, John", "john@example.com"),
        ('Quote "Q" Back\\slash', "q@example.com"),
        ("Jürgen Müller", "j@example.de"),
        ("张三", "zhang@example.cn"),
        ("a.b", "ab@example.com"),
        ("(paren)", "p@example.com"),
    ],
)
def test_display_strings_round_trip_through_parseaddr(name: str, addr: str) -> None:
    encoded = "=?utf-8?B?" + base64.b64encode(name.encode()).decode() + "?="
    parsed = parse(eml(f"From: {encoded} <{addr}>\nTo: {encoded} <{addr}>\n\nx\n"))
    assert parseaddr(parsed.from_) == (name, addr)
    assert [parseaddr(v) for v in parsed.to] == [(name, addr)]


@pytest.mark.parametrize(
    ("header", "from_", "from_email"),
    [
        ("From: <Alice@Example.COM>\n", "Alice@Example.COM", "alice@example.com"),
        ("From: alice@example.com (Alice)\n", "alice@example.com", "alice@example.com"),
        ("From: Alice <a@x.org>, Bob <b@x.org>\n", "Alice <a@x.org>", "a@x.org"),
        ("From: MAILER-DAEMON (Mail Delivery System)\n", "MAILER-DAEMON (Mail Delivery System)", None),
        ("From: <>\n", "", None),
        ("From: bob@\n", "bob@", None),
        ("", "", None),
    ],
)
def test_from(header: str, from_: str, from_email: str | None) -> None:
    parsed = parse(eml(header + "Subject: s\n\nx\n"))
    assert (parsed.from_, parsed.from_email) == (from_, from_email)
    assert_sane(parsed)


def test_address_lists_drop_entries_without_address() -> None:
    parsed = parse(eml("To: bob, carol@example.org,, ,dave@example.org,\nCc: Bob Example\n\nx\n"))
    assert parsed.to == ["carol@example.org", "dave@example.org"]
    assert parsed.cc == []


def test_huge_address_list_uses_linear_parser() -> None:
    addrs = ", ".join(f"=?utf-8?q?User_{i}?= <user{i}@example.org>" for i in range(3000))
    parsed = parse(eml(f"To: {addrs}\n\nx\n"))
    assert len(parsed.to) == 3000
    assert parsed.to[1234] == "User 1234 <user1234@example.org>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 6 Jan 2025 10:00:00 +0100", datetime(2025, 1, 6, 9, 0, tzinfo=UTC)),
        ("Mon, 6 Jan 2025 10:00:00 -0000", datetime(2025, 1, 6, 10, 0, tzinfo=UTC)),
        ("Mon, 6 Jan 2025 10:00:00", datetime(2025, 1, 6, 10, 0, tzinfo=UTC)),
        ("Mon, 6 Jan 25 10:00:00 EST", datetime(2025, 1, 6, 15, 0, tzinfo=UTC)),
        ("mon, 6 jan 2025 10:00 +0000 (UTC)", datetime(2025, 1, 6, 10, 0, tzinfo=UTC)),
        ("2025-01-06T10:00:00+02:00", datetime(2025, 1, 6, 8, 0, tzinfo=UTC)),
        ("not a date", None),
        ("Sun, 30 Feb 2025 10:00:00 +0000", None),
        ("Mon, 6 Jan 2025 25:61:61 +0000", None),
        ("Fri, 31 Dec 9999 23:59:59 -1200", None),
        ("", None),
    ],
)
def test_dates(value: str, expected: datetime | None) -> None:
    parsed = parse(eml(f"Date: {value}\n\nx\n"))
    assert parsed.date == expected
    assert ("Date header unparseable" in parsed.defects) == (expected is None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@host>", "<abc@host>"),
        ("abc@host", "<abc@host>"),
        ("< spaced@host >", "<spaced@host>"),
        ("(comment) <c@host> (trailing)", "<c@host>"),
        ("<first@host> <second@host>", "<first@host>"),
        ("<no-at-sign>", "<no-at-sign>"),
        ("<>", None),
        ("not an id", None),
        ("", None),
        ("<" + "l" * 1000 + "@host>", None),
    ],
)
def test_message_id_normalisation(value: str, expected: str | None) -> None:
    parsed = parse(eml(f"Message-ID: {value}\n\nx\n"))
    assert parsed.message_id == expected
    assert ("Message-ID missing or unparseable" in parsed.defects) == (expected is None)


@pytest.mark.parametrize(
    ("in_reply_to", "references", "expected_irt", "expected_refs"),
    [
        ("<p@x>", "<a@x> <b@x>\n <p@x>", "<p@x>", ["<a@x>", "<b@x>", "<p@x>"]),
        ("<p1@x> <p2@x>", "", "<p1@x>", []),
        ("Your message of Mon, 6 Jan <p@x> (Bob)", "<a@x>", "<p@x>", ["<a@x>"]),
        ("<p@x>", "<a@x> <b@x> <a@x> <b@x> <c@x>", "<p@x>", ["<a@x>", "<b@x>", "<c@x>"]),
        ("<p@x>", "<a@x> <self@x> <b@x>", "<p@x>", ["<a@x>", "<b@x>"]),
        ("garbage", "junk <a@x> ,, ; <b@x> trailing <>", None, ["<a@x>", "<b@x>"]),
        ("p@x", "a@x b@x, c@x", "<p@x>", ["<a@x>", "<b@x>", "<c@x>"]),
        ("<p@x>", "<a@x>,<b@x>", "<p@x>", ["<a@x>", "<b@x>"]),
    ],
)
def test_threading_headers(
    in_reply_to: str, references: str, expected_irt: str | None, expected_refs: list[str]
) -> None:
    refs = f"References: {references}\n" if references else ""
    parsed = parse(eml(f"Message-ID: <self@x>\nIn-Reply-To: {in_reply_to}\n{refs}\nx\n"))
    assert parsed.in_reply_to == expected_irt
    assert parsed.references == expected_refs


def test_references_from_every_occurrence() -> None:
    parsed = parse(eml("References: <a@x>\nReferences: <b@x> <a@x>\n\nx\n"))
    assert parsed.references == ["<a@x>", "<b@x>"]


def test_missing_headers() -> None:
    parsed = parse(eml("X-Only: 1\n\nbody\n"))
    assert (parsed.message_id, parsed.subject, parsed.from_, parsed.from_email, parsed.date) == (
        None,
        None,
        "",
        None,
        None,
    )
    assert (parsed.to, parsed.cc, parsed.bcc, parsed.reply_to, parsed.references) == ([], [], [], [], [])
    assert parsed.defects == ["Message-ID missing or unparseable", "From header missing", "Date header missing"]
    assert parsed.text == "body\n"


def test_header_block_over_limit_is_cut() -> None:
    filler = "".join(f"X-Filler-{i}: {'f' * 900}\n" for i in range(1200))
    parsed = parse(eml("Subject: kept\n" + filler + "\nbody\n"))
    assert parsed.subject == "kept"
    assert "X-Filler-0" in parsed.headers
    assert "X-Filler-1199" not in parsed.headers
    assert any(d.startswith("header block over 1048576 bytes") for d in parsed.defects)
    assert parsed.text == "body\n"


# --------------------------------------------------------------------------------------------
# Bodies


@pytest.mark.parametrize(
    ("charset", "cte", "text"),
    [
        ("utf-8", "8bit", "naïve café ✓"),
        ("utf-8", "base64", "日本語 🚀"),
        ("iso-8859-1", "quoted-printable", "Café crème"),
        ("windows-1252", "quoted-printable", "“smart” – €"),
        ("iso-8859-2", "quoted-printable", "Zażółć gęślą jaźń"),
        ("koi8-r", "8bit", "Привет мир"),
        ("windows-1251", "base64", "Привет мир"),
        ("iso-8859-7", "quoted-printable", "Καλημέρα"),
        ("shift_jis", "base64", "日本語のテキスト"),
        ("iso-2022-jp", "7bit", "日本語のテキスト"),
        ("euc-kr", "base64", "한국어 본문"),
        ("gb2312", "base64", "简体中文"),
        ("gbk", "base64", "镕"),
        ("big5", "base64", "繁體中文"),
        ("utf-16", "base64", "UTF-16 ✓"),
    ],
)
def test_body_charsets(charset: str, cte: str, text: str) -> None:
    data = (text + "\n").encode(charset)
    if cte == "base64":
        body = base64.encodebytes(data)
    elif cte == "quoted-printable":
        body = quopri.encodestring(data)
    else:
        body = data
    head = eml(HEAD + f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n")
    parsed = parse(head + body)
    assert parsed.text == text + "\n"
    assert parsed.defects == ["Message-ID missing or unparseable"]


@pytest.mark.parametrize(
    ("charset", "body", "expected", "defect"),
    [
        ("x-no-such-charset", "café".encode(), "café", "part 1: unknown charset 'x-no-such-charset'; decoded as UTF-8"),
        ("us-ascii", "café".encode(), "café", None),
        (None, "café".encode(), "café", None),
        (
            "utf-8",
            "café".encode("latin-1"),
            "caf\ufffd",
            "part 1: bytes invalid in charset 'utf-8'; undecodable bytes replaced",
        ),
        ("base64", b"aGVsbG8=", "aGVsbG8=", "part 1: unknown charset 'base64'; decoded as UTF-8"),
        ("iso-8859-1", b"\x93quoted\x94", "“quoted”", None),
    ],
)
def test_charset_fallbacks(charset: str | None, body: bytes, expected: str, defect: str | None) -> None:
    ctype = f"text/plain; charset={charset}" if charset else "text/plain"
    parsed = parse(eml(f"Content-Type: {ctype}\n\n") + body)
    assert parsed.text == expected
    if defect:
        assert defect in parsed.defects


def test_html_charset_from_meta_tag() -> None:
    html = '<html><head><meta charset="windows-1251"></head><body>Привет</body></html>'
    parsed = parse(eml("Content-Type: text/html\n\n") + html.encode("cp1251"))
    assert parsed.html == html
    assert (parsed.text, parsed.preview) == (None, None)


def test_line_endings_normalised_in_bodies() -> None:
    assert parse(b"Subject: x\r\n\r\na\r\nb\r\n").text == "a\nb\n"
    assert parse(b"Subject: x\n\na\nb\n").text == "a\nb\n"
    assert parse(b"Subject: x\r\rone\rtwo\r").text == "one\ntwo\n"


def test_alternative_picks_plain_and_html() -> None:
    raw = eml(
        HEAD + 'Content-Type: multipart/alternative; boundary="A"\n\n'
        "--A\nContent-Type: text/html; charset=utf-8\n\n<p>html first</p>\n"
        "--A\nContent-Type: text/plain; charset=utf-8\n\nplain second\n"
        "--A\nContent-Type: text/enriched\n\n<bold>rich</bold>\n"
        "--A--\n"
    )
    parsed = parse(raw)
    assert parsed.text == "plain second"
    assert parsed.html == "<p>html first</p>"
    assert parsed.attachments == [ParsedAttachment("3", None, "text/enriched", "attachment", None, 17)]


def test_text_parts_marked_as_attachments_are_not_the_body() -> None:
    raw = eml(
        HEAD + 'Content-Type: multipart/mixed; boundary="M"\n\n'
        '--M\nContent-Type: text/plain\nContent-Disposition: attachment; filename="notes.txt"\n\nattached\n'
        '--M\nContent-Type: text/plain; name="named.txt"\n\nnamed\n'
        "--M\nContent-Type: text/plain\n\nthe body\n"
        "--M\nContent-Type: text/html\nContent-Disposition: attachment\n\n<p>page</p>\n"
        "--M--\n"
    )
    parsed = parse(raw)
    assert parsed.text == "the body"
    assert parsed.html is None
    assert [(a.part, a.filename, a.content_type, a.content_disposition) for a in parsed.attachments] == [
        ("1", "notes.txt", "text/plain", "attachment"),
        ("2", "named.txt", "text/plain", "attachment"),
        ("4", None, "text/html", "attachment"),
    ]


def test_preview() -> None:
    words = " ".join(f"w{i}" for i in range(200))
    parsed = parse(simple("  Hello,\n\n\tthis   is\r\n" + words + "\n"))
    assert parsed.preview == ("Hello, this is " + words)[:200]
    assert parse(simple("<p>x</p>", ctype="text/html")).preview is None
    assert parse(simple("")).preview == ""


# --------------------------------------------------------------------------------------------
# Attachments


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


def test_mixed_related_with_inline_image_and_attachments() -> None:
    csv = "name,city\r\nJosé,São Paulo".encode()  # canonical CRLF form, as QP text travels
    raw = eml(
        HEAD + 'Content-Type: multipart/mixed; boundary="MIX"\n\n'
        '--MIX\nContent-Type: multipart/alternative; boundary="ALT"\n\n'
        "--ALT\nContent-Type: text/plain; charset=utf-8\n\nLook: [logo]\n"
        '--ALT\nContent-Type: multipart/related; boundary="REL"\n\n'
        '--REL\nContent-Type: text/html; charset=utf-8\n\n<p><img src="cid:logo@x"></p>\n'
        "--REL\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n"
        + _b64(PNG_1PX)
        + "--REL--\n--ALT--\n"
        '--MIX\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="r.pdf"\n'
        "Content-Transfer-Encoding: base64\n\n" + _b64(PDF_BYTES) + "--MIX\n"
        "Content-Type: text/csv; charset=utf-8\nContent-Disposition: attachment; filename=people.csv\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + quopri.encodestring(csv).decode() + "\n--MIX\n"
        "Content-Type: application/octet-stream\n\n" + "--MIX--\n"
    )
    parsed = parse(raw)
    assert parsed.text == "Look: [logo]"
    assert parsed.html == '<p><img src="cid:logo@x"></p>'
    assert parsed.attachments == [
        ParsedAttachment("1.2.2", None, "image/png", "inline", "logo@x", len(PNG_1PX)),
        ParsedAttachment("2", "r.pdf", "application/pdf", "attachment", None, len(PDF_BYTES)),
        ParsedAttachment("3", "people.csv", "text/csv", "attachment", None, len(csv)),
        ParsedAttachment("4", None, "application/octet-stream", "attachment", None, 0),
    ]
    assert attachment_bytes(raw, "1.2.2") == PNG_1PX
    assert attachment_bytes(raw, "2") == PDF_BYTES
    assert attachment_bytes(raw, "3") == csv
    assert attachment_bytes(raw, "4") == b""
    assert attachment_bytes(raw, "1.1") == b"Look: [logo]"
    for missing in ("5", "1.2.3", "0", "", "x", "1.2.2.1"):
        assert attachment_bytes(raw, missing) is None


def test_binary_qp_attachment_is_byte_identical() -> None:
    # Every byte value except bare CR/LF, which QP text cannot carry (line breaks are CRLF).
    data = bytes(b for b in range(256) if b not in (10, 13)) * 4
    raw = eml(
        'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
        '--B\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="b.bin"\n'
        "Content-Transfer-Encoding: quoted-printable\n\n"
        + quopri.encodestring(data, quotetabs=True).decode()
        + "\n--B--\n"
    )
    parsed = parse(raw)
    assert parsed.attachments == [
        ParsedAttachment("2", "b.bin", "application/octet-stream", "attachment", None, len(data))
    ]
    assert attachment_bytes(raw, "2") == data


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("filename*0*=utf-8''%E6%8A%A5%E5%91%8A; filename*1*=%20final.pdf", "报告 final.pdf"),
        ('filename*0="long_name_"; filename*1="part_two.pdf"', "long_name_part_two.pdf"),
        ("filename*=iso-8859-1'fr'r%E9sum%E9.pdf", "résumé.pdf"),
        ('filename="=?UTF-8?B?0L7RgtGH0ZHRgi5wZGY=?="', "отчёт.pdf"),
        ('filename="=?utf-8?Q?r=C3=A9sum?= =?utf-8?Q?=C3=A9.pdf?="', "résumé.pdf"),
        ("filename*=utf-8''%F0%9F%93%8E%20clip.pdf", "📎 clip.pdf"),
        ("filename*=utf-8''evil%00.pdf", "evil.pdf"),
        ('filename="a \\"quoted\\"; name.pdf"', 'a "quoted"; name.pdf'),
        ('filename=""', None),
    ],
)
def test_rfc2231_and_rfc2047_filenames(params: str, expected: str | None) -> None:
    raw = eml(
        'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
        f"--B\nContent-Type: application/pdf\nContent-Disposition: attachment; {params}\n"
        "Content-Transfer-Encoding: base64\n\n" + _b64(PDF_BYTES) + "--B--\n"
    )
    parsed = parse(raw)
    assert [a.filename for a in parsed.attachments] == [expected]
    assert attachment_bytes(raw, "2") == PDF_BYTES


def test_raw_8bit_filenames_and_content_type_name() -> None:
    raw = (
        eml('Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n--B\n')
        + 'Content-Type: application/pdf; name="отчёт.pdf"\r\n\r\nx\r\n--B\r\n'.encode()
        + b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="r\xe9sum\xe9.pdf"\r\n\r\nx\r\n'
        + b"--B--\r\n"
    )
    assert [a.filename for a in parse(raw).attachments] == ["отчёт.pdf", "résumé.pdf"]


def test_default_dispositions_and_content_ids() -> None:
    raw = eml(
        'Content-Type: multipart/related; boundary="R"\n\n--R\nContent-Type: text/html\n\n<img src="cid:a">\n'
        "--R\nContent-Type: image/png\nContent-ID: a\n\npng\n"
        "--R\nContent-Type: image/png\nContent-ID: <>\n\npng\n"
        '--R\nContent-Type: application/pdf\nContent-Disposition: inline; filename="i.pdf"\n\npdf\n'
        "--R\nContent-Type: application/pdf\nContent-Disposition: x-weird\n\npdf\n"
        "--R\nContent-Type: image/png\nContent-ID: <b@x>\nContent-Disposition: attachment\n\npng\n"
        "--R--\n"
    )
    got = [(a.part, a.content_disposition, a.content_id) for a in parse(raw).attachments]
    assert got == [
        ("2", "inline", "a"),
        ("3", "attachment", None),
        ("4", "inline", None),
        ("5", "attachment", None),
        ("6", "attachment", "b@x"),
    ]


def test_forwarded_message_is_an_attachment() -> None:
    inner = eml(
        "From: Carol <carol@example.net>\nSubject: Inner subject\nContent-Type: multipart/mixed; boundary=I\n\n"
        "--I\nContent-Type: text/plain\n\nInner body.\n--I--\n"
    )
    raw = eml('Subject: Fwd\nContent-Type: multipart/mixed; boundary="O"\n\n--O\nContent-Type: text/plain\n\nFYI\n')
    raw += b"--O\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"--O--\r\n"
    parsed = parse(raw)
    assert parsed.text == "FYI"
    assert [(a.part, a.content_type) for a in parsed.attachments] == [("2", "message/rfc822")]
    data = attachment_bytes(raw, "2")
    assert data is not None and len(data) == parsed.attachments[0].size
    forwarded = parse(data)
    assert (forwarded.subject, forwarded.from_email, forwarded.text) == (
        "Inner subject",
        "carol@example.net",
        "Inner body.",
    )


def test_base64_encoded_rfc822_part_is_decoded() -> None:
    inner = eml("Subject: wrapped\n\nhello\n")
    raw = eml("Content-Type: multipart/mixed; boundary=O\n\n--O\nContent-Type: text/plain\n\nx\n")
    raw += eml("--O\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" + _b64(inner) + "--O--\n")
    assert attachment_bytes(raw, "2") == inner
    assert parse(raw).attachments[0].size == len(inner)


def test_attachment_bytes_on_garbage_never_raises() -> None:
    assert attachment_bytes(b"", "1") == b""
    assert attachment_bytes(b"\xff\x00garbage", "1") is not None
    assert attachment_bytes(b"\xff\x00garbage", "2") is None


# --------------------------------------------------------------------------------------------
# Malformed structure and limits


def test_wrong_boundary_is_recovered() -> None:
    raw = eml(
        'Subject: s\nContent-Type: multipart/mixed; boundary="declared"\n\n'
        "--actual\nContent-Type: text/plain\n\nBody text.\n"
        '--actual\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="a.pdf"\n'
        "Content-Transfer-Encoding: base64\n\n" + _b64(PDF_BYTES) + "--actual--\n"
    )
    parsed = parse(raw)
    assert parsed.text == "Body text."
    assert [(a.part, a.filename, a.size) for a in parsed.attachments] == [("2", "a.pdf", len(PDF_BYTES))]
    assert "multipart boundary not found; parts recovered using boundary 'actual'" in parsed.defects
    assert attachment_bytes(raw, "2") == PDF_BYTES


def test_multipart_without_parts_keeps_text() -> None:
    parsed = parse(eml('Content-Type: multipart/mixed; boundary="nope"\n\nJust text.\n'))
    assert parsed.text == "Just text.\n"
    assert parsed.attachments == []


def test_missing_close_boundary_and_truncated_base64() -> None:
    truncated = base64.b64encode(PDF_BYTES).decode()[:-3]
    raw = eml(
        'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
        '--B\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="t.pdf"\n'
        "Content-Transfer-Encoding: base64\n\n" + truncated + "\n"
    )
    parsed = parse(raw)
    assert parsed.text == "hi"
    data = attachment_bytes(raw, "2")
    assert data is not None and PDF_BYTES.startswith(data) and len(data) == len(PDF_BYTES) - 3
    assert parsed.attachments[0].size == len(data)
    assert any("CloseBoundaryNotFoundDefect" in d for d in parsed.defects)
    assert any("InvalidBase64LengthDefect" in d for d in parsed.defects)


@pytest.mark.parametrize(
    ("cte", "body", "expected"),
    [
        ("base64", "SGVsbG8g!!**V29y bGQ=", "Hello World"),
        ("base64", "SGVsbG8", "Hello"),
        ("base64", "SGVsbG8gV", "Hello "),
        ("quoted-printable", "bad =ZZ hex and soft=\nbreak =", "bad =ZZ hex and softbreak "),
        ("quoted-printable", "lower =c3=a9", "lower é"),
        ("x-unknown", "opaque", "opaque"),
        ("  BASE64 (comment) ", "SGk=", "Hi"),
        ("x-uuencode", "begin 644 f\n+:&5L;&\\@=V]R;&0*\n`\nend", "hello world"),
    ],
)
def test_broken_transfer_encodings(cte: str, body: str, expected: str) -> None:
    parsed = parse(simple(body, cte=cte))
    assert parsed.text.rstrip("\n") == expected
    assert_sane(parsed)


def test_part_and_depth_limits() -> None:
    parts = "".join(f"--B\nContent-Type: application/octet-stream\n\n{i}\n" for i in range(1100))
    parsed = parse(eml('Content-Type: multipart/mixed; boundary="B"\n\n' + parts + "--B--\n"))
    assert len(parsed.attachments) == 1000
    assert parsed.attachments[-1].part == "1000"
    assert "more than 1000 MIME parts; the rest ignored" in parsed.defects

    def nested(depth: int) -> bytes:
        body = "Content-Type: text/plain\n\nleaf\n"
        for level in range(depth, 0, -1):
            body = f'Content-Type: multipart/mixed; boundary="L{level}"\n\n--L{level}\n{body}--L{level}--\n'
        return eml(body)

    assert parse(nested(50)).text == "leaf"
    too_deep = parse(nested(51))
    assert too_deep.text is None
    assert "MIME nesting deeper than 50 levels; deeper parts ignored" in too_deep.defects
    # Deeper than the stdlib parser can recurse: headers survive, nothing raises.
    hostile = parse(b"Subject: deep\r\n" + nested(3000))
    assert hostile.subject == "deep"
    assert "MIME nesting too deep to parse; body left unparsed" in hostile.defects
    assert_sane(hostile)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b"Subject: only headers",
        b"Subject: x\r\nFrom: a@b.c\r\n",
        b"\x00" * 64,
        bytes(range(256)) * 8,
        b"--\r\n--\r\n--",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\r\n--",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"Content-Type: text/plain; charset*=''\r\n\r\nx",
        b"Content-Disposition: attachment; filename*0*=x; filename*1*=%\r\n\r\n",
        b"Subject: =?utf-8?b?=?=?=?=\r\n\r\n",
        b'From: "\\\r\n\r\n',
        b"\xff\xfe\x00S\x00u\x00b\x00j\x00",
    ],
)
def test_hostile_inputs_do_not_raise(raw: bytes) -> None:
    assert_sane(parse(raw))


def test_empty_and_headers_only_messages() -> None:
    empty = parse(b"")
    assert (empty.text, empty.html, empty.attachments, empty.headers) == (None, None, [], {})
    headers_only = parse(b"Subject: only headers\r\n")
    assert (headers_only.subject, headers_only.text, headers_only.preview) == ("only headers", "", "")


# --------------------------------------------------------------------------------------------
# Extraction of new content

REPLIES_TEXT = [
    (
        "Sounds good, see you then.\n\nOn Mon, Jan 6, 2025 at 10:00\u202fAM Alice Smith <alice@example.com> wrote:\n\n"
        "> Can we meet tomorrow?\n>\n> Alice\n",
        "Sounds good, see you then.",
    ),
    (
        "Sounds good.\n\nOn Mon, Jan 6, 2025 at 10:00 AM Alice Smith with a long name <\nalice@example.com> wrote:\n\n"
        "> Can we meet?\n",
        "Sounds good.",
    ),
    (
        "Thanks for the update.\n\n-----Original Message-----\nFrom: Bob Jones [mailto:bob@example.com]\n"
        "Sent: Monday, January 6, 2025 10:00 AM\nTo: Alice\nSubject: Status\n\nHere is the status.\n",
        "Thanks for the update.",
    ),
    (
        "Approved.\n\n________________________________\nFrom: Bob Jones <bob@example.com>\n"
        "Sent: Monday, January 6, 2025 10:00 AM\nTo: Alice <alice@example.com>\nSubject: RE: Budget\n\nPlease approve.\n",
        "Approved.",
    ),
    (
        "Approved.\n\nFrom: Bob Jones <bob@example.com>\nSent: Monday, January 6, 2025 10:00 AM\n"
        "To: Alice <alice@example.com>\nSubject: RE: Budget\n\nPlease approve.\n",
        "Approved.",
    ),
    (
        "Yes, that works.\n\nSent from my iPhone\n\n> On Jan 6, 2025, at 10:00, Alice Smith <alice@example.com> wrote:\n"
        "> \n> Does Tuesday work?\n",
        "Yes, that works.",
    ),
    (
        "Danke, passt.\n\nAm Mo., 6. Jan. 2025 um 10:00 Uhr schrieb Alice Schmidt <alice@example.de>:\n\n> Passt Dienstag?\n",
        "Danke, passt.",
    ),
    (
        "Danke.\n\nVon: Alice Schmidt <alice@example.de>\nGesendet: Montag, 6. Januar 2025 10:00\nAn: Bob\n"
        "Betreff: Termin\n\nPasst Dienstag?\n",
        "Danke.",
    ),
    (
        "Danke.\n\n-----Ursprüngliche Nachricht-----\nVon: Alice <alice@example.de>\nGesendet: Montag\nAn: Bob\n"
        "Betreff: Termin\n\nPasst Dienstag?\n",
        "Danke.",
    ),
    (
        "Merci, c'est parfait.\n\nLe lun. 6 janv. 2025 à 10:00, Alice Martin <alice@example.fr> a écrit :\n\n> Mardi ?\n",
        "Merci, c'est parfait.",
    ),
    (
        "Merci.\n\nDe : Alice Martin <alice@example.fr>\nEnvoyé : lundi 6 janvier 2025 10:00\nÀ : Bob\nObjet : RDV\n\n"
        "Mardi ?\n",
        "Merci.",
    ),
    (
        "Gracias, perfecto.\n\nEl lun, 6 ene 2025 a las 10:00, Alice García (<alice@example.es>) escribió:\n\n> ¿Martes?\n",
        "Gracias, perfecto.",
    ),
    (
        "Gracias.\n\nDe: Alice García <alice@example.es>\nEnviado: lunes, 6 de enero de 2025 10:00\nPara: Bob\n"
        "Asunto: Cita\n\n¿Martes?\n",
        "Gracias.",
    ),
    (
        "好的，没问题。\n\n在 2025年1月6日周一 10:00，Alice Wang <alice@example.cn> 写道：\n\n> 明天开会吗？\n",
        "好的，没问题。",
    ),
    ("好的。\n\nAlice Wang <alice@example.cn> 于2025年1月6日周一 10:00写道：\n\n> 明天开会吗？\n", "好的。"),
    (
        "收到。\n\n发件人: Alice Wang <alice@example.cn>\n发送时间: 2025年1月6日 10:00\n收件人: Bob\n主题: 会议\n\n明天开会吗？\n",
        "收到。",
    ),
    (
        "了解しました。\n\n2025年1月6日(月) 10:00 Alice Tanaka <alice@example.jp>:\n\n> 明日会議ですか？\n",
        "了解しました。",
    ),
    ("Hi Bob,\n\nThe report is attached.\n\n-- \nJohn Doe\nCEO, Example Inc.\n", "Hi Bob,\n\nThe report is attached."),
    ("Done.\n\n-- \nJohn\n\nOn Mon, Jan 6, 2025 at 10:00 AM Bob <bob@example.com> wrote:\n> Is it done?\n", "Done."),
    ("Reply text\n\n> quoted 1\n> quoted 2\n", "Reply text"),
    (
        "FYI\n\n---------- Forwarded message ---------\nFrom: Alice <alice@example.com>\nDate: Mon, Jan 6, 2025\n"
        "Subject: Hi\nTo: <bob@example.com>\n\nHello\n",
        "FYI",
    ),
    # Nothing to strip: content (including sign-offs, lists and interleaved answers) is kept.
    ("Just a message.\nWith two lines.\n\nThanks,\nJohn", "Just a message.\nWith two lines.\n\nThanks,\nJohn"),
    ("Todo:\n- one\n- two\nData: 5GB\nDo: this\n", "Todo:\n- one\n- two\nData: 5GB\nDo: this"),
    (
        "> Question one?\nAnswer one.\n\n> Question two?\nAnswer two.",
        "> Question one?\nAnswer one.\n\n> Question two?\nAnswer two.",
    ),
    ("> only quoted\n> text\n", "> only quoted\n> text"),
    ("  \n", "  \n"),
]


@pytest.mark.parametrize(("text", "expected"), REPLIES_TEXT)
def test_extract_text(text: str, expected: str) -> None:
    assert extract_text(text) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            '<div dir="ltr">Sounds good.<br></div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
            "On Mon, Jan 6, 2025 at 10:00 AM Alice &lt;alice@example.com&gt; wrote:<br></div>"
            '<blockquote class="gmail_quote">Can we meet?</blockquote></div>',
            '<div dir="ltr">Sounds good.<br></div><br>',
        ),
        (
            '<div dir="ltr">好的<br></div><div class="gmail_quote"><div class="gmail_attr">Alice 于2025年1月6日写道：</div>'
            '<blockquote class="gmail_quote">明天？</blockquote></div>',
            '<div dir="ltr">好的<br></div>',
        ),
        (
            '<div>Approved.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Bob<br>'
            "<b>Sent:</b> Monday</div><div>Please approve.</div>",
            "<div>Approved.</div>",
        ),
        (
            '<html><body dir="auto">Yes.<br><br><div dir="ltr">Sent from my iPhone</div>'
            '<blockquote type="cite"><div>On Jan 6, 2025, at 10:00, Alice wrote:</div><div>Tuesday?</div></blockquote>'
            "</body></html>",
            '<html><body dir="auto">Yes.<br><br></body></html>',
        ),
        (
            '<html><body><p>Fine by me.</p><div class="moz-cite-prefix">On 1/6/25 10:00 AM, Alice wrote:<br></div>'
            '<blockquote type="cite"><p>Tuesday?</p></blockquote></body></html>',
            "<html><body><p>Fine by me.</p></body></html>",
        ),
        (
            '<html><body><div class="WordSection1"><p class="MsoNormal">Approved.</p><div style="border:none;'
            'border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p class="MsoNormal"><b>From:</b> Bob<br>'
            "<b>Sent:</b> Monday<br><b>Subject:</b> Budget</p></div><p>Please approve.</p></div></body></html>",
            '<html><body><div class="WordSection1"><p class="MsoNormal">Approved.</p></div></body></html>',
        ),
        ("<div>Body text</div><div>-- <br>John Doe<br>CEO</div>", "<div>Body text</div><div></div>"),
        (
            '<div dir="ltr">Body<br><span class="gmail_signature_prefix">-- </span><br>'
            '<div class="gmail_signature">John</div></div>',
            '<div dir="ltr">Body<br><br></div>',
        ),
        ("<p>Hello <b>world</b></p><p>Second para</p>", "<p>Hello <b>world</b></p><p>Second para</p>"),
        ('<div class="gmail_quote">only a quote</div>', '<div class="gmail_quote">only a quote</div>'),
        ("", ""),
    ],
)
def test_extract_html(html: str, expected: str) -> None:
    assert extract_html(html) == expected


def test_extract_none_and_library_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    assert extract_text(None) is None
    assert extract_html(None) is None

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("library bug")

    monkeypatch.setattr(extract, "join_wrapped_lines", boom)
    monkeypatch.setattr(extract.quotequail, "quote_html", boom)
    text = "New\n\nOn Mon, Jan 6, 2025 Alice <a@x.com> wrote:\n> old\n"
    assert extract_text(text) == text
    assert extract_html("<p>x</p><blockquote type='cite'>old</blockquote>") == (
        "<p>x</p><blockquote type='cite'>old</blockquote>"
    )


def test_extraction_wired_into_parse() -> None:
    raw = eml(
        'Subject: Re: meeting\nContent-Type: multipart/alternative; boundary="A"\n\n'
        "--A\nContent-Type: text/plain; charset=utf-8\n\nYes.\n\nOn Mon, Jan 6, 2025 at 10:00 AM Alice <a@x.com> wrote:\n"
        "> Tuesday?\n--A\nContent-Type: text/html; charset=utf-8\n\n"
        '<div>Yes.</div><div class="gmail_quote">On Mon, Jan 6, 2025 Alice wrote:<blockquote>Tuesday?</blockquote></div>\n'
        "--A--\n"
    )
    parsed = parse(raw)
    assert parsed.text == "Yes.\n\nOn Mon, Jan 6, 2025 at 10:00 AM Alice <a@x.com> wrote:\n> Tuesday?"
    assert parsed.extracted_text == "Yes."
    assert parsed.extracted_html == "<div>Yes.</div>"
    assert parsed.preview == "Yes. On Mon, Jan 6, 2025 at 10:00 AM Alice <a@x.com> wrote: > Tuesday?"


def test_adversarial_reply_text_stays_fast() -> None:
    import time

    hostile = "\n".join("On " + "a " * 300 for _ in range(3000))
    started = time.monotonic()
    assert extract_text(hostile) == hostile.rstrip()
    assert time.monotonic() - started < 5


# The fast searches in extract.py must answer exactly what the libraries' own searches answer.

def _library_quote_cut(probe: list[str]) -> int | None:
    parts = quotequail.quote("\n".join(probe), limit=len(probe) + 1, quote_intro_line=True)
    return None if len(parts) < 2 else len(probe) - (parts[1][1].count("\n") + 1)


_HEADER_REGEX = EmailMessage(text="", languages=list(extract.LANGUAGES)).HEADER_REGEX
_REPLY_LINES = [
    "On Mon, Jan 6, 2025 at 10:00 AM Alice <a@x.com> wrote:", "On Mon, Jan 6, 2025 at 10:00 AM Alice",
    "<a@x.com> wrote:", "> On Tue Bob wrote:", "Am 6. Jan. schrieb Alice:", "Le lun. 6 janv. Alice a écrit :",
    "2025/1/6 Alice <a@x.com>", "---------- Forwarded message ---------", "Begin forwarded message:",
    "________________________________", "-----Original Message-----", "From: Bob <b@x.com>", "Sent: Monday",
    "To: Alice", "Subject: Re: x", "Von: Alice", "Gesendet: Montag", "An: Bob", "发件人: Alice", "主题: 会议",
    "xx-----Oprindelig meddelelse-----", "-----Oprindelig meddelelse-----", "Fra: Bob", "Til: Alice",
    "Emne: Hej", "> quoted", ">", "", "  ", "Hello there.", "Thanks,", "-- ", "Sent from my iPhone",
    "a:b", "http://example.com/x", "Data: 5GB", "*From:* Bob", "> > From: Bob",
]


@pytest.mark.parametrize("text", [t for t, _ in REPLIES_TEXT]
                         + [p.text for p in (parse(raw) for _, raw in CORPUS) if p.text] + [
    # The Danish header may start mid-line, at its separator; a wrapped attribution; quoted headers.
    "Tak.\nxx-----Oprindelig meddelelse-----\nFra: Bob\nTil: Alice\nEmne: Hej\n\nold",
    "Ok.\n\nOn Mon, Jan 6, 2025 at 10:00 AM Alice\n<a@x.com> wrote:\n> old",
    "Ok.\n> > From: Bob\n> > Sent: Monday\n> > To: Alice\n",
])
def test_fast_quote_searches_agree_with_the_libraries(text: str) -> None:
    probe = text.replace("\r\n", "\n").split("\n")
    assert extract._quotequail_cut(probe) == _library_quote_cut(probe)
    joined = "\n".join(line.strip() for line in probe)
    assert [m.span() for m in extract._header_matches(_HEADER_REGEX, joined)] == [
        m.span() for m in _HEADER_REGEX.finditer(joined)]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_REPLY_LINES), st.text(max_size=30)), max_size=25))
def test_fast_quote_searches_agree_on_random_lines(lines: list[str]) -> None:
    probe = "\n".join(lines).split("\n")
    assert extract._quotequail_cut(probe) == _library_quote_cut(probe)
    text = "\n".join(lines)
    assert [m.span() for m in extract._header_matches(_HEADER_REGEX, text)] == [
        m.span() for m in _HEADER_REGEX.finditer(text)]


# --------------------------------------------------------------------------------------------
# Corpus


def test_corpus_shape() -> None:
    names = [name for name, _ in CORPUS]
    assert len(CORPUS) >= 220
    assert len(names) == len(set(names))
    for name, raw in CORPUS:
        assert raw.endswith(b"\r\n"), name
        if not name.startswith("oversize_"):
            longest = max(len(line) for line in raw.split(b"\r\n"))
            assert longest <= 998, (name, longest)
    assert generate_corpus() == CORPUS  # deterministic


@pytest.mark.parametrize(("name", "raw"), CORPUS, ids=[name for name, _ in CORPUS])
def test_corpus_message_parses(name: str, raw: bytes) -> None:
    parsed = parse(raw)
    assert_sane(parsed)
    # Each call re-parses the whole message: sample the ends of very long attachment lists.
    for att in parsed.attachments[:20] + parsed.attachments[20:][-5:]:
        data = attachment_bytes(raw, att.part)
        assert data is not None and len(data) == att.size, (name, att)


def test_corpus_spot_checks() -> None:
    by_name = {name: parse(raw) for name, raw in CORPUS}
    assert by_name["subject_b_japanese"].subject == "来週の会議について（重要）"
    assert by_name["utf8_headers_russian"].from_ == "Расписание в <sender@example.com>"
    assert by_name["charset_iso_2022_jp"].text == "日本語のテキストです。\n"
    assert by_name["rfc2231_continuation_utf8"].attachments[0].filename == "报告书— final.pdf"
    assert by_name["mixed_alternative_related"].attachments[0].part == "1.2.2"
    assert [a.content_type for a in by_name["dsn_delivery_status"].attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]
    assert by_name["calendar_in_alternative"].attachments[0].content_type == "text/calendar"
    assert [a.content_type for a in by_name["multipart_digest"].attachments] == ["message/rfc822"] * 3
    assert by_name["reply_outlook_en"].extracted_html == "<div>Approved.</div>"
    assert by_name["reply_chinese_outlook"].extracted_text == "收到。"
    assert by_name["bare_cr_only"].text == "line one\nline two\n"
    assert by_name["huge_header_block"].subject == "huge header block"


# --------------------------------------------------------------------------------------------
# Properties

_SEEDS = [raw for _, raw in CORPUS if len(raw) < 20_000]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(raw: bytes) -> None:
    assert_sane(parse(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 40), st.binary(max_size=16)), max_size=12),
)
def test_mutated_corpus_never_raises(seed: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = bytearray(seed)
    for position, cut, insert in edits:
        at = position % (len(data) + 1)
        data[at : at + cut] = insert
    raw = bytes(data)
    parsed = parse(raw)
    assert_sane(parsed)
    for att in parsed.attachments[:10]:
        fetched = attachment_bytes(raw, att.part)
        assert fetched is not None and len(fetched) == att.size
