"""Unit tests, no server: list-valued query parameters, the limit check, and timestamp rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter

from agentmail_server.api.params import decode_list
from agentmail_server.db.pagination import DEFAULT_LIMIT, MAX_FILTERED_LIMIT, MAX_LIMIT, check_limit
from agentmail_server.schemas.common import Timestamp, format_timestamp
from agentmail_server.services.errors import Invalid

# --- decode_list (REFERENCE §1.4) -------------------------------------------------------------


@pytest.mark.parametrize(("raw", "split", "expected"), [
    # One parameter holding a JSON array string: Python SDK (space after commas) and TS SDK.
    (['["unread", "x y"]'], False, ["unread", "x y"]),
    (['["unread"]'], False, ["unread"]),
    (['  ["a","b"]  '], False, ["a", "b"]),
    # A JSON array is never split on commas, even for enum lists.
    (['["a,b", "c"]'], True, ["a,b", "c"]),
    (["[]"], False, []),
    # Repeated keys, in order, keeping duplicates and mixing with JSON arrays.
    (["a", "b", "a"], False, ["a", "b", "a"]),
    (['["a", "b"]', "c"], False, ["a", "b", "c"]),
    # Comma-separated only when asked (enum lists); blanks are dropped and parts trimmed.
    (["message.sent,message.bounced"], True, ["message.sent", "message.bounced"]),
    (["a, b,,c ,"], True, ["a", "b", "c"]),
    (["a,b"], False, ["a,b"]),
    # A single bare value.
    (["unread"], False, ["unread"]),
    (["unread"], True, ["unread"]),
    # Free text stays a string: digits, JSON literals, quoted text are not JSON-decoded.
    (["12345"], False, ["12345"]),
    (["007"], False, ["007"]),
    (["true"], False, ["true"]),
    (["null"], False, ["null"]),
    (['"quoted"'], False, ['"quoted"']),
    (["Re: hello, world"], False, ["Re: hello, world"]),
])
def test_decode_list_accepts_every_client_encoding(raw, split, expected):
    result = decode_list(raw, name="labels", split_commas=split)
    assert result == expected
    assert all(type(item) is str for item in result)


def test_decode_list_of_nothing_is_none():
    assert decode_list([], name="labels") is None
    assert decode_list([], name="labels", split_commas=True) is None


@pytest.mark.parametrize(("raw", "message"), [
    (['["unclosed"'], "labels is not a valid JSON array"),
    (["[unquoted]"], "labels is not a valid JSON array"),
    (["[,]"], "labels is not a valid JSON array"),
    (["[1, 2]"], "labels must be an array of strings"),
    (['["a", null]'], "labels must be an array of strings"),
    (['["a", ["b"]]'], "labels must be an array of strings"),
    (['["a", {"b": 1}]'], "labels must be an array of strings"),
    (['["a", true]'], "labels must be an array of strings"),
    # One bad value spoils the request even when the others are fine.
    (["ok", "[1]"], "labels must be an array of strings"),
])
def test_decode_list_rejects_bad_json_arrays(raw, message):
    with pytest.raises(Invalid) as exc:
        decode_list(raw, name="labels", split_commas=True)
    assert exc.value.message == message
    assert exc.value.code == "validation_error"
    assert exc.value.errors == [{"code": "invalid", "path": ["labels"], "message": message}]


def test_decode_list_names_the_parameter_in_errors():
    with pytest.raises(Invalid) as exc:
        decode_list(["[oops"], name="event_types")
    assert exc.value.errors[0]["path"] == ["event_types"]
    assert "event_types" in exc.value.message


# --- check_limit ------------------------------------------------------------------------------


def test_limit_constants():
    assert (DEFAULT_LIMIT, MAX_LIMIT, MAX_FILTERED_LIMIT) == (50, 1000, 100)


@pytest.mark.parametrize(("limit", "kwargs", "expected"), [
    (None, {}, 50),
    (None, {"maximum": 100}, 50),
    (None, {"maximum": 10}, 10),  # the default never exceeds the cap
    (1, {}, 1),
    (50, {}, 50),
    (1000, {}, 1000),
    (100, {"maximum": 100, "filtered": True}, 100),
])
def test_check_limit_accepts(limit, kwargs, expected):
    assert check_limit(limit, **kwargs) == expected


@pytest.mark.parametrize(("limit", "kwargs", "message"), [
    (0, {}, "limit must be at least 1"),
    (-1, {}, "limit must be at least 1"),
    (-(10**20), {}, "limit must be at least 1"),
    (1001, {}, "limit cannot exceed 1000"),
    (10**20, {}, "limit cannot exceed 1000"),
    (101, {"maximum": 100}, "limit cannot exceed 100"),
    (101, {"maximum": 100, "filtered": True}, "limit cannot exceed 100 for filtered queries"),
    (0, {"maximum": 100, "filtered": True}, "limit must be at least 1"),
])
def test_check_limit_rejects(limit, kwargs, message):
    with pytest.raises(Invalid) as exc:
        check_limit(limit, **kwargs)
    assert exc.value.message == message
    assert exc.value.errors == [{"code": "invalid", "path": ["limit"], "message": message}]


# --- format_timestamp (REFERENCE §1.6: RFC 3339, UTC, milliseconds, Z) ------------------------

IST = timezone(timedelta(hours=5, minutes=30))
NEWFOUNDLAND = timezone(timedelta(hours=-3, minutes=-30))


@pytest.mark.parametrize(("value", "expected"), [
    (datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC), "2024-01-01T00:00:00.000Z"),
    (datetime(2030, 1, 1, 12, 0, 0, 123000, tzinfo=UTC), "2030-01-01T12:00:00.123Z"),
    # Sub-millisecond digits are truncated, not rounded (never into the next second).
    (datetime(2030, 1, 1, 12, 0, 0, 123999, tzinfo=UTC), "2030-01-01T12:00:00.123Z"),
    (datetime(2030, 1, 1, 23, 59, 59, 999999, tzinfo=UTC), "2030-01-01T23:59:59.999Z"),
    (datetime(2030, 1, 1, 12, 0, 0, 999, tzinfo=UTC), "2030-01-01T12:00:00.000Z"),
    # Other zones are converted to UTC, across the date line when needed.
    (datetime(2024, 1, 1, 5, 30, 0, 456000, tzinfo=IST), "2024-01-01T00:00:00.456Z"),
    (datetime(2024, 1, 1, 1, 0, 0, tzinfo=IST), "2023-12-31T19:30:00.000Z"),
    (datetime(2024, 2, 28, 22, 0, 0, 7000, tzinfo=NEWFOUNDLAND), "2024-02-29T01:30:00.007Z"),
    (datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=14))), "2024-05-31T22:00:00.000Z"),
    (datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=-12))), "2024-06-02T00:00:00.000Z"),
])
def test_format_timestamp_renders_millisecond_utc(value, expected):
    assert format_timestamp(value) == expected


def test_format_timestamp_same_instant_same_text():
    instant = datetime(2026, 8, 24, 14, 38, 14, 223000, tzinfo=UTC)
    texts = {format_timestamp(instant.astimezone(zone)) for zone in (UTC, IST, NEWFOUNDLAND)}
    assert texts == {"2026-08-24T14:38:14.223Z"}


def test_timestamp_type_serializes_to_json_with_the_same_format():
    adapter = TypeAdapter(Timestamp)
    value = datetime(2024, 1, 1, 5, 30, 0, 456789, tzinfo=IST)
    assert adapter.dump_json(value) == b'"2024-01-01T00:00:00.456Z"'
    # Python-mode dumps keep the datetime; only JSON goes through the wire format.
    assert adapter.dump_python(value) == value
