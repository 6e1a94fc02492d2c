"""A deterministic corpus of malformed and unusual messages for the inbound parser (and SMTP tests).

`generate_corpus()` builds every message in code (no files, no network) and returns
`(name, raw_bytes)` pairs. Every message ends with CRLF. Lines stay within SMTP's 998 bytes except
in messages whose name starts with `oversize_`; messages named `bare_lf_*`/`bare_cr_*` contain
bare LF/CR line ends on purpose (strict SMTP servers refuse those).
"""

from __future__ import annotations

import base64
import quopri
import random
from collections.abc import Callable, Iterable

DATE = "Mon, 06 Jan 2025 10:00:00 +0000"
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

# Subjects and bodies in many scripts: (key, text).
SCRIPTS: list[tuple[str, str]] = [
    ("chinese_simplified", "关于下周会议的安排"),
    ("chinese_traditional", "關於下週會議的安排"),
    ("japanese", "来週の会議について（重要）"),
    ("korean", "다음 주 회의 일정 안내"),
    ("arabic", "جدول اجتماع الأسبوع القادم"),
    ("hebrew", "לוח הזמנים של הפגישה בשבוע הבא"),
    ("persian", "برنامه جلسه هفته آینده"),
    ("russian", "Расписание встречи на следующей неделе"),
    ("ukrainian", "Розклад зустрічі на наступному тижні"),
    ("greek", "Πρόγραμμα συνάντησης την επόμενη εβδομάδα"),
    ("thai", "กำหนดการประชุมสัปดาห์หน้า"),
    ("hindi", "अगले सप्ताह की बैठक का कार्यक्रम"),
    ("bengali", "পরের সপ্তাহের সভার সময়সূচি"),
    ("tamil", "அடுத்த வார கூட்ட அட்டவணை"),
    ("georgian", "შემდეგი კვირის შეხვედრის განრიგი"),
    ("armenian", "Հաջորդ շաբաթվա հանդիպման ժամանակացույց"),
    ("vietnamese", "Lịch họp tuần tới"),
    ("turkish", "Gelecek haftaki toplantı programı — ğüşiöç"),
    ("polish", "Harmonogram spotkania w przyszłym tygodniu — zażółć gęślą jaźń"),
    ("czech", "Příliš žluťoučký kůň úpěl ďábelské ódy"),
    ("german", "Terminübersicht für nächste Woche — Grüße"),
    ("french", "Ordre du jour de la réunion — à bientôt, Noël"),
    ("spanish", "Agenda de la reunión — ¿mañana? ¡sí!"),
    ("portuguese", "Agenda da reunião — ação, coração"),
    ("icelandic", "Dagskrá fundarins í næstu viku — þð"),
    ("amharic", "የሚቀጥለው ሳምንት ስብሰባ መርሃ ግብር"),
    ("khmer", "កាលវិភាគប្រជុំសប្តាហ៍ក្រោយ"),
    ("burmese", "နောက်အပတ် အစည်းအဝေး အစီအစဉ်"),
    ("sinhala", "ඊළඟ සතියේ රැස්වීම් කාලසටහන"),
    ("tibetan", "བོད་ཡིག་ཚིག་གྲུབ།"),
    ("mongolian", "Дараа долоо хоногийн уулзалтын хуваарь"),
    ("emoji", "Launch day 🚀🎉 — ready? ✅ 👩‍👩‍👧‍👦 🏳️‍🌈"),
    ("emoji_only", "🔥🔥🔥"),
    ("math_symbols", "∀x∈ℝ: x² ≥ 0 ∧ ∑ᵢ aᵢ ≤ ∞"),
    ("combining", "Ame\u0301lie Zoe\u0308 n\u0303"),
    ("zero_width", "zero\u200bwidth\u200cjoin\u200dtest\ufeff"),
    ("bidi_mixed", "Invoice \u202efdp.exe\u202c for شركة"),
    ("astral_cjk", "𠜎𠜱𠝹𠱓 rare ideographs"),
]


class _Corpus:
    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.names: set[str] = set()

    def add(self, name: str, raw: bytes | str, *, normalise: bool = True) -> None:
        assert name not in self.names, name
        data = _crlf(raw) if normalise else (raw if isinstance(raw, bytes) else raw.encode())
        if not data.endswith(b"\r\n"):
            data = data + b"\r\n"
        self.names.add(name)
        self.items.append((name, data))


