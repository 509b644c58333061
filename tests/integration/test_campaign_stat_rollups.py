"""The campaign stats' roll-up (textcast.services.campaign_rollups): rows
counted once by passes in the background, whatever order their writers
commit in and however the passes interleave, and a stats call that writes
nothing. Against the hand-built campaign of test_campaign_stats, whose
numbers are known; each figure is checked against a count of every row."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, eventually
from tests.integration.test_campaign_stats import at, build
from textcast.campaigns.runner import CampaignRunner
from textcast.config import Settings
from textcast.context import Context
from textcast.db.models import (
    Campaign,
    CampaignStatProgress,
    CampaignStatRollup,
    LinkClick,
    Message,
    MessageEvent,
    ShortLink,
    utcnow,
)
from textcast.services import campaign_rollups
from textcast.services.campaign_rollups import roll_up, roll_up_once
from textcast.services.campaign_stats import campaign_stats


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No passes but the tests' own: the server's runner makes none."""
    return settings.model_copy(update={"stats_roll_up_interval": 0})


def numbers_only(numbers: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in numbers.items() if k != "rolled_until"}


async def exact(ctx: Context, campaign_id: int) -> dict[str, Any]:
    """The stats as read (kept counts and the rest), asserted equal to a
    count of every row."""
    numbers = await campaign_stats(ctx, campaign_id)
    assert numbers_only(numbers) == numbers_only(await campaign_stats(ctx, campaign_id, kept=False))
    return numbers


async def kept(ctx: Context, campaign_id: int) -> dict[str, int]:
    """What the rollups hold for the campaign, summed per kind."""
    r = CampaignStatRollup
    async with ctx.session() as session:
        rows = await session.execute(
            select(r.kind, func.sum(r.count)).where(r.campaign_id == campaign_id).group_by(r.kind)
        )
        return {kind: int(n) for kind, n in rows}


async def message_id(ctx: Context, **where: Any) -> int:
    async with ctx.session() as session:
        found = await session.scalar(select(Message.id).filter_by(**where))
        assert found is not None
        return found


# Settled: m1-m4, m9-m11, m13 (m5 is queued, m12 still sent); human clicks:
# 3; answers: m1's and m2's first replies, m3's and m11's STOPs.
ALL_KEPT = {"messages": 8, "clicks": 3, "replies": 4}


