"""The tools' output schemas: the shapes of AgentMail's hosted MCP server's structuredContent.

Every object is closed (`additionalProperties: false`) and lists its fields in the hosted order;
convert.py builds each result from the REST API's JSON by walking these schemas, so what a tool
returns is exactly what is declared here. Descriptions are our own.
"""

from __future__ import annotations

from typing import Any

from .params import BOOLEAN, DRAFT_07, NUMBER, STRING, STRINGS, Schema

# The strict UTC timestamp the hosted schemas require: a real calendar date (leap days included),
# hours and minutes, optional seconds and fraction, and a literal Z. Our wire timestamps
# (2026-07-10T12:00:00.000Z) always match it.
DATE_TIME_PATTERN = (
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-"
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))"
    r"T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z))$"
)
DATE_TIME: Schema = {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN,
                     "description": "UTC time in ISO 8601"}


def obj(properties: dict[str, Schema], required: list[str]) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def root(schema: Schema) -> Schema:
    """A tool's output schema: an object, with the draft it is written in."""
    return {"type": "object", "properties": schema["properties"], "required": schema["required"],
            "$schema": DRAFT_07, "additionalProperties": False}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _described(kind: Schema, description: str) -> Schema:
    return {"description": description, **kind}


METADATA: Schema = {
    "description": "The inbox's own key/value data", "type": "object", "propertyNames": {"type": "string"},
    "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
}

INBOX = obj({
    "inboxId": STRING, "email": STRING, "displayName": STRING, "metadata": METADATA,
    "updatedAt": DATE_TIME, "createdAt": DATE_TIME,
}, ["inboxId", "email", "updatedAt", "createdAt"])

ATTACHMENT_FIELDS: dict[str, Schema] = {
    "attachmentId": STRING, "filename": STRING, "size": NUMBER, "contentType": STRING,
    "contentDisposition": STRING, "contentId": STRING,
}
ATTACHMENT = obj(ATTACHMENT_FIELDS, ["attachmentId", "size"])

HIGHLIGHTS = obj({
    "from": _described(STRINGS, "Matching parts of the sender"),
    "recipients": _described(STRINGS, "Matching parts of the recipients"),
    "subject": _described(STRINGS, "Matching parts of the subject"),
    "text": _described(STRINGS, "Matching parts of the body"),
}, [])
_HIGHLIGHTS = _described(HIGHLIGHTS, "Where the query matched")

THREAD_FIELDS: dict[str, Schema] = {
    "inboxId": STRING, "threadId": STRING, "labels": STRINGS, "timestamp": DATE_TIME,
    "receivedTimestamp": DATE_TIME, "sentTimestamp": DATE_TIME, "senders": STRINGS, "recipients": STRINGS,
    "subject": STRING, "preview": STRING, "attachments": array(ATTACHMENT), "lastMessageId": STRING,
    "messageCount": NUMBER, "size": NUMBER, "updatedAt": DATE_TIME, "createdAt": DATE_TIME,
}
THREAD_REQUIRED = ["inboxId", "threadId", "labels", "timestamp", "senders", "recipients", "lastMessageId",
                   "messageCount", "size", "updatedAt", "createdAt"]

MESSAGE_ITEM_FIELDS: dict[str, Schema] = {
    "inboxId": STRING, "threadId": STRING, "messageId": STRING, "labels": STRINGS, "timestamp": DATE_TIME,
    "from": STRING, "to": STRINGS, "cc": STRINGS, "bcc": STRINGS, "subject": STRING, "preview": STRING,
    "attachments": array(ATTACHMENT), "inReplyTo": STRING, "references": STRINGS, "size": NUMBER,
    "updatedAt": DATE_TIME, "createdAt": DATE_TIME,
}
MESSAGE_REQUIRED = ["inboxId", "threadId", "messageId", "labels", "timestamp", "from", "to", "size", "updatedAt",
                    "createdAt"]
