"""The campaign runner: takes campaigns that are due (scheduled and at their
time, or sending) under a lease, chooses their recipients once, then makes
their messages batch by batch, and finishes them.

Every process that serves or dispatches runs one; the lease (renewed with
each batch, in the batch's own transaction) keeps one process per campaign,
and a campaign left by a process that died is taken over when its lease
expires. ``next_batch_at`` is the campaign's next look: a throttle's pace,
the next local-time recipient, or a short wait for the outbox to drain.

A campaign is **completed** when no recipient is pending and none of its
messages is still waiting in the outbox (``queued`` or ``dispatching``):
everything it meant to send was handed to the provider (receipts may still
come; they are the stats' business).

Beside the campaigns, the runner keeps their stats: every
``TEXTCAST_STATS_ROLL_UP_INTERVAL`` seconds a pass counts what settled, was
clicked or answered since the last one
(:func:`textcast.services.campaign_rollups.roll_up`), so a stats call only
reads. Every process makes passes; one runs at a time, and a process that
finds one running skips its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.campaigns import fanout, lanes, lifecycle
from textcast.campaigns.materialise import materialise
from textcast.campaigns.read_ahead import STALE, ReadAhead
from textcast.context import Context
from textcast.db.models import Campaign, Sender, utcnow
from textcast.errors import ValidationFailed
from textcast.jobs.leased import LeasedRunner
from textcast.services import campaign_outbox, campaign_rollups, installation_defaults

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
LOOK_AGAIN = timedelta(seconds=2)  # a campaign waiting for its outbox to drain
IDLE_LOOK = timedelta(seconds=30)  # at most this long between looks at a sending campaign
FAILURE_CHECK = timedelta(seconds=5)
MAX_CLASHES = 5  # unique-key clashes in a row before the runner gives up for now


class LeaseLost(Exception):
    """Another process holds the campaign now, or it stopped sending."""


class CampaignRunner(LeasedRunner):
    name = "campaign runner"

    def __init__(
        self,
        ctx: Context,
        poll_interval: float = 1.0,
        queue_ahead: int | None = fanout.QUEUE_AHEAD,
    ) -> None:
        super().__init__(ctx, poll_interval)
        self._queue_ahead = queue_ahead

    async def claim(self) -> int | None:
        return await claim(self._ctx, self.owner)

    async def work(self, job_id: int, stop: asyncio.Event) -> None:
        await drive(self._ctx, job_id, self.owner, self._queue_ahead, stop)

    async def run(self, stop: asyncio.Event) -> None:
        """Campaigns as they come due, and beside them the stats' roll-up."""
        await asyncio.gather(super().run(stop), keep_stats(self._ctx, stop))


async def keep_stats(ctx: Context, stop: asyncio.Event) -> None:
    """A roll-up pass now and every ``stats_roll_up_interval`` seconds until
    ``stop`` (none when the interval is 0)."""
    interval = ctx.settings.stats_roll_up_interval
    if not interval:
        return
    while not stop.is_set():
        try:
            await campaign_rollups.roll_up(ctx)
        except Exception:  # a database blip must not end the passes
            log.exception("campaign stats roll-up")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def _due(now: datetime) -> object:
    return (
        or_(
            Campaign.status == lifecycle.SENDING,
            (Campaign.status == lifecycle.SCHEDULED) & (Campaign.send_at <= now),
        )
        & or_(Campaign.lease_owner.is_(None), Campaign.lease_expires_at < now)
        & or_(Campaign.next_batch_at.is_(None), Campaign.next_batch_at <= now)
    )