async def test_each_row_is_counted_once_however_the_passes_fall(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """Passes of three rows of each kind at a time: the numbers are the same
    after each as counted from the rows alone."""
    campaign_id = await build(server, simulator, http)
    ctx = server.ctx
    expected = numbers_only(await exact(ctx, campaign_id))
    assert expected["delivered"] == 4 and expected["clicks"] == 3 and expected["replied"] == 2
    passes = 0
    while (counts := await roll_up_once(ctx, batch=3)) and any(counts):
        passes += 1
        assert numbers_only(await exact(ctx, campaign_id)) == expected, passes
    # 9 final messages (spring's 8 and other's), 7 clicks and 9 answers, 3 at a time.
    assert passes == 3
    assert await kept(ctx, campaign_id) == ALL_KEPT
    assert (await campaign_stats(ctx, campaign_id))["rolled_until"] is not None

    # A message settling now is read from its row until a pass counts it.
    sent = await message_id(ctx, status="sent")
    async with ctx.session() as session:
        await session.execute(
            update(Message).where(Message.id == sent).values(status="delivered", final_at=utcnow())
        )
    after = await exact(ctx, campaign_id)
    assert (after["delivered"], after["variants"][1]["delivered"]) == (5, 3)
    assert await roll_up(ctx) == 1
    assert numbers_only(await exact(ctx, campaign_id)) == numbers_only(after)
    assert (await kept(ctx, campaign_id))["messages"] == 9


async def test_rows_committed_after_a_pass_with_earlier_stamps_are_counted(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """A writer stamps its time before it commits: a message final, a click
    and a reply stamped before a pass and committed after it are counted by
    the next pass, exactly once. On PostgreSQL the writer's transaction is
    open while the pass runs (the pass neither waits for it nor sees it);
    SQLite has one writer at a time, so there the pass comes between the
    stamp and the write."""
    campaign_id = await build(server, simulator, http)
    ctx = server.ctx
    await roll_up(ctx)
    assert await kept(ctx, campaign_id) == ALL_KEPT
    sent = await message_id(ctx, status="sent")  # m12, variant B, sent at 0:50
    m9 = await message_id(ctx, status="delivered", variant="B", delivered_at=at(7 * 60 + 6))
    async with ctx.session() as session:
        link = ShortLink(code="late", url="https://example.com/x", message_id=m9, campaign="spring")
        session.add(link)
        # m9's reply half an hour after its sending, committed and counted first.
        session.add(
            MessageEvent(
                type="message.replied",
                message_id=m9,
                source="inbound",
                created_at=at(7 * 60 + 35),
            )
        )
    await roll_up(ctx)
    assert (await exact(ctx, campaign_id))["replied"] == 3

    stamped = utcnow() - timedelta(minutes=30)  # long before the pass

    async def write(session: Any) -> None:
        await session.execute(
            update(Message)
            .where(Message.id == sent)
            .values(status="delivered", final_at=stamped, delivered_at=at(2))
        )
        session.add(LinkClick(link_id=link.id, message_id=m9, campaign="spring", clicked_at=at(1)))
        # m9's earlier reply, committed after the later one was counted: once.
        session.add(
            MessageEvent(
                type="message.replied", message_id=m9, source="inbound", created_at=at(7 * 60 + 10)
            )
        )
        await session.flush()

    if ctx.dialect.name == "postgresql":
        async with ctx.session() as writer:
            await write(writer)
            assert await roll_up(ctx) == 0  # the pass sees nothing of it
            during = await exact(ctx, campaign_id)
            assert (during["delivered"], during["clicks"]) == (4, 3)
    else:
        assert await roll_up(ctx) == 0
        async with ctx.session() as writer:
            await write(writer)
    late = await exact(ctx, campaign_id)
    assert (late["delivered"], late["clicks"], late["unique_clicks"], late["replied"]) == (
        5,
        4,
        2,
        3,
    )
    assert late["series"]["points"][1]["clicked"] == 1  # the late click, in minute 10:01
    assert await roll_up(ctx) == 3
    assert numbers_only(await exact(ctx, campaign_id)) == numbers_only(late)
    assert await kept(ctx, campaign_id) == {"messages": 9, "clicks": 4, "replies": 5}


async def test_a_message_settled_before_its_sending_was_recorded_waits_for_the_record(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """The provider's callback can make a message final before the
    dispatcher records the provider's answer (its ``sent_at``): a pass leaves
    the message to be read from its row until that record is in, then
    counts it, sent."""
    campaign_id = await build(server, simulator, http)
    ctx = server.ctx
    queued = await message_id(ctx, status="queued")  # m5, variant A
    async with ctx.session() as session:
        await session.execute(
            update(Message)
            .where(Message.id == queued)
            .values(status="delivered", provider_message_id="SM" + "5" * 32, final_at=utcnow())
        )
    assert await roll_up(ctx) > 0
    assert (await kept(ctx, campaign_id))["messages"] == 8
    before = await exact(ctx, campaign_id)
    assert (before["sent"], before["delivered"]) == (7, 5)

    async with ctx.session() as session:  # the dispatcher's record
        await session.execute(update(Message).where(Message.id == queued).values(sent_at=at(2)))
    recorded = await exact(ctx, campaign_id)
    assert (recorded["sent"], recorded["delivered"]) == (8, 5)
    assert await roll_up(ctx) == 1
    assert (await kept(ctx, campaign_id))["messages"] == 9
    assert numbers_only(await exact(ctx, campaign_id)) == numbers_only(recorded)


async def test_a_reply_outside_the_window_counted_first_does_not_hide_one_inside(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """m12's reply four days after its sending is counted (as not a reply) by a
    pass; one within the window, stamped earlier and committed later, still
    makes m12 replied."""
    campaign_id = await build(server, simulator, http)
    ctx = server.ctx
    sent = await message_id(ctx, status="sent")  # sent at 0:50
    for minutes in (4 * 24 * 60, 20):
        async with ctx.session() as session:
            session.add(
                MessageEvent(
                    type="message.replied",
                    message_id=sent,
                    source="inbound",
                    created_at=at(50 / 60 + minutes),
                )
            )
        assert (await exact(ctx, campaign_id))["replied"] == (2 if minutes > 60 else 3)
        await roll_up(ctx)
    assert (await kept(ctx, campaign_id))["replies"] == 5


async def test_a_stats_call_writes_nothing(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """With rows waiting to be counted, calls by API, CLI and function leave
    every counted row, mark and progress as they were; on PostgreSQL the
    call's transaction is read-only, so a write in it would fail."""
    campaign_id = await build(server, simulator, http)
    ctx = server.ctx
    await roll_up_once(ctx, batch=3)  # some counted, most not

    async def state() -> list[Any]:
        async with ctx.session() as session:
            found: list[Any] = [
                list(await session.execute(select(table).order_by(*table.primary_key)))
                for table in (CampaignStatRollup.__table__, CampaignStatProgress.__table__)
            ]
            for table in (Message, LinkClick, MessageEvent):
                found.append(
                    await session.scalar(select(func.count()).where(table.rolled_up.is_(True)))
                )
            return found

    before = await state()
    assert before[2] == 3  # three messages counted by the pass
    status, numbers = await api(
        http, "GET", f"{server.url}/api/v1/campaigns/{campaign_id}/stats", server.headers
    )
    assert status == 200 and numbers["delivered"] == 4, numbers
    await exact(ctx, campaign_id)
    assert await state() == before

    if ctx.dialect.name == "postgresql":
        async with ctx.engine.connect() as connection:
            await ctx.dialect.read_only(connection)
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await connection.execute(text("DELETE FROM campaign_stat_rollups"))
            await connection.rollback()


async def test_passes_at_once_count_each_row_once(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """Passes started together in three connections: one at a time works
    (PostgreSQL: the others find the lock taken and skip; SQLite: they wait
    for the one write lock and find nothing left)."""
    campaign_id = await build(server, simulator, http)
    ctx = server.ctx
    expected = numbers_only(await exact(ctx, campaign_id))
    taken = await asyncio.gather(*(roll_up(ctx, batch=4) for _ in range(3)))
    assert sum(taken) == 9 + 7 + 9  # the final messages (other's too), clicks and answers
    assert await kept(ctx, campaign_id) == ALL_KEPT
    assert numbers_only(await exact(ctx, campaign_id)) == expected

    if ctx.dialect.name == "postgresql":
        # While a pass holds the lock, another makes none.
        sent = await message_id(ctx, status="sent")
        async with ctx.session() as session:
            await session.execute(
                update(Message)
                .where(Message.id == sent)
                .values(status="delivered", final_at=utcnow())
            )
        async with ctx.session() as holder:
            connection = await holder.connection()
            assert await ctx.dialect.try_lock(connection, campaign_rollups.LOCK)
            assert await roll_up_once(ctx) is None
            assert await roll_up(ctx) == 0
        assert await roll_up(ctx) == 1


async def test_compaction_sums_a_campaigns_rows_and_keeps_its_numbers(
    server: RunningServer,
    simulator: Simulator,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One row at a time, every pass appends rows; once they outnumber the
    kept ones (and the floor, lowered here to 4) they are summed per group."""
    monkeypatch.setattr(campaign_rollups, "COMPACT_FROM", 4)
    campaign_id = await build(server, simulator, http)
    ctx = server.ctx
    expected = numbers_only(await exact(ctx, campaign_id))
    while (counts := await roll_up_once(ctx, batch=1)) and any(counts):
        assert numbers_only(await exact(ctx, campaign_id)) == expected
    async with ctx.session() as session:
        rows = await session.scalar(
            select(func.count()).where(CampaignStatRollup.campaign_id == campaign_id)
        )
        progress = await session.get(CampaignStatProgress, campaign_id)
    assert progress is not None and progress.kept > 0
    assert rows == progress.kept + progress.appended
    # 8 messages, 3 clicks and 4 answers, one row each when appended alone.
    assert rows < 8 + 3 + 4
    assert await kept(ctx, campaign_id) == ALL_KEPT


async def test_the_campaign_runner_rolls_up_in_the_background(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """A runner whose interval is a tenth of a second counts the campaign,
    then a message that settles later, on its own."""
    campaign_id = await build(server, simulator, http)
    settings = server.ctx.settings.model_copy(update={"stats_roll_up_interval": 0.1})
    ctx = Context.create(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(CampaignRunner(ctx).run(stop))
    try:

        async def counted(messages: int) -> bool:
            return (await kept(server.ctx, campaign_id)).get("messages") == messages

        await eventually(lambda: counted(8))
        assert await kept(server.ctx, campaign_id) == ALL_KEPT
        sent = await message_id(server.ctx, status="sent")
        async with server.ctx.session() as session:
            await session.execute(
                update(Message)
                .where(Message.id == sent)
                .values(status="undelivered", error_code="30003", final_at=utcnow())
            )
        await eventually(lambda: counted(9))
        numbers = await exact(server.ctx, campaign_id)
        assert numbers["undelivered"] == 2
    finally:
        stop.set()
        await running
        await ctx.close()


async def test_uncounted_rows_are_found_through_their_partial_indexes(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """The stats' and the passes' reads of rows not yet counted repeat each
    partial index's condition with literal values: otherwise neither database
    can tell the index holds every row they want."""
    campaign_id = await build(server, simulator, http)
    ctx = server.ctx
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        rollups = campaign_rollups
        queries = [  # what a stats call reads, what a pass takes
            (
                "ix_messages_to_roll_up",
                rollups.message_groups(
                    session, campaign_id, *rollups.uncounted_messages(session)[1]
                ),
            ),
            ("ix_messages_to_roll_up", rollups.messages_to_count(session)),
            (
                "ix_link_clicks_to_roll_up",
                rollups.click_groups(session, campaign, *rollups.uncounted_clicks()),
            ),
            ("ix_link_clicks_to_roll_up", rollups.clicks_to_count()),
            (
                "ix_message_events_to_roll_up",
                rollups.uncounted_answer_groups(session, campaign_id),
            ),
            ("ix_message_events_to_roll_up", rollups.answers_to_count(session)),
        ]
        connection = await session.connection()
        postgres = ctx.dialect.name == "postgresql"
        if postgres:
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for index, query in queries:
            sql = str(
                query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
            )
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            plan = " ".join(str(row[-1]) for row in await connection.exec_driver_sql(explain + sql))
            assert index in plan, (index, plan)
