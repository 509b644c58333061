"""Status reports applied in bulk: forward-only within a batch, and correct
when two processes apply reports for the same messages at once."""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, insert, select, update

from textcast.callback_meta import Meta
from textcast.context import Context
from textcast.db.models import Message, MessageEvent, WebhookReceipt, utcnow
from textcast.providers.base import StatusUpdate
from textcast.services import status_reports
from textcast.services.providers import create_provider
from textcast.services.status_reports import StatusReport, StatusReportStore
from textcast.web.group_commit import GroupCommitter

COUNT = 200


async def sent_messages(ctx: Context, count: int) -> tuple[int, int, list[int]]:
    """A Twilio provider and ``count`` messages it has accepted: (provider, sender, ids)."""
    payload = {
        "name": "twilio-main",
        "type": "twilio",
        "account_sid": "AC" + "c" * 32,
        "auth_token": "t" * 32,
        "base_url": "https://api.twilio.com",
        "senders": [{"name": "main", "type": "long_code", "sender_id": "+15005550006"}],
    }
    async with ctx.session() as session:
        provider = await create_provider(ctx, session, payload)
        provider_id, sender_id = provider.id, provider.senders[0].id
        now = utcnow()
        await session.execute(
            insert(Message),
            [
                {
                    "provider_id": provider_id,
                    "sender_id": sender_id,
                    "to": f"+1415555{i:04d}",
                    "body": "hi",
                    "status": "accepted",
                    "segments": 1,
                    "encoding": "GSM-7",
                    "provider_message_id": None,  # learned from the first report
                    "created_at": now,
                    "updated_at": now,
                    "next_attempt_at": now,
                }
                for i in range(count)
            ],
        )
        ids = list(await session.scalars(select(Message.id).order_by(Message.id)))
    return provider_id, sender_id, ids


def report(
    provider_id: int, sender_id: int, mid: int, state: str, code: str | None = None
) -> StatusReport:
    sid = f"SM{mid:032x}"
    return StatusReport(
        provider_id=provider_id,
        meta=Meta(mid, sender_id),
        provider_message_id=sid,
        update=StatusUpdate(sid, state, code, "gone" if code else None),
        params=[("MessageSid", sid), ("MessageStatus", state)],
    )


async def test_reports_for_one_message_in_one_batch_apply_in_order(ctx: Context) -> None:
    provider_id, sender_id, [mid] = await sent_messages(ctx, 1)
    store = StatusReportStore(ctx)
    try:
        outcomes = await store.record(
            [
                report(provider_id, sender_id, mid, "sent"),
                report(provider_id, sender_id, mid, "sending"),  # late
                report(provider_id, sender_id, mid, "undelivered", "30005"),
                report(provider_id, sender_id, mid, "undelivered", "30005"),  # repeated
                report(provider_id, sender_id, mid + 1, "delivered"),  # no such message
            ]
        )
    finally:
        await store.close()
    assert outcomes == ["applied", "stale", "applied", "duplicate", "unmatched"]
    async with ctx.sessions() as session:
        message = await session.get(Message, mid)
        history = list(
            await session.scalars(select(MessageEvent.status).where(MessageEvent.message_id == mid))
        )
        receipts = await session.scalar(select(func.count()).select_from(WebhookReceipt))
    assert message is not None
    assert (message.status, message.error_code, message.error_message) == (
        "undelivered",
        "30005",
        "gone",
    )
    assert message.final_at is not None
    assert history == ["sent", "undelivered"]
    assert receipts == 5  # every report is stored, whatever it did


async def test_two_processes_applying_reports_for_the_same_messages_agree(
    ctx: Context,
) -> None:
    """Each "process" has its own store and group committer (on SQLite its own
    connection thread); one reports ``sent`` and the other ``delivered`` for
    every message, at the same time. Whatever the interleaving, each message
    ends delivered, with one delivered event, and ``sent`` is either applied
    before it or recognised as stale — never applied after it."""
    provider_id, sender_id, ids = await sent_messages(ctx, COUNT)
    stores = [StatusReportStore(ctx), StatusReportStore(ctx)]
    committers = [GroupCommitter(store.record, max_batch=16) for store in stores]
    try:
        results = await asyncio.gather(
            *(
                committers[n].run(report(provider_id, sender_id, mid, state))
                for mid in ids
                for n, state in ((0, "sent"), (1, "delivered"))
            )
        )
    finally:
        for committer in committers:
            await committer.close()
        for store in stores:
            await store.close()
    sent_outcomes = collections.Counter(results[0::2])
    assert set(results[1::2]) == {"applied"}
    assert set(sent_outcomes) <= {"applied", "stale"}
    async with ctx.sessions() as session:
        statuses = collections.Counter(await session.scalars(select(Message.status)))
        events = (
            await session.execute(
                select(MessageEvent.message_id, MessageEvent.status).order_by(MessageEvent.id)
            )
        ).all()
    assert statuses == {"delivered": COUNT}
    history: dict[int, list[str]] = collections.defaultdict(list)
    for mid, state in events:
        history[mid].append(state)
    assert all(h in (["sent", "delivered"], ["delivered"]) for h in history.values()), history
    assert sum(h == ["sent", "delivered"] for h in history.values()) == sent_outcomes["applied"]


