"""/api/v1/campaigns/{ref}/stats: a campaign's numbers (its Stats tab)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from textcast.campaigns import service
from textcast.services import campaign_stats
from textcast.web.deps import CtxDep

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


@router.get("/campaigns/{ref}/stats")
async def statistics(ref: str, ctx: CtxDep) -> dict[str, Any]:
    """Targeted, skipped by reason, sent, delivered, failed, errors by code,
    replies, opt-outs, clicks and CTR, segments and estimated cost; per
    variant and for the control group; and a time series. ``ref``: the
    campaign's ID or name."""
    async with ctx.session() as session:
        campaign_id = (await service.get(session, ref)).id
    return await campaign_stats.campaign_stats(
        ctx,
        campaign_id,
        ctx.settings.segment_prices,
        ctx.settings.segment_price_currency,
    )
