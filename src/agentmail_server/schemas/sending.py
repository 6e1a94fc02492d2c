"""Wire models for send, reply, reply-all and forward (MODELS.md)."""

from __future__ import annotations

from typing import Literal

from .common import RequestModel, ResponseModel

Addresses = str | list[str]


class SendAttachment(RequestModel):
    filename: str | None = None
    content_type: str | None = None
    content_disposition: Literal["inline", "attachment"] | None = None
    content_id: str | None = None
    content: str | None = None
    url: str | None = None


class SendMessageRequest(RequestModel):
    labels: list[str] | None = None
    reply_to: Addresses | None = None
    to: Addresses | None = None
    cc: Addresses | None = None
    bcc: Addresses | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[SendAttachment] | None = None
    headers: dict[str, str] | None = None
    track_opens: bool | None = None


class ReplyToMessageRequest(RequestModel):
    labels: list[str] | None = None
    reply_to: Addresses | None = None
    to: Addresses | None = None
    cc: Addresses | None = None
    bcc: Addresses | None = None
    reply_all: bool | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[SendAttachment] | None = None
    headers: dict[str, str] | None = None
    track_opens: bool | None = None


class ReplyAllMessageRequest(RequestModel):
    labels: list[str] | None = None
    reply_to: Addresses | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[SendAttachment] | None = None
    headers: dict[str, str] | None = None
    track_opens: bool | None = None


class SendMessageResponse(ResponseModel):
    message_id: str
    thread_id: str
