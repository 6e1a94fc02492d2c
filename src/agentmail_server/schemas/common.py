"""Shared wire conventions: millisecond UTC timestamps, lenient requests, error bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer


def format_timestamp(value: datetime) -> str:
    # REFERENCE §1.6: RFC 3339, UTC, always millisecond precision with Z.
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")]


class RequestModel(BaseModel):
    """Request bodies: unknown keys are ignored (REFERENCE §1.5)."""

    model_config = ConfigDict(extra="ignore")


class ResponseModel(BaseModel):
    """Response bodies. Optional fields default to None and are omitted on the wire."""

    model_config = ConfigDict(extra="forbid")


class ErrorResponse(ResponseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    code: str | None = None
    message: str
    fix: str | None = None
    docs: str | None = None


class ValidationErrorResponse(ResponseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    code: str | None = None
    message: str | None = None
    errors: Any
    fix: str | None = None
    docs: str | None = None


Metadata = dict[str, str | int | float | bool]
UpdateMetadata = dict[str, str | int | float | bool | None]
