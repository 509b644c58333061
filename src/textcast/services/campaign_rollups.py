"""A campaign's settled messages, its clicks and its answers, counted once
and kept, in the background.

Counting a million recipients' rows takes seconds, and most of them no
longer change: a message that reached a final status keeps what the stats
read of it (variant, final status, error, provider, the minutes of sending
and settling) — a final status is never replaced (:mod:`textcast.status`)
except ``delivered`` by ``read``, both counted as delivered, and a failure
worth resending is requeued in the transaction that records it, so it is
never seen final. A click is never changed once written, nor a reply or a
STOP. So those rows are counted into ``campaign_stat_rollups``, and a stats
call (:mod:`textcast.services.campaign_stats`) reads the kept groups plus
the rows not yet counted.

Each row says whether it is counted (``rolled_up``), and partial indexes
hold the rows that are not (migration 0017). A pass (:func:`roll_up`) takes
the uncounted rows, adds their groups to the rollups and marks them, all in
one transaction: a row is counted exactly when its mark commits. So the
order in which writers commit does not matter. A message stamped final
before a pass and committed after it is simply uncounted at that pass, and
taken by the next; the time margin an earlier design needed (``final_at``
and ``clicked_at`` are stamped before their transaction commits, so a cut-off
by time had to trail by minutes, and every stats call right after a send read
those minutes from the rows) is gone, and what a call reads from the rows is
what settled since the last pass, seconds ago.

The one change that can reach a settled message: the dispatcher records the
provider's answer (``sent_at``) after the provider's callback already made
the message final. Such a message (final, a provider ID, no ``sent_at``)
waits, read from its row, until that record is in. (A worker that writes an
answer after another took its lease over and settled the message otherwise
is the corner the dispatcher itself cannot order; it is not covered.)

A reply counts once per message (see :func:`answer_groups`), which ties one
event's count to the others of its message: a pass counts a message's reply
only when no counted reply of that message qualifies. Passes therefore run
one at a time, in any process (:meth:`~textcast.db.dialect.DatabaseDialect.
try_lock`; a process that finds one running skips its turn). Rows a writer
holds locked are passed over (``SKIP LOCKED``) for the next pass, so a pass
never waits for the dispatcher or the callbacks.

The campaign runner makes a pass every ``TEXTCAST_STATS_ROLL_UP_INTERVAL``
seconds in every ``serve`` and ``worker`` (:mod:`textcast.campaigns.runner`);
a pass costs one UPDATE per counted row, in batches of :data:`BATCH`, each
its own short transaction. Each pass appends its groups; when a campaign's
appended rows outnumber the ones it kept, they are summed into one row per
group (compaction), so a read sums about as many rows as the campaign has
groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Table,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.context import Context
from textcast.db.dialect import dialect_of
from textcast.db.models import (
    ANSWER_EVENTS,
    Campaign,
    CampaignStatProgress,
    CampaignStatRollup,
    LinkClick,
    Message,
    MessageEvent,
    utcnow,
)
from textcast.services.provider_stats import DELIVERED, delivered_time

REPLY_WINDOW = timedelta(hours=72)
REPLIED, OPTED_OUT = "message.replied", "contact.opted_out"
FAILED = (status.FAILED, status.UNDELIVERED)
FINAL = tuple(sorted(status.FINAL))
NOT_FINAL = tuple(sorted(status.ALL - status.FINAL))
MESSAGES = cast(Table, Message.__table__)
CLICKS = cast(Table, LinkClick.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
CAMPAIGNS = cast(Table, Campaign.__table__)
ROLLUPS = cast(Table, CampaignStatRollup.__table__)
# The key of the lock one pass at a time holds ("tcst").
LOCK = 0x74637374
# Rows of each kind a pass's transaction takes at most.
BATCH = 5_000
# A campaign's rows are summed once it has appended this many, and at least
# as many as the last compaction left.
COMPACT_FROM = 500
# Literal in the SQL, as in the partial index's condition: with a bound
# parameter neither database can tell the query matches the index.
_ANSWER_TYPES: BindParameter[Any] = bindparam(
    "answer_events", ANSWER_EVENTS, expanding=True, literal_execute=True
)
_MESSAGE_KEYS = (
    "variant",
    "status",
    "error_code",
    "provider_id",
    "sent_minute",
    "settled_minute",
)
_ROLLUP_KEYS = ("kind", *_MESSAGE_KEYS, "first")


# --- what the stats count, grouped --------------------------------------------------


def message_keys(session: AsyncSession) -> tuple[ColumnElement[Any], ...]:
    """What the stats fold messages by: variant, status, error, provider, and
    the minutes of sending and of settling (delivered at its delivered time,
    failed when Textcast learned of it)."""
    dialect = dialect_of(session)
    m = MESSAGES.c
    settled = case(
        (m.status.in_(DELIVERED), dialect.minute_of(delivered_time(session))),
        (m.status.in_(FAILED), dialect.minute_of(m.final_at)),
    )
    return (
        m.variant,
        m.status,
        m.error_code,
        m.provider_id,
        dialect.minute_of(m.sent_at).label("sent_minute"),
        settled.label("settled_minute"),
    )


def message_groups(session: AsyncSession, campaign_id: int, *where: Any) -> Select[Any]:
    """The campaign's messages (test sends aside) matching ``where``, grouped
    by :func:`message_keys`."""
    m = MESSAGES.c
    keys = message_keys(session)
    return (
        select(*keys, func.count().label("n"), func.sum(m.segments).label("segments"))
        .where(m.campaign_id == campaign_id, m.is_test.is_(False), *where)
        .group_by(*keys)
    )


def click_groups(session: AsyncSession, campaign: Campaign, *where: Any) -> Select[Any]:
    """The campaign's human clicks matching ``where`` by variant, ``first``
    and minute: found by the campaign's label, held to its messages by ID
    (another message may carry the same free-text label), test sends aside."""
    dialect = dialect_of(session)
    m, c = MESSAGES.c, CLICKS.c
    minute = dialect.minute_of(c.clicked_at).label("minute")
    return (
        select(m.variant, c.first, minute, func.count().label("n"))
        .select_from(CLICKS.join(MESSAGES, m.id == c.message_id))
        .where(
            c.campaign == campaign.name,
            # Checked on the row: SQLite would otherwise prefer (campaign,
            # is_bot) to the partial index of the clicks not yet counted.
            dialect.unindexed(c.is_bot).is_(False),
            m.campaign_id == campaign.id,
            m.is_test.is_(False),
            *where,
        )
        .group_by(m.variant, c.first, minute)
    )


def _answers(session: AsyncSession, keys: Sequence[ColumnElement[Any]], *where: Any) -> Select[Any]:
    """Messages answered (test sends aside), by ``keys`` and kind: ``replied``
    when a reply came within REPLY_WINDOW of the sending, ``opted_out`` for a
    STOP, each message once per kind, among the answers matching ``where``.

    "Its first reply counts when it came within the window" is the same
    number: the first reply is the earliest, so it is inside the window
    whenever any reply is."""
    m, e = MESSAGES.c, EVENTS.c
    kind = case((e.type == REPLIED, literal("replied")), else_=literal("opted_out"))
    return (
        select(*keys, kind.label("kind"), func.count(e.message_id.distinct()).label("n"))
        .select_from(EVENTS.join(MESSAGES, m.id == e.message_id))
        .where(_answer(session), m.is_test.is_(False), _counts(session, e), *where)
        .group_by(*keys, kind)
    )


def _answer(session: AsyncSession) -> ColumnElement[bool]:
    """The event is a reply or a STOP: as ``ix_message_events_to_roll_up``'s
    condition has it (on SQLite through no index, see the model)."""
    return dialect_of(session).unindexed(EVENTS.c.type).in_(_ANSWER_TYPES)


def answer_groups(session: AsyncSession, campaign_id: int, *where: Any) -> Select[Any]:
    """The campaign's answered messages by variant and kind (see :func:`_answers`)."""
    m = MESSAGES.c
    return _answers(session, (m.variant,), m.campaign_id == campaign_id, *where)


