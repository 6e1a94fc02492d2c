"""Request dependencies: the database, the calling principal, and the shared route class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from ..config import Settings
from ..db.engine import Database
from ..services import api_keys
from ..services.errors import Unauthorized
from ..services.principal import Principal

# Declared so the OpenAPI document advertises bearer auth; the header is parsed below so that each
# failure gets its own AgentMail error code.
_bearer = HTTPBearer(auto_error=False, description="AgentMail API key")


class WireRoute(APIRoute):
    """Routes that omit absent optional fields, as production does (REFERENCE §1.6)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_none"] = True
        super().__init__(path, endpoint, **kwargs)


async def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("Missing Authorization header", code="missing_authorization",
                           fix="Send Authorization: Bearer <api key>")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization must use the Bearer scheme", code="invalid_token_type")
    return token


async def get_principal(request: Request, _: Any = Depends(_bearer)) -> Principal:
    """The caller, authenticated by api/guard.py before the body was read."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        token = bearer_token(request.headers.get("authorization"))
        principal = await api_keys.authenticate(get_db(request), token)
        request.state.principal = principal
    return principal  # type: ignore[no-any-return]
