"""The new content of a reply: quoted history and signature removed (`extracted_text`/`_html`).

Detection is delegated to two maintained libraries that complement each other:

* quotequail finds reply attributions ("On … wrote:", "Am … schrieb …:", "Le … a écrit :",
  "El … escribió:", …) and forward/original-message separators, in text and in HTML;
* mail-parser-reply finds Outlook-style header blocks ("From:/Sent:/To:", "Von:/Gesendet:",
  "发件人:/发送时间:", …) and Japanese/Korean/Chinese attributions quotequail lacks.

What remains here is glue plus the few conventions neither handles: the RFC 3676 "-- "
signature delimiter, mobile "Sent from my …" footers, a trailing block of "> " lines, and the
markup that Gmail, Apple Mail, Thunderbird, Outlook and Yahoo wrap quotes and signatures in.
Any failure returns the input unchanged: a too-long extract beats a lost message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import lxml.html
import quotequail
from lxml import etree
from lxml.html import HtmlElement
from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage
from quotequail._internal import join_wrapped_lines
from quotequail._patterns import COMPILED_PATTERNS, MAX_WRAP_LINES

# Polish is left out on purpose: its header rule fires on a single "Data:"/"Do:" line, which
# would truncate ordinary messages. "david" is a vendor profile, not a language.
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "sv", "da", "cs", "ja", "ko", "zh")

# The libraries' regexes are fine on real mail but superlinear on adversarial lines; attribution
# lines are short and sit near the top, so they only ever see a bounded prefix of each line.
_PROBE_WIDTH = 200
_PROBE_LINES = 2000
# mail-parser-reply's attribution regexes are the slow ones (nested lazy groups): a smaller budget.
_REPLY_PARSER_CHARS = 32 * 1024
_MAX_HTML = 2 * 1024 * 1024
# quotequail walks every rendered line of HTML; past this many block breaks only markup is used.
_HTML_QUOTE_LINES = 5000
_HTML_BREAKS = re.compile(r"<(?:br|p|div|tr|li|h[1-6]|blockquote|hr)\b", re.IGNORECASE)

# lxml refuses characters outside XML 1.0 even in HTML mode.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DOCUMENT_TAG = re.compile(r"<(?:html|body)[\s>]", re.IGNORECASE)
_SEPARATOR = re.compile(r"^[\s\-_=*~]{5,}$")
_INTRO_HINT = re.compile(r"@|\d{4}|wrote|schrieb|écrit|escribió|写道|寫道|작성", re.IGNORECASE)
_EXTRA_SENT_FROM = (
    r"Sent from \S+",
    r"Get Outlook for \S+",
    r"Von meinem .{1,40} gesendet",
    r"Envoyé de mon \S+",
    r"Enviado desde mi \S+",
    r"Enviado do meu \S+",
    r"发自我的\S+",
    r"iPhoneから送信",
)
_SENT_FROM = re.compile(
    r"^\s*(?:"
    + "|".join(
        [f"(?:{MAIL_LANGUAGES[lang]['sent_from']})" for lang in LANGUAGES if MAIL_LANGUAGES[lang].get("sent_from")]
        + list(_EXTRA_SENT_FROM)
    )
    + r")",
    re.IGNORECASE,
)

# Containers mail clients put quoted history in; removed along with everything inside.
_QUOTE_XPATH = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"  # Gmail
    " | //blockquote[@type='cite']"  # Apple Mail, Thunderbird
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]"  # Thunderbird
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' yahoo_quoted ')]"  # Yahoo
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' protonmail_quote ')]"  # Proton
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_signature ')]"  # Gmail
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_signature_prefix ')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' moz-signature ')]"  # Thunderbird
)
# Markers after which everything is history (Outlook puts the quoted body in sibling elements).
_CUT_XPATH = (
    "//*[@id='divRplyFwdMsg'] | //*[@id='appendonsend'] | //hr[@id='stopSpelling']"
    " | //*[@id='mail-editor-reference-message-container']"
)


def extract_text(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        new = _new_text(text)
    except Exception:  # a library choking on odd input must not cost us the message
        return text
    return new if new.strip() else text


def extract_html(html: str | None) -> str | None:
    if html is None:
        return None
    try:
        new = _new_html(html)
    except Exception:
        return html
    return new if new is not None else html


# --------------------------------------------------------------------------------------------
# Plain text


def _new_text(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    probe = [line[:_PROBE_WIDTH] for line in lines[:_PROBE_LINES]]
    # Each detector answers with the line where history starts, or None; the earliest wins.
    found = [cut for cut in (_quotequail_cut(probe), _reply_parser_cut(probe)) if cut is not None]
    cut = min(found, default=len(lines))
    kept = lines[:cut]
    kept = _cut_signature(kept)
    kept = _drop_trailing_quote(kept)
    kept = _drop_trailing_noise(kept)
    return "\n".join(kept).strip("\n").rstrip()


# quotequail's own search (`quote(..., quote_intro_line=True)`) tries each of its ~30 patterns on
# each line, re-joining wrapped lines for every pattern: about 15 ms for 10 KB of plain text, most of
# the cost of parsing a message. The same patterns as one alternation, tried on each joined line
# once, give the same answer (a line starts the quote iff any pattern matches it) in a tenth of that;
# tests/test_mail_parse.py checks the two agree.
_QUOTE_START = re.compile("|".join(f"(?:{pattern.pattern})" for pattern in COMPILED_PATTERNS))


def _quotequail_cut(probe: list[str]) -> int | None:
    for n in range(len(probe)):
        for wrap in range(MAX_WRAP_LINES):
            line = join_wrapped_lines(probe[n : n + 1 + wrap])
            if line.startswith(">"):
                line = line[1:].strip()
            if not line:
                break
            if _QUOTE_START.match(line.strip()):
                return n
    return None


_DANISH_SEPARATOR = re.compile("-----Oprindelig meddelelse-----", re.IGNORECASE)


def _header_matches(regex: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """`regex.finditer(text)` for mail-parser-reply's header regex, tried only where it can start.

    Its alternatives are anchored at a line start (`^`, MULTILINE) or at a newline, except the
    Danish one, which may begin at "-----Oprindelig meddelelse-----" anywhere; trying the regex at
    those positions only finds the same matches as scanning every character, which costs about
    6 ms per 10 KB of text (tests/test_mail_parse.py checks the two agree).
    """
    starts = {0}
    for newline in re.finditer("\n", text):
        starts.update((newline.start(), newline.end()))
    starts.update(m.start() for m in _DANISH_SEPARATOR.finditer(text))
    end = 0
    for start in sorted(starts):
        if start < end:
            continue
        match = regex.match(text, start)
        if match is not None:
            yield match
            end = max(match.end(), start + 1)


def _reply_parser_cut(probe: list[str]) -> int | None:
    budget, count = 0, 0
    for line in probe:
        budget += len(line) + 1
        if budget > _REPLY_PARSER_CHARS:
            break
        count += 1
    message = EmailMessage(text="\n".join(probe[:count]), languages=list(LANGUAGES))
    # The library normalises the text (strips lines, merges separators) before matching, so map
    # the header it finds back to our line numbers by its first line.
    for match in _header_matches(message.HEADER_REGEX, message.text):
        first = next((ln.strip() for ln in match.group(0).split("\n") if ln.strip()), "")
        if not first:
            continue
        seen_content = False
        for index, line in enumerate(probe):
            stripped = line.strip()
            if seen_content and stripped == first:
                return index
            seen_content = seen_content or bool(stripped)
    return None


def _cut_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if line.rstrip() == "--" and any(ln.strip() for ln in lines[:index]):
            return lines[:index]
    return lines


def _drop_trailing_quote(lines: list[str]) -> list[str]:
    end = len(lines)
    quoted = False
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        quoted = quoted or lines[end - 1].lstrip().startswith(">")
        end -= 1
    if not quoted:
        return lines
    # The attribution line right above the quote belongs to it (covers languages both libraries
    # miss); CJK clients end it with a full-width colon.
    if end and lines[end - 1].rstrip().endswith((":", "\uff1a")) and _INTRO_HINT.search(lines[end - 1]):
        end -= 1
    return lines[:end] if any(ln.strip() for ln in lines[:end]) else lines


def _drop_trailing_noise(lines: list[str]) -> list[str]:
    end = len(lines)
    while end:
        line = lines[end - 1]
        if not line.strip() or _SEPARATOR.match(line):
            end -= 1
        elif len(line) < 80 and _SENT_FROM.match(line) and any(ln.strip() for ln in lines[: end - 1]):
            end -= 1
        else:
            break
    return lines[:end]


# --------------------------------------------------------------------------------------------
# HTML


def _new_html(html: str) -> str | None:
    """The reply part of `html`, or None when nothing was recognised as history."""
    if len(html) > _MAX_HTML or not html.strip():
        return None
    whole_document = _DOCUMENT_TAG.search(html) is not None
    changed = False
    source = html
    if (stripped := _edit_html(source, _drop_quote_markup, whole_document)) is not None:
        source, changed = stripped, True
    if len(_HTML_BREAKS.findall(source, 0, _MAX_HTML)) <= _HTML_QUOTE_LINES:
        parts = quotequail.quote_html(source, limit=1_000_000, quote_intro_line=True)
        if len(parts) > 1:
            source, changed = parts[0][1], True
    if (stripped := _edit_html(source, _drop_signature_markup, whole_document)) is not None:
        source, changed = stripped, True
    if not changed:
        return None
    return source if _has_content(source) else None


def _edit_html(html: str, edit: Callable[[HtmlElement], bool], whole_document: bool) -> str | None:
    """Apply `edit` to the parsed document; the new markup if it changed anything, else None."""
    try:
        doc = lxml.html.document_fromstring(_XML_ILLEGAL.sub("", html))
    except (etree.ParserError, ValueError):
        return None
    if not edit(doc):
        return None
    if whole_document:
        return lxml.html.tostring(doc, encoding="unicode")
    # Input was a fragment: hand back a fragment, not the <html><body> lxml wrapped it in.
    body = doc.find("body")
    if body is None:
        return ""
    inner = [body.text or ""] + [lxml.html.tostring(child, encoding="unicode") for child in body]
    return "".join(inner)


def _drop_quote_markup(doc: HtmlElement) -> bool:
    changed = False
    markers = doc.xpath(_CUT_XPATH)
    if markers:  # document order: the first marker already takes the later ones with it
        _remove_from(markers[0])
        changed = True
    for node in doc.xpath(_QUOTE_XPATH):
        if node.getparent() is not None:
            _remove_keep_tail(node)
            changed = True
    return changed


def _drop_signature_markup(doc: HtmlElement) -> bool:
    # "-- " on a line of its own, as a text node: the signature runs to the end of the mail.
    for text in doc.xpath("//body//text()[normalize-space(.)='--']"):
        owner = text.getparent()
        if text.is_tail:
            owner.tail = None
            _remove_after(owner)
        else:
            owner.text = None
            for child in list(owner):
                owner.remove(child)
            _remove_after(owner)
        return True
    # A trailing mobile footer ("Sent from my iPhone") that is the last text of the message.
    for node in reversed(doc.xpath("//body//*[self::div or self::p or self::span or self::font]")):
        content = node.text_content().strip()
        if content and len(content) < 80 and _SENT_FROM.match(content) and _SENT_FROM.match(content).end() > 0:
            if not node.xpath("following::text()[normalize-space(.)]"):
                _remove_keep_tail(node)
                return True
            break
    return False


def _remove_from(node: HtmlElement) -> None:
    """Remove `node` and everything after it in document order."""
    _remove_after(node)
    parent = node.getparent()
    if parent is not None:
        parent.remove(node)


def _remove_after(node: HtmlElement) -> None:
    """Remove everything after `node` in document order, keeping `node` itself."""
    current = node
    while current is not None and current.getparent() is not None:
        parent = current.getparent()
        for following in list(current.itersiblings()):
            parent.remove(following)
        current.tail = None
        current = parent


def _remove_keep_tail(node: HtmlElement) -> None:
    parent = node.getparent()
    tail = node.tail
    previous = node.getprevious()
    parent.remove(node)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def _has_content(html: str) -> bool:
    if "<img" in html.lower():
        return True
    try:
        return bool(lxml.html.fromstring(html).text_content().strip())
    except (etree.ParserError, ValueError):
        return bool(html.strip())
