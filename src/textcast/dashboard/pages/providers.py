"""Providers with their senders and the callback URLs to paste into them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from textcast.dashboard.auth import SignedIn
from textcast.dashboard.render import page
from textcast.services import providers as provider_service
from textcast.views.providers import provider_view

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("/providers")
async def providers(request: Request, ctx: SignedIn) -> HTMLResponse:
    async with ctx.session() as session:
        found = [provider_view(ctx, p) for p in await provider_service.list_providers(session)]
    return page(request, "providers/list.html", "Providers", providers=found)
