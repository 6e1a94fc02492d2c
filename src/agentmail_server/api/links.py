"""Absolute, signed download URLs, and the unauthenticated route that serves them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response

from ..db.engine import Database
from ..services import links, messages
from .deps import get_db

router = APIRouter(include_in_schema=False)


def signed_url(request: Request, payload: dict[str, Any]) -> tuple[str, datetime]:
    token, expires = links.sign(request.app.state.link_secret, payload)
    base = request.app.state.settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/v0/_blobs/{token}", expires


def _disposition(filename: str) -> str:
    # attachment, never inline: a downloaded HTML part must not run in the API's origin.
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@router.get("/v0/_blobs/{token}")
async def download(token: str, request: Request, db: Database = Depends(get_db)) -> Response:
    payload = links.verify(request.app.state.link_secret, token)
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    if payload.get("k") == "raw":
        _, raw = await messages.raw_bytes(db, str(payload.get("m")))
        headers["Content-Disposition"] = _disposition("message.eml")
        return Response(raw, media_type="message/rfc822", headers=headers)
    if payload.get("k") == "blob":
        # A stored file outside any message (draft attachments): its metadata travels in the token.
        data = await messages.blob_bytes(db, str(payload.get("b")))
        headers["Content-Disposition"] = _disposition(str(payload.get("f") or "attachment"))
        return Response(data, media_type=str(payload.get("t") or "application/octet-stream"), headers=headers)
    meta, data = await messages.attachment_content(db, str(payload.get("m")), str(payload.get("a")))
    headers["Content-Disposition"] = _disposition(str(meta.get("filename") or "attachment"))
    return Response(data, media_type=str(meta.get("content_type") or "application/octet-stream"), headers=headers)
