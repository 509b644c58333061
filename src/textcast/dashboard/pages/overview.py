"""The overview: the numbers, errors by code, the latest events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from textcast.dashboard.auth import CanRead
from textcast.dashboard.pages.filters import Chosen, choices
from textcast.dashboard.render import page
from textcast.services import events, stats

Text = Annotated[str, Query(max_length=100)]

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("")
async def overview(
    request: Request,
    me: CanRead,
    sender: Text = "",
    campaign: Text = "",
    since: Text = "",
    until: Text = "",
) -> HTMLResponse:
    """The numbers for everything, or for a sender, a campaign and days (as
    ``GET /api/v1/stats``); the latest events of the same."""
    chosen = Chosen(sender, campaign, since, until)
    scope = chosen.scope()
    where = events.EventFilter(
        sender_id=chosen.sender_id,
        campaign=campaign or None,
        since=chosen.since_at,
        until=chosen.until_at,
    )
    async with me.ctx.session() as session:
        numbers = await stats.summary(session, scope)
        latest = await events.find(session, where, after_id=None, limit=20, newest_first=True)
        options = await choices(session)
    return page(
        request,
        "overview/index.html",
        "Overview",
        numbers=numbers,
        events=latest,
        chosen=chosen,
        **options,
    )
