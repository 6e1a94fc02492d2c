"""Pure threading rules: base subjects (RFC 5256 §2.1, localised prefixes) and reference ids."""

from __future__ import annotations

import re
import unicodedata

# Reply/forward markers in the languages mail clients actually emit. "R" and "RE" variants with a
# counter ("Re[2]:", "RE^3:") and full-width colons are included.
_PREFIXES = (
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "vb", "antw", "antwort", "doorst", "rif", "r", "tr", "ref",
    "réf", "rv", "enc", "odp", "pd", "ynt", "ilt", "vl", "atb", "bls", "hv", "răspuns", "απ", "σχετ",
    "отв", "пер", "回复", "回覆", "答复", "转发", "轉寄", "返信", "転送", "답장", "전달",
)
# A whole run of markers at once: auto-replies stack hundreds ("Re: Re: Re: ..."), more than the passes below.
_PREFIX = re.compile(
    r"^(?:\s*(?:" + "|".join(re.escape(p) for p in sorted(_PREFIXES, key=len, reverse=True)) + r")"
    r"\s*(?:\[\d+\]|\^\d+|\(\d+\))?\s*[:\uff1a]\s*)+",  # ASCII or full-width colon
    re.IGNORECASE,
)
_LIST_TAG = re.compile(r"^\s*\[[^\]]{1,64}\]\s*")
_FWD_WRAPPER = re.compile(r"^\s*\[fwd:\s*(.*)\]\s*$", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def base_subject(subject: str | None) -> str:
    """The subject with reply/forward prefixes, list tags and forward wrappers removed, case-folded."""
    text = unicodedata.normalize("NFKC", subject or "")
    text = _SPACE.sub(" ", text).strip()
    for _ in range(50):  # bounded: each pass strips at least one layer or stops
        before = text
        if wrapped := _FWD_WRAPPER.match(text):
            text = wrapped.group(1)
        text = _PREFIX.sub("", text)
        # A leading "[list-tag]" is dropped only when a real subject follows it.
        if tagged := _LIST_TAG.sub("", text):
            text = tagged
        text = re.sub(r"\s*\(fwd\)\s*$", "", text, flags=re.IGNORECASE).strip()
        if text == before:
            break
    return text.casefold()


def subjects_match(a: str, b: str) -> bool:
    """The JMAP-style guard: header links join threads only when base subjects agree (or one is empty)."""
    return not a or not b or a == b


def related_ids(message_id: str | None, in_reply_to: str | None, references: list[str]) -> list[str]:
    """Ids that link a message to a conversation, nearest ancestor first, without self-reference or loops."""
    seen: set[str] = set()
    ordered: list[str] = []
    for candidate in [in_reply_to, *reversed(references)]:
        if candidate and candidate != message_id and candidate not in seen:
            seen.add(candidate)
            ordered.append(candidate)
    return ordered
