"""Leases: a worker keeps what it holds for as long as it holds it, sends
nothing it no longer holds, and a late answer never touches a message that
has moved on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, update

from tests.conftest import Simulator, twilio_provider_payload
from tests.integration.helpers import eventually
from textcast.context import Context
from textcast.db.models import Message, MessageEvent, SendAttempt, utcnow
from textcast.dispatch import claims, outcome_store
from textcast.dispatch.dispatcher import Dispatcher
from textcast.dispatch.outcomes import Outcome
from textcast.services import messages as message_service
from textcast.services.providers import create_provider


async def queue_many(ctx: Context, simulator: Simulator, count: int) -> list[int]:
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    rows: list[object] = [{"to": f"+1415555{i:04d}", "body": f"lease {i}"} for i in range(count)]
    async with ctx.session() as session:
        await message_service.submit_batch(ctx.settings, session, rows)
    async with ctx.sessions() as session:
        return list((await session.scalars(select(Message.id).order_by(Message.id))).all())


async def claim_for(ctx: Context, worker: str) -> list[int]:
    async with ctx.session() as session:
        taken = await claims.claim(session, worker=worker, limit=100, lease_seconds=30)
    return [m.id for m in taken]


async def rows_about(ctx: Context, message_id: int) -> tuple[Message, int, int]:
    """The message, its history's length and its number of send attempts."""
    async with ctx.sessions() as session:
        message = await message_service.get_message(session, message_id)
        events = await session.scalar(
            select(func.count()).where(MessageEvent.message_id == message_id)
        )
        attempts = await session.scalar(
            select(func.count()).where(SendAttempt.message_id == message_id)
        )
    return message, int(events or 0), int(attempts or 0)


async def test_a_message_waiting_longer_than_its_lease_is_sent_once(
    ctx: Context, simulator: Simulator
) -> None:
    # One send at a time, 1.5 s each: the fifth waits 6 s in its lane, past a 5 s lease.
    await simulator.control("PATCH", "config", {"callbacks": False, "latency_ms": 1500})
    await queue_many(ctx, simulator, 5)
    ctx.settings.provider_concurrency = 1
    ctx.settings.lease_seconds = 5
    await Dispatcher(ctx).drain(timeout=60)
    assert simulator.state.post_count == 5, dict(simulator.state.post_counts)
    async with ctx.sessions() as session:
        rows = (await session.execute(select(Message.status, Message.possible_duplicate))).all()
    assert [tuple(row) for row in rows] == [("accepted", False)] * 5


async def test_a_worker_that_lost_a_lease_does_not_send_that_message(
    ctx: Context, simulator: Simulator
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False, "latency_ms": 600})
    first, second = await queue_many(ctx, simulator, 2)
    ctx.settings.provider_concurrency = 1
    dispatcher = Dispatcher(ctx)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        await eventually(lambda: _posted(simulator, 1))  # the first is under way, the second waits
        async with ctx.session() as session:  # another worker took the second over
            await session.execute(
                update(Message).where(Message.id == second).values(lease_owner="rescuer")
            )
        await dispatcher.renew_leases()
        await eventually(lambda: _status_is(ctx, first, "accepted"))
        await asyncio.sleep(0.3)  # time enough for the lane to have sent the second
    finally:
        stop.set()
        await running
    assert simulator.state.post_count == 1
    message, _, attempts = await rows_about(ctx, second)
    assert (message.status, message.lease_owner, attempts) == ("dispatching", "rescuer", 0)


async def _posted(simulator: Simulator, count: int) -> bool:
    return simulator.state.post_count >= count


async def _status_is(ctx: Context, message_id: int, expected: str) -> bool:
    async with ctx.sessions() as session:
        return await session.scalar(select(Message.status).where(Message.id == message_id)) == (
            expected
        )


