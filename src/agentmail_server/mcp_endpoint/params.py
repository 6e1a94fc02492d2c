"""The tools' input models: the parameter schemas AgentMail's hosted MCP server advertises.

They are part of the contract (agents and MCP hosts are written against them), so field names,
types, defaults, descriptions and even the model names (the schema `title`s) are those of the
official agentmail-toolkit 0.3.2, which the hosted server is built from; tests/test_mcp_http.py
compares every schema with the toolkit's. The tools themselves (tools.py) are our own and run on
the service layer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

InboxIdField = Annotated[str, Field(description="Inbox ID: the inbox's email address, from list_inboxes")]
ThreadIdField = Annotated[str, Field(description="Thread ID, from list_threads or a message's thread_id")]
MessageIdField = Annotated[str, Field(description="Message ID with its angle brackets, from get_thread")]
AttachmentIdField = Annotated[
    str, Field(description="Attachment ID, from a thread's attachments in list_threads or get_thread")
]

_UTC = "ISO 8601 UTC ending in Z, e.g. 2026-04-01T09:00:00Z"
_EXACTLY_ONE = "Exactly one of content or url must be provided"


def _optional(description: str) -> Any:
    return Field(default=None, description=description)


class ListItemsParams(BaseModel):
    limit: int | None = Field(default=10, description="Number of items per page")
    page_token: str | None = _optional(
        "next_page_token from the previous page's result; omit for the first page")


class GetInboxParams(BaseModel):
    inbox_id: InboxIdField


class CreateInboxParams(BaseModel):
    username: str | None = _optional(
        "Part of the address before the @; a random one is generated when omitted")
    domain: str | None = _optional(
        "Domain of the address, agentmail.to when omitted; a custom domain must be verified first")
    display_name: str | None = _optional(
        'Sender name recipients see; "AgentMail" when omitted, and an empty string sends none')


class ListInboxItemsParams(ListItemsParams):
    inbox_id: InboxIdField
    labels: list[str] | None = _optional(
        "Only items carrying all of these labels, such as unread or your own")
    before: datetime | None = _optional(f"Only items before this time, as {_UTC}")
    after: datetime | None = _optional(f"Only items at or after this time, as {_UTC}")
    ascending: bool | None = _optional("Sort by oldest first instead of most recent first")
    include_spam: bool | None = _optional("Also return items labeled spam, which are left out when omitted")
    include_blocked: bool | None = _optional(
        "Also return mail labeled blocked (its sender is on a block list), which is left out when omitted")
    include_trash: bool | None = _optional("Also return items labeled trash, which are left out when omitted")


class GetThreadParams(BaseModel):
    inbox_id: InboxIdField
    thread_id: ThreadIdField


class GetAttachmentParams(BaseModel):
    inbox_id: InboxIdField
    thread_id: ThreadIdField
    attachment_id: AttachmentIdField


class Attachment(BaseModel):
    filename: str | None = _optional("File name recipients see, e.g. report.pdf")
    content_id: str | None = _optional("ID the HTML body references as cid:<content_id> to show it inline")
    content: str | None = _optional(f"Base64-encoded file content: standard, padded, no data: prefix. {_EXACTLY_ONE}")
    url: str | None = _optional(f"Public http(s) URL AgentMail fetches the file from. {_EXACTLY_ONE}")


class BaseMessageParams(BaseModel):
    inbox_id: InboxIdField
    text: str | None = _optional(
        "Plain-text body; include it even with html, since no text version is generated from html")
    html: str | None = _optional("HTML body for formatted mail; inline images use cid:<content_id>")
    labels: list[str] | None = _optional(
        "Your own labels for the message; AgentMail sets system labels such as sent")
    attachments: list[Attachment] | None = _optional(
        "Attachments. Each item must specify exactly one of content (base64) or url")


class SendMessageParams(BaseMessageParams):
    to: list[str] = Field(description='Recipient addresses, each a bare address or "Name <address>"; '
                                      "at least one of to, cc or bcc is required")
    cc: list[str] | None = _optional("Copied addresses, visible to every recipient")
    bcc: list[str] | None = _optional("Blind-copied addresses, hidden from the other recipients")
    subject: str | None = _optional("Subject line recipients see")


class ReplyToMessageParams(BaseMessageParams):
    message_id: MessageIdField
    reply_all: bool | None = _optional(
        "Also reply to all original recipients; when omitted the reply goes to the original's Reply-To, "
        "else its sender")


class ForwardMessageParams(SendMessageParams):
    message_id: str = Field(description="ID of the message to forward, with its angle brackets; "
                                        "its body and all attachments are included")
    subject: str | None = _optional('Subject line; "Fwd: " plus the original subject when omitted')


class UpdateMessageParams(BaseModel):
    inbox_id: InboxIdField
    message_id: MessageIdField
    add_labels: list[str] | None = _optional("Labels to add to the message, e.g. unread or your own")
    remove_labels: list[str] | None = _optional("Labels to remove from the message, e.g. unread to mark it read")


class AgentAttachHumanParams(BaseModel):
    human_email: str = Field(description="Email address of the human you work for. "
                                         "They are emailed a 6-digit verification code")


class AgentVerifyParams(BaseModel):
    otp_code: str = Field(description="6-digit verification code emailed to the human attached to the organization")
