"""One provider account never takes more than its share of send slots."""

from __future__ import annotations

import time

from tests.conftest import Simulator, twilio_provider_payload
from textcast.context import Context
from textcast.dispatch.dispatcher import Dispatcher
from textcast.services import messages as message_service
from textcast.services.providers import create_provider


async def test_sends_to_one_provider_are_capped(ctx: Context, simulator: Simulator) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False, "latency_ms": 200})
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    rows: list[object] = [{"to": f"+1415555{i:04d}", "body": f"capped {i}"} for i in range(6)]
    async with ctx.session() as session:
        await message_service.submit_batch(ctx.settings, session, rows)
    ctx.settings.provider_concurrency = 2
    started = time.monotonic()
    await Dispatcher(ctx).drain()
    # Six sends of 200 ms, two at a time: three rounds. Uncapped, they take one.
    assert time.monotonic() - started >= 0.55
    assert simulator.state.post_count == 6
