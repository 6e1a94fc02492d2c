"""Wire models for messages, threads and attachments (MODELS.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..db import tables
from .common import PageResponse, RequestModel, ResponseModel, Timestamp


class Attachment(ResponseModel):
    attachment_id: str
    filename: str | None = None
    size: int
    content_type: str | None = None
    content_disposition: Literal["inline", "attachment"] | None = None
    content_id: str | None = None

    @classmethod
    def of(cls, meta: dict[str, Any]) -> Attachment:
        return cls(**{k: meta.get(k) for k in cls.model_fields})


class AttachmentResponse(Attachment):
    download_url: str
    text_url: str | None = None
    expires_at: Timestamp


def _attachments(items: list[dict[str, Any]]) -> list[Attachment] | None:
    return [Attachment.of(a) for a in items] or None


class MessageItem(ResponseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    inbox_id: str
    thread_id: str
    message_id: str
    labels: list[str]
    timestamp: Timestamp
    from_: str = Field(alias="from")
    to: list[str]
    cc: list[str] | None = None
    bcc: list[str] | None = None
    reply_to: list[str] | None = None
    subject: str | None = None
    preview: str | None = None
    attachments: list[Attachment] | None = None
    in_reply_to: str | None = None
    references: list[str] | None = None
    headers: dict[str, str] | None = None
    size: int
    updated_at: Timestamp
    created_at: Timestamp

    @classmethod
    def fields_of(cls, row: tables.Message) -> dict[str, Any]:
        return {
            "inbox_id": row.inbox_id, "thread_id": row.thread_id, "message_id": row.message_id,
            "labels": list(row.labels), "timestamp": row.timestamp, "from_": row.from_, "to": list(row.to),
            "cc": row.cc or None, "bcc": row.bcc or None, "reply_to": row.reply_to or None,
            "subject": row.subject, "preview": row.preview, "attachments": _attachments(row.attachments),
            "in_reply_to": row.in_reply_to, "references": row.references or None,
            "headers": row.headers or None, "size": row.size, "updated_at": row.updated_at,
            "created_at": row.created_at,
        }

    @classmethod
    def of(cls, row: tables.Message) -> MessageItem:
        return cls(**cls.fields_of(row))


class Message(MessageItem):
    text: str | None = None
    html: str | None = None
    extracted_text: str | None = None
    extracted_html: str | None = None

    @classmethod
    def of(cls, row: tables.Message, *, bodies: bool = True) -> Message:
        fields = cls.fields_of(row)
        if bodies:
            fields.update(text=row.text, html=row.html, extracted_text=row.extracted_text,
                          extracted_html=row.extracted_html)
        return cls(**fields)


class ListMessagesResponse(PageResponse):
    messages: list[MessageItem]


class ThreadItem(ResponseModel):
    inbox_id: str
    thread_id: str
    labels: list[str]
    timestamp: Timestamp
    received_timestamp: Timestamp | None = None
    sent_timestamp: Timestamp | None = None
    senders: list[str]
    recipients: list[str]
    subject: str | None = None
    preview: str | None = None
    attachments: list[Attachment] | None = None
    last_message_id: str
    message_count: int
    size: int
    updated_at: Timestamp
    created_at: Timestamp

    @classmethod
    def fields_of(cls, row: tables.Thread) -> dict[str, Any]:
        return {
            "inbox_id": row.inbox_id, "thread_id": row.id, "labels": list(row.labels), "timestamp": row.timestamp,
            "received_timestamp": row.received_timestamp, "sent_timestamp": row.sent_timestamp,
            "senders": list(row.senders), "recipients": list(row.recipients), "subject": row.subject,
            "preview": row.preview, "attachments": _attachments(row.attachments),
            "last_message_id": row.last_message_id, "message_count": row.message_count, "size": row.size,
            "updated_at": row.updated_at, "created_at": row.created_at,
        }

    @classmethod
    def of(cls, row: tables.Thread) -> ThreadItem:
        return cls(**cls.fields_of(row))


class Thread(ThreadItem):
    count: int
    limit: int | None = None
    next_page_token: str | None = None
    messages: list[Message]


class ListThreadsResponse(PageResponse):
    threads: list[ThreadItem]


Labels = str | list[str]


class UpdateMessageRequest(RequestModel):
    add_labels: Labels | None = None
    remove_labels: Labels | None = None


class UpdateMessageResponse(ResponseModel):
    message_id: str
    labels: list[str]


class BatchGetMessagesRequest(RequestModel):
    message_ids: list[str]


class BatchGetMessagesResponse(ResponseModel):
    limit: int
    count: int
    messages: list[Message]


class BatchUpdateMessagesRequest(RequestModel):
    message_ids: list[str]
    add_labels: Labels | None = None
    remove_labels: Labels | None = None


class BatchUpdateMessagesResponse(ResponseModel):
    limit: int
    count: int
    updates: list[UpdateMessageResponse]


class UpdateThreadRequest(RequestModel):
    add_labels: Labels | None = None
    remove_labels: Labels | None = None


class UpdateThreadResponse(ResponseModel):
    thread_id: str
    labels: list[str]


class RawMessageResponse(ResponseModel):
    message_id: str
    size: int
    download_url: str
    expires_at: Timestamp


class MessageReceivedEvent(ResponseModel):
    type: Literal["event"] = "event"
    event_type: str
    event_id: str
    message: Message
    thread: ThreadItem


class SearchHighlights(ResponseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    from_: list[str] | None = Field(default=None, alias="from")
    recipients: list[str] | None = None
    subject: list[str] | None = None
    text: list[str] | None = None

    @classmethod
    def of(cls, fragments: dict[str, list[str]]) -> SearchHighlights | None:
        return cls.model_validate(fragments) if fragments else None


class SearchMessageItem(MessageItem):
    highlights: SearchHighlights | None = None


class SearchMessagesResponse(PageResponse):
    messages: list[SearchMessageItem]


class SearchThreadItem(ThreadItem):
    highlights: SearchHighlights | None = None


class SearchThreadsResponse(PageResponse):
    threads: list[SearchThreadItem]
