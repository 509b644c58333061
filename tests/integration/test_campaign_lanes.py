"""PostgreSQL's fan-out with writers side by side (textcast.campaigns.lanes):
every recipient made once across many small batches written concurrently,
a batch read too long ago or rolled back read again, and a pause in the
middle stopping the writers with nothing half written. On SQLite the
runner keeps its one writer, and the same checks hold."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.integration.test_campaign_fanout import add_contacts, add_provider, launch
from textcast.campaigns import fanout, lanes, runner, service
from textcast.campaigns.read_ahead import STALE
from textcast.context import Context
from textcast.db.models import Campaign, CampaignRecipient, Message, ShortLink
from textcast.services import campaign_outbox
from textcast.tracking import link_store

PEOPLE = 60


@pytest.fixture
async def campaign_id(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> int:
    """A campaign of PEOPLE recipients with a tracked link, in batches of 7."""
    monkeypatch.setattr(fanout, "BATCH", 7)
    await add_provider(ctx)
    await add_contacts(ctx, [(f"+1415555{i:04d}", {"n": str(i)}, None) for i in range(PEOPLE)])
    return await launch(ctx, body="Hi {{ contact.n }} https://shop.example/a", click_tracking=True)


def watch_commits(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Count the batches being committed at once, and the ages of those written."""
    seen: dict[str, Any] = {"now": 0, "most": 0, "ages": []}
    commit = fanout.commit

    async def watched(
        session: Any, p: Any, batch: fanout.Prepared, now: datetime, **kw: Any
    ) -> Any:
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        seen["ages"].append(now - batch.decided_at)
        try:
            await asyncio.sleep(0.01)  # a database a little slower than this one
            return await commit(session, p, batch, now, **kw)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(fanout, "commit", watched)
    return seen


async def drive(ctx: Context, campaign_id: int) -> None:
    assert await runner.claim(ctx, "w1") == campaign_id
    await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)


async def made_once(ctx: Context, campaign_id: int) -> Campaign:
    """Every recipient queued with one message of its own, one link each."""
    async with ctx.session() as session:
        made = list(
            await session.scalars(select(Message.to).where(Message.campaign_id == campaign_id))
        )
        links = await session.scalar(select(func.count()).select_from(ShortLink))
        states = set(await session.scalars(select(CampaignRecipient.status)))
        campaign = await session.get(Campaign, campaign_id)
    assert len(made) == len(set(made)) == PEOPLE
    assert links == PEOPLE and states == {"queued"}
    assert campaign is not None and campaign.queued == PEOPLE
    return campaign


async def test_writers_side_by_side_make_every_recipient_once(
    ctx: Context, campaign_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch_commits(monkeypatch)
    await drive(ctx, campaign_id)
    campaign = await made_once(ctx, campaign_id)
    assert campaign.status == "sending" and campaign.lease_owner is None
    if ctx.dialect.name == "postgresql":
        assert seen["most"] == lanes.WRITERS  # batches were written side by side
    else:
        assert seen["most"] == 1  # SQLite: one writer


async def test_a_batch_read_too_long_ago_or_rolled_back_is_read_again(
    ctx: Context, campaign_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first batch is decided long ago (quiet hours and expiry may have
    moved on) and a later one draws a short-link code already taken: neither
    is written as it was; their recipients are read again and made once."""
    seen = watch_commits(monkeypatch)
    prepare, save = fanout.prepare, link_store.save
    calls = {"prepare": 0, "save": 0}

    def long_ago(p: Any, rows: Any, now: datetime, into: Any = None) -> fanout.Prepared:
        batch = prepare(p, rows, now, into)
        calls["prepare"] += 1
        if calls["prepare"] == 1:
            batch.decided_at -= STALE * 2
        return batch

    async def clash_once(connection: Any, tracked: Any) -> None:
        calls["save"] += 1
        if calls["save"] == 3:
            raise IntegrityError("INSERT INTO short_links", None, Exception("duplicate code"))
        await save(connection, tracked)

    monkeypatch.setattr(fanout, "prepare", long_ago)
    monkeypatch.setattr(link_store, "save", clash_once)
    await drive(ctx, campaign_id)
    await made_once(ctx, campaign_id)
    assert calls["save"] > PEOPLE // 7  # the clashing batch was made again
    if ctx.dialect.name == "postgresql":
        assert all(age < STALE for age in seen["ages"])


async def test_a_pause_stops_the_writers_with_nothing_half_written(
    ctx: Context, campaign_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = fanout.commit
    written = 0
    pausing: list[asyncio.Task[None]] = []

    async def operator_pauses() -> None:
        async with ctx.session() as session:
            await service.pause(session, await service.get(session, campaign_id))

    async def pause_after_two(session: Any, p: Any, batch: Any, now: datetime, **kw: Any) -> Any:
        nonlocal written
        outcome = await commit(session, p, batch, now, **kw)
        written += 1
        if written == 2:  # while this batch is not yet committed
            pausing.append(asyncio.create_task(operator_pauses()))
            await asyncio.sleep(0.05)
        return outcome

    monkeypatch.setattr(fanout, "commit", pause_after_two)
    await drive(ctx, campaign_id)
    await asyncio.gather(*pausing)
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        recipients = list(await session.scalars(select(CampaignRecipient)))
        messages = list(
            await session.scalars(select(Message).where(Message.campaign_id == campaign_id))
        )
    assert campaign is not None and campaign.status == "paused"
    queued = {r.message_id for r in recipients if r.status == "queued"}
    assert {r.status for r in recipients} <= {"queued", "pending"}
    assert 0 < len(queued) <= PEOPLE
    if ctx.dialect.name == "postgresql":
        # Stopped in the middle. (SQLite's nine tiny batches may all be
        # written before the pause's write gets SQLite's lock; with 60,000
        # recipients a pause there landed within 0.1 s, mid-way.)
        assert len(queued) < PEOPLE
    # Each message belongs to a queued recipient, and the counts agree: no
    # batch committed in part, none after the pause.
    assert {m.id for m in messages} == queued and campaign.queued == len(queued)
    assert all(m.next_attempt_at >= campaign_outbox.HELD_UNTIL for m in messages)
