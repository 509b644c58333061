"""The fan-out on both databases, at chosen moments: local-time scheduling
across zones and a DST change, quiet hours (defer, skip, expiry), expiry,
frequency caps (two campaigns racing for the same contacts), the control
group, A/B variants, what each message carries, and the installation's
defaults saved at run time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from textcast.audience import contacts, suppressions
from textcast.callback_meta import sign_meta, verify_meta
from textcast.campaigns import fanout, lanes, runner, service
from textcast.campaigns.materialise import bucket_of, materialise
from textcast.campaigns.spec import CampaignIn
from textcast.context import Context
from textcast.db.models import (
    RECIPIENT_PENDING,
    RECIPIENT_UNQUEUED,
    Campaign,
    CampaignRecipient,
    Contact,
    Message,
    MessageEvent,
    Sender,
    ShortLink,
)
from textcast.dispatch import claims
from textcast.errors import ValidationFailed
from textcast.services import events, installation_defaults
from textcast.services.providers import create_provider
from textcast.services.roles import CLI

OPEN_ALL_DAY = {"off": True, "follow_law": False}
NEW_YORK, LONDON, TOKYO = "+12125550101", "+442079460101", "+81312345678"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PROVIDER = {
    "name": "twilio",
    "type": "twilio",
    "account_sid": "AC" + "0" * 32,
    "auth_token": "t" * 32,
    "base_url": "https://api.twilio.com",
    "senders": [{"name": "main", "type": "long_code", "sender_id": "+15005550006"}],
}


async def add_provider(ctx: Context) -> None:
    async with ctx.session() as session:
        await create_provider(ctx, session, PROVIDER)


async def add_contacts(
    ctx: Context, people: Sequence[tuple[str, dict[str, Any], str | None]]
) -> None:
    async with ctx.session() as session:
        for phone, values, zone in people:
            data = contacts.ContactIn(phone=phone, attributes=values, time_zone=zone)
            await contacts.upsert(session, data, "US")


async def launch(ctx: Context, **fields: Any) -> int:
    fields.setdefault("name", "c")
    fields.setdefault("body", "Hi {{ contact.first_name | default('there') }}")
    fields.setdefault("audience", {"rules": {"all": []}})
    fields.setdefault("quiet_hours", OPEN_ALL_DAY)
    async with ctx.session() as session:
        campaign = await service.create(ctx.settings, session, CampaignIn.model_validate(fields))
        await service.launch(ctx.settings, session, campaign)
        return campaign.id


async def choose(ctx: Context, campaign_id: int, now: datetime) -> None:
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.sender_id is not None
        sender = await session.get(Sender, campaign.sender_id)
        assert sender is not None
        await materialise(session, campaign, sender, ctx.settings.default_time_zone, now)


async def planned(ctx: Context, campaign_id: int) -> fanout.Plan:
    """The campaign's plan, as the runner works it out before its batches."""
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        return await fanout.plan(ctx.settings, session, campaign)


async def fan_out(ctx: Context, campaign_id: int, now: datetime) -> None:
    """Every batch due at ``now``, as the runner makes them."""
    plan = await planned(ctx, campaign_id)
    while True:
        async with ctx.write_session() as session:
            if (await fanout.run_batch(session, plan, now)).touched == 0:
                return


async def recipients(ctx: Context, campaign_id: int) -> dict[str, CampaignRecipient]:
    async with ctx.session() as session:
        rows = await session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
        )
        return {r.phone: r for r in rows}


