"""The overview: the numbers, errors by code, the latest events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from textcast.dashboard.auth import CanRead
from textcast.dashboard.render import page
from textcast.services import events, stats

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("")
async def overview(request: Request, me: CanRead) -> HTMLResponse:
    async with me.ctx.session() as session:
        numbers = await stats.summary(session, stats.Scope())
        latest = await events.find(
            session, events.EventFilter(), after_id=None, limit=20, newest_first=True
        )
    return page(request, "overview/index.html", "Overview", numbers=numbers, events=latest)
