"""/api/v1/campaigns: campaigns, their launch and lifecycle, recipients and test sends.

Any key reads; changing a campaign or moving it needs the ``send`` permission
(a launch sends messages). A campaign that has started cannot be edited: 409
with the reason.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, status

from textcast.campaigns import service
from textcast.campaigns.spec import CampaignChange, CampaignIn, TestSend
from textcast.campaigns.test_send import send_test
from textcast.views.campaigns import campaign_view, recipient_view
from textcast.views.messages import message_view
from textcast.web.deps import CtxDep, CursorQuery, IdQuery, SessionDep

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


def _wake(request: Request) -> None:
    runner = getattr(request.app.state, "campaign_runner", None)
    if runner is not None:
        runner.wake()


@router.get("/campaigns")
async def list_campaigns(
    session: SessionDep,
    status_filter: str | None = Query(None, alias="status"),
    before_id: IdQuery = None,
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, Any]:
    """Newest first; pass the answer's ``next_before_id`` as ``before_id`` to read on."""
    found = await service.list_campaigns(
        session, status_filter=status_filter, before_id=before_id, limit=limit
    )
    return {
        "campaigns": [campaign_view(c) for c in found],
        "next_before_id": found[-1].id if len(found) == limit else None,
    }


@router.post("/campaigns", status_code=status.HTTP_201_CREATED)
async def create_campaign(data: CampaignIn, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    """A draft campaign; ``POST …/launch`` starts it (or schedules it for ``send_at``)."""
    return campaign_view(await service.create(ctx.settings, session, data))


@router.get("/campaigns/{ref}")
async def show_campaign(ref: str, session: SessionDep) -> dict[str, Any]:
    """By ID or name, with its recipients counted by status and skip reason."""
    campaign = await service.get(session, ref)
    return campaign_view(campaign, await service.recipient_counts(session, campaign.id))


@router.patch("/campaigns/{ref}")
async def change_campaign(
    ref: str, data: CampaignChange, ctx: CtxDep, session: SessionDep
) -> dict[str, Any]:
    campaign = await service.get(session, ref)
    return campaign_view(await service.change(ctx.settings, session, campaign, data))


@router.delete("/campaigns/{ref}")
async def delete_campaign(ref: str, session: SessionDep) -> dict[str, Any]:
    """Drafts only (cancel a launched campaign instead)."""
    campaign = await service.get(session, ref)
    await service.delete(session, campaign)
    return {"deleted": campaign.id}


@router.post("/campaigns/{ref}/launch")
async def launch(ref: str, request: Request, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    campaign = await service.launch(ctx.settings, session, await service.get(session, ref))
    _wake(request)
    return campaign_view(campaign)


@router.post("/campaigns/{ref}/pause")
async def pause(ref: str, session: SessionDep) -> dict[str, Any]:
    """Stop sending: no more messages are made, and the campaign's messages
    waiting in the outbox are held (still ``queued``) until a resume."""
    return campaign_view(await service.pause(session, await service.get(session, ref)))


@router.post("/campaigns/{ref}/resume")
async def resume(ref: str, request: Request, session: SessionDep) -> dict[str, Any]:
    """Send again: held messages are due at once (unless the campaign has
    expired: then they are cancelled) and the fan-out carries on."""
    campaign = await service.resume(session, await service.get(session, ref))
    _wake(request)
    return campaign_view(campaign)


@router.post("/campaigns/{ref}/cancel")
async def cancel(ref: str, session: SessionDep) -> dict[str, Any]:
    """Stop for good: recipients not yet messaged are skipped (``cancelled``)
    and the campaign's messages still waiting in the outbox are cancelled."""
    return campaign_view(await service.cancel(session, await service.get(session, ref)))


@router.get("/campaigns/{ref}/recipients")
async def recipients(
    ref: str,
    session: SessionDep,
    status_filter: str | None = Query(None, alias="status"),
    reason: str | None = Query(None, max_length=32),
    after: CursorQuery = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    campaign = await service.get(session, ref)
    found = await service.list_recipients(
        session,
        campaign.id,
        status_filter=status_filter,
        reason=reason,
        after_id=after,
        limit=limit,
    )
    return {
        "recipients": [recipient_view(r) for r in found],
        "next": found[-1].id if len(found) == limit else None,
    }


@router.post("/campaigns/{ref}/test", status_code=status.HTTP_201_CREATED)
async def test_send(ref: str, data: TestSend, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    """Send the campaign's text now to up to 20 test numbers, marked as tests."""
    campaign = await service.get(session, ref)
    sent = await send_test(ctx.settings, session, campaign, data.phones, data.variant)
    return {"messages": [message_view(m) for m in sent]}