async def test_local_time_in_each_zone_with_a_dst_change(ctx: Context) -> None:
    await add_provider(ctx)
    people: list[tuple[str, dict[str, Any], str | None]] = [
        (NEW_YORK, {}, "America/New_York"),
        (LONDON, {}, "Europe/London"),
        (TOKYO, {}, "Asia/Tokyo"),
    ]
    await add_contacts(ctx, people)
    # 7 March 2026, 12:00 UTC: 07:00 in New York (EST), 12:00 in London, 21:00 in Tokyo.
    before = await launch(ctx, name="before", local_time="10:00", send_at="2026-03-07T12:00:00Z")
    await choose(ctx, before, at("2026-03-07T12:00:00"))
    due = {phone: r.due_at for phone, r in (await recipients(ctx, before)).items()}
    assert due == {
        NEW_YORK: at("2026-03-07T15:00:00"),  # 10:00 EST, still ahead today
        LONDON: at("2026-03-08T10:00:00"),  # passed: tomorrow's 10:00
        TOKYO: at("2026-03-08T01:00:00"),
    }
    # New York moves to EDT on 8 March at 02:00: the next 10:00 is 14:00 UTC.
    across = await launch(ctx, name="across", local_time="10:00", send_at="2026-03-08T04:00:00Z")
    await choose(ctx, across, at("2026-03-08T04:00:00"))
    assert (await recipients(ctx, across))[NEW_YORK].due_at == at("2026-03-08T14:00:00")
    skip = await launch(
        ctx,
        name="skip",
        local_time="10:00",
        missed_local_time="skip",
        send_at="2026-03-07T12:00:00Z",
    )
    await choose(ctx, skip, at("2026-03-07T12:00:00"))
    found = await recipients(ctx, skip)
    assert {p: (r.status, r.reason) for p, r in found.items()} == {
        NEW_YORK: ("pending", None),
        LONDON: ("skipped", "local_time_passed"),
        TOKYO: ("skipped", "local_time_passed"),
    }
    # Nothing goes before its hour; each goes at it.
    await fan_out(ctx, before, at("2026-03-07T14:59:00"))
    assert all(r.status == "pending" for r in (await recipients(ctx, before)).values())
    await fan_out(ctx, before, at("2026-03-07T15:00:00"))
    states = {p: r.status for p, r in (await recipients(ctx, before)).items()}
    assert states == {NEW_YORK: "queued", LONDON: "pending", TOKYO: "pending"}


async def test_quiet_hours_defer_skip_and_expire(ctx: Context) -> None:
    await add_provider(ctx)
    await add_contacts(ctx, [(NEW_YORK, {}, "America/New_York")])
    night = at("2026-06-01T03:00:00")  # 23:00 in New York (EDT)
    quiet = {"from": "21:00", "until": "08:00", "follow_law": True}
    deferred = await launch(ctx, name="defer", quiet_hours=quiet)
    skipped = await launch(ctx, name="skip", quiet_hours={**quiet, "inside": "skip"})
    expiring = await launch(
        ctx, name="expire", quiet_hours=quiet, expires_at="2099-01-01T00:00:00Z"
    )
    transactional = await launch(ctx, name="tx", quiet_hours=quiet, category="transactional")
    for campaign_id in (deferred, skipped, expiring, transactional):
        await choose(ctx, campaign_id, night)
    async with ctx.session() as session:  # expires before the window opens again
        (await session.get(Campaign, expiring)).expires_at = at("2026-06-01T10:00:00")  # type: ignore[union-attr]
    for campaign_id in (deferred, skipped, expiring, transactional):
        await fan_out(ctx, campaign_id, night)
    got = {
        cid: ((r := (await recipients(ctx, cid))[NEW_YORK]).status, r.reason, r.due_at)
        for cid in (deferred, skipped, expiring, transactional)
    }
    assert got[deferred] == ("pending", None, at("2026-06-01T12:00:00"))  # 08:00 EDT
    assert got[skipped][:2] == ("skipped", "quiet_hours")
    assert got[expiring][:2] == ("skipped", "quiet_hours_expired")
    assert got[transactional][0] == "queued"  # transactional bypasses quiet hours
    await fan_out(ctx, deferred, at("2026-06-01T12:00:00"))
    assert (await recipients(ctx, deferred))[NEW_YORK].status == "queued"


async def test_expiry_skips_the_rest_and_cancels_waiting_messages(ctx: Context) -> None:
    await add_provider(ctx)
    await add_contacts(ctx, [(f"+1415555{i:04d}", {}, None) for i in range(30)])
    campaign_id = await launch(ctx, expires_at="2099-01-01T00:00:00Z", throttle_per_minute=10)
    now = at("2026-06-01T15:00:00")
    await choose(ctx, campaign_id, now)
    plan = await planned(ctx, campaign_id)
    async with ctx.write_session() as session:
        assert (await fanout.run_batch(session, plan, now)).queued == 10  # the throttle's batch
    async with ctx.write_session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.next_batch_at == now + timedelta(minutes=1)
        campaign.expires_at = now
        assert await runner._step(session, campaign, plan, now, None)
    states = [r.reason or r.status for r in (await recipients(ctx, campaign_id)).values()]
    assert sorted(set(states)) == ["campaign_expired", "queued"]
    assert states.count("campaign_expired") == 20
    async with ctx.session() as session:
        statuses = list(
            await session.scalars(select(Message.status).where(Message.campaign_id == campaign_id))
        )
        canceled = await session.scalar(
            select(func.count()).where(MessageEvent.type == "message.canceled")
        )
        campaign = await session.get(Campaign, campaign_id)
    assert statuses == ["canceled"] * 10 and canceled == 10
    assert campaign is not None and (campaign.status, campaign.skipped) == ("completed", 20)