async def claim(ctx: Context, owner: str) -> int | None:
    """Take a campaign with work due; its ID, or None."""
    now = utcnow()
    async with ctx.session() as session:
        candidates = list(
            await session.scalars(
                select(Campaign.id).where(_due(now)).order_by(Campaign.id).limit(20)  # type: ignore[arg-type]
            )
        )
    for campaign_id in candidates:
        async with ctx.write_session() as session:
            taken = await session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, _due(now))  # type: ignore[arg-type]
                .values(lease_owner=owner, lease_expires_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return campaign_id
    return None


async def _hold(session: AsyncSession, campaign_id: int, owner: str, now: datetime) -> Campaign:
    """Renew the lease as the transaction's first write (it takes SQLite's
    write lock and PostgreSQL's row lock: a pause or cancel waits for the
    batch, or the batch sees it); the campaign, or :class:`LeaseLost`."""
    renewed = await session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.lease_owner == owner,
            Campaign.status.in_((lifecycle.SENDING, lifecycle.SCHEDULED)),
        )
        .values(lease_expires_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    if getattr(renewed, "rowcount", 0) != 1:
        raise LeaseLost(f"campaign {campaign_id}")
    campaign = await session.get(Campaign, campaign_id, populate_existing=True)
    assert campaign is not None
    return campaign


async def drive(
    ctx: Context,
    campaign_id: int,
    owner: str,
    queue_ahead: int | None = fanout.QUEUE_AHEAD,
    stop: asyncio.Event | None = None,
) -> None:
    """Work on the campaign while it has something due, then let it go."""
    try:
        await _start(ctx, campaign_id, owner)
        # The quiet hours and caps saved a moment ago, whichever process saved them.
        settings = await installation_defaults.refresh(ctx)
        async with ctx.session() as session:
            campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None
            plan = await fanout.plan(settings, session, campaign)
            max_failure = campaign.max_failure_rate
        checked: datetime | None = None
        clashes = 0
        in_lanes = lanes.wanted(ctx, plan)
        # In lanes, the lanes read ahead; this loop only finishes, waits or expires.
        ahead = None if in_lanes else ReadAhead(ctx, plan)
        try:
            while stop is None or not stop.is_set():
                now = utcnow()
                # Before making more: a failing campaign stops at its next look.
                if max_failure is not None and (checked is None or now - checked >= FAILURE_CHECK):
                    checked = now
                    if await _failure_pause(ctx, campaign_id, max_failure):
                        return
                if in_lanes:
                    until = now + FAILURE_CHECK
                    try:
                        writers = lanes.Lanes(ctx, plan, owner, LEASE, until, queue_ahead, stop)
                        settled = await writers.run()
                    except fanout.CampaignMoved:
                        return
                    if settled:
                        continue
                # Taken before the write transaction, which must not wait on it.
                batch = None if ahead is None else await ahead.take()
                if batch is not None and now - batch.decided_at > STALE:
                    batch = None  # decided too long ago (quiet hours, expiry): decide again
                try:
                    async with ctx.write_session() as session:
                        campaign = await _hold(session, campaign_id, owner, now)
                        done = await _step(session, campaign, plan, now, queue_ahead, ahead, batch)
                except (IntegrityError, fanout.RecipientsMoved) as exc:
                    # A short-link code drawn twice: 7 base-62 characters, so
                    # with a million links stored a batch of 1,000 new ones
                    # clashes about once in 3,500 (a 1M-recipient benchmark met
                    # one). Or recipients settled by someone else since they
                    # were read. The batch rolled back whole; made again, it
                    # is read afresh and draws new codes.
                    if ahead is not None:
                        await ahead.drop()
                    clashes += 1
                    if clashes > MAX_CLASHES:
                        raise
                    log.info("campaign %s: batch made again after %s", campaign_id, exc)
                    continue
                clashes = 0
                if done:
                    return
        finally:
            if ahead is not None:
                await ahead.drop()
    except LeaseLost:
        return
    except ValidationFailed as exc:
        await _fail(ctx, campaign_id, owner, f"{exc.field}: {exc.message}")
    finally:
        await _release(ctx, campaign_id, owner)


async def _start(ctx: Context, campaign_id: int, owner: str) -> None:
    """Scheduled → sending, and the recipients chosen if they are not yet."""
    now = utcnow()
    async with ctx.write_session() as session:
        campaign = await _hold(session, campaign_id, owner, now)
        if campaign.status == lifecycle.SCHEDULED:
            campaign.status = lifecycle.SENDING
        if campaign.materialised_at is None:
            if campaign.sender_id is None:
                raise ValidationFailed("sender", "the campaign has no sender")
            sender = await session.get(Sender, campaign.sender_id)
            if sender is None:
                raise ValidationFailed("sender", "the campaign's sender is gone")
            await materialise(session, campaign, sender, ctx.settings.default_time_zone, now)
            analyze = ctx.dialect.name == "postgresql"
        else:
            analyze = False
    if analyze:
        # Fresh statistics for the rows just written, or PostgreSQL plans each
        # batch's look-up of due recipients as if the table were still empty.
        async with ctx.session() as session:
            await session.execute(text("ANALYZE campaign_recipients"))


async def _step(
    session: AsyncSession,
    campaign: Campaign,
    plan: fanout.Plan,
    now: datetime,
    queue_ahead: int | None,
    ahead: ReadAhead | None = None,
    batch: fanout.Prepared | None = None,
) -> bool:
    """One batch (``batch`` when one was read ahead), or the decision that
    there is nothing to do for now; True when the runner should let the
    campaign go. A batch read ahead and not written stays pending."""
    if campaign.expires_at is not None and campaign.expires_at <= now:
        await fanout.expire(session, campaign.id)
        return await _finish_or_wait(session, campaign, now)
    if queue_ahead is not None:
        waiting = await fanout.waiting_messages(session, campaign.id, queue_ahead)
        if waiting >= queue_ahead:
            campaign.next_batch_at = now + LOOK_AGAIN
            return True
    if batch is None:
        rows = await fanout.due(session, plan, now)
        if not rows:
            return await _finish_or_wait(session, campaign, now)
        batch = fanout.prepare(plan, rows, now)
    if ahead is not None and plan.throttle is None:
        # Throttled, the runner lets the campaign go after each batch.
        ahead.start(batch.recipient_ids)
    await fanout.commit(session, plan, batch, now)
    # Throttled: commit set next_batch_at, the throttle's pace.
    return campaign.throttle_per_minute is not None


async def _finish_or_wait(session: AsyncSession, campaign: Campaign, now: datetime) -> bool:
    if await fanout.has_pending(session, campaign.id):
        due = await fanout.next_due(session, campaign.id)
        campaign.next_batch_at = min(due, now + IDLE_LOOK) if due is not None else now + IDLE_LOOK
        return True
    if await fanout.waiting_messages(session, campaign.id, 1):
        campaign.next_batch_at = now + LOOK_AGAIN
        return True
    campaign.status = lifecycle.COMPLETED
    campaign.completed_at = now
    campaign.status_reason = None
    return True


async def _failure_pause(ctx: Context, campaign_id: int, limit: float) -> bool:
    async with ctx.write_session() as session:
        campaign = await session.get(Campaign, campaign_id, populate_existing=True)
        if campaign is None or campaign.status != lifecycle.SENDING:
            return True
        rate = await fanout.failure_rate(session, campaign_id, campaign.failures_counted_after)
        if rate is None or rate <= limit:
            return False
        campaign.status = lifecycle.PAUSED
        campaign.status_reason = (
            f"paused: {rate:.1f}% of the last {fanout.FAILURE_WINDOW} sends failed "
            f"(more than the campaign's {limit:g}%)"
        )
        campaign.updated_at = utcnow()
        await session.flush()
        await campaign_outbox.hold(session, campaign_id)
        log.warning("campaign %s %s", campaign.name, campaign.status_reason)
        return True


async def _fail(ctx: Context, campaign_id: int, owner: str, reason: str) -> None:
    async with ctx.write_session() as session:
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.lease_owner == owner)
            .values(status=lifecycle.FAILED, status_reason=reason, completed_at=utcnow())
            .execution_options(synchronize_session=False)
        )


async def _release(ctx: Context, campaign_id: int, owner: str) -> None:
    async with ctx.write_session() as session:
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
