"""/api/v1/campaigns/{id}/stats: a campaign's numbers (its Stats tab)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from textcast.services import campaign_stats
from textcast.web.deps import CtxDep, IdPath

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


@router.get("/campaigns/{campaign_id}/stats")
async def statistics(campaign_id: IdPath, ctx: CtxDep) -> dict[str, Any]:
    """Targeted, skipped by reason, sent, delivered, failed, errors by code,
    replies, opt-outs, clicks and CTR, segments and estimated cost; per
    variant and for the control group; and a time series."""
    return await campaign_stats.campaign_stats(
        ctx,
        campaign_id,
        ctx.settings.segment_prices,
        ctx.settings.segment_price_currency,
    )