MESSAGE = obj({
    **MESSAGE_ITEM_FIELDS, "replyTo": STRINGS, "text": STRING, "html": STRING, "extractedText": STRING,
    "extractedHtml": STRING,
}, MESSAGE_REQUIRED)

DRAFT_ITEM_FIELDS: dict[str, Schema] = {
    "inboxId": STRING, "draftId": STRING, "labels": STRINGS, "to": STRINGS, "cc": STRINGS, "bcc": STRINGS,
    "subject": STRING, "preview": STRING, "attachments": array(ATTACHMENT), "inReplyTo": STRING,
    "sendStatus": {"type": "string", "enum": ["scheduled", "sending", "failed"]}, "sendAt": DATE_TIME,
    "updatedAt": DATE_TIME,
}
DRAFT_ITEM_REQUIRED = ["inboxId", "draftId", "labels", "updatedAt"]
DRAFT = obj({
    **DRAFT_ITEM_FIELDS, "replyTo": STRINGS, "text": STRING, "html": STRING, "references": STRINGS,
    "createdAt": DATE_TIME,
}, [*DRAFT_ITEM_REQUIRED, "createdAt"])


def page(name: str, items: Schema) -> Schema:
    """A list tool's answer: the page's items under `name`, with the paging fields."""
    return root(obj({
        "count": {"type": "number", "description": "How many items this page holds"},
        "limit": _described(NUMBER, "The page size asked for"),
        "nextPageToken": _described(STRING, "Pass as pageToken for the next page; absent on the last page"),
        name: array(items),
    }, ["count", name]))


def _with_highlights(fields: dict[str, Any], required: list[str]) -> Schema:
    return obj({**fields, "highlights": _HIGHLIGHTS}, required)


LIST_INBOXES = page("inboxes", INBOX)
INBOX_ROOT = root(INBOX)
LIST_THREADS = page("threads", obj(THREAD_FIELDS, THREAD_REQUIRED))
SEARCH_THREADS = page("threads", _with_highlights(THREAD_FIELDS, THREAD_REQUIRED))
GET_THREAD = root(obj({
    **THREAD_FIELDS,
    "messages": _described(array(MESSAGE), "The page's messages, oldest first"),
    "count": {"type": "number", "description": "How many messages this page holds"},
    "limit": _described(NUMBER, "The page size asked for"),
    "nextPageToken": _described(STRING, "Pass as pageToken for older messages; absent on the oldest page"),
}, [*THREAD_REQUIRED, "messages", "count"]))
GET_ATTACHMENT = root(obj({
    **ATTACHMENT_FIELDS,
    "downloadUrl": _described(STRING, "Link to download the file"),
    "expiresAt": {**DATE_TIME, "description": "When the link stops working"},
    "text": _described(STRING, "The file's text, for PDF and Word files when it could be extracted"),
}, ["attachmentId", "size", "downloadUrl", "expiresAt"]))
UPDATE_THREAD = root(obj({"threadId": STRING, "labels": STRINGS}, ["threadId", "labels"]))
UPDATE_MESSAGE = root(obj({"messageId": STRING, "labels": STRINGS}, ["messageId", "labels"]))
LIST_MESSAGES = page("messages", obj(MESSAGE_ITEM_FIELDS, MESSAGE_REQUIRED))
SEARCH_MESSAGES = page("messages", _with_highlights(MESSAGE_ITEM_FIELDS, MESSAGE_REQUIRED))
MESSAGE_ROOT = root(MESSAGE)
SENT = root(obj({"messageId": STRING, "threadId": STRING}, ["messageId", "threadId"]))
LIST_DRAFTS = page("drafts", obj(DRAFT_ITEM_FIELDS, DRAFT_ITEM_REQUIRED))
DRAFT_ROOT = root(DRAFT)
SUCCESS = root(obj({"success": {"type": "boolean", "const": True}}, ["success"]))
AGENT_VERIFY = root(obj({"verified": BOOLEAN}, ["verified"]))