async def test_a_late_answer_leaves_a_message_back_in_the_queue_alone(
    ctx: Context, simulator: Simulator
) -> None:
    [message_id] = await queue_many(ctx, simulator, 1)
    await claim_for(ctx, "slow-worker")
    _, events_before, _ = await rows_about(ctx, message_id)
    async with ctx.session() as session:  # recovery put it back in the queue meanwhile
        await session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(status="queued", lease_owner=None, lease_expires_at=None)
        )
    late = Outcome(message_id, "accepted", provider_message_id="SM" + "1" * 32, latency_ms=9000.0)
    async with ctx.session() as session:
        applied = await outcome_store.record(session, "slow-worker", [late])
    message, events, attempts = await rows_about(ctx, message_id)
    assert (message.status, message.provider_message_id) == ("queued", None)
    assert (events, attempts) == (events_before, 0)
    assert applied == set()


async def test_an_outcome_that_changed_nothing_leaves_no_event_or_attempt(
    ctx: Context, simulator: Simulator
) -> None:
    [message_id] = await queue_many(ctx, simulator, 1)
    await claim_for(ctx, "slow-worker")
    _, events_before, _ = await rows_about(ctx, message_id)
    async with ctx.session() as session:  # another worker holds it now
        await session.execute(
            update(Message).where(Message.id == message_id).values(lease_owner="rescuer")
        )
    late = [
        Outcome(message_id, "failed", error_code="21211", latency_ms=50.0),
        Outcome(message_id, "retry", error_code="http_503", latency_ms=50.0),
    ]
    async with ctx.session() as session:
        applied = await outcome_store.record(session, "slow-worker", late)
    message, events, attempts = await rows_about(ctx, message_id)
    assert (message.status, message.lease_owner, message.error_code) == (
        "dispatching",
        "rescuer",
        None,
    )
    assert (events, attempts) == (events_before, 0)
    assert applied == set()


async def test_recorded_outcomes_say_which_messages_they_changed(
    ctx: Context, simulator: Simulator
) -> None:
    mine, lost = await queue_many(ctx, simulator, 2)
    await claim_for(ctx, "worker")
    async with ctx.session() as session:
        await session.execute(
            update(Message).where(Message.id == lost).values(lease_owner="rescuer")
        )
    outcomes = [
        Outcome(mine, "accepted", provider_message_id="SM" + "2" * 32, latency_ms=40.0),
        Outcome(lost, "accepted", provider_message_id="SM" + "3" * 32, latency_ms=40.0),
    ]
    async with ctx.session() as session:
        applied = await outcome_store.record(session, "worker", outcomes)
    assert (await rows_about(ctx, mine))[2] == 1
    assert (await rows_about(ctx, lost))[2] == 0
    assert applied == {mine}


async def test_renewal_extends_only_the_leases_the_worker_still_holds(
    ctx: Context, simulator: Simulator
) -> None:
    held, taken_over, answered = await queue_many(ctx, simulator, 3)
    await claim_for(ctx, "worker")
    async with ctx.session() as session:
        await session.execute(
            update(Message).where(Message.id == taken_over).values(lease_owner="rescuer")
        )
        await session.execute(  # a callback moved it on
            update(Message)
            .where(Message.id == answered)
            .values(status="sent", lease_owner=None, lease_expires_at=None)
        )
    async with ctx.session() as session:
        renewal = await claims.renew(
            session, worker="worker", ids=[held, taken_over, answered], lease_seconds=600
        )
    assert (renewal.renewed, renewal.lost) == ({held}, {taken_over, answered})
    message, _, _ = await rows_about(ctx, held)
    assert message.lease_expires_at is not None
    assert message.lease_expires_at > utcnow() + timedelta(seconds=500)


async def test_recovery_leaves_the_messages_a_worker_still_holds_alone(
    ctx: Context, simulator: Simulator
) -> None:
    [message_id] = await queue_many(ctx, simulator, 1)
    await claim_for(ctx, "worker")
    async with ctx.session() as session:  # its renewal came late
        await session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    async with ctx.session() as session:
        own = await claims.take_expired(
            session, worker="worker", limit=10, lease_seconds=30, exclude=[message_id]
        )
    assert own == []
    async with ctx.session() as session:
        rescued = await claims.take_expired(session, worker="rescuer", limit=10, lease_seconds=30)
    assert [m.id for m in rescued] == [message_id]
