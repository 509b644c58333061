"""A worker claims its next batch while a full one still waits to be sent, and
holds no more than two batches: the send lanes never wait for a claim, and
the queue is not hoarded from other workers."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from tests.conftest import Simulator, twilio_provider_payload
from tests.integration.helpers import eventually
from textcast import status
from textcast.context import Context
from textcast.db.models import Message
from textcast.dispatch.dispatcher import Dispatcher
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

BATCH = 10


async def _claimed(ctx: Context) -> int:
    async with ctx.sessions() as session:
        query = select(func.count()).where(Message.status == status.DISPATCHING)
        return int(await session.scalar(query) or 0)


async def test_a_worker_holds_two_batches_and_no_more(ctx: Context, simulator: Simulator) -> None:
    # One send at a time, each held 400 ms by the provider: claims outrun sends.
    await simulator.control("PATCH", "config", {"callbacks": False, "latency_ms": 400})
    ctx.settings.dispatch_batch_size = BATCH
    ctx.settings.dispatch_concurrency = 1  # 4 x concurrency is below two batches
    ctx.settings.provider_concurrency = 1
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    rows: list[object] = [{"to": f"+1415555{i:04d}", "body": f"ahead {i}"} for i in range(50)]
    async with ctx.session() as session:
        await message_service.submit_batch(ctx.settings, session, rows)

    stop = asyncio.Event()
    worker = asyncio.create_task(Dispatcher(ctx).run(stop))
    try:
        # The second batch is claimed while the first is still being sent.
        async def more_than_a_batch() -> bool:
            return await _claimed(ctx) > BATCH

        await eventually(more_than_a_batch)
        # Sends finishing one by one free less than a batch: nothing more is claimed.
        for _ in range(5):
            await asyncio.sleep(0.2)
            assert await _claimed(ctx) <= 2 * BATCH
    finally:
        stop.set()
        await worker
    assert await _claimed(ctx) == 0  # what was not sent went back to the queue
