"""A paused campaign sends nothing more, on both databases: its messages
waiting in the outbox are held until it resumes (nothing of them is claimed,
through the real dispatcher and the simulator), a failure-rate stop holds
them the same way, a retry queued again after the pause is held when it is
claimed, and a cancelled campaign's retry is cancelled instead of sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.conftest import Simulator, twilio_provider_payload
from tests.integration.test_campaign_fanout import add_contacts, drive_all, launch
from textcast.campaigns import lifecycle, runner, service
from textcast.context import Context
from textcast.db.models import Campaign, Message, MessageEvent, utcnow
from textcast.dispatch.dispatcher import Dispatcher
from textcast.services import campaign_outbox
from textcast.services.providers import create_provider


async def made_campaign(
    ctx: Context, simulator: Simulator, people: int = 6, **fields: object
) -> int:
    """A campaign to ``people`` people, their messages made and waiting in the outbox."""
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    await add_contacts(ctx, [(f"+1415555{i:04d}", {}, None) for i in range(people)])
    campaign_id = await launch(ctx, **fields)
    await drive_all(ctx, campaign_id)
    assert await by_status(ctx) == {"queued": people}
    return campaign_id


async def by_status(ctx: Context) -> dict[str, int]:
    async with ctx.session() as session:
        rows = await session.execute(select(Message.status, func.count()).group_by(Message.status))
        return {state: count for state, count in rows}


async def act(ctx: Context, campaign_id: int, move: str) -> None:
    async with ctx.session() as session:
        campaign = await service.get(session, campaign_id)
        if move == "pause":
            await service.pause(session, campaign)
        elif move == "resume":
            await service.resume(session, campaign)
        else:
            await service.cancel(session, campaign)


async def claim_round(ctx: Context) -> int:
    """One claim by a real dispatcher; how many messages it took to send."""
    return await Dispatcher(ctx).step()


async def test_a_pause_holds_waiting_messages_until_the_resume(
    ctx: Context, simulator: Simulator
) -> None:
    campaign_id = await made_campaign(ctx, simulator)
    await act(ctx, campaign_id, "pause")
    async with ctx.session() as session:
        # Out of every claim's reach at once, not only turned back when claimed.
        due = await session.scalars(select(Message.next_attempt_at))
        assert all(at >= campaign_outbox.HELD_UNTIL for at in due)
    assert await claim_round(ctx) == 0  # nothing of it is claimed while paused
    assert await by_status(ctx) == {"queued": 6}

    await act(ctx, campaign_id, "resume")
    await Dispatcher(ctx).drain(timeout=30)
    statuses = await by_status(ctx)
    assert statuses.get("queued", 0) == 0 and sum(statuses.values()) == 6
    assert simulator.state.post_count == 6


async def test_a_failure_rate_stop_holds_what_is_waiting(
    ctx: Context, simulator: Simulator
) -> None:
    # The rate is judged over the last 500 finished sends.
    campaign_id = await made_campaign(ctx, simulator, people=510, max_failure_rate=20)
    async with ctx.session() as session:
        # The provider failed the first 500 of them (100 % > 20 %).
        first = list(await session.scalars(select(Message.id).order_by(Message.id).limit(500)))
        await session.execute(
            update(Message).where(Message.id.in_(first)).values(status="failed", final_at=utcnow())
        )
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.status = lifecycle.SENDING
        campaign.next_batch_at = None
    assert await runner.claim(ctx, "w1") == campaign_id
    await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "paused", campaign.status
    assert await claim_round(ctx) == 0
    assert await by_status(ctx) == {"failed": 500, "queued": 10}
    assert simulator.state.post_count == 0


async def test_a_retry_queued_after_the_pause_is_held_when_claimed(
    ctx: Context, simulator: Simulator
) -> None:
    """A message a worker was sending at the pause comes back to the queue
    (a retry) already due: the claim that meets it holds it, untried."""
    campaign_id = await made_campaign(ctx, simulator)
    await act(ctx, campaign_id, "pause")
    async with ctx.session() as session:
        # As a retry after the pause leaves it: queued, due now, one attempt made.
        await session.execute(
            update(Message).values(next_attempt_at=utcnow() - timedelta(seconds=1), attempts=1)
        )
    assert await claim_round(ctx) == 0
    async with ctx.session() as session:
        rows = (
            await session.execute(select(Message.status, Message.attempts, Message.next_attempt_at))
        ).all()
    assert {(s, a) for s, a, _ in rows} == {("queued", 1)}  # untried: the claim's attempt undone
    assert all(at >= campaign_outbox.HELD_UNTIL for _, _, at in rows)
    assert simulator.state.post_count == 0

    await act(ctx, campaign_id, "resume")
    await Dispatcher(ctx).drain(timeout=30)
    assert simulator.state.post_count == 6


async def test_a_cancelled_campaigns_retry_is_cancelled_not_sent(
    ctx: Context, simulator: Simulator
) -> None:
    campaign_id = await made_campaign(ctx, simulator)
    async with ctx.session() as session:
        # Two were with a worker at the cancel (dispatching: not cancelled then) ...
        two = list(await session.scalars(select(Message.id).order_by(Message.id).limit(2)))
        await session.execute(
            update(Message).where(Message.id.in_(two)).values(status="dispatching")
        )
    await act(ctx, campaign_id, "cancel")
    assert await by_status(ctx) == {"canceled": 4, "dispatching": 2}
    async with ctx.session() as session:
        # ... and came back as retries.
        await session.execute(
            update(Message)
            .where(Message.id.in_(two))
            .values(status="queued", next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    assert await claim_round(ctx) == 0
    assert await by_status(ctx) == {"canceled": 6}
    assert simulator.state.post_count == 0
    async with ctx.session() as session:
        details = list(
            await session.scalars(
                select(MessageEvent.detail).where(
                    MessageEvent.message_id.in_(two), MessageEvent.type == "message.canceled"
                )
            )
        )
    assert details == ["the campaign was cancelled"] * 2


async def test_a_resume_past_the_expiry_releases_nothing(
    ctx: Context, simulator: Simulator
) -> None:
    """Late is worse than never: past its expiry a resumed campaign's held
    messages stay held until the runner cancels them."""
    campaign_id = await made_campaign(ctx, simulator)
    await act(ctx, campaign_id, "pause")
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.expires_at = utcnow() - timedelta(minutes=1)
    await act(ctx, campaign_id, "resume")
    assert await claim_round(ctx) == 0
    await drive_all(ctx, campaign_id)
    assert await by_status(ctx) == {"canceled": 6}
    assert simulator.state.post_count == 0


def test_the_outbox_names_the_campaign_states_as_the_lifecycle_does() -> None:
    """services.campaign_outbox sits a floor below the campaigns and spells
    their states itself: a state renamed in one place only would hold or
    cancel nothing."""
    assert campaign_outbox.PAUSED == lifecycle.PAUSED
    assert set(campaign_outbox.ENDED_EARLY) == {lifecycle.CANCELLED, lifecycle.FAILED}
