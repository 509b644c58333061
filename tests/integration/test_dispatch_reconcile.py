"""Reconciliation runs beside sending, a few look-ups at a time, and no two
workers (nor two passes of one) look the same message up within a window."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.conftest import Simulator, twilio_provider_payload
from tests.integration.helpers import eventually
from textcast.context import Context
from textcast.db.models import Message, utcnow
from textcast.dispatch import reconcile_loop
from textcast.dispatch.dispatcher import Dispatcher
from textcast.dispatch.reconcile import reconcile_once
from textcast.errors import ProviderError
from textcast.providers.base import StatusUpdate
from textcast.providers.http import HttpClient
from textcast.providers.twilio.provider import TwilioProvider
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

Fetch = Callable[[TwilioProvider, HttpClient, str], Awaitable[StatusUpdate | None]]


@dataclass
class Lookups:
    """Twilio's status look-ups as the test sees them: how many of each SID,
    how many at once, and a gate that holds them until opened."""

    real: Fetch
    fail: bool = False
    delay: float = 0.0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    by_sid: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    most_at_once: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def fetch(
        self, provider: TwilioProvider, http: HttpClient, sid: str
    ) -> StatusUpdate | None:
        self.by_sid[sid] += 1
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        self.started.set()
        try:
            await self.gate.wait()
            await asyncio.sleep(self.delay)
            if self.fail:
                raise ProviderError("http_503", "Service unavailable", False, http_status=503)
            return await self.real(provider, http, sid)
        finally:
            self.in_flight -= 1


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Lookups:
    seen = Lookups(TwilioProvider.fetch_status)
    seen.gate.set()

    async def fetch_status(
        provider: TwilioProvider, http: HttpClient, sid: str
    ) -> StatusUpdate | None:
        return await seen.fetch(provider, http, sid)

    monkeypatch.setattr(TwilioProvider, "fetch_status", fetch_status)
    return seen


async def accepted_long_ago(ctx: Context, simulator: Simulator, count: int) -> None:
    """``count`` messages Twilio accepted two hours ago and never called back about."""
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    rows: list[object] = [{"to": f"+1415200{i:04d}", "body": f"old {i}"} for i in range(count)]
    async with ctx.session() as session:
        await message_service.submit_batch(ctx.settings, session, rows)
    await Dispatcher(ctx).drain()
    async with ctx.session() as session:
        await session.execute(update(Message).values(updated_at=utcnow() - timedelta(hours=2)))
    ctx.settings.reconcile_after_seconds = 3600


async def test_reconciliation_does_not_hold_up_sending(
    ctx: Context, simulator: Simulator, lookups: Lookups, monkeypatch: pytest.MonkeyPatch
) -> None:
    await accepted_long_ago(ctx, simulator, 5)
    lookups.gate.clear()  # Twilio's look-ups hang until the test lets them go
    monkeypatch.setattr(reconcile_loop, "RECONCILE_INTERVAL", 0.01)
    dispatcher = Dispatcher(ctx)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        await asyncio.wait_for(lookups.started.wait(), 10)
        async with ctx.session() as session:
            request = message_service.SendRequest(to="+14155550000", body="new")
            new = (await message_service.submit(ctx.settings, session, request)).message.id
        await eventually(lambda: _status(ctx, new), timeout=10)
        assert lookups.in_flight > 0  # sent while every look-up was still waiting
    finally:
        lookups.gate.set()
        stop.set()
        await running


async def _status(ctx: Context, message_id: int) -> bool:
    async with ctx.sessions() as session:
        found = await session.scalar(select(Message.status).where(Message.id == message_id))
    return found == "accepted"


async def test_reconciliation_looks_several_messages_up_at_once_within_its_bound(
    ctx: Context, simulator: Simulator, lookups: Lookups
) -> None:
    await accepted_long_ago(ctx, simulator, 25)
    lookups.delay = 0.2
    counts = await reconcile_once(ctx, concurrency=10)
    assert counts["checked"] == 25
    assert lookups.most_at_once == 10


async def test_a_failed_look_up_waits_for_the_next_window(
    ctx: Context, simulator: Simulator, lookups: Lookups
) -> None:
    await accepted_long_ago(ctx, simulator, 3)
    lookups.fail = True
    assert (await reconcile_once(ctx))["errors"] == 3
    assert (await reconcile_once(ctx))["checked"] == 0
    assert set(lookups.by_sid.values()) == {1}


async def test_workers_reconciling_at_once_look_each_message_up_once(
    ctx: Context, simulator: Simulator, lookups: Lookups
) -> None:
    await accepted_long_ago(ctx, simulator, 8)
    lookups.delay = 0.2
    passes = await asyncio.gather(reconcile_once(ctx), reconcile_once(ctx))
    assert sum(p["checked"] for p in passes) == 8
    assert len(lookups.by_sid) == 8 and set(lookups.by_sid.values()) == {1}