async def test_frequency_caps_hold_for_racing_campaigns(ctx: Context) -> None:
    await add_provider(ctx)
    people: list[tuple[str, dict[str, Any], str | None]] = [
        (f"+1415555{i:04d}", {}, None) for i in range(300)
    ]
    await add_contacts(ctx, people)
    caps = [{"limit": 1, "hours": 24}]
    first = await launch(ctx, name="first", frequency_caps=caps)
    second = await launch(ctx, name="second", frequency_caps=caps)
    tx = await launch(ctx, name="receipts", frequency_caps=caps, category="transactional")
    now = at("2026-06-01T15:00:00")
    for campaign_id in (first, second, tx):
        await choose(ctx, campaign_id, now)
    # Two fan-outs at once, each in its own transactions (two connections on PostgreSQL).
    await asyncio.gather(fan_out(ctx, first, now), fan_out(ctx, second, now))
    await fan_out(ctx, tx, now)
    async with ctx.session() as session:
        per_contact = (
            await session.execute(
                select(Message.to, func.count())
                .where(Message.category == "promotional")
                .group_by(Message.to)
            )
        ).all()
        capped = await session.scalar(
            select(func.count()).where(CampaignRecipient.reason == "frequency_cap")
        )
        tx_sent = await session.scalar(select(func.count()).where(Message.campaign_id == tx))
    assert len(per_contact) == 300 and all(n == 1 for _, n in per_contact)
    assert capped == 300
    assert tx_sent == 300  # transactional messages bypass the cap


async def test_control_group_and_variants(ctx: Context) -> None:
    await add_provider(ctx)
    await add_contacts(
        ctx, [(f"+1415555{i:04d}", {"first_name": f"P{i}"}, None) for i in range(400)]
    )
    variants = [
        {"name": "a", "body": "A {{ contact.first_name }} https://shop.example/a", "percent": 50},
        {"name": "b", "body": "B {{ contact.first_name }}", "percent": 50},
    ]
    campaign_id = await launch(
        ctx, body=None, variants=variants, control_percent=20, click_tracking=True
    )
    now = at("2026-06-01T15:00:00")
    await choose(ctx, campaign_id, now)
    await fan_out(ctx, campaign_id, now)
    found = list((await recipients(ctx, campaign_id)).values())
    control = [r for r in found if r.status == "control"]
    assert 40 <= len(control) <= 120  # about 20 % of 400
    assert all(r.variant == "control" and r.message_id is None for r in control)
    assert all(bucket_of(r.contact_id, campaign_id)[0] < 20 for r in control)
    assert all(
        bucket_of(r.contact_id, campaign_id)[0] >= 20 for r in found if r.status != "control"
    )
    async with ctx.session() as session:
        messages = list(
            await session.scalars(select(Message).where(Message.campaign_id == campaign_id))
        )
        links = list(await session.scalars(select(ShortLink)))
    assert len(messages) == 400 - len(control)
    assert not {m.to for m in messages} & {r.phone for r in control}  # never messaged
    by_variant = {v: [m for m in messages if m.variant == v] for v in ("a", "b")}
    assert all(by_variant.values())
    assert all(m.body.startswith("A ") and "/s/" in m.body for m in by_variant["a"])
    assert all(m.body.startswith("B ") for m in by_variant["b"])
    assert all((m.campaign, m.category) == ("c", "promotional") for m in messages)
    assert len(links) == len(by_variant["a"])
    assert {link.campaign for link in links} == {"c"}
    assert {link.message_id for link in links} == {m.id for m in by_variant["a"]}
    # Each message's events (what the events API and outgoing webhooks send)
    # name the campaign object and the variant the recipient got.
    async with ctx.session() as session:
        event_ids = list(
            await session.scalars(
                select(MessageEvent.id).where(MessageEvent.message_id.in_([m.id for m in messages]))
            )
        )
        shown = await events.by_ids(session, event_ids)
    variant_of = {m.id: m.variant for m in messages}
    assert len(shown) == len(messages)
    # The dispatcher's claim carries the variant into the signed callback meta.
    async with ctx.session() as session:
        taken = await claims.claim(session, worker="w", limit=1000, lease_seconds=60)
    assert {c.id: c.variant for c in taken} == variant_of
    token = sign_meta("k", taken[0].id, taken[0].sender_id, campaign="c", variant=taken[0].variant)
    decoded = verify_meta("k", token)
    assert decoded is not None and decoded.variant == variant_of[taken[0].id]
    assert all(
        (e["campaign"], e["campaign_id"], e["variant"])
        == ("c", campaign_id, variant_of[e["message_id"]])
        for e in shown.values()
    )


