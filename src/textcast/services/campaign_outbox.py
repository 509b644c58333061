"""A campaign's messages waiting in the outbox, as its state changes: held
while it is paused, due again when it resumes, cancelled when it is cancelled
or expires.

Pausing moves the waiting messages out of every claim's reach at once
(:func:`hold`); the dispatcher also holds, at the moment it claims them,
any message of a campaign that stopped after the message was claimed once
already and came back to the queue (a retry), see :func:`stopped`. Either
way nothing of a paused or cancelled campaign is handed to the provider,
except what a worker was already sending (due within
:data:`textcast.dispatch.pacing.HOLD_SECONDS` of its claim).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.db.dialect import dialect_of
from textcast.db.models import Campaign, Message, MessageEvent, event_type, utcnow

EVENTS = cast(Table, MessageEvent.__table__)

# Where a paused campaign's waiting messages are parked: a claim takes queued
# messages due by now in ``next_attempt_at`` order (ix_messages_claim), so these
# are never reached, nor scanned past, until a resume makes them due again.
# They stay ``queued``: cancel and expiry find them as they find any other.
HELD_UNTIL = datetime(9999, 12, 31, tzinfo=UTC)

# Campaign states (textcast.campaigns.lifecycle) whose messages must not go:
# held while paused, cancelled once the campaign ended without them.
PAUSED = "paused"
ENDED_EARLY = {"cancelled": "the campaign was cancelled", "failed": "the campaign failed"}


async def hold(session: AsyncSession, campaign_id: int) -> int:
    """Hold the campaign's messages no worker has claimed yet; how many.

    A pause must stop what is already in the outbox too: a failure-rate stop
    that let a queue's worth of failing messages go on, at a slow sender's
    pace for hours, would stop nothing."""
    result = await session.execute(
        update(Message)
        .where(Message.campaign_id == campaign_id, Message.status == status.QUEUED)
        .values(next_attempt_at=HELD_UNTIL)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) or 0


async def release_held(session: AsyncSession, campaign_id: int, now: datetime) -> int:
    """Make the messages :func:`hold` held due now; how many (the senders'
    pacing spreads them out again as they are claimed)."""
    result = await session.execute(
        update(Message)
        .where(
            Message.campaign_id == campaign_id,
            Message.status == status.QUEUED,
            Message.next_attempt_at >= HELD_UNTIL,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) or 0


async def cancel_waiting(session: AsyncSession, campaign_id: int, detail: str) -> int:
    """Cancel the campaign's messages no worker has claimed yet (``queued``,
    held or not), each with its ``message.canceled`` event; how many."""
    now = utcnow()
    ids = list(
        await session.scalars(
            update(Message)
            .where(Message.campaign_id == campaign_id, Message.status == status.QUEUED)
            .values(status=status.CANCELED, final_at=now, updated_at=now, error_message=detail)
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
    )
    if ids:
        connection = await session.connection()
        dialect = dialect_of(connection)
        kind = event_type(status.CANCELED, "campaign")
        at = dialect.bind_time(now)
        rows = [(mid, kind, status.CANCELED, "campaign", detail, at) for mid in ids]
        columns = ("message_id", "type", "status", "source", "detail", "created_at")
        for start in range(0, len(rows), 5000):
            await dialect.insert_rows(connection, EVENTS, columns, rows[start : start + 5000])
    return len(ids)


async def stopped(session: AsyncSession, campaign_ids: Collection[int]) -> dict[int, str]:
    """Of ``campaign_ids``, those paused or ended early, with their state."""
    if not campaign_ids:
        return {}
    rows = await session.execute(
        select(Campaign.id, Campaign.status).where(
            Campaign.id.in_(sorted(campaign_ids)),
            Campaign.status.in_((PAUSED, *sorted(ENDED_EARLY))),
        )
    )
    return {campaign_id: state for campaign_id, state in rows}