async def test_a_message_moved_by_another_process_mid_batch_is_not_overwritten(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between this batch's read and its write, another process records
    ``delivered``: the batch's ``sent`` must not land on top of it. (PostgreSQL:
    SQLite batches take the write lock before they read, so none can come
    between.)"""
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("SQLite batches hold the write lock from before their read")
    provider_id, sender_id, [mid] = await sent_messages(ctx, 1)
    dsn = ctx.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    real_plan = status_reports.plan
    interfered = []

    def plan_after_another_process_moved_it(*args: Any, **kwargs: Any) -> status_reports.Plan:
        if not interfered:  # once: the retry reads what the other process wrote
            interfered.append(True)
            # Another process, on its own connection, commits while this batch waits.
            other = threading.Thread(target=lambda: asyncio.run(deliver(dsn, mid)))
            other.start()
            other.join()
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(status_reports, "plan", plan_after_another_process_moved_it)
    store = StatusReportStore(ctx)
    committer = GroupCommitter(store.record)
    try:
        outcome = await committer.run(report(provider_id, sender_id, mid, "sent"))
    finally:
        await committer.close()
        await store.close()
    assert outcome == "stale"  # tried again, it saw the delivery and stood down
    async with ctx.sessions() as session:
        message = await session.get(Message, mid)
    assert message is not None and message.status == "delivered"


async def deliver(dsn: str, message_id: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "UPDATE messages SET status = 'delivered' WHERE id = $1", message_id
        )
    finally:
        await connection.close()


async def set_state(ctx: Context, mid: int, **values: Any) -> None:
    async with ctx.session() as session:
        await session.execute(update(Message).where(Message.id == mid).values(**values))


async def test_a_queue_overflow_reported_after_acceptance_sends_the_message_again(
    ctx: Context,
) -> None:
    provider_id, sender_id, [mid] = await sent_messages(ctx, 1)
    old = f"SM{mid:032x}"
    await set_state(ctx, mid, provider_message_id=old, attempts=1, status="sent")
    store = StatusReportStore(ctx)
    try:
        overflow = report(provider_id, sender_id, mid, "failed", "30001")
        assert await store.record([overflow]) == ["requeued"]
        async with ctx.sessions() as session:
            message = await session.get(Message, mid)
            history = (
                await session.execute(
                    select(MessageEvent.type, MessageEvent.error_code).where(
                        MessageEvent.message_id == mid
                    )
                )
            ).all()
        assert message is not None
        assert (message.status, message.error_code, message.final_at) == ("queued", "30001", None)
        assert message.next_attempt_at > utcnow()  # backed off, not at once
        assert history == [("message.requeued", "30001")]
        # Twilio repeating the old attempt's failure changes nothing now.
        assert await store.record([overflow]) == ["stale"]

        # The next attempt is under way: its callbacks apply, the old attempt's do not.
        await set_state(ctx, mid, status="dispatching", attempts=2)
        new = StatusReport(
            provider_id,
            Meta(mid, sender_id),
            "SM" + "e" * 32,
            StatusUpdate("SM" + "e" * 32, "sent"),
            [("MessageSid", "SM" + "e" * 32)],
        )
        assert await store.record([new, report(provider_id, sender_id, mid, "delivered")]) == [
            "applied",
            "stale",
        ]
        async with ctx.sessions() as session:
            message = await session.get(Message, mid)
        assert message is not None
        assert (message.status, message.provider_message_id) == ("sent", "SM" + "e" * 32)
    finally:
        await store.close()


async def test_failures_a_resend_cannot_fix_or_past_the_attempt_budget_are_final(
    ctx: Context,
) -> None:
    provider_id, sender_id, ids = await sent_messages(ctx, 2)
    await set_state(ctx, ids[0], provider_message_id=f"SM{ids[0]:032x}", attempts=1)
    budget = ctx.settings.max_attempts
    await set_state(ctx, ids[1], provider_message_id=f"SM{ids[1]:032x}", attempts=budget)
    store = StatusReportStore(ctx)
    try:
        outcomes = await store.record(
            [
                report(provider_id, sender_id, ids[0], "undelivered", "30003"),  # handset off
                report(provider_id, sender_id, ids[1], "failed", "30001"),  # out of tries
            ]
        )
    finally:
        await store.close()
    assert outcomes == ["applied", "applied"]
    async with ctx.sessions() as session:
        states = [(m.status, m.error_code) for m in await session.scalars(select(Message))]
    assert sorted(states) == [("failed", "30001"), ("undelivered", "30003")]
