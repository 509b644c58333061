"""A provider's Stats tab: a date range and a sender to narrow to; sent,
delivered and failed in all, per sender and per destination country; median
and p95 time to delivery; errors by code. The provider stats service's
numbers, as the API and CLI give them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from textcast.dashboard.auth import CanRead
from textcast.dashboard.pages.filters import Chosen
from textcast.dashboard.render import page
from textcast.errors import ValidationFailed
from textcast.services import provider_stats
from textcast.services import providers as provider_service
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Day = Annotated[str, Query(max_length=10)]


@router.get("/providers/{provider_id}/stats")
async def stats_tab(
    request: Request,
    provider_id: IdPath,
    me: CanRead,
    since: Day = "",
    until: Day = "",
    sender: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    chosen = Chosen(sender=sender, since=since, until=until)
    errors: dict[str, str] = {}
    for name, text, moment in (
        ("since", since, chosen.since_at),
        ("until", until, chosen.until_at),
    ):
        if text and moment is None:
            errors[name] = "a day as YYYY-MM-DD"
    numbers = None
    async with me.ctx.session() as session:
        provider = await provider_service.get_provider(session, provider_id)
        senders = [
            (str(s.id), f"{s.name} ({s.sender_id})")
            for s in provider.senders
            if s.deleted_at is None
        ]
        if not errors:
            try:
                numbers = await provider_stats.for_provider(
                    session,
                    provider_id,
                    since=chosen.since_at,
                    until=chosen.until_at,
                    sender=sender or None,
                )
            except ValidationFailed as exc:
                errors[exc.field] = exc.message
    return page(
        request,
        "providers/stats.html",
        f"{provider.name}: Stats",
        p={"id": provider.id, "name": provider.name, "type": provider.type},
        n=numbers,
        chosen=chosen,
        senders=senders,
        errors=errors,
        status_code=422 if errors else 200,
    )
