"""Calendar feeds for calendar apps: ``GET /feeds/{gu}.ics?token=TOKEN``.

A calendar app (Outlook, a phone) subscribes to a URL and cannot send headers, so the token rides in
the query (a bearer header works too). URLs end up in logs and in the apps' settings, so a feed takes
only a read-only token: a viewer's (``dongflow token create NAME --role viewer --gu 성동구``); any
other token is refused (403) -- the rule lives in the service layer (engine/planning_service.py),
with the district check. The events are the ones ``dongflow calendar --gu GU`` writes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials

from engine.errors import NotAuthenticated
from web.auth import Context, bearer_scheme
from web.schemas import WholeNumber

router = APIRouter()


@router.get("/feeds/{gu}.ics", include_in_schema=False)
def district_feed(
    gu: str,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    token: Annotated[str | None, Query(max_length=200)] = None,
    year: Annotated[WholeNumber | None, Query(ge=1900, le=2200)] = None,
) -> Response:
    """The district's open milestones and latest starts as iCalendar (Asia/Seoul, stable UIDs)."""
    from engine.planning_service import PlanningService
    from render.ical import calendar_bytes
    from storage.planning import SqlPlanningStore

    raw = token or (credentials.credentials if credentials is not None else None)
    if not raw:
        raise NotAuthenticated("a feed token is required: /feeds/GU.ics?token=TOKEN (a viewer's token)")
    scoped = ctx.scoped(ctx.authenticate_token(raw))
    with ctx.db.read() as conn:
        svc = PlanningService(scoped, ctx.deadline_book(conn), SqlPlanningStore(ctx.db), ctx.settings.lang)
        district, events = svc.feed_events(gu, year, ctx.today())
    data = calendar_bytes(events, name=f"dongflow {district}", now=ctx.now(), tz_name="Asia/Seoul")
    return Response(data, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300"})
