"""Checking response bodies against our wire models, stricter than the lenient SDK."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from agentmail_server.schemas.common import ErrorResponse, ValidationErrorResponse

M = TypeVar("M", bound=BaseModel)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TIMESTAMP_KEYS = ("created_at", "updated_at", "used_at", "expires_at", "enabled_at", "timestamp")


def _walk(value: Any, path: str = "$") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            # Production omits absent optionals instead of sending null (REFERENCE §1.6).
            assert item is not None, f"{path}.{key} is null; absent fields must be omitted"
            if key in TIMESTAMP_KEYS:
                assert isinstance(item, str) and TIMESTAMP.match(item), f"{path}.{key}={item!r} not ms-Z"
            _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]")


def check(model: type[M], body: Any) -> M:
    """Validate `body` against `model` (unknown keys rejected) and our JSON conventions."""
    _walk(body)
    return model.model_validate(body)


def ok(model: type[M], response: httpx.Response, status: int = 200) -> M:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    return check(model, response.json())


def error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An error answer: the status, AgentMail's error shape, and (optionally) its code."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    if status == 400:
        ValidationErrorResponse.model_validate(body)
        assert isinstance(body["errors"], list) and body["errors"]
    else:
        ErrorResponse.model_validate(body)
    if code is not None:
        assert body.get("code") == code, body
    return body  # type: ignore[no-any-return]
