"""GET /v0/inboxes/{inbox_id}/events: the label audit log (REFERENCE §2.15)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..db.engine import Database
from ..schemas.inbox_events import InboxEvent, ListInboxEventsResponse
from ..services import inbox_events
from ..services.principal import Principal
from .deps import WireRoute, get_db, get_principal
from .params import ListParams, list_params

router = APIRouter(route_class=WireRoute, tags=["inbox-events"])


@router.get("/v0/inboxes/{inbox_id}/events", response_model=ListInboxEventsResponse)
async def list_inbox_events(
    inbox_id: str, page: ListParams = Depends(list_params), principal: Principal = Depends(get_principal),
    db: Database = Depends(get_db),
) -> ListInboxEventsResponse:
    result = await inbox_events.list_events(db, principal, inbox_id, limit=page.limit,
                                            page_token=page.page_token, ascending=page.ascending)
    return ListInboxEventsResponse(count=len(result.items), limit=result.limit,
                                   next_page_token=result.next_page_token,
                                   events=[InboxEvent.of(row) for row in result.items])