async def test_opted_out_and_invalid_numbers_are_skipped_in_sql(ctx: Context) -> None:
    await add_provider(ctx)
    await add_contacts(ctx, [("+14155550001", {}, None), ("+14155550002", {}, None)])
    async with ctx.session() as session:
        provider_id = await session.scalar(select(Sender.provider_id))
        assert provider_id is not None
        await suppressions.add(
            session,
            provider_id,
            "+14155550002",
            "asked",
            source=suppressions.Source.operator("api"),
        )
        session.add(Contact(phone="+1999", phone_type="invalid", country="ZZ"))
    campaign_id = await launch(ctx)
    await choose(ctx, campaign_id, at("2026-06-01T15:00:00"))
    got = {p: (r.status, r.reason) for p, r in (await recipients(ctx, campaign_id)).items()}
    assert got == {
        "+14155550001": ("pending", None),
        "+14155550002": ("skipped", "opted_out"),
        "+1999": ("skipped", "invalid_number"),
    }


async def test_recipient_counts_are_exact_and_read_through_the_partial_indexes(
    ctx: Context,
) -> None:
    """A queued recipient leaves the due and stats indexes: the counts take
    the queued ones from the campaign's counter, the rest from the index, and
    agree with the rows; every read of pending or unqueued recipients names
    the indexes' conditions literally, or neither database would use them."""
    await add_provider(ctx)
    await add_contacts(ctx, [(f"+1415555{i:04d}", {}, None) for i in range(5)])
    async with ctx.session() as session:
        session.add(Contact(phone="+1999", phone_type="invalid", country="ZZ"))
    campaign_id = await launch(ctx)
    now = at("2026-06-01T15:00:00")
    await choose(ctx, campaign_id, now)
    async with ctx.session() as session:
        assert await service.recipient_counts(session, campaign_id) == {
            "pending": 5,
            "skipped": 1,
            "skipped:invalid_number": 1,
        }
    await fan_out(ctx, campaign_id, now)
    async with ctx.session() as session:
        counted = await service.recipient_counts(session, campaign_id)
        rows = await session.execute(
            select(CampaignRecipient.status, func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status)
        )
        assert dict(rows.all()) == {"queued": 5, "skipped": 1}
        assert counted == {"queued": 5, "skipped": 1, "skipped:invalid_number": 1}
        listed: dict[str, list[str]] = {}
        for state in ("pending", "queued", "skipped", "control"):
            found = await service.list_recipients(session, campaign_id, status_filter=state)
            listed[state] = [x.phone for x in found]
        assert {state: len(phones) for state, phones in listed.items()} == {
            "pending": 0,
            "queued": 5,
            "skipped": 1,
            "control": 0,
        }
        assert listed["skipped"] == ["+1999"]
        with pytest.raises(ValidationFailed, match="one of: pending, queued"):
            await service.list_recipients(session, campaign_id, status_filter="sent'; --")
        r = CampaignRecipient
        mine = r.campaign_id == campaign_id
        reads = [
            (
                "ix_campaign_recipients_due",
                "'pending'",
                # The shape of fanout.due: the next batch of those due, in order.
                select(r.id)
                .where(mine, RECIPIENT_PENDING, r.due_at <= now)
                .order_by(r.due_at)
                .limit(fanout.BATCH),
            ),
            (
                "ix_campaign_recipients_stats",
                "'queued'",
                select(r.status, func.count()).where(mine, RECIPIENT_UNQUEUED).group_by(r.status),
            ),
        ]
        # As a sent campaign looks: thousands queued, a few not. With six rows
        # the planner may take any index; with these only the partial ones fit.
        await session.execute(
            insert(CampaignRecipient),
            [
                {"campaign_id": campaign_id, "contact_id": 10_000 + i, "phone": f"+1{i}",
                 "status": "queued", "due_at": now}
                for i in range(3_000)
            ],
        )  # fmt: skip
        connection = await session.connection()
        await connection.exec_driver_sql("ANALYZE campaign_recipients")
        postgres = ctx.dialect.name == "postgresql"
        if postgres:
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for index, literal, query in reads:
            # As sent: the status written into the statement, not bound.
            sent = str(query.compile(connection, compile_kwargs={"render_postcompile": True}))
            assert literal in sent, sent
            sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            plan = " ".join(str(row[-1]) for row in await connection.exec_driver_sql(explain + sql))
            assert index in plan, (index, plan)


