"""A sender's pace holds across workers: three dispatchers sharing a 20-MPS
sender send about 20 segments a second between them, not 60."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from tests.conftest import Simulator, twilio_provider_payload
from tests.integration.helpers import ahead_of_pace, eventually
from textcast.context import Context
from textcast.db.models import Message, SendAttempt
from textcast.dispatch.dispatcher import Dispatcher
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

MPS = 20
COUNT = 60


async def test_three_workers_share_one_senders_pace(ctx: Context, simulator: Simulator) -> None:
    # Claims of 10, so all three workers hold some of the sender's messages at
    # once: with a limiter each, they would send a burst of 20 apiece at once.
    ctx.settings.dispatch_batch_size = 10
    await simulator.control("PATCH", "config", {"callbacks": False})
    payload = twilio_provider_payload(simulator)
    payload["senders"] = [
        {"name": "paced", "type": "long_code", "sender_id": "+15005550006", "mps": MPS},
        {"name": "other", "type": "short_code", "sender_id": "12345", "mps": 1000},
    ]
    async with ctx.session() as session:
        await create_provider(ctx, session, payload)
    rows: list[object] = [
        {"to": f"+1415555{i:04d}", "body": f"paced {i}", "sender": "paced"} for i in range(COUNT)
    ]
    rows += [{"to": f"+1415666{i:04d}", "body": f"other {i}", "sender": "other"} for i in range(20)]
    async with ctx.session() as session:
        await message_service.submit_batch(ctx.settings, session, rows)

    stop = asyncio.Event()
    began = datetime.now(UTC)  # no claim can schedule a send before this
    workers = [asyncio.create_task(Dispatcher(ctx, worker_id=f"w{i}").run(stop)) for i in range(3)]
    started = time.monotonic()
    try:
        while time.monotonic() - started < 30:
            async with ctx.sessions() as session:
                done = await session.scalar(
                    select(func.count()).where(Message.status == "accepted")
                )
            if done == COUNT + 20:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.gather(*workers)

    async with ctx.sessions() as session:
        paced = list(
            await session.scalars(
                select(SendAttempt.started_at)
                .join(Message, Message.id == SendAttempt.message_id)
                .where(
                    Message.sender_id
                    == select(Message.sender_id).where(Message.body == "paced 0").scalar_subquery()
                )
                .order_by(SendAttempt.started_at)
            )
        )
        other_last = await session.scalar(
            select(func.max(SendAttempt.started_at))
            .join(Message, Message.id == SendAttempt.message_id)
            .where(Message.body.like("other %"))
        )
    assert len(paced) == COUNT
    # One second's burst (20) at once, then one every 1/20 s: send i starts no
    # earlier than (i + 1 - 20) / 20 s after the first claim. Measured from
    # before the workers started, so a slow first send (a loaded machine) can
    # only make it later, never earlier; sends are never started ahead of time.
    # Three unshared limiters would have sent all 60 within a fraction of a second.
    offsets = [(at - began).total_seconds() for at in paced]
    early = ahead_of_pace(offsets, MPS)
    assert not early, early
    # Not throttled beyond the pace either: the last is due 2 s in.
    assert offsets[-1] < 5.0, offsets[-1]
    # The busy sender did not hold the other one back: queued after all 60 and
    # sharing their provider account, its messages still went out before the
    # busy sender's last (a head-of-line wait would put them after it).
    assert other_last is not None and other_last < paced[-1], (other_last, paced[-1])


async def test_shutdown_finishes_sends_under_way_and_hands_back_the_rest(
    ctx: Context, simulator: Simulator
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False, "latency_ms": 300})
    payload = twilio_provider_payload(simulator)
    payload["senders"][0]["mps"] = 1  # one now, one a second later, the rest handed back at claim
    async with ctx.session() as session:
        await create_provider(ctx, session, payload)
    rows: list[object] = [{"to": f"+1415555{i:04d}", "body": f"stop {i}"} for i in range(5)]
    async with ctx.session() as session:
        await message_service.submit_batch(ctx.settings, session, rows)
    stop = asyncio.Event()
    worker = asyncio.create_task(Dispatcher(ctx).run(stop))
    # Stop once the first send is under way (the simulator holds it for 300 ms);
    # the second is then waiting for its pace slot.
    await eventually(
        lambda: asyncio.sleep(0, result=simulator.state.post_count == 1), interval=0.01
    )
    stop.set()
    await worker
    async with ctx.sessions() as session:
        states = dict((await session.execute(select(Message.body, Message.status))).all())
        attempts = dict((await session.execute(select(Message.body, Message.attempts))).all())
    assert states["stop 0"] == "accepted"  # finished, not cut off
    assert all(states[f"stop {i}"] == "queued" for i in range(1, 5))  # none left 'dispatching'
    assert all(attempts[f"stop {i}"] == 0 for i in range(1, 5))  # handed back untried
    assert simulator.state.post_count == 1


async def test_a_slow_senders_backlog_neither_holds_back_others_nor_churns(
    ctx: Context, simulator: Simulator
) -> None:
    """5,000 messages queued for a 1-message-a-second sender, then one for a
    fast sender: the fast one goes out at once, and the backlog is spread out
    at the slow sender's pace instead of being claimed and handed back over
    and over."""
    backlog = 5000
    await simulator.control("PATCH", "config", {"callbacks": False})
    payload = twilio_provider_payload(simulator)
    payload["senders"] = [
        {"name": "slow", "type": "long_code", "sender_id": "+15005550006", "mps": 1},
        {"name": "fast", "type": "short_code", "sender_id": "12345", "mps": 100},
    ]
    async with ctx.session() as session:
        await create_provider(ctx, session, payload)
    rows: list[object] = [
        {"to": f"+1415200{i:04d}", "body": f"slow {i}", "sender": "slow"} for i in range(backlog)
    ]
    async with ctx.session() as session:
        await message_service.submit_batch(ctx.settings, session, rows)
        await message_service.submit_batch(
            ctx.settings, session, [{"to": "+14155550000", "body": "fast", "sender": "fast"}]
        )
    stop = asyncio.Event()
    dispatcher = asyncio.create_task(Dispatcher(ctx).run(stop))
    started = time.monotonic()
    try:

        async def fast_sent() -> bool:
            async with ctx.sessions() as session:
                state = await session.scalar(select(Message.status).where(Message.body == "fast"))
            return state == "accepted"

        await eventually(fast_sent, timeout=10)
        waited = time.monotonic() - started
        await asyncio.sleep(2)  # long enough for a churning claim loop to show
    finally:
        stop.set()
        await dispatcher
    assert waited < 5, waited
    async with ctx.sessions() as session:
        due = sorted(
            await session.scalars(select(Message.next_attempt_at).where(Message.status == "queued"))
        )
    # Spread at one a second: the last is due about an hour and a half from now.
    spread = (due[-1] - due[0]).total_seconds()
    assert backlog * 0.8 < spread < backlog * 1.2, spread
    assert len(simulator.state.messages) <= 1 + 10  # the burst plus a second a second