def _crlf(data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _qp(data: bytes) -> str:
    return quopri.encodestring(data).decode("ascii")


def _enc_word(text: str, charset: str = "utf-8", kind: str = "B") -> str:
    raw = text.encode(charset)
    if kind == "B":
        # Split into <= 45-byte chunks on character boundaries so each word stays short.
        words, chunk = [], ""
        for char in text:
            if len((chunk + char).encode(charset)) > 45:
                words.append(chunk)
                chunk = ""
            chunk += char
        words.append(chunk)
        return "\n ".join(f"=?{charset}?B?{base64.b64encode(w.encode(charset)).decode()}?=" for w in words if w)
    encoded = "".join("_" if b == 0x20 else chr(b) if chr(b).isalnum() and b < 0x80 else f"={b:02X}" for b in raw)
    return f"=?{charset}?Q?{encoded}?="


def _head(
    name: str,
    *,
    subject: str | None = None,
    sender: str | None = "Alice Example <alice@example.com>",
    to: str | None = "Bob Example <bob@example.org>",
    extra: Iterable[str] = (),
    date: str | None = DATE,
    mime: bool = True,
) -> str:
    lines = []
    if sender is not None:
        lines.append(f"From: {sender}")
    if to is not None:
        lines.append(f"To: {to}")
    lines.append(f"Subject: {subject if subject is not None else name.replace('_', ' ')}")
    if date is not None:
        lines.append(f"Date: {date}")
    lines.append(f"Message-ID: <{name}@corpus.example>")
    if mime:
        lines.append("MIME-Version: 1.0")
    lines.extend(extra)
    return "\n".join(lines) + "\n"


def _text_msg(name: str, body: str = "Hello.\n", *, ctype: str = "text/plain; charset=utf-8", **kw: object) -> str:
    extra = [f"Content-Type: {ctype}", *kw.pop("extra", ())]  # type: ignore[misc]
    return _head(name, extra=extra, **kw) + "\n" + body  # type: ignore[arg-type]


def _multipart(name: str, parts: list[str], *, subtype: str = "mixed", boundary: str = "BOUNDARY", **kw: object) -> str:
    extra = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"', *kw.pop("extra", ())]  # type: ignore[misc]
    return _head(name, extra=extra, **kw) + "\n" + _body(parts, boundary)  # type: ignore[arg-type]


def _body(parts: list[str], boundary: str, *, preamble: str = "", epilogue: str = "") -> str:
    out = preamble
    for part in parts:
        out += f"--{boundary}\n{part}\n"
    return out + f"--{boundary}--\n" + epilogue


def _part(ctype: str, body: str, *headers: str) -> str:
    return "\n".join([f"Content-Type: {ctype}", *headers]) + "\n\n" + body


def _attachment(ctype: str, filename_params: str, data: bytes, disposition: str = "attachment") -> str:
    return _part(
        ctype,
        _b64(data),
        f"Content-Disposition: {disposition}; {filename_params}",
        "Content-Transfer-Encoding: base64",
    )


def _nested(depth: int, leaf: str) -> str:
    """A multipart/mixed body nested `depth` levels deep around `leaf`."""
    inner = leaf
    for level in range(depth, 0, -1):
        inner = _part(f'multipart/mixed; boundary="L{level}"', _body([inner], f"L{level}"))
    return inner


# --------------------------------------------------------------------------------------------


def _scripts(c: _Corpus) -> None:
    for index, (key, text) in enumerate(SCRIPTS):
        body = f"{text}\n\n{text} — body line two.\n"
        c.add(f"subject_b_{key}", _text_msg(f"subject_b_{key}", body, subject=_enc_word(text)))
        if index % 3 == 0:
            c.add(f"subject_q_{key}", _text_msg(f"subject_q_{key}", body, subject=_enc_word(text, kind="Q")))
        if index % 3 == 1:
            # SMTPUTF8 / RFC 6532: raw UTF-8 in headers, including the display name.
            c.add(
                f"utf8_headers_{key}",
                _text_msg(
                    f"utf8_headers_{key}",
                    body,
                    subject=text,
                    sender=f"{text[:12]} <sender@example.com>",
                    extra=["Content-Transfer-Encoding: 8bit"],
                ),
            )
        if index % 3 == 2:
            c.add(
                f"body_b64_{key}",
                _text_msg(
                    f"body_b64_{key}",
                    _b64(body.encode()),
                    subject=_enc_word(text),
                    extra=["Content-Transfer-Encoding: base64"],
                ),
            )


LEGACY = [
    ("iso-2022-jp", "日本語のテキストです。", "7bit"),
    ("shift_jis", "日本語のテキスト（シフトJIS）", "base64"),
    ("euc-jp", "日本語のテキスト（EUC）", "base64"),
    ("gb2312", "简体中文邮件正文", "base64"),
    ("gbk", "简体中文邮件正文，包含生僻字：镕", "base64"),
    ("gb18030", "中文 GB18030 正文 𠜎", "base64"),
    ("big5", "繁體中文郵件內容", "base64"),
    ("euc-kr", "한국어 메일 본문입니다", "base64"),
    ("koi8-r", "Текст письма в KOI8-R", "quoted-printable"),
    ("windows-1251", "Текст письма в Windows-1251", "quoted-printable"),
    ("iso-8859-5", "Текст письма в ISO-8859-5", "quoted-printable"),
    ("iso-8859-7", "Κείμενο σε ISO-8859-7", "quoted-printable"),
    ("iso-8859-8", "טקסט בעברית", "quoted-printable"),
    ("windows-1256", "نص عربي", "quoted-printable"),
    ("tis-620", "ข้อความภาษาไทย", "base64"),
    ("iso-8859-2", "Zażółć gęślą jaźń", "quoted-printable"),
    ("windows-1252", "Smart “quotes” – and € sign", "quoted-printable"),
    ("iso-8859-1", "Café crème brûlée", "8bit"),
    ("iso-8859-15", "Prix: 10 € net", "quoted-printable"),
    ("utf-16", "UTF-16 body with BOM ✓", "base64"),
    ("utf-7", "UTF-7 body: +AKM-1", "7bit"),
]


def _legacy(c: _Corpus) -> None:
    for charset, text, cte in LEGACY:
        data = (text + "\n").encode(charset) if charset != "utf-7" else (text + "\n").encode("ascii")
        if cte == "base64":
            body = _b64(data)
        elif cte == "quoted-printable":
            body = _qp(data)
        else:
            body = data.decode("latin-1")
        name = f"charset_{charset.replace('-', '_')}"
        subject = _enc_word(text, charset if charset not in ("utf-16", "utf-7") else "utf-8")
        raw = _head(name, subject=subject, extra=[f"Content-Type: text/plain; charset={charset}"])
        raw += f"Content-Transfer-Encoding: {cte}\n\n"
        c.add(name, raw.encode("ascii") + _crlf(body.encode("latin-1")))


def _charset_trouble(c: _Corpus) -> None:
    utf8 = "naïve café — ünïcödé ✓\n".encode()
    latin = "naïve café\n".encode("latin-1")
    cases = [
        ("charset_unknown", "x-no-such-charset", utf8),
        ("charset_garbage_name", '"utf-8; format=flowed"', utf8),
        ("charset_empty", "", utf8),
        ("charset_ascii_but_utf8", "us-ascii", utf8),
        ("charset_utf8_but_latin1", "utf-8", latin),
        ("charset_bytes_codec_base64", "base64", b"aGVsbG8=\n"),
        ("charset_bytes_codec_zlib", "zlib", b"not zlib\n"),
        ("charset_rot13", "rot13", b"uryyb\n"),
        ("charset_idna", "idna", b"xn--bcher-kva\n"),
        ("charset_unicode_escape", "unicode-escape", b"bad \\x escape \\N{nope}\n"),
        ("charset_very_long_name", "x-" + "a" * 300, utf8),
        ("charset_non_ascii_name", "ütf-8", utf8),
    ]
    for name, charset, data in cases:
        head = _head(name, extra=[f"Content-Type: text/plain; charset={charset}", "Content-Transfer-Encoding: 8bit"])
        c.add(name, head.encode("utf-8") + b"\n" + data)
    head = _head("charset_rfc2231_param", extra=["Content-Type: text/plain; charset*=us-ascii'en'utf-8"])
    c.add("charset_rfc2231_param", head.encode() + b"\n" + utf8)
    html = '<html><head><meta charset="windows-1251"></head><body>Привет</body></html>\n'.encode("cp1251")
    c.add(
        "html_meta_charset_only",
        _head("html_meta_charset_only", extra=["Content-Type: text/html"]).encode() + b"\n" + html,
    )
    c.add(
        "utf8_bom_body",
        _head("utf8_bom_body", extra=["Content-Type: text/plain; charset=utf-8"]).encode()
        + b"\n\xef\xbb\xbfBOM first\n",
    )
    c.add("no_content_type_8bit", _head("no_content_type_8bit", mime=False).encode() + b"\nCaf\xc3\xa9 without MIME\n")


def _transfer_encodings(c: _Corpus) -> None:
    good = b"The quick brown fox jumps over the lazy dog.\n" * 3
    b64 = base64.b64encode(good).decode()
    cases = {
        "b64_invalid_chars": b64[:20] + "!!**??" + b64[20:],
        "b64_missing_padding": b64.rstrip("="),
        "b64_truncated_quad": b64[:-3],
        "b64_whitespace_inside": " ".join(b64[i : i + 7] for i in range(0, len(b64), 7)),
        "b64_padding_in_middle": b64[:16] + "==" + b64[16:],
        "b64_only_garbage": "%%%% not base64 at all %%%%",
        "b64_empty": "",
        "b64_single_char": "Q",
        "b64_long_line_998": (base64.b64encode(b"x" * 747)).decode()[:996],
    }
    for name, body in cases.items():
        c.add(name, _text_msg(name, body + "\n", extra=["Content-Transfer-Encoding: base64"]))
    qp_cases = {
        "qp_bad_hex": "Bad hex =ZZ and =G1 and =\n",
        "qp_lone_equals_at_end": "ends with equals =",
        "qp_soft_break_eof": "soft break at eof=\n",
        "qp_lowercase_hex": "lower =c3=a9 case\n",
        "qp_eight_bit_raw": "raw \xe9 byte in qp\n",
        "qp_trailing_whitespace": "trailing spaces   \nand tabs\t\t\n",
        "qp_soft_breaks_everywhere": "".join(f"w{i}=\n" for i in range(200)) + "\n",
    }
    for name, body in qp_cases.items():
        head = _head(
            name, extra=["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"]
        )
        c.add(name, head.encode() + b"\n" + body.encode("latin-1"))
    others = {
        "cte_unknown": ("x-unknown-encoding", "opaque text\n"),
        "cte_binary": ("binary", "binary declared\n"),
        "cte_uppercase_spaces": ("  BASE64  ", base64.b64encode(b"spaced cte\n").decode() + "\n"),
        "cte_uuencode": ("x-uuencode", "begin 644 f.txt\n+:&5L;&\\@=V]R;&0*\n`\nend\n"),
        "cte_uuencode_broken": ("x-uuencode", "begin 644 f.txt\n!!!garbage\nend\n"),
        "cte_7bit_with_8bit": ("7bit", "declared 7bit but caf\xc3\xa9\n"),
        "cte_empty": ("", "empty cte\n"),
    }
    for name, (cte, body) in others.items():
        head = _head(name, extra=["Content-Type: text/plain; charset=utf-8", f"Content-Transfer-Encoding: {cte}"])
        c.add(name, head.encode() + b"\n" + body.encode("latin-1"))
    two = _head(
        "cte_duplicate",
        extra=[
            "Content-Type: text/plain",
            "Content-Transfer-Encoding: base64",
            "Content-Transfer-Encoding: quoted-printable",
        ],
    )
    c.add("cte_duplicate", two + "\n" + base64.b64encode(b"which one?\n").decode() + "\n")
    html_b64 = _part(
        "text/html; charset=utf-8", _b64(b"<p>base64 <b>html</b></p>\n"), "Content-Transfer-Encoding: base64"
    )
    c.add(
        "html_base64_part",
        _multipart("html_base64_part", [_part("text/plain", "plain\n"), html_b64], subtype="alternative"),
    )


def _boundaries(c: _Corpus) -> None:
    text = _part("text/plain; charset=utf-8", "Body text.\n")
    pdf = _attachment("application/pdf", 'filename="a.pdf"', PDF_BYTES)
    c.add(
        "boundary_param_missing",
        _head("boundary_param_missing", extra=["Content-Type: multipart/mixed"]) + "\n" + _body([text, pdf], "GUESS"),
    )
    c.add(
        "boundary_wrong",
        _head("boundary_wrong", extra=['Content-Type: multipart/mixed; boundary="declared"'])
        + "\n"
        + _body([text, pdf], "actual"),
    )
    c.add(
        "boundary_never_used",
        _head("boundary_never_used", extra=['Content-Type: multipart/mixed; boundary="nope"'])
        + "\nJust text, no parts.\n",
    )
    c.add("boundary_no_close", _multipart("boundary_no_close", [text, pdf]).replace("--BOUNDARY--\n", ""))
    c.add(
        "boundary_no_close_truncated_b64",
        _multipart("boundary_no_close_truncated_b64", [text, pdf]).rsplit("\n", 4)[0] + "\n",
    )
    specials = "=_?:()+,./'=_Part_0_12345.67890"
    c.add("boundary_special_chars", _multipart("boundary_special_chars", [text, pdf], boundary=specials))
    c.add("boundary_spaces_quoted", _multipart("boundary_spaces_quoted", [text, pdf], boundary="with spaces inside"))
    c.add("boundary_too_long", _multipart("boundary_too_long", [text, pdf], boundary="B" * 120))
    inner = _part('multipart/alternative; boundary="AB"', _body([text, _part("text/html", "<p>x</p>\n")], "AB"))
    c.add("boundary_prefix_of_inner", _multipart("boundary_prefix_of_inner", [inner, pdf], boundary="A"))
    same = _part('multipart/alternative; boundary="SAME"', _body([text, _part("text/html", "<p>x</p>\n")], "SAME"))
    c.add("boundary_reused_nested", _multipart("boundary_reused_nested", [same, pdf], boundary="SAME"))
    c.add(
        "boundary_trailing_whitespace",
        _multipart("boundary_trailing_whitespace", [text, pdf]).replace("--BOUNDARY\n", "--BOUNDARY  \t\n"),
    )
    c.add(
        "boundary_preamble_epilogue",
        _head("boundary_preamble_epilogue", extra=['Content-Type: multipart/mixed; boundary="P"'])
        + "\n"
        + _body([text, pdf], "P", preamble="This is a MIME message.\n\n", epilogue="\nEpilogue text.\n"),
    )
    c.add(
        "multipart_no_parts",
        _head("multipart_no_parts", extra=['Content-Type: multipart/mixed; boundary="E"']) + "\n--E--\n",
    )
    c.add(
        "multipart_empty_body",
        _head("multipart_empty_body", extra=['Content-Type: multipart/mixed; boundary="E"']) + "\n",
    )
    c.add("multipart_empty_part", _multipart("multipart_empty_part", ["", text, ""]))
    c.add("multipart_part_no_headers", _multipart("multipart_part_no_headers", ["\nheaderless part body\n", text]))
    c.add(
        "boundary_in_body_text",
        _multipart("boundary_in_body_text", [_part("text/plain", "mentions --BOUNDARYX inline\n--BOUNDARYX\n"), pdf]),
    )
    c.add("multipart_alternative_single", _multipart("multipart_alternative_single", [text], subtype="alternative"))
    c.add("multipart_unknown_subtype", _multipart("multipart_unknown_subtype", [text, pdf], subtype="x-custom"))
    c.add(
        "multipart_no_blank_after_headers",
        _multipart("multipart_no_blank_after_headers", ["Content-Type: text/plain\nno blank line"]),
    )


def _nesting(c: _Corpus) -> None:
    leaf = _part("text/plain; charset=utf-8", "deep leaf\n")
    for depth in (3, 10, 49, 50, 51, 60):
        name = f"nested_multipart_depth_{depth}"
        c.add(name, _head(name) + _nested(depth, leaf))
    fwd = _text_msg("innermost", "innermost forwarded body\n")
    for level in range(5):
        fwd = (
            _head(f"fwd_level_{level}", extra=[f'Content-Type: multipart/mixed; boundary="F{level}"'])
            + "\n"
            + _body([_part("text/plain", f"forward level {level}\n"), _part("message/rfc822", fwd)], f"F{level}")
        )
    c.add("nested_rfc822_5_deep", fwd)
    # Apple/Outlook shape: mixed(alternative(text, related(html, image)), attachment)
    related = _part(
        'multipart/related; boundary="REL"',
        _body(
            [
                _part("text/html; charset=utf-8", '<p>Look: <img src="cid:logo@corpus"></p>\n'),
                _part(
                    "image/png",
                    _b64(PNG_1PX),
                    "Content-ID: <logo@corpus>",
                    "Content-Transfer-Encoding: base64",
                    'Content-Disposition: inline; filename="logo.png"',
                ),
            ],
            "REL",
        ),
    )
    alt = _part('multipart/alternative; boundary="ALT"', _body([_part("text/plain", "Look: [logo]\n"), related], "ALT"))
    c.add(
        "mixed_alternative_related",
        _multipart("mixed_alternative_related", [alt, _attachment("application/pdf", 'filename="r.pdf"', PDF_BYTES)]),
    )
    many = [
        _part("text/plain", f"part {i}\n", f'Content-Disposition: attachment; filename="p{i}.txt"') for i in range(1100)
    ]
    c.add("parts_1100_leaves", _multipart("parts_1100_leaves", [_part("text/plain", "body\n"), *many]))
    exact = [_part("application/octet-stream", f"{i}\n") for i in range(999)]
    c.add("parts_1000_leaves", _multipart("parts_1000_leaves", [_part("text/plain", "body\n"), *exact]))
    wide = _part('multipart/mixed; boundary="W"', _body([_nested(2, leaf) for _ in range(30)], "W"))
    c.add("wide_and_nested", _multipart("wide_and_nested", [wide, wide.replace('"W"', '"W2"').replace("--W", "--W2")]))


def _attachments(c: _Corpus) -> None:
    text = _part("text/plain; charset=utf-8", "See attached.\n")
    att: dict[str, str] = {
        "rfc2231_continuation_utf8": "filename*0*=utf-8''%E6%8A%A5%E5%91%8A%E4%B9%A6; filename*1*=%E2%80%94%20final.pdf",
        "rfc2231_continuation_plain": 'filename*0="long_file_name_part_one_"; filename*1="part_two.pdf"',
        "rfc2231_language_tag": "filename*=iso-8859-1'fr'r%E9sum%E9.pdf",
        "rfc2231_unknown_charset": "filename*=x-bogus''%E9t%E9.pdf",
        "rfc2231_out_of_order": "filename*1*=%20two.pdf; filename*0*=utf-8''part",
        "rfc2231_missing_segment": "filename*0=first; filename*2=third.pdf",
        "rfc2231_bad_percent": "filename*=utf-8''bad%ZZ%e.pdf",
        "rfc2047_in_filename": 'filename="=?UTF-8?B?0L7RgtGH0ZHRgi5wZGY=?="',
        "rfc2047_split_filename": 'filename="=?utf-8?Q?r=C3=A9sum?= =?utf-8?Q?=C3=A9.pdf?="',
        "path_traversal_filename": 'filename="../../etc/passwd"',
        "windows_path_filename": 'filename="C:\\\\Users\\\\me\\\\report.pdf"',
        "rtlo_filename": "filename*=utf-8''invoice%E2%80%AEfdp.exe",
        "nul_in_filename": "filename*=utf-8''evil%00.pdf",
        "newline_in_filename": "filename*=utf-8''line%0D%0Abreak.pdf",
        "emoji_filename": "filename*=utf-8''%F0%9F%93%8E%20clip.pdf",
        "quotes_semicolon_filename": 'filename="a \\"quoted\\"; name.pdf"',
        "unquoted_spaces_filename": "filename=my report final.pdf",
        "empty_filename": 'filename=""',
        "very_long_filename": ";\n ".join(f'filename*{i}="{"x" * 200}"' for i in range(5)),
    }
    for name, params in att.items():
        c.add(name, _multipart(name, [text, _attachment("application/pdf", params, PDF_BYTES)]))
    raw8 = _multipart(
        "utf8_raw_filename", [text, _attachment("application/pdf", 'filename="отчёт 報告.pdf"', PDF_BYTES)]
    )
    c.add("utf8_raw_filename", raw8)
    latin = _multipart("latin1_raw_filename", [text, "LATIN1_PLACEHOLDER"])
    head, tail = latin.encode().split(b"LATIN1_PLACEHOLDER")
    part = _attachment("application/pdf", 'filename="r\xe9sum\xe9.pdf"', PDF_BYTES).encode("latin-1")
    c.add("latin1_raw_filename", head + part + tail)
    c.add(
        "name_in_content_type_only",
        _multipart(
            "name_in_content_type_only",
            [text, _part('application/pdf; name="ct-name.pdf"', _b64(PDF_BYTES), "Content-Transfer-Encoding: base64")],
        ),
    )
    c.add(
        "name_and_filename_differ",
        _multipart(
            "name_and_filename_differ",
            [
                text,
                _part(
                    'application/pdf; name="ct.pdf"',
                    _b64(PDF_BYTES),
                    'Content-Disposition: attachment; filename="cd.pdf"',
                    "Content-Transfer-Encoding: base64",
                ),
            ],
        ),
    )
    c.add(
        "no_filename_no_disposition",
        _multipart(
            "no_filename_no_disposition",
            [text, _part("application/octet-stream", _b64(b"\x00\x01\x02"), "Content-Transfer-Encoding: base64")],
        ),
    )
    c.add(
        "zero_length_attachment",
        _multipart(
            "zero_length_attachment",
            [
                text,
                _part(
                    "application/octet-stream",
                    "",
                    'Content-Disposition: attachment; filename="empty.bin"',
                    "Content-Transfer-Encoding: base64",
                ),
            ],
        ),
    )
    c.add(
        "zero_length_text_attachment",
        _multipart(
            "zero_length_text_attachment",
            [text, _part("text/plain", "", 'Content-Disposition: attachment; filename="empty.txt"')],
        ),
    )
    c.add(
        "text_attachment_disposition",
        _multipart(
            "text_attachment_disposition",
            [
                text,
                _part(
                    "text/plain; charset=utf-8",
                    "attached notes\n",
                    'Content-Disposition: attachment; filename="notes.txt"',
                ),
            ],
        ),
    )
    c.add(
        "html_attachment",
        _multipart(
            "html_attachment",
            [
                text,
                _part("text/html", "<p>attached page</p>\n", 'Content-Disposition: attachment; filename="page.html"'),
            ],
        ),
    )
    c.add(
        "inline_pdf_with_filename",
        _multipart(
            "inline_pdf_with_filename",
            [text, _attachment("application/pdf", 'filename="inline.pdf"', PDF_BYTES, "inline")],
        ),
    )
    c.add(
        "disposition_unknown_type",
        _multipart(
            "disposition_unknown_type", [text, _attachment("application/pdf", 'filename="x.pdf"', PDF_BYTES, "x-weird")]
        ),
    )
    c.add(
        "disposition_params_only",
        _multipart(
            "disposition_params_only",
            [
                text,
                _part(
                    "application/pdf",
                    _b64(PDF_BYTES),
                    'Content-Disposition: ; filename="p.pdf"',
                    "Content-Transfer-Encoding: base64",
                ),
            ],
        ),
    )
    c.add(
        "disposition_duplicate",
        _multipart(
            "disposition_duplicate",
            [
                text,
                _part(
                    "application/pdf",
                    _b64(PDF_BYTES),
                    'Content-Disposition: inline; filename="one.pdf"',
                    'Content-Disposition: attachment; filename="two.pdf"',
                    "Content-Transfer-Encoding: base64",
                ),
            ],
        ),
    )
    img = lambda cid: _part("image/png", _b64(PNG_1PX), *([cid] if cid else []), "Content-Transfer-Encoding: base64")  # noqa: E731
    html = _part("text/html", '<p><img src="cid:img1@corpus"> <img src="cid:img2"></p>\n')
    c.add(
        "related_cid_images",
        _multipart(
            "related_cid_images", [html, img("Content-ID: <img1@corpus>"), img("Content-ID: img2")], subtype="related"
        ),
    )
    c.add("related_no_cid", _multipart("related_no_cid", [html, img(None)], subtype="related"))
    c.add(
        "related_content_location",
        _multipart(
            "related_content_location", [html, img("Content-Location: http://example.com/logo.png")], subtype="related"
        ),
    )
    c.add("related_cid_empty", _multipart("related_cid_empty", [html, img("Content-ID: <>")], subtype="related"))
    c.add(
        "winmail_dat",
        _multipart(
            "winmail_dat",
            [text, _attachment("application/ms-tnef", 'filename="winmail.dat"', b"\x78\x9f\x3e\x22" + bytes(60))],
        ),
    )
    c.add(
        "zip_attachment",
        _multipart(
            "zip_attachment", [text, _attachment("application/zip", 'filename="a.zip"', b"PK\x05\x06" + bytes(18))]
        ),
    )
    c.add(
        "attachment_no_content_type",
        _multipart(
            "attachment_no_content_type",
            [
                text,
                'Content-Disposition: attachment; filename="noct.bin"\nContent-Transfer-Encoding: base64\n\n'
                + _b64(b"abc"),
            ],
        ),
    )
    c.add(
        "attachment_8bit_binary_body",
        _multipart(
            "attachment_8bit_binary_body",
            [
                text,
                _part(
                    "application/octet-stream",
                    "RAW_BIN",
                    'Content-Disposition: attachment; filename="raw.bin"',
                    "Content-Transfer-Encoding: binary",
                ),
            ],
        ).replace("RAW_BIN", "".join(chr(i) for i in range(14, 256) if i not in (10, 13))),
    )
    qp_att = _part(
        "text/csv; charset=utf-8",
        _qp("name,city\nJosé,São Paulo\n".encode()),
        'Content-Disposition: attachment; filename="people.csv"',
        "Content-Transfer-Encoding: quoted-printable",
    )
    c.add("qp_csv_attachment", _multipart("qp_csv_attachment", [text, qp_att]))
    c.add(
        "data_uri_image_html",
        _text_msg(
            "data_uri_image_html",
            f'<p><img src="data:image/png;base64,{base64.b64encode(PNG_1PX).decode()}"></p>\n',
            ctype="text/html",
        ),
    )


ICS = """BEGIN:VCALENDAR
PRODID:-//Corpus//EN
VERSION:2.0
METHOD:{method}
BEGIN:VEVENT
UID:evt-{uid}@corpus.example
DTSTART:20250110T150000Z
DTEND:20250110T160000Z
SUMMARY:{summary}
ORGANIZER;CN=Alice:mailto:alice@example.com
ATTENDEE;CN=Bob;RSVP=TRUE:mailto:bob@example.org
END:VEVENT
END:VCALENDAR
"""


def _calendar(c: _Corpus) -> None:
    request = ICS.format(method="REQUEST", uid=1, summary="Planning")
    c.add(
        "calendar_in_alternative",
        _multipart(
            "calendar_in_alternative",
            [
                _part("text/plain", "You are invited.\n"),
                _part("text/html", "<p>You are invited.</p>\n"),
                _part("text/calendar; charset=utf-8; method=REQUEST", request),
            ],
            subtype="alternative",
        ),
    )
    c.add(
        "calendar_ics_attachment",
        _multipart(
            "calendar_ics_attachment",
            [
                _part("text/plain", "Invite attached.\n"),
                _part(
                    "application/ics",
                    _b64(request.encode()),
                    'Content-Disposition: attachment; filename="invite.ics"',
                    "Content-Transfer-Encoding: base64",
                ),
            ],
        ),
    )
    utf8 = ICS.format(method="REQUEST", uid=2, summary="Réunion 会议 🗓️")
    c.add(
        "calendar_utf8_summary",
        _multipart(
            "calendar_utf8_summary",
            [
                _part("text/plain", "Invitation\n"),
                _part(
                    "text/calendar; charset=utf-8; method=REQUEST",
                    _b64(utf8.encode()),
                    "Content-Transfer-Encoding: base64",
                ),
            ],
        ),
    )
    c.add(
        "calendar_cancel",
        _multipart(
            "calendar_cancel",
            [
                _part("text/plain", "Cancelled.\n"),
                _part("text/calendar; method=CANCEL", ICS.format(method="CANCEL", uid=1, summary="Planning")),
            ],
            subtype="alternative",
        ),
    )
    c.add(
        "calendar_only_body",
        _text_msg("calendar_only_body", request, ctype="text/calendar; method=REQUEST; charset=utf-8"),
    )
    c.add(
        "calendar_outlook_shape",
        _multipart(
            "calendar_outlook_shape",
            [
                _part(
                    'multipart/alternative; boundary="CALALT"',
                    _body(
                        [
                            _part("text/plain", "When: Friday\n"),
                            _part("text/html", "<p>When: Friday</p>\n"),
                            _part(
                                "text/calendar; charset=utf-8; method=REQUEST",
                                _b64(request.encode()),
                                "Content-Transfer-Encoding: base64",
                            ),
                        ],
                        "CALALT",
                    ),
                ),
                _part(
                    'application/ics; name="invite.ics"',
                    _b64(request.encode()),
                    'Content-Disposition: attachment; filename="invite.ics"',
                    "Content-Transfer-Encoding: base64",
                ),
            ],
        ),
    )


def _reports(c: _Corpus) -> None:
    original = _text_msg(
        "bounced_original", "The original message.\n", sender="Bob <bob@example.org>", to="nobody@nowhere.example"
    )
    status = (
        "Reporting-MTA: dns; mx.example.org\nArrival-Date: "
        + DATE
        + "\n\nFinal-Recipient: rfc822; nobody@nowhere.example\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n"
    )
    c.add(
        "dsn_delivery_status",
        _multipart(
            "dsn_delivery_status",
            [
                _part("text/plain", "Delivery to nobody@nowhere.example failed.\n"),
                _part("message/delivery-status", status),
                _part("message/rfc822", original),
            ],
            subtype="report; report-type=delivery-status",
            sender="MAILER-DAEMON@example.org (Mail Delivery System)",
        ),
    )
    c.add(
        "dsn_rfc822_headers",
        _multipart(
            "dsn_rfc822_headers",
            [
                _part("text/plain", "Delayed.\n"),
                _part("message/delivery-status", status.replace("failed", "delayed")),
                _part("text/rfc822-headers", original.split("\n\n")[0] + "\n"),
            ],
            subtype="report; report-type=delivery-status",
            sender="<>",
        ),
    )
    c.add(
        "dsn_global",
        _multipart(
            "dsn_global",
            [
                _part("text/plain", "Failed.\n"),
                _part("message/global-delivery-status", status.replace("nobody@", "пользователь@")),
                _part("message/global", original.replace("Subject: bounced original", "Subject: тема")),
            ],
            subtype="report; report-type=delivery-status",
        ),
    )
    arf = (
        "Feedback-Type: abuse\nUser-Agent: Corpus/1.0\nVersion: 1\nOriginal-Mail-From: <bob@example.org>\nArrival-Date: "
        + DATE
        + "\nSource-IP: 192.0.2.1\n"
    )
    c.add(
        "arf_feedback_report",
        _multipart(
            "arf_feedback_report",
            [
                _part("text/plain", "This is an abuse report.\n"),
                _part("message/feedback-report", arf),
                _part("message/rfc822", original),
            ],
            subtype="report; report-type=feedback-report",
        ),
    )
    c.add(
        "bounce_plain_postfix",
        _text_msg(
            "bounce_plain_postfix",
            "This is the mail system at host mx.example.org.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n<nobody@nowhere.example>: host mx.nowhere.example said: 550 5.1.1\n    User unknown (in reply to RCPT TO command)\n",
            sender="MAILER-DAEMON (Mail Delivery System)",
            extra=["Auto-Submitted: auto-replied"],
        ),
    )
    c.add(
        "mdn_read_receipt",
        _multipart(
            "mdn_read_receipt",
            [
                _part("text/plain", "Your message was displayed.\n"),
                _part(
                    "message/disposition-notification",
                    "Reporting-UA: corpus.example; Corpus\nFinal-Recipient: rfc822; bob@example.org\nDisposition: manual-action/MDN-sent-manually; displayed\n",
                ),
            ],
            subtype="report; report-type=disposition-notification",
        ),
    )
    c.add(
        "auto_reply_headers",
        _text_msg(
            "auto_reply_headers",
            "I am out of office until Monday.\n",
            subject="Automatic reply: Hello",
            extra=[
                "Auto-Submitted: auto-replied",
                "X-Autoreply: yes",
                "Precedence: auto_reply",
                "X-Auto-Response-Suppress: All",
            ],
        ),
    )
    c.add(
        "mailing_list_headers",
        _text_msg(
            "mailing_list_headers",
            "List post.\n",
            subject="[dev] Release notes",
            extra=[
                "List-Id: Developers <dev.lists.example.org>",
                "List-Unsubscribe: <mailto:unsub@example.org>, <https://example.org/u/1>",
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                "Precedence: list",
            ],
        ),
    )


def _forwards(c: _Corpus) -> None:
    inner = _multipart(
        "forwarded_inner",
        [_part("text/plain", "Inner body.\n"), _attachment("application/pdf", 'filename="inner.pdf"', PDF_BYTES)],
        boundary="INNER",
    )
    text = _part("text/plain", "FYI, see below.\n")
    c.add(
        "rfc822_with_attachment",
        _multipart(
            "rfc822_with_attachment",
            [text, _part("message/rfc822", inner, 'Content-Disposition: attachment; filename="forwarded.eml"')],
        ),
    )
    c.add(
        "rfc822_inline",
        _multipart("rfc822_inline", [text, _part("message/rfc822", inner, "Content-Disposition: inline")]),
    )
    c.add(
        "rfc822_base64_encoded",
        _multipart(
            "rfc822_base64_encoded",
            [text, _part("message/rfc822", _b64(_crlf(inner)), "Content-Transfer-Encoding: base64")],
        ),
    )
    c.add("rfc822_empty", _multipart("rfc822_empty", [text, _part("message/rfc822", "")]))
    c.add(
        "rfc822_garbage",
        _multipart("rfc822_garbage", [text, _part("message/rfc822", "this is not\na message at all\x01\x02\n")]),
    )
    c.add("rfc822_only_part", _multipart("rfc822_only_part", [_part("message/rfc822", inner)]))
    c.add("top_level_rfc822", _text_msg("top_level_rfc822", inner, ctype="message/rfc822"))
    c.add(
        "message_global_utf8",
        _multipart(
            "message_global_utf8",
            [
                text,
                _part(
                    "message/global",
                    _text_msg("global_inner", "Привет\n", subject="Тема письма", sender="Иван <иван@пример.рф>"),
                ),
            ],
        ),
    )
    # Digest entries have an empty header block: their type defaults to message/rfc822.
    digest = _body(["\n" + _text_msg(f"digest_{i}", f"digest entry {i}\n") for i in range(3)], "DIG")
    c.add(
        "multipart_digest",
        _head("multipart_digest", extra=['Content-Type: multipart/digest; boundary="DIG"']) + "\n" + digest,
    )
    c.add(
        "inline_forward_text",
        _text_msg(
            "inline_forward_text",
            "FYI\n\n---------- Forwarded message ---------\nFrom: Carol <carol@example.net>\nDate: Sun, Jan 5, 2025 at 9:00 AM\nSubject: Original\nTo: <alice@example.com>\n\nOriginal text.\n",
        ),
    )
    c.add(
        "message_partial",
        _multipart(
            "message_partial",
            [text, _part('message/partial; id="abc@corpus"; number=1; total=2', "Subject: part 1\n\nfirst half\n")],
        ),
    )
    c.add(
        "message_external_body",
        _multipart(
            "message_external_body",
            [
                text,
                _part(
                    'message/external-body; access-type=URL; URL="https://example.com/file.bin"',
                    "Content-Type: application/octet-stream\n\n",
                ),
            ],
        ),
    )


def _headers(c: _Corpus) -> None:
    body = "\nHeader test body.\n"
    c.add("missing_from", _head("missing_from", sender=None) + body)
    c.add("missing_date", _head("missing_date", date=None) + body)
    c.add("missing_to", _head("missing_to", to=None) + body)
    c.add(
        "missing_message_id",
        _head("missing_message_id").replace("Message-ID: <missing_message_id@corpus.example>\n", "") + body,
    )
    c.add("missing_subject", _head("missing_subject").replace("Subject: missing subject\n", "") + body)
    c.add("missing_everything", "X-Only: this\n" + body)
    c.add("no_headers_at_all", "Just a body line without any header.\nSecond line.\n")
    c.add("only_headers_no_body", _head("only_headers_no_body"))
    c.add("only_headers_no_blank_line", _head("only_headers_no_blank_line").rstrip("\n"))
    c.add("only_one_header", "Subject: lonely\n")
    c.add("empty_message", "")
    c.add("only_blank_lines", "\n\n\n")
    c.add("header_without_colon", _head("header_without_colon") + "This line has no colon\nX-After: value\n" + body)
    c.add("space_before_colon", _head("space_before_colon").replace("Subject:", "Subject :") + body)
    c.add("continuation_first_line", " leading continuation\n" + _head("continuation_first_line") + body)
    c.add(
        "nul_in_header_value",
        (_head("nul_in_header_value").replace("Subject: nul in header value", "Subject: nul\x00inside") + body),
    )
    c.add("nul_in_header_name", _head("nul_in_header_name") + "X-Bad\x00Name: v\n" + body)
    c.add(
        "latin1_8bit_headers",
        _head("latin1_8bit_headers", extra=["Content-Type: text/plain; charset=iso-8859-1"])
        .encode()
        .replace(b"Subject: latin1 8bit headers", b"Subject: caf\xe9 cr\xe8me")
        .replace(b"Alice Example", b"Al\xefce")
        + b"\nbody \xe9\n",
    )
    c.add(
        "control_chars_in_headers", _head("control_chars_in_headers", subject="bell\x07 tab\t esc\x1b del\x7f") + body
    )
    malformed = {
        "ew_unknown_charset": "=?x-klingon?Q?tlhIngan?= Hol",
        "ew_bad_base64": "=?utf-8?B?@@@not-base64@@@?= tail",
        "ew_short_base64": "=?utf-8?B?Q?=",
        "ew_missing_terminator": "=?utf-8?Q?never_ends",
        "ew_inside_word": "pre=?utf-8?Q?mid?=post",
        "ew_with_spaces": "=?utf-8?Q?has spaces inside?=",
        "ew_empty_text": "=?utf-8?B??= empty",
        "ew_nested": "=?utf-8?Q?=3D=3Futf-8=3FQ=3Finner=3F=3D?=",
        "ew_invalid_utf8": "=?utf-8?B?/w==?= invalid",
        "ew_mixed_charsets": "=?iso-8859-1?Q?caf=E9?= =?koi8-r?B?8NLJ18XU?= =?utf-8?B?8J+Ygw==?=",
        "ew_language_tag": "=?utf-8*en-US?Q?tagged?=",
        "ew_lowercase_markers": "=?UTF-8?b?bG93ZXI=?= =?utf-8?q?case?=",
        "ew_many_words": " ".join(_enc_word(f"w{i}", kind="Q") for i in range(60)),
        "ew_adjacent_no_space": "=?utf-8?Q?a?==?utf-8?Q?b?=",
        "ew_in_address_quoted": None,
    }
    for name, subject in malformed.items():
        if subject is None:
            c.add(name, _head(name, sender='"=?utf-8?Q?Quoted_=C3=A9ncoded?=" <q@example.com>') + body)
            continue
        lines, out = subject.split(" "), []
        line = ""
        for word in lines:  # fold long subjects so each physical line stays short
            if len(line) + len(word) > 70 and line:
                out.append(line)
                line = " " + word
            else:
                line = f"{line} {word}" if line else word
        out.append(line)
        c.add(name, _head(name, subject="\n".join(out)) + body)
    dup = (
        _head("duplicate_headers")
        + "Subject: second subject\nFrom: Second <second@example.com>\nDate: Tue, 07 Jan 2025 10:00:00 +0000\nMessage-ID: <second@corpus.example>\nTo: extra@example.org\n"
    )
    c.add("duplicate_headers", dup + body)
    refs = " ".join(f"<ref{i}@corpus.example>" for i in range(500))
    folded = "\n ".join(refs[i : i + 900] for i in range(0, len(refs), 900))
    c.add("references_500_folded", _head("references_500_folded", extra=[f"References: {folded}"]) + body)
    c.add("header_line_998", _head("header_line_998", extra=["X-Long: " + "y" * (998 - len("X-Long: "))]) + body)
    c.add(
        "received_200",
        _head(
            "received_200",
            extra=[f"Received: from relay{i}.example by relay{i + 1}.example; {DATE}" for i in range(200)],
        )
        + body,
    )
    dkim = (
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;\n\th=from:to:subject:date:message-id;\n\tbh="
        + "A" * 44
        + ";\n\tb="
        + "\n\t ".join(["B" * 76] * 5)
    )
    c.add("dkim_folded", _head("dkim_folded", extra=[dkim]) + body)
    c.add("empty_subject", _head("empty_subject", subject="") + body)
    c.add("whitespace_subject", _head("whitespace_subject", subject="   \t  ") + body)
    c.add(
        "folded_subject_many_lines",
        _head("folded_subject_many_lines", subject="\n ".join(f"segment{i}" for i in range(40))) + body,
    )
    c.add(
        "weird_header_names",
        _head(
            "weird_header_names",
            extra=["x-lower-case: a", "X-UPPER-CASE: b", "X-Dots.And_Under: c", "X-Empty:", "X-Trailing-Space:   "],
        )
        + body,
    )
    c.add("utf8_header_name", _head("utf8_header_name", extra=["X-Ünïcode: value"]) + body)
    c.add("emoji_8bit_x_header", _head("emoji_8bit_x_header", extra=["X-Mood: 😀 happy"]) + body)
    c.add(
        "header_value_very_long_unfolded",
        _head("header_value_very_long_unfolded", extra=["X-Big: " + " ".join(["token"] * 150)]) + body,
    )
    c.add(
        "huge_header_block",
        _head("huge_header_block") + "".join(f"X-Filler-{i}: {'f' * 900}\n" for i in range(1200)) + body,
    )


MESSAGE_IDS = {
    "msgid_no_brackets": "Message-ID: bare-id@corpus.example",
    "msgid_two_ids": "Message-ID: <first@corpus.example> <second@corpus.example>",
    "msgid_with_spaces": "Message-ID: < spaced@corpus.example >",
    "msgid_empty_brackets": "Message-ID: <>",
    "msgid_garbage": "Message-ID: not an id at all",
    "msgid_comment": "Message-ID: (comment) <commented@corpus.example> (trailing)",
    "msgid_very_long": "Message-ID: <" + "l" * 900 + "@corpus.example>",
    "msgid_no_at": "Message-ID: <noatsign.corpus>",
    "msgid_utf8": "Message-ID: <ünïcode@corpus.example>",
    "msgid_empty": "Message-ID:",
}
THREADING = {
    "refs_self_reference": ("<refs_self_reference@corpus.example>", "<a@x> <refs_self_reference@corpus.example> <b@x>"),
    "refs_duplicates": ("<a@x>", "<a@x> <b@x> <a@x> <b@x> <c@x>"),
    "refs_garbage_mixed": ("garbage <p@x> more", "junk <a@x> ,, ; <b@x> (comment <c@x>) trailing"),
    "refs_no_brackets": ("p@x", "a@x b@x c@x"),
    "refs_commas": ("<p@x>", "<a@x>,<b@x>, <c@x>"),
    "in_reply_to_comment": ("Your message of Mon, 6 Jan 2025 <p@x> (Bob)", "<p@x>"),
    "in_reply_to_multiple": ("<p1@x> <p2@x>", ""),
    "refs_loop": ("<loop2@x>", "<loop1@x> <loop2@x> <loop1@x> <loop2@x>"),
}
DATES = {
    "date_invalid": "not a date",
    "date_two_digit_year": "Mon, 6 Jan 25 10:00:00 +0000",
    "date_no_timezone": "Mon, 6 Jan 2025 10:00:00",
    "date_minus_zero": "Mon, 6 Jan 2025 10:00:00 -0000",
    "date_named_zone": "Mon, 6 Jan 2025 10:00:00 EST",
    "date_military_zone": "Mon, 6 Jan 2025 10:00:00 Z",
    "date_gmt_plus": "Mon, 6 Jan 2025 10:00:00 GMT+0200",
    "date_year_9999": "Fri, 31 Dec 9999 23:59:59 -1200",
    "date_year_1900": "Mon, 1 Jan 1900 00:00:00 +0000",
    "date_year_0": "Mon, 1 Jan 0000 00:00:00 +0000",
    "date_iso8601": "2025-01-06T10:00:00Z",
    "date_wrong_weekday": "Fri, 6 Jan 2025 10:00:00 +0000",
    "date_extra_spaces": "  Mon,   6   Jan   2025   10:00:00   +0100  ",
    "date_lowercase_month": "mon, 6 jan 2025 10:00:00 +0000",
    "date_no_seconds": "Mon, 6 Jan 2025 10:00 +0000",
    "date_huge_offset": "Mon, 6 Jan 2025 10:00:00 +9999",
    "date_feb_30": "Sun, 30 Feb 2025 10:00:00 +0000",
    "date_hour_25": "Mon, 6 Jan 2025 25:61:61 +0000",
    "date_empty": "",
    "date_comment": "Mon, 6 Jan 2025 10:00:00 +0000 (UTC)",
}
ADDRESSES = {
    "addr_group": ("Alice <alice@example.com>", "Team: a@example.org, b@example.org;"),
    "addr_undisclosed": ("Alice <alice@example.com>", "undisclosed-recipients:;"),
    "addr_quoted_local": ('"alice smith"@example.com', '"odd,local"@example.org'),
    "addr_idn_domain": ("Alice <alice@bücher.example>", "bob@xn--bcher-kva.example"),
    "addr_utf8_local": ("Ünï <ünï@example.com>", "用户@例子.广告"),
    "addr_comments": ("alice@example.com (Alice Comment)", "bob@example.org (Bob), (nobody) carol@example.org"),
    "addr_name_with_comma": (
        '"Smith, Alice" <alice@example.com>',
        '"Doe, Bob" <bob@example.org>, "Roe, Carol" <carol@example.org>',
    ),
    "addr_encoded_name_comma": (
        "=?utf-8?Q?Smith=2C_Alice?= <alice@example.com>",
        "=?utf-8?B?5byg5LiJ?= <zhang@example.cn>",
    ),
    "addr_missing_at": ("alice", "bob, carol@example.org"),
    "addr_trailing_commas": ("Alice <alice@example.com>,", "a@example.org,, ,b@example.org,"),
    "addr_angle_only": ("<alice@example.com>", "<bob@example.org>"),
    "addr_multiple_from": ("Alice <alice@example.com>, Bob <bob@example.org>", "carol@example.org"),
    "addr_null_sender": ("<>", "bob@example.org"),
    "addr_no_display_brackets": ("Alice alice@example.com", "Bob bob@example.org"),
    "addr_unbalanced": ("Alice <alice@example.com", '"Bob <bob@example.org>'),
    "addr_uppercase": ("ALICE <ALICE@EXAMPLE.COM>", "BOB@EXAMPLE.ORG"),
    "addr_route_syntax": ("<@relay.example:alice@example.com>", "bob@example.org"),
    "addr_ip_literal": ("alice@[192.0.2.1]", "bob@[IPv6:2001:db8::1]"),
    "addr_backslash_name": ('"Back\\\\slash \\"Q\\"" <alice@example.com>', "bob@example.org"),
    "addr_only_name": ("Alice Example", "Bob Example"),
}


def _header_values(c: _Corpus) -> None:
    body = "\nbody\n"
    for name, line in MESSAGE_IDS.items():
        head = _head(name).replace(f"Message-ID: <{name}@corpus.example>", line)
        c.add(name, head + body)
    for name, (in_reply_to, refs) in THREADING.items():
        extra = [f"In-Reply-To: {in_reply_to}"] + ([f"References: {refs}"] if refs else [])
        c.add(name, _head(name, subject="Re: thread", extra=extra) + body)
    for name, date in DATES.items():
        c.add(name, _head(name, date=date) + body)
    for name, (sender, to) in ADDRESSES.items():
        c.add(name, _head(name, sender=sender, to=to, extra=[f"Cc: {to}", f"Reply-To: {sender}"]) + body)
    many = ", ".join(f"User {i} <user{i}@example.org>" for i in range(300))
    folded = "\n ".join(many[i : i + 900] for i in range(0, len(many), 900))
    c.add("addr_300_recipients", _head("addr_300_recipients", to=folded) + body)
    c.add(
        "addr_repeated_to_headers",
        _head(
            "addr_repeated_to_headers",
            extra=[
                "To: second@example.org",
                "To: third@example.org",
                "Cc: c1@example.org",
                "Cc: c2@example.org",
                "Bcc: hidden@example.org",
            ],
        )
        + body,
    )


def _line_endings(c: _Corpus) -> None:
    msg = _multipart(
        "line_endings",
        [_part("text/plain", "line one\nline two\n"), _attachment("application/pdf", 'filename="l.pdf"', PDF_BYTES)],
    )
    c.add("bare_lf_only", msg.replace("line_endings", "bare_lf_only").encode(), normalise=False)
    c.add("bare_cr_only", msg.replace("line_endings", "bare_cr_only").replace("\n", "\r").encode(), normalise=False)
    mixed = (
        _crlf(msg.replace("line_endings", "bare_lf_mixed"))
        .replace(b"line one\r\n", b"line one\n")
        .replace(b"Subject", b"X-Bare: yes\nSubject")
    )
    c.add("bare_lf_mixed", mixed, normalise=False)
    c.add("crlf_everywhere", msg.replace("line_endings", "crlf_everywhere"))
    c.add(
        "bare_cr_in_body",
        (_head("bare_cr_in_body") + "\n").encode().replace(b"\n", b"\r\n") + b"carriage\rreturn\r\n",
        normalise=False,
    )
    c.add("body_line_998", _text_msg("body_line_998", "z" * 998 + "\n"))
    c.add("trailing_whitespace_lines", _text_msg("trailing_whitespace_lines", "trailing   \n\t\n   \nend\n"))
    c.add("oversize_body_line_5000", _text_msg("oversize_body_line_5000", "o" * 5000 + "\n"))
    c.add("oversize_header_line_3000", _head("oversize_header_line_3000", extra=["X-Huge: " + "h" * 3000]) + "\nbody\n")
    c.add(
        "oversize_html_one_line",
        _text_msg("oversize_html_one_line", "<p>" + "word " * 4000 + "</p>\n", ctype="text/html"),
    )
    c.add(
        "oversize_b64_one_line",
        _multipart(
            "oversize_b64_one_line",
            [
                _part("text/plain", "b\n"),
                _part(
                    "application/octet-stream",
                    base64.b64encode(bytes(6000)).decode(),
                    "Content-Transfer-Encoding: base64",
                    'Content-Disposition: attachment; filename="z.bin"',
                ),
            ],
        ),
    )


REPLIES = {
    "reply_gmail_en": (
        "Sounds good, see you then.\n\nOn Mon, Jan 6, 2025 at 10:00 AM Alice <alice@example.com> wrote:\n> Can we meet?\n",
        '<div dir="ltr">Sounds good, see you then.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jan 6, 2025 at 10:00 AM Alice &lt;alice@example.com&gt; wrote:<br></div><blockquote class="gmail_quote">Can we meet?</blockquote></div>',
    ),
    "reply_outlook_en": (
        "Approved.\n\n________________________________\nFrom: Bob <bob@example.org>\nSent: Monday, January 6, 2025 10:00 AM\nTo: Alice <alice@example.com>\nSubject: Budget\n\nPlease approve.\n",
        '<div>Approved.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Bob<br><b>Sent:</b> Monday<br><b>Subject:</b> Budget</div><div>Please approve.</div>',
    ),
    "reply_apple_en": (
        "Yes.\n\nSent from my iPhone\n\n> On Jan 6, 2025, at 10:00, Alice <alice@example.com> wrote:\n> \n> Tuesday?\n",
        '<html><body dir="auto">Yes.<br><br><div dir="ltr">Sent from my iPhone</div><blockquote type="cite"><div>On Jan 6, 2025, at 10:00, Alice wrote:</div><div>Tuesday?</div></blockquote></body></html>',
    ),
    "reply_german": (
        "Danke, passt.\n\nAm Mo., 6. Jan. 2025 um 10:00 Uhr schrieb Alice <alice@example.com>:\n> Passt Dienstag?\n",
        None,
    ),
    "reply_french": ("Merci.\n\nLe lun. 6 janv. 2025 à 10:00, Alice <alice@example.com> a écrit :\n> Mardi ?\n", None),
    "reply_spanish": (
        "Gracias.\n\nEl lun, 6 ene 2025 a las 10:00, Alice (<alice@example.com>) escribió:\n> ¿Martes?\n",
        None,
    ),
    "reply_chinese": ("好的。\n\n在 2025年1月6日周一 10:00，Alice <alice@example.com> 写道：\n> 明天开会吗？\n", None),
    "reply_chinese_outlook": (
        "收到。\n\n发件人: Alice <alice@example.com>\n发送时间: 2025年1月6日 10:00\n收件人: Bob <bob@example.org>\n主题: 会议\n\n明天开会吗？\n",
        None,
    ),
    "reply_japanese": (
        "了解しました。\n\n2025年1月6日(月) 10:00 Alice <alice@example.com>:\n> 明日会議ですか？\n",
        None,
    ),
    "reply_signature": ("Report attached.\n\n-- \nAlice Example\nExample Inc.\n", None),
    "reply_outlook_german": (
        "Danke.\n\n-----Ursprüngliche Nachricht-----\nVon: Alice <alice@example.com>\nGesendet: Montag, 6. Januar 2025 10:00\nAn: Bob\nBetreff: Termin\n\nPasst Dienstag?\n",
        None,
    ),
}


def _bodies(c: _Corpus) -> None:
    c.add(
        "html_only",
        _text_msg(
            "html_only", "<html><body><p>Only <b>HTML</b> here.</p></body></html>\n", ctype="text/html; charset=utf-8"
        ),
    )
    c.add("text_only_no_mime", _head("text_only_no_mime", mime=False) + "\nPlain RFC 822 body.\n")
    c.add("empty_body", _text_msg("empty_body", ""))
    c.add("whitespace_body", _text_msg("whitespace_body", "   \n\t\n"))
    c.add("dot_lines", _text_msg("dot_lines", ".\n..\n.leading dot\n.\n"))
    c.add("mbox_from_lines", _text_msg("mbox_from_lines", "From the start\n>From quoted\nFrom here\n"))
    c.add("nul_in_body", _text_msg("nul_in_body", "nul\x00byte\x00in body\n"))
    c.add(
        "control_chars_body",
        _text_msg("control_chars_body", "".join(chr(i) for i in range(1, 32) if i not in (10, 13)) + "\n"),
    )
    c.add(
        "text_enriched",
        _multipart(
            "text_enriched",
            [_part("text/enriched", "<bold>rich</bold>\n"), _part("text/plain", "plain\n")],
            subtype="alternative",
        ),
    )
    c.add("text_markdown", _text_msg("text_markdown", "# Title\n\n* item\n", ctype="text/markdown; charset=utf-8"))
    c.add(
        "format_flowed",
        _text_msg(
            "format_flowed",
            "This is a long flowed \nparagraph that wraps \nacross lines.\n",
            ctype="text/plain; charset=utf-8; format=flowed; delsp=yes",
        ),
    )
    c.add(
        "alternative_html_first",
        _multipart(
            "alternative_html_first",
            [_part("text/html", "<p>html first</p>\n"), _part("text/plain", "plain second\n")],
            subtype="alternative",
        ),
    )
    c.add(
        "alternative_three",
        _multipart(
            "alternative_three",
            [
                _part("text/plain", "plain\n"),
                _part("text/x-amp-html", "<html amp4email></html>\n"),
                _part("text/html", "<p>html</p>\n"),
            ],
            subtype="alternative",
        ),
    )
    c.add(
        "alternative_empty_text",
        _multipart(
            "alternative_empty_text",
            [_part("text/plain", ""), _part("text/html", "<p>html has it</p>\n")],
            subtype="alternative",
        ),
    )
    c.add(
        "two_text_parts_mixed",
        _multipart(
            "two_text_parts_mixed",
            [
                _part("text/plain", "first text\n"),
                _part("image/png", _b64(PNG_1PX), "Content-Transfer-Encoding: base64"),
                _part("text/plain", "second text\n"),
            ],
        ),
    )
    c.add(
        "html_script_and_style",
        _text_msg(
            "html_script_and_style",
            '<html><head><style>p{color:red}</style><script>alert(1)</script></head><body><p onclick="x()">hi</p></body></html>\n',
            ctype="text/html",
        ),
    )
    c.add(
        "html_malformed",
        _text_msg(
            "html_malformed",
            "<html><body><div><p>unclosed <b>tags <i>everywhere\n<table><tr><td>cell</div></body>\n",
            ctype="text/html",
        ),
    )
    c.add(
        "large_text_body",
        _text_msg("large_text_body", "".join(f"Line {i}: lorem ipsum dolor sit amet.\n" for i in range(6000))),
    )
    c.add(
        "multipart_signed_pgp",
        _multipart(
            "multipart_signed_pgp",
            [
                _part("text/plain", "signed text\n"),
                _part(
                    "application/pgp-signature; name=signature.asc",
                    "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n",
                ),
            ],
            subtype='signed; micalg=pgp-sha256; protocol="application/pgp-signature"',
        ),
    )
    c.add(
        "multipart_encrypted_pgp",
        _multipart(
            "multipart_encrypted_pgp",
            [
                _part("application/pgp-encrypted", "Version: 1\n"),
                _part("application/octet-stream", "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n-----END PGP MESSAGE-----\n"),
            ],
            subtype='encrypted; protocol="application/pgp-encrypted"',
        ),
    )
    c.add(
        "smime_opaque",
        _text_msg(
            "smime_opaque",
            _b64(bytes(range(200))),
            ctype='application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"',
            extra=["Content-Transfer-Encoding: base64", 'Content-Disposition: attachment; filename="smime.p7m"'],
        ),
    )
    c.add("content_type_no_subtype", _text_msg("content_type_no_subtype", "no subtype\n", ctype="text"))
    c.add("content_type_invalid", _text_msg("content_type_invalid", "invalid type\n", ctype="foo"))
    c.add("content_type_uppercase", _text_msg("content_type_uppercase", "upper\n", ctype="TEXT/PLAIN; CHARSET=UTF-8"))
    c.add(
        "content_type_comment",
        _text_msg("content_type_comment", "comment\n", ctype="text/plain (a comment); charset=utf-8"),
    )
    c.add(
        "content_type_duplicate",
        _text_msg("content_type_duplicate", "<p>dup</p>\n", ctype="text/plain", extra=["Content-Type: text/html"]),
    )
    c.add("content_type_unknown", _text_msg("content_type_unknown", "what is this\n", ctype="x-foo/x-bar"))
    c.add("content_type_empty", _text_msg("content_type_empty", "empty ct\n", ctype=""))
    c.add(
        "multipart_no_mime_version",
        _multipart("multipart_no_mime_version", [_part("text/plain", "no mime version\n")], mime=False),
    )
    c.add(
        "mime_version_2", _multipart("mime_version_2", [_part("text/plain", "mime 2.0\n")], extra=["MIME-Version: 2.0"])
    )
    for name, (text, html) in REPLIES.items():
        if html is None:
            c.add(name, _text_msg(name, text, subject="Re: meeting"))
        else:
            c.add(
                name,
                _multipart(
                    name,
                    [_part("text/plain; charset=utf-8", text), _part("text/html; charset=utf-8", html + "\n")],
                    subtype="alternative",
                    subject="Re: meeting",
                ),
            )


def _garbage(c: _Corpus) -> None:
    for seed in range(8):
        rng = random.Random(seed)
        data = bytes(b for b in rng.randbytes(4000) if b not in (10, 13))
        lines = [data[i : i + 500] for i in range(0, len(data), 500)]
        c.add(f"binary_garbage_{seed}", b"\r\n".join(lines) + b"\r\n", normalise=False)
    rng = random.Random(100)
    printable = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz:;=?-<>@\"' \n") for _ in range(6000))
    c.add("printable_garbage", "\n".join(line[:900] for line in printable.split("\n")))
    base = _crlf(
        _multipart(
            "fuzz_base",
            [
                _part("text/plain; charset=utf-8", "fuzz body\n"),
                _attachment("application/pdf", 'filename="f.pdf"', PDF_BYTES),
            ],
        )
    )
    for seed in range(12):
        rng = random.Random(1000 + seed)
        mutated = bytearray(base)
        for _ in range(20):
            pos = rng.randrange(len(mutated))
            mutated[pos] = rng.choice(b"\x00-=:;<>\"\t ?*'%\x80\xff") if seed % 2 else rng.randrange(32, 127)
        c.add(
            f"mutated_mime_{seed}",
            bytes(mutated).replace(b"\r\n", b"\n").replace(b"\r", b"").replace(b"\n", b"\r\n"),
            normalise=False,
        )
    for seed in range(4):
        rng = random.Random(2000 + seed)
        cut = rng.randrange(len(base) // 3, len(base))
        c.add(f"truncated_mime_{seed}", base[:cut].replace(b"\r", b"") + b"\n")
    c.add(
        "headers_then_binary",
        _head("headers_then_binary").encode() + b"\n" + bytes(b for b in range(256) if b not in (10, 13)) * 3,
    )


_SECTIONS: list[Callable[[_Corpus], None]] = [
    _scripts,
    _legacy,
    _charset_trouble,
    _transfer_encodings,
    _boundaries,
    _nesting,
    _attachments,
    _calendar,
    _reports,
    _forwards,
    _headers,
    _header_values,
    _line_endings,
    _bodies,
    _garbage,
]


def generate_corpus() -> list[tuple[str, bytes]]:
    corpus = _Corpus()
    for section in _SECTIONS:
        section(corpus)
    return corpus.items


if __name__ == "__main__":
    for entry_name, entry in generate_corpus():
        print(f"{len(entry):>9}  {entry_name}")
