"""The tools' input schemas: JSON Schema (draft-07), as AgentMail's hosted MCP server advertises them.

Agents and MCP hosts are written against these, so property names (camelCase), types, required
lists, defaults and constraints are those of the hosted server; the descriptions are our own. The
schemas are also what arguments are checked against (server.py), so a constraint we advertise is a
constraint we enforce.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_NO_DEFAULT = object()

STRING: Schema = {"type": "string"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
PAGE_SIZE: Schema = {"type": "integer", "exclusiveMinimum": 0, "maximum": 100}
_SCALAR = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]


class _Required(dict[str, Any]):
    """A property the caller must give (a plain dict once serialized)."""


def required(kind: Schema, description: str) -> Schema:
    return _Required({**kind, "description": description})


def optional(kind: Schema, description: str, default: Any = _NO_DEFAULT) -> Schema:
    head = {} if default is _NO_DEFAULT else {"default": default}
    return {**head, "description": description, **kind}


def inputs(properties: dict[str, Schema]) -> Schema:
    """An input root; the properties built with `required` are its required list."""
    names = [name for name, prop in properties.items() if isinstance(prop, _Required)]
    root: Schema = {"type": "object", "properties": properties}
    if names:
        root["required"] = names
    root["$schema"] = DRAFT_07
    return root


# --- shared properties -----------------------------------------------------------------------

INBOX_ID = required(STRING, "The inbox's ID, which is its email address (see list_inboxes or search_inboxes)")
THREAD_ID = required(STRING, "The thread's ID, from list_threads, search_threads or a message's threadId")
MESSAGE_ID = required(STRING, "The message's ID, angle brackets included, from get_thread or list_messages")
DRAFT_ID = required(STRING, "The draft's ID, from create_draft or list_drafts")


def _paging(default: Any = 10) -> dict[str, Schema]:
    return {
        "limit": optional(NUMBER, "Largest number of items to return in this page", default),
        "pageToken": optional(STRING, "nextPageToken from the previous page; leave out for the first page"),
    }


_BEFORE = optional(STRING, "Only items older than this time (ISO 8601, e.g. 2026-04-01T09:00:00Z)")
_AFTER = optional(STRING, "Only items from this time on (ISO 8601, e.g. 2026-04-01T09:00:00Z)")
_ASCENDING = optional(BOOLEAN, "Oldest first instead of newest first")
_LABELS_FILTER = optional(STRINGS, "Only items carrying every one of these labels")
_INCLUDE_SPAM = optional(BOOLEAN, "Also return items labeled spam, which are otherwise left out")
_INCLUDE_TRASH = optional(BOOLEAN, "Also return items labeled trash, which are otherwise left out")


def _contains(what: str) -> Schema:
    return optional(STRINGS, f"Only items whose {what} contain each of these values (case-insensitive)")


def _metadata(description: str, *, nullable: bool = False) -> Schema:
    values = [*_SCALAR, {"type": "null"}] if nullable else _SCALAR
    shape: Schema = {"type": "object", "propertyNames": {"type": "string"}, "additionalProperties": {"anyOf": values}}
    if nullable:
        return {"description": description, "anyOf": [shape, {"type": "null"}]}
    return {"description": description, **shape}


def _attachment(source: str, source_schema: Schema) -> Schema:
    return {
        "type": "object",
        "properties": {
            "filename": optional(STRING, "File name the recipient sees"),
            "contentType": optional(STRING, "MIME type, e.g. application/pdf"),
            "contentDisposition": optional({"type": "string", "enum": ["inline", "attachment"]},
                                           "inline to show it in the body, attachment to offer it as a file"),
            "contentId": optional(STRING, "Content-ID that the HTML body references as cid:<contentId>"),
            source: source_schema,
        },
        "required": [source],
        "additionalProperties": False,
    }


ATTACHMENTS = optional(
    {"type": "array", "items": {"anyOf": [
        _attachment("content", required(STRING, "The file's bytes, base64-encoded")),
        _attachment("url", required({"type": "string", "format": "uri"}, "Public URL the file is fetched from")),
    ]}},
    "Files to attach; give each one either content or url, not both",
)


def _composed(*, to_required: bool = False, subject: bool = True) -> dict[str, Schema]:
    """The body, labels, attachments and recipients shared by the tools that write mail."""
    to = (required(STRINGS, "Recipient addresses, bare or as \"Name <address>\"") if to_required
          else optional(STRINGS, "Recipient addresses, bare or as \"Name <address>\""))
    fields: dict[str, Schema] = {
        "text": optional(STRING, "Plain-text body"),
        "html": optional(STRING, "HTML body"),
        "labels": optional(STRINGS, "Your own labels for the message"),
        "attachments": ATTACHMENTS,
        "to": to,
        "cc": optional(STRINGS, "Copied addresses"),
        "bcc": optional(STRINGS, "Blind-copied addresses"),
    }
    if subject:
        fields["subject"] = optional(STRING, "Subject line")
    fields["replyTo"] = optional(STRINGS, "Addresses that replies should go to")
    return fields


# --- per tool --------------------------------------------------------------------------------

LIST_INBOXES = inputs(_paging())
SEARCH_INBOXES = inputs({
    "limit": optional(PAGE_SIZE, "Largest number of inboxes to return in this page", 10),
    "pageToken": _paging()["pageToken"],
    "q": required({"type": "string", "minLength": 2, "maxLength": 256},
                  "Text to look for at the start of words of an inbox's address or display name"),
})
GET_INBOX = inputs({"inboxId": INBOX_ID})
CREATE_INBOX = inputs({
    "username": optional(STRING, "Part of the address before the @; random when left out"),
    "domain": optional(STRING, "Domain of the address; the server's default domain when left out"),
    "displayName": optional(STRING, "Name shown to recipients as the sender"),
    "clientId": optional(STRING, "Your own ID for this inbox: creating again with the same one returns it"),
    "metadata": _metadata("Your own key/value data to store with the inbox"),
})
UPDATE_INBOX = inputs({
    "inboxId": INBOX_ID,
    "displayName": optional(STRING, "New name shown to recipients as the sender"),
    "metadata": _metadata("Keys to merge into the stored metadata: null removes a key, and null for the whole "
                          "field removes them all", nullable=True),
})
DELETE_INBOX = GET_INBOX

LIST_THREADS = inputs({
    **_paging(), "inboxId": INBOX_ID, "labels": _LABELS_FILTER, "before": _BEFORE, "after": _AFTER,
    "ascending": _ASCENDING, "senders": _contains("senders"), "recipients": _contains("recipients"),
    "subject": _contains("subject"), "includeSpam": _INCLUDE_SPAM, "includeTrash": _INCLUDE_TRASH,
})


def _search() -> Schema:
    return inputs({
        **_paging(), "inboxId": INBOX_ID,
        "q": required(STRING, "Words to search for"), "before": _BEFORE, "after": _AFTER,
    })


SEARCH_THREADS = _search()
GET_THREAD = inputs({
    "inboxId": INBOX_ID, "threadId": THREAD_ID,
    "limit": optional(PAGE_SIZE, "Largest number of messages to return in this page"),
    "pageToken": optional(STRING, "nextPageToken from the previous page, to read older messages"),
})
GET_ATTACHMENT = inputs({
    "inboxId": INBOX_ID, "threadId": THREAD_ID,
    "attachmentId": required(STRING, "The attachment's ID, from the attachments of a thread or message"),
})


def _relabel(target: Schema, name: str) -> Schema:
    return inputs({
        "inboxId": INBOX_ID, name: target,
        "addLabels": optional(STRINGS, "Labels to add"), "removeLabels": optional(STRINGS, "Labels to remove"),
    })


UPDATE_THREAD = _relabel(THREAD_ID, "threadId")
DELETE_THREAD = inputs({"inboxId": INBOX_ID, "threadId": THREAD_ID})

LIST_MESSAGES = inputs({
    **_paging(), "inboxId": INBOX_ID, "labels": _LABELS_FILTER, "before": _BEFORE, "after": _AFTER,
    "ascending": _ASCENDING, "from": _contains("sender"), "to": _contains("recipients"),
    "subject": _contains("subject"), "includeSpam": _INCLUDE_SPAM, "includeTrash": _INCLUDE_TRASH,
})
SEARCH_MESSAGES = _search()
SEND_MESSAGE = inputs({"inboxId": INBOX_ID, **_composed(to_required=True)})


def _reply() -> Schema:
    fields = _composed(subject=False)
    head = {key: fields.pop(key) for key in ("text", "html", "labels", "attachments")}
    return inputs({
        "inboxId": INBOX_ID, **head, "messageId": MESSAGE_ID,
        "replyAll": optional(BOOLEAN, "Reply to everyone on the original; cannot be combined with to, cc or bcc"),
        "to": optional(STRINGS, "Recipients instead of the original sender; not with replyAll"),
        "cc": optional(STRINGS, "Copied addresses; not with replyAll"),
        "bcc": optional(STRINGS, "Blind-copied addresses; not with replyAll"),
        "replyTo": fields["replyTo"],
    })


REPLY_TO_MESSAGE = _reply()
FORWARD_MESSAGE = inputs({
    "inboxId": INBOX_ID, **_composed(to_required=True),
    "messageId": required(STRING, "ID of the message to forward, angle brackets included"),
})
UPDATE_MESSAGE = _relabel(MESSAGE_ID, "messageId")
GET_MESSAGE = inputs({"inboxId": INBOX_ID, "messageId": MESSAGE_ID})

_SEND_AT = "When to send it, ISO 8601 (e.g. 2026-04-01T09:00:00Z)"
CREATE_DRAFT = inputs({
    "inboxId": INBOX_ID, **_composed(),
    "inReplyTo": optional(STRING, "ID of the message this draft answers"),
    "sendAt": optional(STRING, f"{_SEND_AT}; the draft is sent then"),
    "clientId": optional(STRING, "Your own ID for this draft: creating again with the same one returns it"),
})
LIST_DRAFTS = inputs({
    **_paging(), "inboxId": INBOX_ID, "labels": _LABELS_FILTER, "before": _BEFORE, "after": _AFTER,
    "ascending": _ASCENDING,
})
GET_DRAFT = inputs({"inboxId": INBOX_ID, "draftId": DRAFT_ID})
UPDATE_DRAFT = inputs({
    "inboxId": INBOX_ID, "draftId": DRAFT_ID,
    "to": optional(STRINGS, "New recipient addresses"),
    "cc": optional(STRINGS, "New copied addresses"),
    "bcc": optional(STRINGS, "New blind-copied addresses"),
    "subject": optional(STRING, "New subject line"),
    "text": optional(STRING, "New plain-text body"),
    "html": optional(STRING, "New HTML body"),
    "replyTo": optional(STRINGS, "New reply-to addresses"),
    "sendAt": optional(STRING, f"{_SEND_AT}; reschedules the draft"),
})
SEND_DRAFT = GET_DRAFT
DELETE_DRAFT = GET_DRAFT

UNBLOCK_RECIPIENT = inputs({
    "inboxId": INBOX_ID,
    "entry": required({"type": "string", "minLength": 1}, "The blocked email address or domain"),
})
AGENT_VERIFY = inputs({"otpCode": required(STRING, "The 6-digit code from the verification email")})
