"""A send that got no answer may have reached the provider: Twilio is asked
before anything is resent, and a provider that cannot be asked resends it
flagged as a possible duplicate."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from tests.integration.helpers import FakeApi
from textcast.context import Context
from textcast.db.models import Message, SendAttempt
from textcast.dispatch.dispatcher import Dispatcher
from textcast.listeners import bound_url, start_listener
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

ACCOUNT = "AC" + "0" * 32
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


@dataclass
class StallingTwilio:
    """Twilio's Messages endpoints on 127.0.0.1, answering the first POSTs late.

    ``stalls`` is what the next POSTs do before answering past the client's
    timeout: ``keep`` (Twilio took the message) or ``lose`` (it never did).
    """

    url: str = ""
    stalls: list[str] = field(default_factory=list)
    posts: int = 0
    kept: list[dict[str, Any]] = field(default_factory=list)

    async def create(self, request: web.Request) -> web.Response:
        self.posts += 1
        form = await request.post()
        stall = self.stalls.pop(0) if self.stalls else None
        if stall != "lose":
            self.kept.insert(0, _resource(form))  # newest first, like Twilio
        if stall is not None:
            await asyncio.sleep(5)  # far past the client's timeout
        return web.json_response(self.kept[0] if self.kept else {}, status=201)

    async def list(self, request: web.Request) -> web.Response:
        to = request.query.get("To")
        found = [m for m in self.kept if m["to"] == to]
        return web.json_response({"messages": found, "next_page_uri": None})


def _resource(form: Any) -> dict[str, Any]:
    return {
        "sid": "SM" + secrets.token_hex(16),
        "to": form["To"],
        "from": form["From"],
        "body": form["Body"],
        "status": "queued",
        "direction": "outbound-api",
        "num_media": "0",
        "num_segments": "1",
        "date_created": format_datetime(datetime.now(UTC)),
        "messaging_service_sid": None,
        "error_code": None,
        "error_message": None,
    }


@pytest.fixture
async def twilio() -> AsyncIterator[StallingTwilio]:
    fake = StallingTwilio()
    app = web.Application()
    app.router.add_post(MESSAGES, fake.create)
    app.router.add_get(MESSAGES, fake.list)
    runner = await start_listener(app, "127.0.0.1", 0, shutdown_timeout=0.1)
    fake.url = bound_url(runner)
    yield fake
    await runner.cleanup()


def answer_quickly(ctx: Context) -> None:
    ctx.settings.http_timeout = 0.3  # before the shared HTTP client is first used
    ctx.settings.retry_base_delay = 0.2
    ctx.settings.lease_seconds = 5  # recovery looks for expired leases every 1.25 s


async def queue(ctx: Context, provider: dict[str, Any]) -> int:
    async with ctx.session() as session:
        await create_provider(ctx, session, provider)
    async with ctx.session() as session:
        request = message_service.SendRequest(to="+14155552671", body="did it get there?")
        return (await message_service.submit(ctx.settings, session, request)).message.id


def twilio_at(url: str) -> dict[str, Any]:
    return {
        "name": "twilio",
        "type": "twilio",
        "account_sid": ACCOUNT,
        "auth_token": "t" * 32,
        "base_url": url,
        "senders": [{"name": "main", "type": "long_code", "sender_id": "+15005550006"}],
    }


async def outcome_of(ctx: Context, message_id: int) -> tuple[Message, list[tuple[str, str]]]:
    """The message and its attempts' (outcome, provider code)."""
    async with ctx.sessions() as session:
        message = await message_service.get_message(session, message_id)
        attempts = await session.execute(
            select(SendAttempt.outcome, SendAttempt.provider_code)
            .where(SendAttempt.message_id == message_id)
            .order_by(SendAttempt.id)
        )
        return message, [(a.outcome, a.provider_code) for a in attempts]


async def test_a_send_twilio_took_but_never_answered_is_found_not_resent(
    ctx: Context, twilio: StallingTwilio
) -> None:
    answer_quickly(ctx)
    twilio.stalls = ["keep"]
    message_id = await queue(ctx, twilio_at(twilio.url))
    await Dispatcher(ctx).drain(timeout=30)
    message, attempts = await outcome_of(ctx, message_id)
    assert twilio.posts == 1
    assert (message.status, message.provider_message_id, message.possible_duplicate) == (
        "accepted",
        twilio.kept[0]["sid"],
        False,
    )
    assert attempts == [("unsure", "timeout")]


async def test_a_send_twilio_never_got_is_resent_after_asking(
    ctx: Context, twilio: StallingTwilio
) -> None:
    answer_quickly(ctx)
    twilio.stalls = ["lose"]
    message_id = await queue(ctx, twilio_at(twilio.url))
    await Dispatcher(ctx).drain(timeout=30)
    message, attempts = await outcome_of(ctx, message_id)
    assert twilio.posts == 2
    assert (message.status, message.provider_message_id, message.possible_duplicate) == (
        "accepted",
        twilio.kept[0]["sid"],
        False,
    )
    assert attempts == [("unsure", "timeout"), ("accepted", None)]


def generic_at(url: str) -> dict[str, Any]:
    return {
        "name": "generic",
        "type": "generic",
        "url": f"{url}/send",
        "params": {"to": "$$To"},
        "senders": [{"name": "g", "type": "alphanumeric", "sender_id": "Textcast"}],
    }


async def first_attempt(ctx: Context, message_id: int) -> tuple[Message, list[tuple[str, str]]]:
    """Dispatch until the message's first attempt is recorded."""
    dispatcher = Dispatcher(ctx)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        for _ in range(200):
            if (await outcome_of(ctx, message_id))[1]:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    return await outcome_of(ctx, message_id)


async def test_a_send_a_generic_provider_never_answered_is_resent_flagged(
    ctx: Context, fake_api: FakeApi
) -> None:
    answer_quickly(ctx)
    ctx.settings.retry_base_delay = 60  # the retry stays queued while the test looks
    fake_api.delay = 2.0
    message_id = await queue(ctx, generic_at(fake_api.url))
    message, attempts = await first_attempt(ctx, message_id)
    assert (message.status, message.possible_duplicate, attempts) == (
        "queued",
        True,
        [("retry", "timeout")],
    )
    async with ctx.sessions() as session:
        history = await message_service.history(session, message_id)
    assert "possible duplicate" in (history[-1].detail or "")


async def test_a_send_a_generic_provider_never_answered_fails_when_unknowns_are_not_resent(
    ctx: Context, fake_api: FakeApi
) -> None:
    answer_quickly(ctx)
    ctx.settings.resend_unknown = False
    fake_api.delay = 2.0
    message_id = await queue(ctx, generic_at(fake_api.url))
    message, attempts = await first_attempt(ctx, message_id)
    assert (message.status, message.error_code, message.possible_duplicate, attempts) == (
        "failed",
        "unknown_outcome",
        False,
        [("failed", "unknown_outcome")],
    )