def _counts(session: AsyncSession, e: Any) -> ColumnElement[bool]:
    """Whether answer ``e`` (to the message joined as ``messages``) is one the
    stats count: any STOP, a reply within REPLY_WINDOW of the sending."""
    m = MESSAGES.c
    since_sent = dialect_of(session).seconds_between(
        func.coalesce(m.sent_at, m.created_at), e.created_at
    )
    return or_(e.type == OPTED_OUT, since_sent <= REPLY_WINDOW.total_seconds())


def _counted_before(session: AsyncSession) -> ColumnElement[bool]:
    """The answer's message already has one of its kind counted (an answer
    that counts, marked)."""
    e, counted = EVENTS.c, EVENTS.alias("counted").c
    return exists().where(
        counted.message_id == e.message_id,
        counted.type == e.type,
        counted.rolled_up.is_(True),
        _counts(session, counted),
    )


# --- what is not yet counted (each condition as its partial index has it) -----------------


def uncounted_messages(session: AsyncSession) -> list[list[ColumnElement[bool]]]:
    """The messages a stats call reads from their rows, in two disjoint
    parts: those not final (through the status index), and final ones not
    yet counted (through ``ix_messages_to_roll_up``; their status is checked
    on the row, or SQLite would walk every final message through the status
    index). A message is counted only when final, and final stays final."""
    m = MESSAGES.c
    return [
        [m.status.in_(NOT_FINAL)],
        [
            m.rolled_up == false(),
            m.final_at.is_not(None),
            dialect_of(session).unindexed(m.status).in_(FINAL),
        ],
    ]


