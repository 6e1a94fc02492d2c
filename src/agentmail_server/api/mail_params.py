"""Query parameters of message and thread listings (REFERENCE §1.4, §1.9, §1.10)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Depends, Query, Request

from ..services.errors import Invalid
from ..services.mail_filters import MailFilters
from .params import query_list


def as_utc(value: datetime | None) -> datetime | None:
    # A datetime without an offset is taken as UTC rather than the server's local time.
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise Invalid("datetime out of range", path=["before/after"]) from None


async def visibility(
    include_spam: bool = Query(False), include_blocked: bool = Query(False),
    include_unauthenticated: bool = Query(False), include_trash: bool = Query(False),
) -> dict[str, bool]:
    """The include_* flags (REFERENCE §1.10); each also needs its label_*_read permission."""
    return {"spam": include_spam, "blocked": include_blocked, "unauthenticated": include_unauthenticated,
            "trash": include_trash}


def _filters(request: Request, text_params: dict[str, str], *, before: datetime | None, after: datetime | None,
             ascending: bool, include: dict[str, bool]) -> MailFilters:
    return MailFilters(
        labels=query_list(request, "labels") or [],
        before=as_utc(before), after=as_utc(after), ascending=ascending, include=include,
        text={column: values for param, column in text_params.items() if (values := query_list(request, param))},
    )


async def message_filters(
    request: Request,
    labels: list[str] | None = Query(None, description="Messages carrying all of these labels"),
    before: datetime | None = Query(None), after: datetime | None = Query(None), ascending: bool = Query(False),
    include: dict[str, bool] = Depends(visibility),
    from_: list[str] | None = Query(None, alias="from"), to: list[str] | None = Query(None),
    subject: list[str] | None = Query(None),
) -> MailFilters:
    return _filters(request, {"from": "from_", "to": "to", "subject": "subject"}, before=before, after=after,
                    ascending=ascending, include=include)


async def thread_filters(
    request: Request,
    labels: list[str] | None = Query(None, description="Threads carrying all of these labels"),
    before: datetime | None = Query(None), after: datetime | None = Query(None), ascending: bool = Query(False),
    include: dict[str, bool] = Depends(visibility),
    senders: list[str] | None = Query(None), recipients: list[str] | None = Query(None),
    subject: list[str] | None = Query(None),
) -> MailFilters:
    return _filters(request, {"senders": "senders", "recipients": "recipients", "subject": "subject"},
                    before=before, after=after, ascending=ascending, include=include)