async def test_the_runner_starts_a_scheduled_campaign_at_its_time_and_pauses_on_failures(
    ctx: Context,
) -> None:
    await add_provider(ctx)
    await add_contacts(ctx, [(f"+1415555{i:04d}", {}, None) for i in range(10)])
    campaign_id = await launch(
        ctx, send_at="2099-01-01T00:00:00Z", max_failure_rate=20, throttle_per_minute=5
    )
    assert await runner.claim(ctx, "w1") is None  # not due yet
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "scheduled"
        campaign.send_at = at("2020-01-01T00:00:00")  # its time has come
    assert await runner.claim(ctx, "w1") == campaign_id
    assert await runner.claim(ctx, "w2") is None  # leased
    await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.status, campaign.queued, campaign.lease_owner) == ("sending", 5, None)
        # The provider reports: 3 of the first 5 failed (60 % > 20 %).
        ids = list(await session.scalars(select(Message.id).order_by(Message.id)))
        for index, message_id in enumerate(ids):
            message = await session.get(Message, message_id)
            assert message is not None
            message.status = "failed" if index < 3 else "delivered"
    assert await runner.claim(ctx, "w1") is None  # its next batch is a minute later
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.next_batch_at = None
    assert await runner.claim(ctx, "w1") == campaign_id
    await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
    assert campaign is not None and (campaign.status, campaign.queued) == ("paused", 5)
    assert campaign.status_reason is not None and "60.0% of the last 500 sends failed" in (
        campaign.status_reason
    )

    # Resumed once the cause is fixed, it is judged on what it sends from now
    # on: the failures that paused it do not pause it again.
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        await service.resume(session, campaign)
        assert campaign.failures_counted_after == max(ids)
    async with ctx.session() as session:
        assert await fanout.failure_rate(session, campaign_id, max(ids)) is None
        assert await fanout.failure_rate(session, campaign_id) == 60.0
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.next_batch_at = None
    assert await runner.claim(ctx, "w1") == campaign_id
    await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "sending", campaign.status_reason
        assert campaign.queued == 10
        later = list(await session.scalars(select(Message.id).where(Message.id > max(ids))))
        for message_id in later:  # all five made since the resume fail
            message = await session.get(Message, message_id)
            assert message is not None
            message.status = "failed"
    async with ctx.session() as session:
        assert await fanout.failure_rate(session, campaign_id, max(ids)) == 100.0


async def test_messages_are_held_to_the_senders_rules_as_any_message_is(ctx: Context) -> None:
    """A sender that needs a template ID gets none from an inline text, and a
    text past Twilio's length or the segment limit cannot go: each recipient
    is skipped saying so, as ``POST /api/v1/messages`` would refuse the same
    message."""
    await add_provider(ctx)
    await add_contacts(
        ctx,
        [
            ("+14155550001", {"a": "x" * 900, "b": "y" * 900}, None),
            ("+14155550002", {}, None),
            ("+14155550003", {"a": "’" * 700}, None),
        ],
    )
    campaign_id = await launch(
        ctx, body="{{ contact.a | default('short') }}{{ contact.b | default('') }}"
    )
    now = at("2026-06-01T15:00:00")
    await choose(ctx, campaign_id, now)
    await fan_out(ctx, campaign_id, now)
    got = {
        p: (r.status, r.reason, r.detail) for p, r in (await recipients(ctx, campaign_id)).items()
    }
    # Twilio's 1,600 characters, then the segment limit (700 UCS-2 characters: 11).
    assert got["+14155550001"] == (
        "skipped",
        "render_error",
        "Twilio accepts at most 1600 characters",
    )
    status, reason, detail = got["+14155550003"]
    assert (status, reason) == ("skipped", "render_error")
    assert detail is not None and "is 11 segments long; the limit is 10" in detail
    assert got["+14155550002"][:2] == ("queued", None)

    async with ctx.session() as session:
        sender = (await session.scalars(select(Sender))).one()
        sender.template_id_required = True
    second = await launch(ctx, name="dlt", body="Hello")
    await choose(ctx, second, now)
    await fan_out(ctx, second, now)
    got = {p: (r.status, r.reason, r.detail) for p, r in (await recipients(ctx, second)).items()}
    assert {(s, r) for s, r, _ in got.values()} == {("skipped", "render_error")}
    assert all("requires a template ID" in (d or "") for _, _, d in got.values())


