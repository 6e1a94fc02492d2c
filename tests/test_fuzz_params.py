"""Property tests of list-valued query parameters (api/params.py::decode_list, REFERENCE §1.4), no server.

For any list of strings, each encoding a client produces, put through a real query string (percent-encoding, `+`
for spaces, Starlette's parser), decodes back to the list:

* a JSON array string, as the Python SDK writes it (json.dumps: ", " separators, \\u-escapes) and as the
  TypeScript SDK does (JSON.stringify: compact, UTF-8) - any strings at all, for free-text and enum lists alike;
* repeated keys and a single bare value (docs, curl) - any strings that do not themselves start with "[";
* comma-separated values for enum lists - tokens without commas or surrounding blanks.

And what decodes is always a list of str: nothing a client sends turns into a number, a null or a nested list.

Deterministic and bounded (derandomize, no example database); AGENTMAIL_FUZZ_SCALE multiplies the examples.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote, urlencode

import httpx
import pytest
from agentmail.core.query_encoder import encode_query
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from agentmail_server.api.params import decode_list
from agentmail_server.services.errors import Invalid

SCALE = float(os.environ.get("AGENTMAIL_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# Any text a query string can carry (UTF-8 has no lone surrogates), with the characters that matter here mixed in.
_CHARS = st.characters(blacklist_categories=("Cs",)) | st.sampled_from(list('[]",\\ +&=%#?\t\n{}:'))
STRINGS = st.text(_CHARS, max_size=20)
# Enum-like tokens (event types, usage types): what a comma list can carry.
TOKENS = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="._-"),
                 min_size=1, max_size=20)


def _decode(query: str, name: str = "labels", *, split_commas: bool = False) -> list[str] | None:
    """As the server does: Starlette parses the query string, decode_list reads every value of the key."""
    return decode_list(QueryParams(query).getlist(name), name=name, split_commas=split_commas)


def _python_sdk(items: list[str]) -> str:
    """The SDK's own query encoder (a list becomes json.dumps of it), then httpx's URL encoding, as it sends them."""
    return httpx.URL("http://x/", params=encode_query({"labels": items})).query.decode("ascii")


def _typescript_sdk(items: list[str]) -> str:
    compact = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    return "labels=" + quote(compact, safe="")  # URLSearchParams-style percent-encoding of UTF-8


@fuzz(300)
@given(st.lists(STRINGS, max_size=8), st.booleans())
def test_json_array_strings_decode_to_the_list(items: list[str], split_commas: bool):
    assert _decode(_python_sdk(items), split_commas=split_commas) == items
    assert _decode(_typescript_sdk(items), split_commas=split_commas) == items


@fuzz(300)
@given(st.lists(STRINGS, min_size=1, max_size=8))
def test_repeated_keys_and_bare_values_decode_to_the_list(items: list[str]):
    assume(not any(item.strip().startswith("[") for item in items))  # that one is a JSON array
    query = urlencode([("labels", item) for item in items])
    assert _decode(query) == items
    assert _decode(urlencode({"labels": items[0]})) == items[:1]


@fuzz(200)
@given(st.lists(TOKENS, min_size=1, max_size=8), st.sampled_from([",", ", ", " ,"]))
def test_comma_lists_decode_to_the_list_for_enums(items: list[str], separator: str):
    assert _decode(urlencode({"event_types": separator.join(items)}), "event_types", split_commas=True) == items
    # Mixed with repeated keys and JSON arrays, in order.
    query = urlencode([("event_types", ",".join(items)), ("event_types", json.dumps(items)),
                       ("event_types", items[0])])
    assert _decode(query, "event_types", split_commas=True) == [*items, *items, items[0]]


@fuzz(300)
@given(st.lists(STRINGS, max_size=4), st.booleans())
def test_whatever_is_sent_decodes_to_strings_or_a_validation_error(values: list[str], split_commas: bool):
    try:
        result = decode_list(values, name="labels", split_commas=split_commas)
    except Invalid as exc:
        assert exc.errors[0]["path"] == ["labels"]
        return
    if not values:
        assert result is None
    else:
        assert isinstance(result, list) and all(type(item) is str for item in result)


@fuzz(200)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | STRINGS,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(STRINGS, inner, max_size=3),
                    max_leaves=8))
def test_json_that_is_not_an_array_of_strings_is_refused(value: object):
    text = json.dumps(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        assert decode_list([text], name="labels") == value
    elif isinstance(value, list):
        with pytest.raises(Invalid):
            decode_list([text], name="labels")
    else:  # not an array: a bare value, kept as the string it is
        assert decode_list([text], name="labels") == [text]
