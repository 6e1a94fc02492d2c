"""Property tests of the threading rules (mail/threading.py), no server.

base_subject is what threads join on (together with the header links), so it must be a normal form: applying it
twice changes nothing, reply/forward markers in any supported language (with counters, full-width colons, list tags
and forward wrappers) vanish, and whitespace or letter case never split a conversation. related_ids lists each link
once, never the message itself, nearest ancestor first.

Deterministic and bounded (derandomize, no example database); AGENTMAIL_FUZZ_SCALE multiplies the examples.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmail_server.mail.threading import _PREFIXES, base_subject, related_ids, subjects_match

SCALE = float(os.environ.get("AGENTMAIL_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# Subjects: arbitrary text, and text built from the pieces the rules look at, so they meet often.
_PIECES = st.sampled_from([
    "Re:", "RE:", "re :", "Fwd:", "FW:", "Aw:", "Sv:", "回复：", "答复:", "返信:", "Re[2]:", "RE^3:", "Re(4):",
    "[list]", "[Fwd: ", "]", "(fwd)", "(FWD)", ":", "：", "[", "re", " ", "  ", "\t", "\u3000", "\xa0", "Ｒｅ：",
    "hello", "Hello World", "Straße", "ΣΊΣΥΦΟΣ", "İstanbul", "ﬁle", "①", "㍻", "x", "Re: [x]",
])
SUBJECTS = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=12).map("".join),
)
# A subject with real content after any markers: a word that is no marker and no tag.
_CONTENT = st.lists(st.sampled_from(["hello", "Quarterly report", "Straße", "日本語", "ΣΊΣΥΦΟΣ", "x1", "Budget?"]),
                    min_size=1, max_size=4).map(" ".join)


def _marker(prefix: str, counter: str, colon: str, case: str) -> str:
    word = {"upper": prefix.upper(), "title": prefix.title(), "lower": prefix}[case]
    return f"{word}{counter}{colon} "


MARKERS = st.builds(
    _marker,
    st.sampled_from(_PREFIXES),
    st.sampled_from(["", "[2]", "^3", "(12)", " [7]"]),
    st.sampled_from([":", " :", "：", " ："]),
    st.sampled_from(["lower", "upper", "title"]),
)


@fuzz(400)
@given(SUBJECTS)
def test_base_subject_is_idempotent(subject: str):
    base = base_subject(subject)
    assert base_subject(base) == base


@fuzz(300)
@given(st.lists(MARKERS | st.sampled_from(["[my-list] ", "[Team] "]), min_size=1, max_size=6), _CONTENT)
def test_reply_and_forward_markers_are_stripped(markers: list[str], content: str):
    """Any stack of localized Re/Fwd markers and list tags in front of a subject leaves its base subject."""
    assert base_subject("".join(markers) + content) == base_subject(content)


@fuzz(100)
@given(MARKERS, st.integers(1, 400), _CONTENT)
def test_long_marker_chains_are_stripped(marker: str, count: int, content: str):
    """Auto-reply loops stack hundreds of markers; every length of the chain has the same base subject."""
    base = base_subject(content)
    assert base_subject(marker * count + content) == base
    assert base_subject(marker.strip() * count + content) == base


@fuzz(200)
@given(_CONTENT, st.sampled_from(["[Fwd: {}]", "[fwd:{}]", "{} (fwd)", "Fwd: [Fwd: {}]", "[list] Re: {}"]))
def test_forward_wrappers_are_stripped(content: str, wrapper: str):
    assert base_subject(wrapper.format(content)) == base_subject(content)


@fuzz(300)
@given(SUBJECTS, st.sampled_from([" ", "  ", "\t", " \t ", "\u3000", "\xa0"]))
def test_whitespace_never_splits_a_thread(subject: str, space: str):
    """Runs of whitespace (and whitespace at the ends) do not matter."""
    respaced = f"{space}{space.join(subject.split())}{space}"
    assert base_subject(respaced) == base_subject(subject)


@fuzz(300)
@given(SUBJECTS)
def test_letter_case_never_splits_a_thread(subject: str):
    assert base_subject(subject.upper()) == base_subject(subject.lower()) == base_subject(subject).casefold()


@fuzz(200)
@given(SUBJECTS, SUBJECTS)
def test_subjects_match_is_symmetric_and_empty_matches_all(a: str, b: str):
    x, y = base_subject(a), base_subject(b)
    assert subjects_match(x, y) == subjects_match(y, x)
    assert subjects_match(x, x)
    assert subjects_match("", y)


# --- related_ids -------------------------------------------------------------------------------------------------

IDS = st.sampled_from(["<a@x>", "<b@x>", "<c@x>", "<d@x>", "<e@x>", "<f@x>", ""])


@fuzz(400)
@given(st.one_of(st.none(), IDS), st.one_of(st.none(), IDS), st.lists(IDS, max_size=10))
def test_related_ids(message_id: str | None, in_reply_to: str | None, references: list[str]):
    links = related_ids(message_id, in_reply_to, references)
    assert len(links) == len(set(links)), "an id listed twice"
    assert message_id not in links and "" not in links and None not in links
    assert set(links) == {i for i in [in_reply_to, *references] if i and i != message_id}
    rest = links
    if in_reply_to and in_reply_to != message_id:
        assert links[0] == in_reply_to  # the direct parent first
        rest = links[1:]
    # Then the references, nearest (last) first: ordered by where each last occurs.
    last = {ref: i for i, ref in enumerate(references)}
    assert [last[r] for r in rest] == sorted((last[r] for r in rest), reverse=True)


def test_markers_list_is_what_the_pattern_knows():
    """Guard for the strategies above: every marker is stripped on its own."""
    for prefix in _PREFIXES:
        assert base_subject(f"{prefix}: hello") == "hello", prefix
        assert re.fullmatch(r"\S+", prefix), prefix
