"""Identifier helpers."""

from __future__ import annotations

import re
import uuid

_CLIENT_ID = re.compile(r"^[A-Za-z0-9\-._~]{1,256}$")


def new_uuid() -> str:
    return str(uuid.uuid4())


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def valid_client_id(value: str) -> bool:
    # REFERENCE §1.12: Idempotency-Key characters, and never an '@'.
    return bool(_CLIENT_ID.match(value))
