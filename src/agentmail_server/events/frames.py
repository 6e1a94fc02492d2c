"""Serialising event payloads for the wire (WebSocket frames and webhook bodies alike)."""

from __future__ import annotations

import json
from typing import Any

# The Python SDK's WebSocket client drops frames over 1 MiB; production omits bodies above 64 KB and
# receivers fetch the message instead.
MAX_FRAME_BYTES = 64 * 1024
BODY_FIELDS = ("text", "html", "extracted_text", "extracted_html")


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def wire_body(payload: dict[str, Any]) -> str:
    """The event as sent: unchanged, or without the message bodies when it would exceed 64 KB."""
    body = dumps(payload)
    if len(body.encode()) <= MAX_FRAME_BYTES or not isinstance(payload.get("message"), dict):
        return body
    message = {k: v for k, v in payload["message"].items() if k not in BODY_FIELDS}
    return dumps({**payload, "message": message})
