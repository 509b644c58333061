"""How Twilio's HTTP answers, and the lack of one, reach the dispatcher: which
errors are worth a retry, which may hide a message Twilio took, and what an
accepted send records."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from tests.conftest import Simulator, free_port, twilio_provider_payload
from tests.integration.helpers import FakeApi
from textcast.context import Context
from textcast.db.models import SendAttempt
from textcast.dispatch.dispatcher import Dispatcher
from textcast.errors import ProviderError
from textcast.providers.base import OutboundMessage, may_have_arrived
from textcast.providers.http import HttpClient
from textcast.providers.twilio.config import TwilioConfig, TwilioSecrets
from textcast.providers.twilio.provider import TwilioProvider
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

MESSAGE = OutboundMessage(1, "+14155552671", "hello", "long_code", "+15005550006")


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with aiohttp.ClientSession() as session:
        yield HttpClient(session, timeout=0.5)


def twilio_at(url: str) -> TwilioProvider:
    return TwilioProvider(
        TwilioConfig(account_sid="AC" + "0" * 32, base_url=url),
        TwilioSecrets.model_validate({"auth_token": "t" * 32}),
    )


async def send_error(http: HttpClient, url: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await twilio_at(url).send(http, MESSAGE)
    return caught.value


@pytest.mark.parametrize("status", [500, 501, 502, 503, 504, 505, 507, 520, 529])
async def test_every_5xx_from_twilio_is_worth_a_retry(
    http: HttpClient, fake_api: FakeApi, status: int
) -> None:
    fake_api.answer = (status, {"code": 20500, "message": "Internal Server Error"}, {})
    error = await send_error(http, fake_api.url)
    assert (error.permanent, error.http_status) == (False, status)
    assert not may_have_arrived(error)  # Twilio answered: the usual retry


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (404, True), (408, False)])
async def test_4xx_from_twilio_is_final_except_a_request_timeout(
    http: HttpClient, fake_api: FakeApi, status: int, permanent: bool
) -> None:
    fake_api.answer = (status, {"message": "no"}, {})
    error = await send_error(http, fake_api.url)
    assert (error.code, error.permanent) == (f"http_{status}", permanent)


async def test_twilio_not_answering_in_time_may_have_taken_the_message(
    http: HttpClient, fake_api: FakeApi
) -> None:
    fake_api.delay = 2.0
    error = await send_error(http, fake_api.url)
    assert (error.code, error.permanent, may_have_arrived(error)) == ("timeout", False, True)


async def test_an_accepted_answer_that_cannot_be_read_may_have_taken_the_message(
    http: HttpClient, fake_api: FakeApi
) -> None:
    fake_api.answer = (201, "<html>proxy says hi</html>", {})
    error = await send_error(http, fake_api.url)
    assert (error.code, error.permanent, error.http_status) == ("unreadable_answer", False, 201)
    assert may_have_arrived(error)


async def test_twilio_unreachable_never_got_the_message(http: HttpClient) -> None:
    error = await send_error(http, f"http://127.0.0.1:{free_port()}")  # nothing listens
    assert (error.code, error.permanent, may_have_arrived(error)) == ("unreachable", False, False)


async def test_an_accepted_send_records_twilios_http_status(
    ctx: Context, simulator: Simulator
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    async with ctx.session() as session:
        request = message_service.SendRequest(to="+14155552671", body="status, please")
        message_id = (await message_service.submit(ctx.settings, session, request)).message.id
    await Dispatcher(ctx).drain()
    async with ctx.sessions() as session:
        attempts = (
            await session.execute(
                select(SendAttempt.outcome, SendAttempt.http_status).where(
                    SendAttempt.message_id == message_id
                )
            )
        ).all()
    assert [tuple(a) for a in attempts] == [("accepted", 201)]
