"""Metrics (REFERENCE §2.16): events, usage and rates at organization, pod and inbox scope.

Two kinds of data: real traffic (SMTP receptions and SDK sends, which record `events` rows and
messages as they happen), and rows arranged directly in the database with chosen `created_at`
values, the only way to pin bucket boundaries, running totals over time, and bounce/complaint
rates (nothing produces real bounces in these tests).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from agentmail import AgentMail
from agentmail.core.api_error import ApiError
from agentmail.errors import ValidationError
from sqlalchemy import update

from agentmail_server.db.engine import Database
from agentmail_server.db.tables import Event, Message, Thread
from agentmail_server.schemas.metrics import (
    METRIC_EVENT_TYPES,
    QueryMetricsResponse,
    QueryRatesResponse,
    QueryUsageResponse,
)

from .conftest import make_http, make_sdk
from .mail_helpers import build, send_raw, wait_for, wait_messages
from .server import Server
from .wire import error, ok

Counts = dict[str, int]


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _anchor(hours: int) -> datetime:
    """A whole second some hours ago: a past `end`, so nothing is clamped and nothing new lands in range."""
    return (datetime.now(UTC) - timedelta(hours=hours)).replace(microsecond=0)


def _run(server: Server, work: Any) -> Any:
    async def go() -> Any:
        db = Database(server.database_url)
        try:
            async with db.write() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _insert_events(server: Server, where: tuple[str, str, str], rows: list[tuple[str, datetime, dict[str, Any]]]
                   ) -> None:
    """Events of (type, created_at, body) in one inbox, as if emitted then (no delivery fan-out)."""
    org, pod, inbox = where

    async def work(session: Any) -> None:
        for event_type, created_at, body in rows:
            event_id = uuid.uuid4().hex
            session.add(Event(event_id=event_id, event_type=event_type, organization_id=org, pod_id=pod,
                              inbox_id=inbox, created_at=created_at,
                              payload={"type": "event", "event_type": event_type, "event_id": event_id, **body}))

    _run(server, work)


def _totals(body: dict[str, list[dict[str, Any]]]) -> Counts:
    return {t: sum(b["count"] for b in buckets) for t, buckets in body.items() if buckets}


def _series(body: dict[str, list[dict[str, Any]]], key: str, field: str) -> list[tuple[str, Any]]:
    return [(p["timestamp"], p.get(field)) for p in body[key]]


@dataclass
class Org:
    id: str
    key: str
    sdk: AgentMail
    http: httpx.Client


def _new_org(server: Server) -> Iterator[Org]:
    made = server.cli("create-organization")
    with make_http(server, made["api_key"]) as http:
        yield Org(made["organization_id"], made["api_key"], make_sdk(server, made["api_key"]), http)


@pytest.fixture
def org(server: Server) -> Iterator[Org]:
    """A fresh organization, so that organization-wide numbers are exactly what a test made."""
    yield from _new_org(server)


@pytest.fixture(scope="module")
def quiet(server: Server) -> Iterator[Org]:
    """An organization nobody subscribes to, for events written straight into the database (which the
    WebSocket hub would otherwise pass on to other tests' org-wide subscriptions)."""
    yield from _new_org(server)


def _pod_inbox(sdk: AgentMail, pod_id: str | None = None) -> tuple[str, str]:
    if pod_id is None:
        pod_id = sdk.pods.create(name=f"metrics-{_tag()}").pod_id
    return pod_id, sdk.pods.inboxes.create(pod_id, username=f"metrics-{_tag()}").inbox_id


def _key(http: httpx.Client, path: str, **body: Any) -> str:
    response = http.post(path, json={"name": "metrics", **body})
    assert response.status_code == 200, response.text
    return response.json()["api_key"]  # type: ignore[no-any-return]


# --- events from real traffic -------------------------------------------------------------------


def test_event_counts_at_inbox_pod_and_org_scope(org, server):
    pod, alice = _pod_inbox(org.sdk)
    _, bob = _pod_inbox(org.sdk, pod)
    for i in range(2):
        send_raw(server, build(to=alice, subject=f"clean {i}").as_bytes(), [alice])
    send_raw(server, build(to=alice, subject="spam", headers={"X-Spam-Flag": "YES"}).as_bytes(), [alice])
    org.sdk.inboxes.messages.send(alice, to=[bob], subject="one", text="hello")
    org.sdk.inboxes.messages.send(alice, to=bob, subject="two", text="again")
    assert org.http.post(f"/v0/inboxes/{alice}/lists/send/block", json={"entry": "nope.example"}).status_code == 200
    error(org.http.post(f"/v0/inboxes/{alice}/messages/send", json={"to": "x@nope.example", "text": "hi"}), 403)

    mine = {"message.received": 2, "message.received.spam": 1, "message.sent": 2, "message.rejected": 1}
    everyone = {**mine, "message.received": 4}  # bob received both sends
    # Receptions are processed in the background: wait until they are all counted.
    wait_for(lambda: _totals(org.http.get(f"/v0/pods/{pod}/metrics/events").json()) == everyone,
             what="all receptions counted")

    # The SDK at each scope: one key per MetricEventType, empty lists where nothing happened.
    inbox_answer = org.sdk.inboxes.metrics.query_events(alice)
    assert list(inbox_answer) == list(METRIC_EVENT_TYPES)
    assert {t: sum(b.count for b in v) for t, v in inbox_answer.items() if v} == mine
    assert all(isinstance(b.timestamp, datetime) and len(v) == 1 for v in inbox_answer.values() for b in v)
    pod_answer = org.sdk.pods.metrics.query_events(pod)
    assert {t: sum(b.count for b in v) for t, v in pod_answer.items() if v} == everyone
    org_answer = org.sdk.metrics.query_events()
    assert {t: sum(b.count for b in v) for t, v in org_answer.items() if v} == everyone

    # Raw bodies, strictly: the same numbers on every route, the deprecated aliases included.
    for path, expected in [(f"/v0/inboxes/{alice}/metrics/events", mine), (f"/v0/inboxes/{alice}/metrics", mine),
                           (f"/v0/inboxes/{bob}/metrics/events", {"message.received": 2}),
                           (f"/v0/pods/{pod}/metrics/events", everyone), (f"/v0/pods/{pod}/metrics", everyone),
                           ("/v0/metrics/events", everyone), ("/v0/metrics", everyone)]:
        response = org.http.get(path)
        ok(QueryMetricsResponse, response)
        assert _totals(response.json()) == expected, path
    # The default pod saw nothing.
    assert _totals(org.http.get(f"/v0/pods/{org.id}/metrics/events").json()) == {}

    # With a period every event of the last 24 h falls in the newest bucket, stamped at query time.
    before = datetime.now(UTC)
    body = ok(QueryMetricsResponse, org.http.get(f"/v0/inboxes/{alice}/metrics/events", params={"period": 86400}))
    after = datetime.now(UTC)
    sent = body.root["message.sent"]
    assert len(sent) == 1 and sent[0].count == 2
    assert before - timedelta(seconds=1) <= sent[0].timestamp <= after


def test_event_types_in_every_encoding(sdk, http, server):
    _, alice = _pod_inbox(sdk)
    _, bob = _pod_inbox(sdk)
    sdk.inboxes.messages.send(alice, to=bob, subject="hi", text="x")
    path = f"/v0/inboxes/{alice}/metrics/events"
    wanted = ["message.sent", "message.bounced"]
    for params in [{"event_types": '["message.sent", "message.bounced"]'},  # Py SDK: JSON array string
                   [("event_types", "message.sent"), ("event_types", "message.bounced")],  # repeated keys
                   {"event_types": "message.sent,message.bounced"}]:  # comma-separated
        response = http.get(path, params=params)
        ok(QueryMetricsResponse, response)
        assert list(response.json()) == wanted, params
        assert _totals(response.json()) == {"message.sent": 1}
    bare = http.get(path, params={"event_types": "message.sent"}).json()
    assert list(bare) == ["message.sent"] and bare["message.sent"][0]["count"] == 1
    via_sdk = sdk.inboxes.metrics.query_events(alice, event_types=["message.bounced", "message.sent"])
    assert list(via_sdk) == ["message.bounced", "message.sent"]
    assert via_sdk["message.bounced"] == [] and via_sdk["message.sent"][0].count == 1
    error(http.get(path, params={"event_types": "message.opened"}), 400, "validation_error")


# --- bucketing, on arranged rows -----------------------------------------------------------------


def test_buckets_period_descending_limit(quiet, server):
    sdk, http = quiet.sdk, quiet.http
    pod, inbox = _pod_inbox(sdk)
    end = _anchor(hours=2)
    start = end - timedelta(hours=1)
    ms, s = timedelta(milliseconds=1), timedelta(seconds=1)
    _insert_events(server, (quiet.id, pod, inbox), [
        ("message.sent", end - ms, {}),
        ("message.sent", end - 600 * s, {}),  # a boundary belongs to the bucket it starts
        ("message.sent", end - 600 * s - ms, {}),
        ("message.sent", end - 1500 * s, {}),
        ("message.sent", end - 1500 * s, {}),
        ("message.sent", start, {}),  # start is inclusive
        ("message.sent", start - ms, {}),  # before the range
        ("message.sent", end, {}),  # end is exclusive
        ("message.received", end - 10 * s, {}),
        ("message.received.blocked", end - 20 * s, {}),
    ])
    path = f"/v0/inboxes/{inbox}/metrics/events"
    base = {"start": _iso(start), "end": _iso(end)}

    def series(**params: Any) -> dict[str, list[tuple[str, int]]]:
        body = ok(QueryMetricsResponse, http.get(path, params={**base, **params})).model_dump(mode="json")
        return {t: [(b["timestamp"], b["count"]) for b in v] for t, v in body.items() if v}

    def at(seconds_before_end: float) -> str:
        return _iso(end - timedelta(seconds=seconds_before_end))

    # period=600 over one hour: buckets end at end, end-600, ..., end-3000; empty ones are skipped.
    expected = [(at(3000), 1), (at(1200), 2), (at(600), 1), (at(0), 2)]
    assert series(period=600) == {"message.sent": expected, "message.received": [(at(0), 1)],
                                  "message.received.blocked": [(at(0), 1)]}
    assert series(period=600, descending="true")["message.sent"] == expected[::-1]
    assert series(period=600, limit=2)["message.sent"] == expected[:2]  # the first ones in the asked order
    assert series(period=600, limit=2, descending="true")["message.sent"] == expected[::-1][:2]
    # A period that does not divide the range: the oldest bucket is cut at start.
    assert series(period=2400)["message.sent"] == [(at(2400), 1), (at(0), 5)]
    assert series(period=86400)["message.sent"] == [(at(0), 6)]
    # Without a period: one total per type, stamped at the end of the range.
    assert series()["message.sent"] == [(at(0), 6)]
    assert series(limit=1, descending="true")["message.sent"] == [(at(0), 6)]

    # The SDK sends datetimes and booleans its own way; same answer.
    answer = sdk.inboxes.metrics.query_events(inbox, event_types=["message.sent"], start=start, end=end, period=600,
                                              limit=3, descending=True)
    assert [(b.timestamp, b.count) for b in answer["message.sent"]] == [(_at(t), n) for t, n in expected[::-1][:3]]


# --- usage ----------------------------------------------------------------------------------------


def test_usage_running_totals_over_time(sdk, http, server):
    _, writer = _pod_inbox(sdk)
    _, reader = _pod_inbox(sdk)
    for i in range(3):
        sdk.inboxes.messages.send(writer, to=reader, subject=f"usage {i}", text="x" * (100 * (i + 1)))
    sizes = sorted(m["size"] for m in http.get(f"/v0/inboxes/{writer}/messages").json()["messages"])
    assert len(sizes) == 3

    end = _anchor(hours=2)
    old, newer = end - timedelta(seconds=3300), end - timedelta(seconds=1300)
    ids = [m["message_id"] for m in sorted(http.get(f"/v0/inboxes/{writer}/messages").json()["messages"],
                                           key=lambda m: m["size"])]

    async def backdate(session: Any) -> None:
        for message_id, when in zip(ids, [old, old, newer], strict=True):
            await session.execute(update(Message).where(Message.inbox_id == writer, Message.message_id == message_id)
                                  .values(created_at=when))
        await session.execute(update(Thread).where(Thread.inbox_id == writer).values(created_at=old))

    _run(server, backdate)

    def usage(**params: Any) -> dict[str, list[dict[str, Any]]]:
        response = http.get(f"/v0/inboxes/{writer}/metrics/usage", params=params)
        ok(QueryUsageResponse, response)
        return response.json()  # type: ignore[no-any-return]

    def at(seconds_before_end: int) -> str:
        return _iso(end - timedelta(seconds=seconds_before_end))

    body = usage(start=_iso(end - timedelta(hours=1)), end=_iso(end), period=600)
    assert list(body) == ["storage_bytes", "message_count", "thread_count"]  # inbox-level types only
    points = [at(s) for s in (3000, 2400, 1800, 1200, 600, 0)]
    assert _series(body, "message_count", "value") == list(zip(points, [2, 2, 2, 3, 3, 3], strict=True))
    two, three = sizes[0] + sizes[1], sum(sizes)
    assert _series(body, "storage_bytes", "value") == list(zip(points, [two, two, two, three, three, three],
                                                               strict=True))
    assert _series(body, "thread_count", "value") == [(p, 3) for p in points]

    # Rows older than start are the base of the running total.
    later = usage(start=_iso(end - timedelta(seconds=1800)), end=_iso(end), period=600, usage_types='["message_count"]')
    assert later == {"message_count": [{"timestamp": at(1200), "value": 3}, {"timestamp": at(600), "value": 3},
                                       {"timestamp": at(0), "value": 3}]}
    # descending and limit pick from the newest end; inapplicable types are dropped silently.
    picked = usage(start=_iso(end - timedelta(hours=1)), end=_iso(end), period=600, descending="true", limit=4,
                   usage_types="message_count,pod_count,inbox_count")
    assert _series(picked, "message_count", "value") == [(at(0), 3), (at(600), 3), (at(1200), 3), (at(1800), 2)]
    assert list(picked) == ["message_count"]

    answer = sdk.inboxes.metrics.query_usage(writer, usage_types=["thread_count"], start=end - timedelta(hours=1),
                                             end=end, period=1800)
    assert [(p.timestamp, p.value) for p in answer["thread_count"]] == [(end - timedelta(seconds=1800), 3), (end, 3)]


def test_usage_counts_at_each_scope(org, server):
    pod, alice = _pod_inbox(org.sdk)
    _, bob = _pod_inbox(org.sdk, pod)
    _, carol = _pod_inbox(org.sdk)  # another pod
    org.sdk.inboxes.messages.send(alice, to=[bob, carol], subject="hello", text="hi all")
    send_raw(server, build(to=alice, subject="in").as_bytes(), [alice])
    wait_messages(org.http, bob, 1)
    wait_messages(org.http, carol, 1)
    wait_messages(org.http, alice, 2)

    def sizes(inbox: str) -> list[int]:
        return [m["size"] for m in org.http.get(f"/v0/inboxes/{inbox}/messages").json()["messages"]]

    def newest(path: str) -> dict[str, int]:
        response = org.http.get(path)
        ok(QueryUsageResponse, response)
        body = response.json()
        for points in body.values():
            assert len(points) == 144  # 24 h / the default period of 600 s
            values = [p["value"] for p in points]
            assert values == sorted(values)  # running totals never decrease
        return {t: points[-1]["value"] for t, points in body.items()}

    threads = {alice: 2, bob: 1, carol: 1}
    assert newest(f"/v0/inboxes/{alice}/metrics/usage") == {
        "storage_bytes": sum(sizes(alice)), "message_count": 2, "thread_count": 2}
    assert newest(f"/v0/pods/{pod}/metrics/usage") == {
        "storage_bytes": sum(sizes(alice) + sizes(bob)), "message_count": 3, "thread_count": 3,
        "inbox_count": 2, "domain_count": 0}
    everything = {"storage_bytes": sum(sizes(alice) + sizes(bob) + sizes(carol)), "message_count": 4,
                  "thread_count": sum(threads.values()), "inbox_count": 3, "pod_count": 3, "domain_count": 0}
    assert newest("/v0/metrics/usage") == everything  # pods: the default one and the two made here
    # The organization is minutes old: a day ago everything was zero.
    body = org.http.get("/v0/metrics/usage").json()
    assert {t: points[0]["value"] for t, points in body.items()} == dict.fromkeys(everything, 0)

    answer = org.sdk.pods.metrics.query_usage(pod, usage_types=["inbox_count", "pod_count"], period=3600,
                                              descending=True, limit=1)
    assert list(answer) == ["inbox_count"] and [p.value for p in answer["inbox_count"]] == [2]


# --- rates ----------------------------------------------------------------------------------------


def test_rates_from_real_sends(sdk, http, server):
    _, alice = _pod_inbox(sdk)
    _, bob = _pod_inbox(sdk)
    _, carol = _pod_inbox(sdk)
    path = f"/v0/inboxes/{alice}/metrics/rates"
    quiet = ok(QueryRatesResponse, http.get(path))
    assert list(quiet.root) == ["bounce", "complaint"]
    assert len(quiet.root["bounce"]) == 24  # hourly grid over the last day
    assert all(p.sent == 0 and p.rate is None for points in quiet.root.values() for p in points)
    assert all("rate" not in p for p in http.get(path).json()["bounce"])  # no rate when nothing was sent

    sdk.inboxes.messages.send(alice, to=[bob, carol], subject="rates", text="two recipients")
    sdk.inboxes.messages.send(alice, to=bob, subject="rates", text="one recipient")
    body = ok(QueryRatesResponse, http.get(path, params={"descending": "true"}))
    for points in body.root.values():
        assert (points[0].sent, points[0].rate) == (3, 0.0)  # counted per recipient
        assert all(p.sent == 0 and p.rate is None for p in points[1:])
    answer = sdk.inboxes.metrics.query_rates(alice, rate_types=["complaint"], descending=True, limit=2)
    assert list(answer) == ["complaint"]
    assert [(p.sent, p.rate) for p in answer["complaint"]] == [(3, 0.0), (0, None)]


def test_rates_rolling_window_on_arranged_events(quiet, server):
    sdk, http = quiet.sdk, quiet.http
    pod, inbox = _pod_inbox(sdk)
    end = _anchor(hours=5)  # far from the bucket test's rows, which share this organization

    def ago(seconds: int) -> datetime:
        return end - timedelta(seconds=seconds)

    _insert_events(server, (quiet.id, pod, inbox), [
        ("message.sent", ago(3700), {"send": {}}),  # before start, inside the oldest window; no list: 1
        ("message.sent", ago(2500), {"send": {"recipients": ["a@x.test", "b@x.test", "c@x.test", "d@x.test"]}}),
        ("message.bounced", ago(2000), {"bounce": {"recipients": [{"address": "a@x.test", "status": "5.1.1"}]}}),
        ("message.sent", ago(300), {"send": {"recipients": ["e@x.test", "f@x.test"]}}),
        ("message.complained", ago(100), {"complaint": {"recipients": ["e@x.test"]}}),
    ])
    params = {"start": _iso(ago(3600)), "end": _iso(end), "period": 600, "window": 1200}
    body = ok(QueryRatesResponse, http.get(f"/v0/pods/{pod}/metrics/rates", params=params)).model_dump(mode="json")

    def grid(key: str) -> list[tuple[str, int, float | None]]:
        return [(p["timestamp"], p["sent"], p["rate"]) for p in body[key]]

    stamps = [_iso(ago(s)) for s in (3000, 2400, 1800, 1200, 600, 0)]
    sent = [1, 4, 4, 0, 0, 2]  # each point: recipients sent in [T - 1200 s, T)
    assert grid("bounce") == list(zip(stamps, sent, [0.0, 0.0, 0.25, None, None, 0.0], strict=True))
    assert grid("complaint") == list(zip(stamps, sent, [0.0, 0.0, 0.0, None, None, 0.5], strict=True))

    # A window of one period is the plain per-bucket ratio.
    narrow = http.get(f"/v0/inboxes/{inbox}/metrics/rates",
                      params={**params, "window": 600, "rate_types": "bounce", "limit": 3}).json()
    assert narrow == {"bounce": [{"timestamp": stamps[0], "sent": 0}, {"timestamp": stamps[1], "sent": 4, "rate": 0.0},
                                 {"timestamp": stamps[2], "sent": 0}]}
    answer = sdk.metrics.query_rates(rate_types=["bounce"], start=ago(3600), end=end, period=600, window=1200)
    assert [(_iso(p.timestamp), p.sent, p.rate) for p in answer["bounce"]] == grid("bounce")


# --- validation -----------------------------------------------------------------------------------


def test_validation_errors(sdk, http, server):
    now = datetime.now(UTC)
    long_ago = _iso(now - timedelta(days=91))
    bad = [
        ("events", {"start": long_ago}),
        ("usage", {"start": long_ago}),
        ("rates", {"start": long_ago}),
        ("events", {"end": long_ago}),
        ("events", {"start": _iso(now - timedelta(hours=1)), "end": _iso(now - timedelta(hours=2))}),
        ("events", {"start": _iso(now + timedelta(hours=1))}),  # a future end is clamped to now: start > end
        ("events", {"start": "yesterday"}),
        ("events", {"start": "0001-01-01T00:00:00+05:00"}),
        ("events", {"period": 0}),
        ("events", {"period": 86401}),
        ("events", {"period": "abc"}),
        ("events", {"limit": 0}),
        ("events", {"limit": 1001}),
        ("events", {"descending": "sideways"}),
        ("events", {"event_types": '["message.sent", 3]'}),
        ("usage", {"usage_types": "bytes"}),
        ("usage", {"period": 60}),  # 24 h / 60 s = 1440 buckets
        ("usage", {"period": 0}),
        ("rates", {"rate_types": "delay"}),
        ("rates", {"window": 5400}),  # not a multiple of the default period (3600)
        ("rates", {"period": 600, "window": 900}),
        ("rates", {"window": 0}),
        ("rates", {"period": 120, "window": 86400}),  # 720 grid points + 720 window buckets > 1000
        ("rates", {"period": 600, "window": 600 * 857}),  # 144 + 857
    ]
    for kind, params in bad:
        error(http.get(f"/v0/metrics/{kind}", params=params), 400, "validation_error")
    # Within 90 days (and a little slack for the client's clock) is fine; so is the 1000-bucket edge.
    assert http.get("/v0/metrics/events", params={"start": _iso(now - timedelta(days=90))}).status_code == 200
    end = now - timedelta(minutes=1)
    for seconds, status in ((600_000, 200), (600_001, 400)):  # 1000 buckets of 600 s, then one too many
        params = {"start": _iso(end - timedelta(seconds=seconds)), "end": _iso(end), "period": 600}
        assert http.get("/v0/metrics/usage", params=params).status_code == status
    assert http.get("/v0/metrics/rates", params={"period": 600, "window": 600 * 856}).status_code == 200

    with pytest.raises(ValidationError) as exc:
        sdk.metrics.query_usage(period=1)
    assert exc.value.status_code == 400
    with pytest.raises(ValidationError):
        sdk.metrics.query_events(start=now - timedelta(days=100))
    with pytest.raises(ValidationError):
        sdk.metrics.query_rates(period=3600, window=1800)


# --- scopes and permissions -----------------------------------------------------------------------


def _status(call: Any) -> int:
    with pytest.raises(ApiError) as exc:
        call()
    return exc.value.status_code  # type: ignore[no-any-return]


def test_scope_walls_and_permission(sdk, http, server):
    pod, mine = _pod_inbox(sdk)
    _, neighbour = _pod_inbox(sdk, pod)
    other_pod, stranger = _pod_inbox(sdk)
    inbox_key = _key(http, f"/v0/inboxes/{mine}/api-keys")
    pod_key = _key(http, f"/v0/pods/{pod}/api-keys")
    with make_http(server, inbox_key) as client:
        for kind in ("events", "usage", "rates"):
            ok({"events": QueryMetricsResponse, "usage": QueryUsageResponse, "rates": QueryRatesResponse}[kind],
               client.get(f"/v0/inboxes/{mine}/metrics/{kind}"))
            for path in (f"/v0/inboxes/{neighbour}/metrics/{kind}", f"/v0/inboxes/{stranger}/metrics/{kind}",
                         f"/v0/pods/{other_pod}/metrics/{kind}", f"/v0/inboxes/nobody-{_tag()}@x.test/metrics/{kind}"):
                error(client.get(path), 404, "not_found")
        error(client.get(f"/v0/inboxes/{neighbour}/metrics"), 404, "not_found")
        # Its own pod's route, and the un-prefixed one, stay at the key's inbox level.
        assert list(client.get(f"/v0/pods/{pod}/metrics/usage").json()) == ["storage_bytes", "message_count",
                                                                            "thread_count"]
        assert list(client.get("/v0/metrics/usage").json()) == ["storage_bytes", "message_count", "thread_count"]
    scoped = make_sdk(server, inbox_key)
    assert _status(lambda: scoped.inboxes.metrics.query_events(neighbour)) == 404
    assert _status(lambda: scoped.pods.metrics.query_rates(other_pod)) == 404
    with make_http(server, pod_key) as client:
        assert list(client.get("/v0/metrics/usage").json()) == ["storage_bytes", "message_count", "thread_count",
                                                                "inbox_count", "domain_count"]
        ok(QueryMetricsResponse, client.get(f"/v0/inboxes/{neighbour}/metrics/events"))
        error(client.get(f"/v0/inboxes/{stranger}/metrics/events"), 404, "not_found")
        error(client.get(f"/v0/pods/{other_pod}/metrics/usage"), 404, "not_found")

    reader = _key(http, "/v0/api-keys", permissions={"inbox_read": True})
    metrics_only = _key(http, "/v0/api-keys", permissions={"metrics_read": True})
    with make_http(server, reader) as client:
        for path in ("/v0/metrics/events", "/v0/metrics/usage", "/v0/metrics/rates", "/v0/metrics",
                     f"/v0/pods/{pod}/metrics/usage", f"/v0/inboxes/{mine}/metrics/rates"):
            error(client.get(path), 403, "missing_permission")
    assert _status(lambda: make_sdk(server, reader).metrics.query_usage()) == 403
    with make_http(server, metrics_only) as client:
        ok(QueryUsageResponse, client.get(f"/v0/pods/{pod}/metrics/usage"))
        ok(QueryMetricsResponse, client.get("/v0/metrics"))
