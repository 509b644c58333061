"""Lost callbacks: messages are looked up at the provider, and given up on
as 'unknown' only after the retention window."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from tests.conftest import Simulator, twilio_provider_payload
from textcast.context import Context
from textcast.db.models import Message, WebhookReceipt
from textcast.dispatch.dispatcher import Dispatcher
from textcast.dispatch.reconcile import reconcile_once
from textcast.services import messages as message_service
from textcast.services.providers import create_provider


async def queue_one(ctx: Context, simulator: Simulator) -> int:
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    async with ctx.session() as session:
        request = message_service.SendRequest(to="+14155552671", body="where did my callback go")
        return (await message_service.submit(ctx.settings, session, request)).message.id


async def test_a_message_whose_callbacks_were_lost_is_reconciled(
    ctx: Context, simulator: Simulator
) -> None:
    # No Textcast server is listening at public_url: every callback is lost.
    await simulator.control("PATCH", "config", {"callback_delay_ms": 1})
    message_id = await queue_one(ctx, simulator)
    await Dispatcher(ctx).drain()
    await asyncio.sleep(0.3)  # let the simulator's message reach its final state
    ctx.settings.reconcile_after_seconds = 0
    counts = await reconcile_once(ctx)
    assert counts["updated"] == 1
    async with ctx.sessions() as session:
        message = await message_service.get_message(session, message_id)
        history = await message_service.history(session, message_id)
    assert message.status == "delivered"
    assert history[-1].source == "reconcile"


async def test_a_message_the_provider_cannot_find_becomes_unknown_after_the_window(
    ctx: Context, simulator: Simulator
) -> None:
    message_id = await queue_one(ctx, simulator)
    await Dispatcher(ctx).drain()
    async with ctx.session() as session:
        await session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(provider_message_id="SM" + "0" * 32)
        )
    ctx.settings.reconcile_after_seconds = 0
    ctx.settings.unknown_after_seconds = 3600
    assert (await reconcile_once(ctx))["unknown"] == 0  # still inside the window: keep asking
    ctx.settings.unknown_after_seconds = 0
    counts = await reconcile_once(ctx)
    assert (counts["errors"], counts["unknown"]) == (1, 1)
    async with ctx.sessions() as session:
        assert (await message_service.get_message(session, message_id)).status == "unknown"


async def test_a_passing_failure_found_by_look_up_is_sent_again_like_its_callback(
    ctx: Context, simulator: Simulator
) -> None:
    # Callbacks and look-ups follow one status rule: Twilio's 30001 (queue
    # overflow) puts the message back in the queue whichever way it is learnt.
    await simulator.control(
        "PATCH", "config", {"callback_delay_ms": 1, "failure_ratio": 1, "failure_codes": [30001]}
    )
    message_id = await queue_one(ctx, simulator)
    await Dispatcher(ctx).drain()
    await asyncio.sleep(0.3)
    ctx.settings.reconcile_after_seconds = 0
    assert (await reconcile_once(ctx))["updated"] == 1
    async with ctx.sessions() as session:
        message = await message_service.get_message(session, message_id)
        history = await message_service.history(session, message_id)
        receipt = await session.scalar(
            select(WebhookReceipt).where(WebhookReceipt.message_id == message_id)
        )
    assert (message.status, message.error_code, message.final_at) == ("queued", "30001", None)
    assert (history[-1].type, history[-1].source) == ("message.requeued", "reconcile")
    assert receipt is not None
    assert (receipt.kind, receipt.outcome) == ("lookup", "requeued")
    assert receipt.payload["status"] == "failed"