async def test_batches_read_ahead_pass_over_the_batch_being_written(
    ctx: Context, monkeypatch: Any
) -> None:
    """The runner reads the next batch while one is written: across many small
    batches every recipient is made exactly once, in one run of the runner.
    (One writer, as on SQLite; PostgreSQL's writers side by side are
    test_campaign_lanes.py's.)"""
    monkeypatch.setattr(fanout, "BATCH", 7)
    monkeypatch.setattr(lanes, "wanted", lambda *_: False)
    await add_provider(ctx)
    people = [(f"+1415555{i:04d}", {"first_name": f"N{i % 3}"}, None) for i in range(50)]
    await add_contacts(ctx, people)
    campaign_id = await launch(
        ctx, body="Hi {{ contact.first_name }} https://shop.example/a", click_tracking=True
    )
    started = await runner_batches(ctx, campaign_id)
    assert started > 0  # the read-ahead was used, not only batches read in the transaction
    async with ctx.session() as session:
        made = list(
            await session.scalars(select(Message.to).where(Message.campaign_id == campaign_id))
        )
        links = await session.scalar(select(func.count()).select_from(ShortLink))
        campaign = await session.get(Campaign, campaign_id)
    assert sorted(made) == sorted(phone for phone, _, _ in people)  # each once
    assert links == 50
    assert campaign is not None and (campaign.queued, campaign.status) == (50, "sending")
    found = await recipients(ctx, campaign_id)
    assert {r.status for r in found.values()} == {"queued"}


async def runner_batches(ctx: Context, campaign_id: int) -> int:
    """Drive the campaign once; how many batches came from the read-ahead."""
    from textcast.campaigns import read_ahead

    taken = 0
    original = read_ahead.ReadAhead.take

    async def counted(self: read_ahead.ReadAhead) -> fanout.Prepared | None:
        nonlocal taken
        batch = await original(self)
        taken += batch is not None
        return batch

    read_ahead.ReadAhead.take = counted  # type: ignore[method-assign]
    try:
        assert await runner.claim(ctx, "w1") == campaign_id
        await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)
    finally:
        read_ahead.ReadAhead.take = original  # type: ignore[method-assign]
    return taken


async def test_a_batch_whose_recipients_moved_is_not_written(ctx: Context) -> None:
    """A batch decided on recipients settled since (by anyone) must not be
    written: its transaction rolls back whole and nothing is sent twice."""
    await add_provider(ctx)
    await add_contacts(ctx, [(f"+1415555{i:04d}", {}, None) for i in range(5)])
    campaign_id = await launch(ctx)
    now = datetime.now(UTC)
    await choose(ctx, campaign_id, now)
    plan = await planned(ctx, campaign_id)
    async with ctx.session() as session:
        rows = await fanout.due(session, plan, now)
        # The next batch passes over one being written, by position and by ID.
        rest = await fanout.due(session, plan, now, passing_over={r.id for r in rows[:2]})
    assert [r.id for r in rest] == [r.id for r in rows[2:]]
    stale = fanout.prepare(plan, rows, now)
    async with ctx.write_session() as session:  # the same recipients, made meanwhile
        assert (await fanout.run_batch(session, plan, now)).queued == 5
    try:
        async with ctx.write_session() as session:
            await fanout.commit(session, plan, stale, now)
    except fanout.RecipientsMoved:
        pass
    else:
        raise AssertionError("a stale batch was written")
    async with ctx.session() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 5


