"""A worker dies mid-send: the message is neither lost nor blindly resent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from tests.conftest import Simulator, twilio_provider_payload
from tests.integration.helpers import FakeApi, eventually
from textcast.context import Context
from textcast.db.models import Message, MessageEvent, utcnow
from textcast.dispatch import claims, outcome_store
from textcast.dispatch.dispatcher import Dispatcher
from textcast.dispatch.outcomes import Outcome
from textcast.providers.base import OutboundMessage
from textcast.services import messages as message_service
from textcast.services.providers import create_provider, get_provider, instantiate


async def queue(ctx: Context, body: str) -> int:
    async with ctx.session() as session:
        request = message_service.SendRequest(to="+14155552671", body=body)
        return (await message_service.submit(ctx.settings, session, request)).message.id


async def die_mid_send(ctx: Context) -> list[int]:
    """Claim like a worker, then 'crash': leave the leases to expire."""
    async with ctx.session() as session:
        taken = await claims.claim(session, worker="dead-worker", limit=100, lease_seconds=30)
        await session.execute(
            update(Message)
            .where(Message.id.in_([m.id for m in taken]))
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    return [m.id for m in taken]


async def show(ctx: Context, message_id: int) -> tuple[Message, list[MessageEvent]]:
    async with ctx.sessions() as session:
        message = await message_service.get_message(session, message_id)
        return message, await message_service.history(session, message_id)


async def test_twilio_message_that_reached_the_provider_is_recorded_not_resent(
    ctx: Context, simulator: Simulator
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        provider_row = await create_provider(ctx, session, twilio_provider_payload(simulator))
    message_id = await queue(ctx, "sent just before the crash")
    await die_mid_send(ctx)
    # The dead worker's request did reach Twilio before it died.
    async with ctx.sessions() as session:
        provider = instantiate(ctx, await get_provider(session, provider_row.id))
    sent = await provider.send(
        ctx.http,
        OutboundMessage(
            message_id, "+14155552671", "sent just before the crash", "long_code", "+15005550006"
        ),
    )
    await Dispatcher(ctx).recover_expired()
    message, history = await show(ctx, message_id)
    assert message.provider_message_id == sent.provider_message_id
    assert message.status in ("accepted", "sent", "delivered")  # whatever Twilio reports by now
    assert not message.possible_duplicate
    assert "not resent" in (history[-1].detail or "")
    await Dispatcher(ctx).drain()
    assert simulator.state.post_count == 1


async def test_twilio_message_the_provider_never_got_is_resent_without_a_flag(
    ctx: Context, simulator: Simulator
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    message_id = await queue(ctx, "never left")
    await die_mid_send(ctx)
    dispatcher = Dispatcher(ctx)
    await dispatcher.recover_expired()
    await dispatcher.drain()
    message, _ = await show(ctx, message_id)
    assert message.status == "accepted" and not message.possible_duplicate
    assert simulator.state.post_count == 1


async def test_without_a_lookup_the_message_is_resent_and_flagged_or_failed_by_setting(
    ctx: Context, simulator: Simulator
) -> None:
    async with ctx.session() as session:
        await create_provider(
            ctx,
            session,
            {
                "name": "generic",
                "type": "generic",
                "url": f"{simulator.url}/nowhere",
                "params": {"to": "$$To"},
                "senders": [{"name": "g", "type": "alphanumeric", "sender_id": "Textcast"}],
            },
        )
    flagged = await queue(ctx, "unknown fate")
    await die_mid_send(ctx)
    await Dispatcher(ctx).recover_expired()
    message, history = await show(ctx, flagged)
    assert (message.status, message.possible_duplicate) == ("queued", True)
    assert "possible duplicate" in (history[-1].detail or "")

    ctx.settings.resend_unknown = False
    async with ctx.session() as session:
        await session.execute(update(Message).where(Message.id == flagged).values(status="failed"))
    failed = await queue(ctx, "unknown fate, strict")
    await die_mid_send(ctx)
    await Dispatcher(ctx).recover_expired()
    message, _ = await show(ctx, failed)
    assert (message.status, message.error_code) == ("failed", "unknown_outcome")
    async with ctx.sessions() as session:
        assert await session.scalar(select(Message.status).where(Message.id == flagged)) == "failed"


async def test_a_worker_whose_lease_was_taken_over_cannot_decide_the_outcome(
    ctx: Context, simulator: Simulator
) -> None:
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    message_id = await queue(ctx, "slow worker")
    await die_mid_send(ctx)  # "dead-worker" held it; its lease has expired
    async with ctx.session() as session:
        taken = await claims.take_expired(session, worker="rescuer", limit=10, lease_seconds=30)
    assert [m.id for m in taken] == [message_id]
    late = Outcome(message_id, "failed", error_code="21211", error_message="late answer")
    async with ctx.session() as session:
        await outcome_store.record(session, "dead-worker", [late])
    message, _ = await show(ctx, message_id)
    assert (message.status, message.lease_owner, message.error_code) == (
        "dispatching",
        "rescuer",
        None,
    )


async def sent_unrecorded(ctx: Context, provider_id: int, body: str) -> str:
    """A message Twilio has that no Textcast message recorded (another attempt, say)."""
    async with ctx.sessions() as session:
        provider = instantiate(ctx, await get_provider(session, provider_id))
    outbound = OutboundMessage(0, "+14155552671", body, "long_code", "+15005550006")
    return str((await provider.send(ctx.http, outbound)).provider_message_id)


async def test_a_crashed_message_is_not_taken_for_an_earlier_one_with_the_same_text(
    ctx: Context, simulator: Simulator
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    first = await queue(ctx, "Your order has shipped")
    await Dispatcher(ctx).drain()
    second = await queue(ctx, "Your order has shipped")
    await die_mid_send(ctx)
    await Dispatcher(ctx).recover_expired()
    await Dispatcher(ctx).drain()
    earlier, crashed = (await show(ctx, first))[0], (await show(ctx, second))[0]
    assert simulator.state.post_count == 2
    assert crashed.status == "accepted" and not crashed.possible_duplicate
    assert crashed.provider_message_id not in (None, earlier.provider_message_id)


async def test_an_earlier_attempt_of_the_same_message_is_not_taken_for_the_crashed_one(
    ctx: Context, simulator: Simulator
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    message_id = await queue(ctx, "try, try again")
    await Dispatcher(ctx).drain()
    first_attempt = (await show(ctx, message_id))[0].provider_message_id
    async with ctx.session() as session:  # a 30001 callback sent it back to the queue
        await session.execute(
            update(Message).where(Message.id == message_id).values(status="queued")
        )
    await die_mid_send(ctx)
    await Dispatcher(ctx).recover_expired()
    message, history = await show(ctx, message_id)
    assert (message.status, message.possible_duplicate) == ("queued", False)
    assert "never got it" in (history[-1].detail or "")
    await Dispatcher(ctx).drain()
    message, _ = await show(ctx, message_id)
    assert message.provider_message_id not in (None, first_attempt)
    assert simulator.state.post_count == 2


async def test_a_crashed_message_twilio_has_two_lookalikes_of_is_resent_as_a_possible_duplicate(
    ctx: Context, simulator: Simulator
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        provider_row = await create_provider(ctx, session, twilio_provider_payload(simulator))
    message_id = await queue(ctx, "which one was mine?")
    await die_mid_send(ctx)
    for _ in range(2):
        await sent_unrecorded(ctx, provider_row.id, "which one was mine?")
    await Dispatcher(ctx).recover_expired()
    message, history = await show(ctx, message_id)
    assert (message.status, message.possible_duplicate, message.provider_message_id) == (
        "queued",
        True,
        None,
    )
    assert "possible duplicate" in (history[-1].detail or "")


async def test_a_look_up_twilio_does_not_answer_keeps_the_message_for_a_later_look_up(
    ctx: Context, fake_api: FakeApi
) -> None:
    account = "AC" + "0" * 32
    async with ctx.session() as session:
        await create_provider(
            ctx,
            session,
            {
                "name": "twilio-down",
                "type": "twilio",
                "account_sid": account,
                "auth_token": "t" * 32,
                "base_url": fake_api.url,
                "senders": [{"name": "main", "type": "long_code", "sender_id": "+15005550006"}],
            },
        )
    message_id = await queue(ctx, "asked while Twilio is down")
    await die_mid_send(ctx)
    fake_api.answer = (503, {"code": 20503, "message": "Service unavailable"}, {})
    await Dispatcher(ctx).recover_expired()
    message, _ = await show(ctx, message_id)
    assert (message.status, message.lease_owner, message.possible_duplicate) == (
        "dispatching",
        None,
        False,
    )
    assert message.lease_expires_at is not None and message.lease_expires_at > utcnow()
    assert [r["method"] for r in fake_api.requests] == ["GET"]  # asked, nothing resent

    fake_api.answer = (200, {"messages": [], "next_page_uri": None}, {})
    async with ctx.session() as session:  # the time for the next look-up has come
        await session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    await Dispatcher(ctx).recover_expired()
    message, history = await show(ctx, message_id)
    assert (message.status, message.possible_duplicate) == ("queued", False)
    assert "never got it" in (history[-1].detail or "")


async def test_a_dead_workers_many_messages_are_recovered_without_waiting_between_takes(
    ctx: Context, simulator: Simulator
) -> None:
    # Takes of 5, and an hour-long lease: a quarter lease between rounds would
    # be 15 minutes, so only back-to-back rounds finish this in time.
    ctx.settings.provider_concurrency = 5
    ctx.settings.lease_seconds = 3600
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    for i in range(17):
        await queue(ctx, f"stranded {i}")
    stranded = await die_mid_send(ctx)
    assert len(stranded) == 17

    async def none_dispatching() -> bool:
        async with ctx.sessions() as session:
            query = select(Message.id).where(Message.status == "dispatching")
            return not (await session.scalars(query)).all()

    stop = asyncio.Event()
    recovering = asyncio.create_task(Dispatcher(ctx).recovery.run(stop))
    try:
        await eventually(none_dispatching, timeout=30)
    finally:
        stop.set()
        await recovering
    assert simulator.state.post_count == 0  # asked about, found absent, requeued: not sent yet
