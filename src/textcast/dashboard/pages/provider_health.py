"""A provider's Health page: healthy, degraded, failing or idle from its last
minutes of sending, with the reasons and the numbers behind them (the
provider health service's answer, as the API and CLI give it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from textcast.dashboard.auth import CanRead
from textcast.dashboard.render import page
from textcast.services import provider_health
from textcast.services import providers as provider_service
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("/providers/{provider_id}/health")
async def health_page(request: Request, provider_id: IdPath, me: CanRead) -> HTMLResponse:
    async with me.ctx.session() as session:
        provider = await provider_service.get_provider(session, provider_id)
        found = await provider_health.health(session, provider)
    return page(
        request,
        "providers/health.html",
        f"{provider.name}: Health",
        p={"id": provider.id, "name": provider.name, "type": provider.type},
        h=found,
    )
