"""Signed, expiring download links for raw messages and attachments (no API key needed to follow)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..db.engine import Database
from ..db.tables import ServerSetting
from ..db.types import utcnow
from .errors import NotFound

LINK_TTL = timedelta(hours=1)
SECRET_NAME = "link_secret"


async def load_secret(db: Database) -> bytes:
    """The signing key shared by all replicas, created on first use."""
    async with db.write() as session:
        await db.serialize(session, SECRET_NAME)
        value = await session.scalar(select(ServerSetting.value).where(ServerSetting.name == SECRET_NAME))
        if value is None:
            value = secrets.token_hex(32)
            session.add(ServerSetting(name=SECRET_NAME, value=value))
    return bytes.fromhex(value)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, payload: dict[str, Any], *, ttl: timedelta = LINK_TTL) -> tuple[str, datetime]:
    expires = utcnow() + ttl
    body = _b64(json.dumps({**payload, "exp": int(expires.timestamp())}, separators=(",", ":")).encode())
    mac = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:20])
    return f"{body}.{mac}", expires


def verify(secret: bytes, token: str) -> dict[str, Any]:
    body, _, mac = token.partition(".")
    try:
        expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:20])
        if not hmac.compare_digest(expected, mac):
            raise ValueError("bad signature")
        payload = json.loads(_unb64(body))
        if not isinstance(payload, dict) or payload.get("exp", 0) < utcnow().timestamp():
            raise ValueError("expired")
    except (ValueError, TypeError):
        raise NotFound("Link not found or expired") from None
    return payload
