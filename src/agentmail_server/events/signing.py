"""Svix / Standard Webhooks signatures: what receivers verify with `svix.webhooks.Webhook(secret).verify`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
KEY_BYTES = 24


def new_secret() -> str:
    """`whsec_` + base64 of fresh random key bytes (Svix uses 24)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The `svix-signature` value: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{msg_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The signature headers, under both the Svix names and the Standard Webhooks aliases."""
    signature = sign(secret, msg_id, timestamp, body)
    values = {"id": msg_id, "timestamp": str(timestamp), "signature": signature}
    return {f"{prefix}-{name}": value for prefix in ("svix", "webhook") for name, value in values.items()}
