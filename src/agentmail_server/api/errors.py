"""The one error mapper: every failure leaves as an AgentMail error body (REFERENCE §1.11)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..services import errors as svc

log = logging.getLogger("agentmail_server.api")

DOCS = "https://docs.agentmail.to/errors#"

STATUS: dict[type[svc.ServiceError], int] = {
    svc.Invalid: 400,
    svc.Unauthorized: 401,
    svc.Forbidden: 403,
    svc.NotFound: 404,
    svc.Conflict: 409,
    svc.Unprocessable: 422,
    svc.RateLimited: 429,
}


def error_body(name: str, code: str, message: str, *, fix: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "code": code, "message": message}
    if fix:
        body["fix"] = fix
    body["docs"] = DOCS + code
    body.update(extra)
    return body


def validation_body(errors: list[dict[str, Any]], message: str = "Request validation failed") -> dict[str, Any]:
    return error_body(
        "ValidationError", "validation_error", message, errors=errors,
        fix="Correct the fields listed in errors and retry",
    )


def _status_of(exc: svc.ServiceError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(exc: svc.ServiceError) -> JSONResponse:
    if isinstance(exc, svc.Invalid):
        body = validation_body(exc.errors, exc.message)
    else:
        body = error_body(exc.name, exc.code, exc.message, fix=exc.fix, **exc.extra)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, svc.RateLimited) else None
    return JSONResponse(body, status_code=_status_of(exc), headers=headers)


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, svc.ServiceError)
    return error_response(exc)


def _loc_path(loc: tuple[Any, ...]) -> list[str | int]:
    # Drop FastAPI's "body"/"query"/"path"/"header" prefix so paths name the caller's own fields.
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return [p if isinstance(p, int) else str(p) for p in parts]


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        kind = err.get("type", "invalid")
        message = "Body is not valid JSON" if kind == "json_invalid" else err.get("msg", "Invalid value")
        extra_path = (err.get("ctx") or {}).get("path") or []
        errors.append({"code": kind, "path": [*_loc_path(tuple(err.get("loc", ()))), *extra_path],
                       "message": message})
    return JSONResponse(validation_body(errors), status_code=400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        body = error_body("NotFoundError", "not_found", "Route not found")
    elif exc.status_code == 405:
        body = error_body("MethodNotAllowedError", "method_not_allowed", f"Method {request.method} not allowed")
    elif exc.status_code == 400:
        body = validation_body([{"code": "invalid_body", "path": [], "message": str(exc.detail)}],
                               "Request body could not be parsed")
    elif exc.status_code == 413:
        body = error_body("PayloadTooLargeError", "payload_too_large", str(exc.detail))
    else:
        body = error_body("Error", "error", str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        error_body("InternalServerError", "internal_error", "Internal server error"), status_code=500
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(svc.ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