async def test_the_fan_out_follows_defaults_saved_by_another_process(ctx: Context) -> None:
    """Quiet hours and caps saved elsewhere (the API's process) bind a campaign
    the runner plans here, with no wait: it reads them when it plans. A cap
    tightened under a campaign's own looser one does not fail it."""
    await add_provider(ctx)
    london = ZoneInfo("Europe/London")  # no country law: only the saved window counts
    people: list[tuple[str, dict[str, Any], str | None]] = [
        (f"+4420794601{i:02d}", {}, "Europe/London") for i in range(3)
    ]
    await add_contacts(ctx, people)
    admin = Context.create(ctx.environment)
    try:
        now = datetime.now(london)
        around_now = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=2):%H:%M}"
        await installation_defaults.change(
            admin, CLI, {"quiet_hours": around_now, "quiet_hours_inside": "skip"}
        )
        night = await launch(ctx, name="night", quiet_hours=None)
        own_caps = [{"limit": 5, "hours": 24}]  # fine while the installation has none
        async with ctx.session() as session:
            data = {"name": "later", "body": "Hi", "audience": {"rules": {"all": []}}}
            later = (
                await service.create(
                    ctx.settings, session, CampaignIn(**data, frequency_caps=own_caps)
                )
            ).id
        await drive_all(ctx, night)
        assert {r.reason for r in (await recipients(ctx, night)).values()} == {"quiet_hours"}

        await installation_defaults.change(
            admin, CLI, {"quiet_hours": "", "frequency_caps": "1/24h"}
        )
        first = await launch(ctx, name="first", quiet_hours=None)
        await drive_all(ctx, first)
        assert {r.status for r in (await recipients(ctx, first)).values()} == {"queued"}
        async with ctx.session() as session:
            campaign = await session.get(Campaign, later)
            assert campaign is not None
            await service.launch(ctx.settings, session, campaign)
        await drive_all(ctx, later)
        got = await recipients(ctx, later)
        assert {r.reason for r in got.values()} == {"frequency_cap"}
        async with ctx.session() as session:
            campaign = await session.get(Campaign, later)
        assert campaign is not None and campaign.status != "failed", campaign.status_reason
    finally:
        await admin.close()


async def drive_all(ctx: Context, campaign_id: int) -> None:
    assert await runner.claim(ctx, "w1") == campaign_id
    await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)


async def test_a_content_template_sends_each_recipients_variables(ctx: Context) -> None:
    """A campaign from a Twilio Content template: each message carries the
    ContentVariables rendered for its contact; one missing a variable is
    skipped naming it."""
    from textcast.content import templates

    await add_provider(ctx)
    await add_contacts(
        ctx,
        [
            (NEW_YORK, {"first_name": "Zoë", "code": "Z1"}, None),
            (LONDON, {"first_name": "Al"}, None),
        ],
    )
    shipped = {
        "name": "offer",
        "body": "Hi {{ contact.first_name }}, code {{ contact.code }}",
        "template_id": "HX" + "0" * 32,
        "content_variables": {"1": "{{ contact.first_name }}", "2": "{{ contact.code }}"},
    }
    async with ctx.session() as session:
        await templates.create(session, templates.TemplateIn.model_validate(shipped))
    campaign_id = await launch(ctx, body=None, template="offer")
    now = datetime.now(UTC)
    await choose(ctx, campaign_id, now)
    await fan_out(ctx, campaign_id, now)
    async with ctx.session() as session:
        sent = (await session.execute(select(Message.to, Message.content_variables))).all()
    assert [(to, json.loads(v)) for to, v in sent] == [(NEW_YORK, {"1": "Zoë", "2": "Z1"})]
    assert (await recipients(ctx, campaign_id))[LONDON].detail == "contact.code"


async def test_a_late_read_ahead_passes_over_only_what_is_still_pending(
    ctx: Context, monkeypatch: Any
) -> None:
    """The batch read ahead may be read after the batch it passes over has
    committed: it must then pass over none of it, or a batch of others would
    wait to the end of the run (out of order, perhaps past the expiry)."""
    monkeypatch.setattr(fanout, "BATCH", 10)
    await add_provider(ctx)
    await add_contacts(ctx, [(f"+1415555{i:04d}", {}, None) for i in range(100)])
    campaign_id = await launch(ctx)
    original = fanout.due

    async def late(session: Any, p: Any, now: Any, passing_over: Any = ()) -> Any:
        if passing_over:
            await asyncio.sleep(0.2)  # the batch being written commits meanwhile
        return await original(session, p, now, passing_over)

    monkeypatch.setattr(fanout, "due", late)
    assert await runner.claim(ctx, "w1") == campaign_id
    await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)
    async with ctx.session() as session:
        order = list(
            await session.scalars(
                select(CampaignRecipient.id)
                .where(CampaignRecipient.campaign_id == campaign_id)
                .order_by(CampaignRecipient.message_id)
            )
        )
    assert len(order) == 100 and order == sorted(order)  # made in the order chosen


