"""Wire models for drafts (MODELS.md: CreateDraftRequest, UpdateDraftRequest, Draft, DraftItem, ListDraftsResponse)."""

from __future__ import annotations

from typing import Any, Literal

from ..db import tables
from ..mail.parse import PREVIEW_CHARS
from .common import PageResponse, RequestModel, ResponseModel, Timestamp
from .messages import Attachment, Labels
from .sending import SendAttachment

SendStatus = Literal["scheduled", "sending", "failed"]


class CreateDraftRequest(RequestModel):
    labels: list[str] | None = None
    reply_to: list[str] | None = None
    to: list[str] | None = None
    cc: list[str] | None = None
    bcc: list[str] | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[SendAttachment] | None = None
    in_reply_to: str | None = None
    forward_of: str | None = None
    reply_all: bool | None = None
    send_at: Timestamp | None = None
    client_id: str | None = None
    # `headers` is not part of drafts: like any unknown key it is ignored (REFERENCE §2.8).


class UpdateDraftRequest(RequestModel):
    """Omitted fields stay as they are; an explicit null (or [] for recipients) clears."""

    reply_to: list[str] | None = None
    to: list[str] | None = None
    cc: list[str] | None = None
    bcc: list[str] | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    add_attachments: list[SendAttachment] | None = None
    remove_attachments: list[str] | None = None
    add_labels: Labels | None = None
    remove_labels: Labels | None = None
    send_at: Timestamp | None = None


def _preview(text: str | None) -> str | None:
    # As on messages (mail/parse.py): the start of the text body, whitespace collapsed.
    if not text:
        return None
    return " ".join(text[: PREVIEW_CHARS * 50].split())[:PREVIEW_CHARS] or None


def _attachments(items: list[dict[str, Any]]) -> list[Attachment] | None:
    return [Attachment.of(a) for a in items] or None


class DraftItem(ResponseModel):
    inbox_id: str
    draft_id: str
    labels: list[str]
    to: list[str] | None = None
    cc: list[str] | None = None
    bcc: list[str] | None = None
    subject: str | None = None
    preview: str | None = None
    attachments: list[Attachment] | None = None
    in_reply_to: str | None = None
    forward_of: str | None = None
    send_status: SendStatus | None = None
    send_at: Timestamp | None = None
    updated_at: Timestamp

    @classmethod
    def fields_of(cls, row: tables.Draft) -> dict[str, Any]:
        return {
            "inbox_id": row.inbox_id, "draft_id": row.id, "labels": list(row.labels), "to": row.to or None,
            "cc": row.cc or None, "bcc": row.bcc or None, "subject": row.subject, "preview": _preview(row.text),
            "attachments": _attachments(row.attachments), "in_reply_to": row.in_reply_to,
            "forward_of": row.forward_of, "send_status": row.send_status, "send_at": row.send_at,
            "updated_at": row.updated_at,
        }

    @classmethod
    def of(cls, row: tables.Draft) -> DraftItem:
        return cls(**cls.fields_of(row))


class Draft(DraftItem):
    client_id: str | None = None
    reply_to: list[str] | None = None
    text: str | None = None
    html: str | None = None
    references: list[str] | None = None
    created_at: Timestamp

    @classmethod
    def of(cls, row: tables.Draft) -> Draft:
        return cls(**cls.fields_of(row), client_id=row.client_id, reply_to=row.reply_to or None, text=row.text,
                   html=row.html, references=row.references or None, created_at=row.created_at)


class ListDraftsResponse(PageResponse):
    drafts: list[DraftItem]