def uncounted_clicks() -> list[ColumnElement[bool]]:
    return [CLICKS.c.rolled_up == false()]


def uncounted_answer_groups(session: AsyncSession, campaign_id: int) -> Select[Any]:
    """:func:`answer_groups` of the answers not yet counted whose message
    has none of their kind counted. Found from the answers (a few, through
    their partial index), each message looked up by ID: the campaign is
    checked on the message, or SQLite would start from the campaign's
    million messages."""
    m, e = MESSAGES.c, EVENTS.c
    return _answers(
        session,
        (m.variant,),
        dialect_of(session).unindexed(m.campaign_id) == campaign_id,
        e.rolled_up == false(),
        ~_counted_before(session),
    )


def messages_to_count(session: AsyncSession) -> Select[Any]:
    """The IDs of campaign messages a pass may count: final, not yet counted,
    and not waiting for the dispatcher's record of the provider's answer
    (see the module's docstring)."""
    m = MESSAGES.c
    recorded = or_(m.sent_at.is_not(None), m.provider_message_id.is_(None))
    return select(m.id).where(*uncounted_messages(session)[1], m.campaign_id.is_not(None), recorded)


def clicks_to_count() -> Select[Any]:
    return select(CLICKS.c.id).where(*uncounted_clicks())


def answers_to_count(session: AsyncSession) -> Select[Any]:
    return select(EVENTS.c.id).where(EVENTS.c.rolled_up == false(), _answer(session))


async def rolled_until(session: AsyncSession, campaign_id: int) -> datetime | None:
    """When a pass last counted rows of the campaign."""
    return await session.scalar(
        select(CampaignStatProgress.rolled_until).where(
            CampaignStatProgress.campaign_id == campaign_id
        )
    )


# --- a pass -------------------------------------------------------------------------

Key = tuple[Any, ...]  # campaign ID, then _ROLLUP_KEYS' values


class _Groups(dict[Key, list[int]]):
    """A pass's counts: key → [count, segments]."""

    def add(self, key: Key, count: int, segments: int = 0) -> None:
        found = self.setdefault(key, [0, 0])
        found[0] += count
        found[1] += segments


async def roll_up(ctx: Context, batch: int = BATCH) -> int:
    """Count every row not yet counted, in transactions of at most ``batch``
    of each kind (messages, clicks, answers); how many rows were marked.
    Returns at once while another process's pass runs."""
    taken = 0
    while (counts := await roll_up_once(ctx, batch)) is not None:
        taken += sum(counts)
        if max(counts) < batch:
            break
    return taken


async def roll_up_once(ctx: Context, batch: int = BATCH) -> tuple[int, int, int] | None:
    """One transaction of a pass: up to ``batch`` messages, clicks and
    answers marked and counted (how many of each); None when another pass
    holds the lock."""
    async with ctx.write_session() as session:
        connection = await session.connection()
        if not await dialect_of(connection).try_lock(connection, LOCK):
            return None
        return await _pass(session, batch, utcnow())


async def _pass(session: AsyncSession, batch: int, now: datetime) -> tuple[int, int, int]:
    groups = _Groups()
    # Messages first: on SQLite that write takes the lock (see try_lock).
    messages = await _take_messages(session, batch, groups)
    clicks = await _take_clicks(session, batch, groups)
    answers = await _take_answers(session, batch, groups)
    await _keep(session, groups, now)
    return messages, clicks, answers


async def _take_messages(session: AsyncSession, batch: int, groups: _Groups) -> int:
    """Mark up to ``batch`` final campaign messages and count them (test
    sends are marked, not counted). Not yet: one still waiting for the
    dispatcher's record of the provider's answer (see the module's docstring)."""
    m = MESSAGES.c
    chosen = dialect_of(session).skip_locked(messages_to_count(session).limit(batch))
    marked = await session.execute(
        update(MESSAGES)
        .where(m.id.in_(chosen.scalar_subquery()), m.rolled_up == false())
        .values(rolled_up=True)
        .returning(m.campaign_id, m.is_test, m.segments, *message_keys(session))
    )
    rows = marked.all()
    for row in rows:
        if not row.is_test:
            key = (row.campaign_id, "messages", *(getattr(row, k) for k in _MESSAGE_KEYS), False)
            groups.add(key, 1, int(row.segments))
    return len(rows)


