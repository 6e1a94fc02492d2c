"""Wire models for metrics (MODELS.md "Metrics"; REFERENCE §2.16).

The three answers are bare JSON objects keyed by type (`{"message.sent": [...], ...}`), hence root
models; each list holds points whose `timestamp` is the END of the bucket (or window) they cover.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import RootModel

from .common import ResponseModel, Timestamp

MetricEventType = Literal[
    "message.received",
    "message.received.spam",
    "message.received.blocked",
    "message.received.unauthenticated",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complained",
    "message.rejected",
    "domain.verified",
]
UsageType = Literal["storage_bytes", "message_count", "thread_count", "inbox_count", "pod_count", "domain_count"]
RateType = Literal["bounce", "complaint"]

METRIC_EVENT_TYPES: tuple[str, ...] = get_args(MetricEventType)
USAGE_TYPES: tuple[str, ...] = get_args(UsageType)
RATE_TYPES: tuple[str, ...] = get_args(RateType)


class MetricBucket(ResponseModel):
    timestamp: Timestamp
    count: int


class UsagePoint(ResponseModel):
    timestamp: Timestamp
    value: int


class RatePoint(ResponseModel):
    timestamp: Timestamp
    # Absent (the house rule for empty optionals, REFERENCE §1.6) when nothing was sent in the window.
    rate: float | None = None
    sent: int


class QueryMetricsResponse(RootModel[dict[MetricEventType, list[MetricBucket]]]):
    pass


class QueryUsageResponse(RootModel[dict[UsageType, list[UsagePoint]]]):
    pass


class QueryRatesResponse(RootModel[dict[RateType, list[RatePoint]]]):
    pass
