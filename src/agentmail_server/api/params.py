"""List-valued query parameters in every encoding the clients use (REFERENCE §1.4)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import Query, Request

from ..services.errors import Invalid


def decode_list(raw_values: list[str], *, name: str, split_commas: bool = False) -> list[str] | None:
    """JSON array string, repeated key, comma-separated (enum lists only) or a single bare value."""
    if not raw_values:
        return None
    items: list[str] = []
    for raw in raw_values:
        text = raw.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise Invalid(f"{name} is not a valid JSON array", path=[name]) from None
            if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
                raise Invalid(f"{name} must be an array of strings", path=[name])
            items.extend(parsed)
        elif split_commas:
            items.extend(part.strip() for part in raw.split(",") if part.strip())
        else:
            # Free text (a subject, an address) stays a string, even when it looks like a number.
            items.append(raw)
    return items


def query_list(request: Request, name: str, *, split_commas: bool = False) -> list[str] | None:
    return decode_list(request.query_params.getlist(name), name=name, split_commas=split_commas)


@dataclass(frozen=True)
class ListParams:
    """limit / page_token / ascending, shared by every list route."""

    limit: int | None
    page_token: str | None
    ascending: bool


# Dependencies are async functions, never classes or plain functions: FastAPI calls those in a
# worker thread, a thread round trip (and a GIL hand-over) per request for three assignments.
async def list_params(
    limit: int | None = Query(None, description="Page size"),
    page_token: str | None = Query(None, description="Opaque token from next_page_token"),
    ascending: bool = Query(False, description="Oldest first when true"),
) -> ListParams:
    return ListParams(limit=limit, page_token=page_token or None, ascending=ascending)
