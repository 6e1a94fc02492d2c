"""Shared wire conventions: millisecond UTC timestamps, lenient requests, error bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, model_validator
from pydantic_core import PydanticCustomError


def format_timestamp(value: datetime) -> str:
    # REFERENCE §1.6: RFC 3339, UTC, always millisecond precision with Z.
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _as_utc(value: datetime) -> datetime:
    # A datetime sent without an offset means UTC, never the server's local time.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = Annotated[
    datetime, AfterValidator(_as_utc), PlainSerializer(format_timestamp, return_type=str, when_used="json")
]


def _find_nul(value: Any, path: list[str | int]) -> list[str | int] | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_nul(key, [*path, str(key)]) or _find_nul(item, [*path, str(key)])
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _find_nul(item, [*path, i])
            if found is not None:
                return found
    return None


class RequestModel(BaseModel):
    """Request bodies: unknown keys are ignored (REFERENCE §1.5).

    NaN/Infinity are refused (JSON has no such numbers), and so is NUL anywhere in text: PostgreSQL
    cannot store it and no mail header may carry it.
    """

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = _find_nul(data, [])
        if where is not None:
            # api/errors.py appends ctx["path"] to the location, so the error names the field.
            raise PydanticCustomError("nul_character", "Text must not contain NUL characters", {"path": where})
        return data


class ResponseModel(BaseModel):
    """Response bodies. Optional fields default to None and are omitted on the wire."""

    model_config = ConfigDict(extra="forbid")


class PageResponse(ResponseModel):
    """The paging fields every list answer shares (REFERENCE §1.8); subclasses add the items."""

    count: int
    limit: int | None = None
    next_page_token: str | None = None


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
