"""Errors raised by services. api/errors.py maps each class to its HTTP status and body."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    name = "Error"
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, name: str | None = None,
                 fix: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name
        self.fix = fix
        self.extra = extra


class NotFound(ServiceError):
    name = "NotFoundError"
    code = "not_found"


class Invalid(ServiceError):
    """A request that fails validation; `errors` lists the offending fields."""

    name = "ValidationError"
    code = "validation_error"

    def __init__(self, message: str, *, path: list[str | int] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errors = [{"code": "invalid", "path": path or [], "message": message}]


class Unauthorized(ServiceError):
    name = "UnauthorizedError"
    code = "unauthorized"


class Forbidden(ServiceError):
    name = "ForbiddenError"
    code = "forbidden"


class Conflict(ServiceError):
    name = "ConflictError"
    code = "conflict"


class RateLimited(ServiceError):
    name = "RateLimitError"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Unprocessable(ServiceError):
    name = "UnprocessableError"
    code = "unprocessable"


def not_found(what: str) -> NotFound:
    return NotFound(f"{what} not found")
