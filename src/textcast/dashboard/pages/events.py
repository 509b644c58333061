"""Analytics > Events: the event log, filtered by type."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from textcast.dashboard.auth import SignedIn
from textcast.dashboard.render import page
from textcast.services import events

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("/events")
async def event_log(request: Request, ctx: SignedIn, type: str = "") -> HTMLResponse:
    where = events.EventFilter(types=(type,) if type in events.TYPES else ())
    async with ctx.session() as session:
        found = await events.find(session, where, after_id=None, limit=200, newest_first=True)
    return page(
        request, "events/list.html", "Events", events=found, types=events.TYPES, chosen=type
    )