async def _take_clicks(session: AsyncSession, batch: int, groups: _Groups) -> int:
    """Mark up to ``batch`` clicks and count the human ones on a campaign's
    messages under its name; a bot's, a test send's or a plain message's
    click is marked only."""
    dialect = dialect_of(session)
    c, m, k = CLICKS.c, MESSAGES.c, CAMPAIGNS.c
    ids = list(await session.scalars(dialect.skip_locked(clicks_to_count().limit(batch))))
    if not ids:
        return 0
    minute = dialect.minute_of(c.clicked_at).label("minute")
    rows = await session.execute(
        select(m.campaign_id, m.variant, c.first, minute, func.count().label("n"))
        .select_from(
            CLICKS.join(MESSAGES, m.id == c.message_id).join(CAMPAIGNS, k.id == m.campaign_id)
        )
        .where(dialect.one_of(c.id, ids), k.name == c.campaign)
        .where(c.is_bot.is_(False), m.is_test.is_(False))
        .group_by(m.campaign_id, m.variant, c.first, minute)
    )
    for row in rows:
        key = (row.campaign_id, "clicks", row.variant, None, None, None, None, row.minute)
        groups.add((*key, bool(row.first)), int(row.n))
    await session.execute(update(CLICKS).where(dialect.one_of(c.id, ids)).values(rolled_up=True))
    return len(ids)


async def _take_answers(session: AsyncSession, batch: int, groups: _Groups) -> int:
    """Mark up to ``batch`` replies and STOPs (every one, whatever its
    message) and count each answered campaign message not counted before."""
    dialect = dialect_of(session)
    e, m = EVENTS.c, MESSAGES.c
    ids = list(await session.scalars(dialect.skip_locked(answers_to_count(session).limit(batch))))
    if not ids:
        return 0
    keys = (m.campaign_id, m.variant)
    rows = await session.execute(
        _answers(
            session,
            keys,
            dialect.one_of(e.id, ids),
            m.campaign_id.is_not(None),
            ~_counted_before(session),
        )
    )
    for row in rows:
        key = (row.campaign_id, "replies", row.variant, row.kind, None, None, None, None, False)
        groups.add(key, int(row.n))
    await session.execute(update(EVENTS).where(dialect.one_of(e.id, ids)).values(rolled_up=True))
    return len(ids)


async def _keep(session: AsyncSession, groups: _Groups, now: datetime) -> None:
    """Append the pass's groups, note the pass for each campaign, and compact
    a campaign whose appended rows have come to outnumber its kept ones."""
    if not groups:
        return
    # A draft's test sends may outlive it (a draft can be deleted); nothing
    # of theirs is counted, but a campaign must exist to keep its counts.
    wanted = {key[0] for key in groups}
    campaigns = set(await session.scalars(select(Campaign.id).where(Campaign.id.in_(wanted))))
    rows = [_rollup_row(key, count, segments) for key, (count, segments) in groups.items()]
    rows = [row for row in rows if row["campaign_id"] in campaigns]
    if not rows:
        return
    await session.execute(insert(ROLLUPS), rows)
    for campaign_id in sorted(campaigns):
        appended = sum(1 for row in rows if row["campaign_id"] == campaign_id)
        progress = await session.get(CampaignStatProgress, campaign_id)
        if progress is None:
            progress = CampaignStatProgress(campaign_id=campaign_id, kept=0, appended=0)
            session.add(progress)
        progress.rolled_until = now
        progress.appended += appended
        if progress.appended >= max(COMPACT_FROM, progress.kept):
            progress.kept = await _compact(session, campaign_id)
            progress.appended = 0


async def _compact(session: AsyncSession, campaign_id: int) -> int:
    """Sum the campaign's rows into one per group; how many rows that left."""
    r = ROLLUPS.c
    keys = [r[name] for name in _ROLLUP_KEYS]
    sums = (
        await session.execute(
            select(*keys, func.sum(r.count), func.sum(r.segments))
            .where(r.campaign_id == campaign_id)
            .group_by(*keys)
        )
    ).all()
    await session.execute(delete(ROLLUPS).where(r.campaign_id == campaign_id))
    rows = [_rollup_row((campaign_id, *row[:-2]), int(row[-2]), int(row[-1])) for row in sums]
    if rows:
        await session.execute(insert(ROLLUPS), rows)
    return len(rows)


def _rollup_row(key: Key, count: int, segments: int) -> dict[str, Any]:
    return {
        "campaign_id": key[0],
        **dict(zip(_ROLLUP_KEYS, key[1:], strict=True)),
        "count": count,
        "segments": segments,
    }
