"""A campaign's settled messages and its clicks, counted once and kept.

A campaign's stats are counted from its rows; at a million recipients that
read takes seconds. Most of those rows no longer change: a message that
reached a final status keeps what the stats read of it (variant, final
status, error, provider, the minutes of sending and settling) — a final
status is never replaced (:mod:`textcast.status`) except ``delivered`` by
``read``, both counted as delivered, and a failure worth resending is
requeued in the same transaction that records it, so it is never seen
final. A click is never changed once written, nor a reply or a STOP. So the
stats keep those rows' counts in ``campaign_stat_rollups``, up to a moment
(``rolled_until``), and read only what came after it (see
:mod:`textcast.services.campaign_stats`).

Exactness rests on one margin: ``final_at`` and ``clicked_at`` are stamped by
the process before its transaction commits, so a roll-up goes only up to
:data:`SETTLE_MARGIN` ago; a row stamped earlier and committed later than
that would be missed. Writers commit within seconds (dispatch leases last a
minute); the margin is ten.

A roll-up step runs when a campaign's stats are asked for and the cut-off
has moved on by a minute or more; two steps racing are kept apart by a
compare-and-set on ``rolled_until`` (the loser's rows are rolled back).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.db.dialect import dialect_of
from textcast.db.models import (
    Campaign,
    CampaignStatProgress,
    CampaignStatRollup,
    LinkClick,
    Message,
    MessageEvent,
)
from textcast.services.provider_stats import DELIVERED, delivered_time

SETTLE_MARGIN = timedelta(minutes=10)
REPLY_WINDOW = timedelta(hours=72)
REPLIED, OPTED_OUT = "message.replied", "contact.opted_out"
FAILED = (status.FAILED, status.UNDELIVERED)
FINAL = tuple(sorted(status.FINAL))
MESSAGES = cast(Table, Message.__table__)
CLICKS = cast(Table, LinkClick.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
ROLLUPS = cast(Table, CampaignStatRollup.__table__)


def message_groups(session: AsyncSession, campaign_id: int, *where: Any) -> Select[Any]:
    """The campaign's messages (test sends aside) matching ``where``, grouped
    as the stats fold them: variant, status, error, provider, and the minutes
    of sending and of settling (delivered at its delivered time, failed when
    Textcast learned of it)."""
    dialect = dialect_of(session)
    m = MESSAGES.c
    settled = case(
        (m.status.in_(DELIVERED), dialect.minute_of(delivered_time(session))),
        (m.status.in_(FAILED), dialect.minute_of(m.final_at)),
    )
    keys = (
        m.variant,
        m.status,
        m.error_code,
        m.provider_id,
        dialect.minute_of(m.sent_at).label("sent_minute"),
        settled.label("settled_minute"),
    )
    return (
        select(*keys, func.count().label("n"), func.sum(m.segments).label("segments"))
        .where(m.campaign_id == campaign_id, m.is_test.is_(False), *where)
        .group_by(*keys)
    )


def click_groups(session: AsyncSession, campaign: Campaign, *where: Any) -> Select[Any]:
    """The campaign's human clicks matching ``where`` by variant, ``first``
    and minute: found by the campaign's label, held to its messages by ID
    (another message may carry the same free-text label), test sends aside."""
    m, c = MESSAGES.c, CLICKS.c
    minute = dialect_of(session).minute_of(c.clicked_at).label("minute")
    return (
        select(m.variant, c.first, minute, func.count().label("n"))
        .select_from(CLICKS.join(MESSAGES, m.id == c.message_id))
        .where(
            c.campaign == campaign.name,
            c.is_bot.is_(False),
            m.campaign_id == campaign.id,
            m.is_test.is_(False),
            *where,
        )
        .group_by(m.variant, c.first, minute)
    )


def response_groups(session: AsyncSession, campaign_id: int, *where: Any) -> Select[Any]:
    """Answers to the campaign's messages matching ``where``, by variant and
    kind: ``replied`` for a message's first reply when it came within
    REPLY_WINDOW of the sending, ``opted_out`` for its first STOP. One of
    each per message at most, whenever they are counted."""
    m, e = MESSAGES.c, EVENTS.c
    earlier = EVENTS.alias("earlier")
    since_sent = dialect_of(session).seconds_between(
        func.coalesce(m.sent_at, m.created_at), e.created_at
    )
    kind = case((e.type == REPLIED, literal("replied")), else_=literal("opted_out"))
    first = ~exists().where(
        earlier.c.message_id == e.message_id,
        earlier.c.type == e.type,
        or_(
            earlier.c.created_at < e.created_at,
            and_(earlier.c.created_at == e.created_at, earlier.c.id < e.id),
        ),
    )
    return (
        select(m.variant, kind.label("kind"), func.count().label("n"))
        .select_from(EVENTS.join(MESSAGES, m.id == e.message_id))
        .where(
            e.type.in_((REPLIED, OPTED_OUT)),
            m.campaign_id == campaign_id,
            m.is_test.is_(False),
            or_(e.type == OPTED_OUT, since_sent <= REPLY_WINDOW.total_seconds()),
            first,
            *where,
        )
        .group_by(m.variant, kind)
    )


def rolled(final_at: ColumnElement[Any], state: ColumnElement[Any], until: datetime) -> Any:
    """Whether a message is in a roll-up that went up to ``until``."""
    return final_at.is_not(None) & (final_at <= until) & state.in_(FINAL)


async def rolled_until(session: AsyncSession, campaign_id: int) -> datetime | None:
    return await session.scalar(
        select(CampaignStatProgress.rolled_until).where(
            CampaignStatProgress.campaign_id == campaign_id
        )
    )


async def roll_up(session: AsyncSession, campaign: Campaign, now: datetime) -> bool:
    """Add what settled (and was clicked) between the last cut-off and
    :data:`SETTLE_MARGIN` before ``now``, cut to the minute; False when it
    was not due or another step got there first (nothing is written then)."""
    cutoff = (now - SETTLE_MARGIN).replace(second=0, microsecond=0)
    previous = await rolled_until(session, campaign.id)
    if previous is not None and cutoff <= previous:
        return False
    m, c, e = MESSAGES.c, CLICKS.c, EVENTS.c
    settled_now = [rolled(m.final_at, m.status, cutoff)]
    clicked_now = [c.clicked_at <= cutoff]
    answered_now = [e.created_at <= cutoff]
    if previous is not None:
        settled_now.append(m.final_at > previous)
        clicked_now.append(c.clicked_at > previous)
        answered_now.append(e.created_at > previous)
    async with session.begin_nested() as step:
        if not await advance(session, campaign.id, previous, cutoff):
            await step.rollback()
            return False
        rows = [
            {
                "campaign_id": campaign.id,
                "kind": "messages",
                "variant": row.variant,
                "status": row.status,
                "error_code": row.error_code,
                "provider_id": row.provider_id,
                "sent_minute": row.sent_minute,
                "settled_minute": row.settled_minute,
                "first": False,
                "count": int(row.n),
                "segments": int(row.segments),
            }
            for row in await session.execute(message_groups(session, campaign.id, *settled_now))
        ]
        rows += [
            {
                "campaign_id": campaign.id,
                "kind": "clicks",
                "variant": row.variant,
                "status": None,
                "error_code": None,
                "provider_id": None,
                "sent_minute": None,
                "settled_minute": row.minute,
                "first": bool(row.first),
                "count": int(row.n),
                "segments": 0,
            }
            for row in await session.execute(click_groups(session, campaign, *clicked_now))
        ]
        rows += [
            {
                "campaign_id": campaign.id,
                "kind": "replies",
                "variant": row.variant,
                "status": row.kind,
                "error_code": None,
                "provider_id": None,
                "sent_minute": None,
                "settled_minute": None,
                "first": False,
                "count": int(row.n),
                "segments": 0,
            }
            for row in await session.execute(response_groups(session, campaign.id, *answered_now))
        ]
        if rows:
            await session.execute(insert(ROLLUPS), rows)
    return True


async def advance(
    session: AsyncSession, campaign_id: int, previous: datetime | None, cutoff: datetime
) -> bool:
    """Move ``rolled_until`` from ``previous`` to ``cutoff`` unless another
    step moved it first (it waits for that step's commit, then finds no row)."""
    if previous is None:
        statement = dialect_of(session).insert_unless_exists(
            CampaignStatProgress, key=[CampaignStatProgress.campaign_id]
        )
        result = await session.execute(
            statement.values(campaign_id=campaign_id, rolled_until=cutoff)
        )
    else:
        result = await session.execute(
            update(CampaignStatProgress)
            .where(
                CampaignStatProgress.campaign_id == campaign_id,
                CampaignStatProgress.rolled_until == previous,
            )
            .values(rolled_until=cutoff)
        )
    return bool(getattr(result, "rowcount", 0))