async def test_a_batch_read_before_midnight_and_written_after_counts_for_the_new_day(
    ctx: Context,
) -> None:
    """A batch decided at 23:59:59.9 (read ahead) and written at 00:00:00.2
    passed the new day's cap, so its message belongs to the new day: a
    second campaign that day finds the cap of one taken."""
    cap = [{"limit": 1, "per": "day"}]
    await add_provider(ctx)
    await add_contacts(ctx, [(LONDON, {}, "Europe/London")])  # UTC in January
    first = await launch(ctx, name="first", frequency_caps=cap, send_at="2026-01-10T23:00:00Z")
    decided, written = at("2026-01-10T23:59:59.900000"), at("2026-01-11T00:00:00.200000")
    await choose(ctx, first, decided)
    plan = await planned(ctx, first)
    async with ctx.session() as session:
        rows = await fanout.due(session, plan, decided)
    batch = fanout.prepare(plan, rows, decided)
    async with ctx.write_session() as session:
        assert (await fanout.commit(session, plan, batch, written)).queued == 1
    second = await launch(ctx, name="second", frequency_caps=cap, send_at="2026-01-11T09:00:00Z")
    ten = at("2026-01-11T10:00:00")
    await choose(ctx, second, ten)
    await fan_out(ctx, second, ten)
    got = (await recipients(ctx, second))[LONDON]
    assert (got.status, got.reason) == ("skipped", "frequency_cap")


async def test_a_batch_read_ahead_too_long_ago_is_decided_again(
    ctx: Context, monkeypatch: Any
) -> None:
    """A batch read ahead but left waiting past runner.STALE (quiet hours and
    expiry may have moved on) is not written as decided: it is read again."""
    from textcast.campaigns import read_ahead

    monkeypatch.setattr(fanout, "BATCH", 5)
    monkeypatch.setattr(lanes, "wanted", lambda *_: False)  # one writer, as on SQLite
    await add_provider(ctx)
    await add_contacts(ctx, [(f"+1415555{i:04d}", {}, None) for i in range(20)])
    campaign_id = await launch(ctx)
    read = read_ahead.ReadAhead._read

    async def long_ago(self: read_ahead.ReadAhead, passing_over: Any) -> Any:
        batch = await read(self, passing_over)
        if batch is not None:
            batch.decided_at -= runner.STALE * 2
        return batch

    ages: list[timedelta] = []
    commit = fanout.commit

    async def written(session: Any, p: Any, batch: fanout.Prepared, now: datetime) -> Any:
        ages.append(now - batch.decided_at)
        return await commit(session, p, batch, now)

    monkeypatch.setattr(read_ahead.ReadAhead, "_read", long_ago)
    monkeypatch.setattr(fanout, "commit", written)
    assert await runner.claim(ctx, "w1") == campaign_id
    await runner.drive(ctx, campaign_id, "w1", queue_ahead=None)
    assert len(ages) == 4 and all(age < runner.STALE for age in ages)
    assert {r.status for r in (await recipients(ctx, campaign_id)).values()} == {"queued"}


async def test_long_texts_are_not_kept_for_the_next_recipient(ctx: Context) -> None:
    """Each distinct text is measured once and kept for the next recipient who
    gets it, but not one longer than SHAPED_TEXT: a personal text that long is
    memory for nobody."""
    await add_provider(ctx)
    people = [(NEW_YORK, {"note": "long"}, None), (LONDON, {"note": "short"}, None)]
    await add_contacts(ctx, people)
    body = "{% if contact.note == 'long' %}" + "x" * 1700 + "{% else %}short{% endif %}"
    campaign_id = await launch(ctx, body=body)
    now = datetime.now(UTC)
    await choose(ctx, campaign_id, now)
    plan = await planned(ctx, campaign_id)
    async with ctx.session() as session:
        rows = await fanout.due(session, plan, now)
    prepared = fanout.prepare(plan, rows, now)
    assert [text for _, text in plan.shapes] == ["short"]
    assert len(prepared.made) + len(prepared.skipped) == 2
