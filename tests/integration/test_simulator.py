"""The built-in simulator behaves like Twilio: shapes, auth, validation, magic
numbers, 429s, signed callbacks and injected replies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aiohttp import web
from openapi_schema_validator import OAS30Validator, validate
from twilio.request_validator import RequestValidator

from tests.conftest import Simulator
from tests.integration.helpers import eventually
from textcast.providers.base import basic_auth

SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "twilio_api_v2010_messaging.json"
SPEC = json.loads(SPEC_PATH.read_text())


def schema(name: str) -> dict[str, Any]:
    return {**SPEC["components"]["schemas"][name], "components": SPEC["components"]}


class Receiver:
    """A local endpoint recording what the simulator calls it with."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.method == "POST" else {}
        self.calls.append(
            {
                "method": request.method,
                "url": str(request.url),
                "form": form,
                "signature": request.headers.get("X-Twilio-Signature"),
                "idempotency": request.headers.get("I-Twilio-Idempotency-Token"),
            }
        )
        return web.Response(text="<Response/>")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield rec
    await runner.cleanup()


async def post(
    sim: Simulator, form: list[tuple[str, str]], token: str | None = None
) -> tuple[int, Any, Any]:
    auth = basic_auth(sim.account_sid, token or sim.auth_token)
    url = f"{sim.url}/2010-04-01/Accounts/{sim.account_sid}/Messages.json"
    async with aiohttp.ClientSession() as http, http.post(url, data=form, headers=auth) as response:
        return response.status, await response.json(), response.headers


async def test_accepted_message_matches_twilios_message_schema(simulator: Simulator) -> None:
    status, body, _ = await post(
        simulator, [("To", "+14155552671"), ("From", "+15005550006"), ("Body", "hi 😀")]
    )
    assert status == 201
    validate(body, schema("api.v2010.account.message"), cls=OAS30Validator)
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert (body["status"], body["num_segments"], body["body"]) == ("queued", "1", "hi 😀")


async def test_messaging_service_messages_start_accepted(simulator: Simulator) -> None:
    status, body, _ = await post(
        simulator, [("To", "+14155552671"), ("MessagingServiceSid", "MG" + "a" * 32), ("Body", "x")]
    )
    assert (status, body["status"]) == (201, "accepted")


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ([("To", "+15005550001"), ("From", "+15005550006"), ("Body", "x")], 21211),
        ([("To", "+15005550002"), ("From", "+15005550006"), ("Body", "x")], 21612),
        ([("To", "+15005550003"), ("From", "+15005550006"), ("Body", "x")], 21408),
        ([("To", "+15005550004"), ("From", "+15005550006"), ("Body", "x")], 21610),
        ([("To", "+15005550009"), ("From", "+15005550006"), ("Body", "x")], 21614),
        ([("To", "+14155552671"), ("From", "+15005550001"), ("Body", "x")], 21212),
        ([("To", "+14155552671"), ("From", "+15005550007"), ("Body", "x")], 21606),
        ([("To", "+14155552671"), ("From", "+15005550008"), ("Body", "x")], 21611),
        ([("From", "+15005550006"), ("Body", "x")], 21604),
        ([("To", "+14155552671"), ("Body", "x")], 21603),
        ([("To", "+14155552671"), ("From", "+15005550006")], 21602),
        ([("To", "+14155552671"), ("From", "+15005550006"), ("Body", "x" * 1601)], 21617),
        ([("To", "4155552671"), ("From", "+15005550006"), ("Body", "x")], 21211),
        ([("To", "+14155552671"), ("MessagingServiceSid", "MG1"), ("Body", "x")], 21701),
    ],
)
async def test_refusals_use_twilios_codes_and_error_shape(
    simulator: Simulator, form: list[tuple[str, str]], code: int
) -> None:
    status, body, _ = await post(simulator, form)
    assert status == 400
    assert body["code"] == code and body["status"] == 400
    assert body["more_info"].endswith(str(code)) and body["message"]


async def test_wrong_credentials_get_401_with_20003(simulator: Simulator) -> None:
    status, body, _ = await post(
        simulator, [("To", "+14155552671"), ("From", "+15005550006"), ("Body", "x")], "wrong"
    )
    assert (status, body["code"]) == (401, 20003)


async def test_trial_accounts_only_reach_verified_numbers(simulator: Simulator) -> None:
    simulator.state.add_account(
        simulator.account_sid, simulator.auth_token, trial=True, verified_numbers=["+14155552671"]
    )
    ok, _, _ = await post(
        simulator, [("To", "+14155552671"), ("From", "+15005550006"), ("Body", "x")]
    )
    refused, body, _ = await post(
        simulator, [("To", "+14155550000"), ("From", "+15005550006"), ("Body", "x")]
    )
    assert ok == 201 and (refused, body["code"]) == (400, 21608)


async def test_rate_limit_mode_answers_429_with_retry_after(simulator: Simulator) -> None:
    await simulator.control("PATCH", "config", {"rate_limit_ratio": 1})
    status, body, headers = await post(
        simulator, [("To", "+14155552671"), ("From", "+15005550006"), ("Body", "x")]
    )
    assert (status, body["code"], headers["Retry-After"]) == (429, 20429, "1")


async def test_config_rejects_nonsense(simulator: Simulator) -> None:
    result = await simulator.control("PATCH", "config", {"failure_ratio": 3})
    assert result["error"] == "invalid config"


async def test_balance_and_fetch(simulator: Simulator) -> None:
    _, created, _ = await post(
        simulator, [("To", "+14155552671"), ("From", "+15005550006"), ("Body", "x")]
    )
    auth = basic_auth(simulator.account_sid, simulator.auth_token)
    base = f"{simulator.url}/2010-04-01/Accounts/{simulator.account_sid}"
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{base}/Balance.json") as response:
            balance = await response.json()
        async with http.get(f"{base}/Messages/{created['sid']}.json") as response:
            fetched = await response.json()
        async with http.get(f"{base}/Messages/SM{'0' * 32}.json") as response:
            assert response.status == 404
    validate(balance, schema("api.v2010.account.balance"), cls=OAS30Validator)
    assert balance == {"account_sid": simulator.account_sid, "balance": "20.00", "currency": "USD"}
    assert fetched["sid"] == created["sid"]


async def test_status_callbacks_are_signed_and_end_in_the_decided_status(
    simulator: Simulator, receiver: Receiver
) -> None:
    await simulator.control(
        "PATCH", "config", {"failure_ratio": 1, "failure_codes": [30007], "callback_delay_ms": 1}
    )
    callback = f"{receiver.url}/status?meta=1.2.abc"
    await post(
        simulator,
        [
            ("To", "+14155552671"),
            ("From", "+15005550006"),
            ("Body", "x"),
            ("StatusCallback", callback),
        ],
    )
    await eventually(lambda: asyncio.sleep(0, result=len(receiver.calls) >= 3))
    validator = RequestValidator(simulator.auth_token)
    for call in receiver.calls:
        assert validator.validate(callback, call["form"], call["signature"])
        assert call["idempotency"]
    assert [c["form"]["MessageStatus"] for c in receiver.calls] == ["queued", "sent", "failed"]
    assert receiver.calls[-1]["form"]["ErrorCode"] == "30007"


async def test_duplicate_mode_sends_each_callback_twice(
    simulator: Simulator, receiver: Receiver
) -> None:
    await simulator.control(
        "PATCH", "config", {"duplicate_callback_ratio": 1, "callback_delay_ms": 1}
    )
    await post(
        simulator,
        [
            ("To", "+14155552671"),
            ("From", "+15005550006"),
            ("Body", "x"),
            ("StatusCallback", f"{receiver.url}/s"),
        ],
    )
    await eventually(lambda: asyncio.sleep(0, result=len(receiver.calls) >= 6))
    statuses = [c["form"]["MessageStatus"] for c in receiver.calls]
    assert statuses == ["queued", "queued", "sent", "sent", "delivered", "delivered"]
    assert "RawDlrDoneDate" in receiver.calls[-1]["form"]


async def test_fast_mode_sends_no_callbacks(simulator: Simulator, receiver: Receiver) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    await post(
        simulator,
        [
            ("To", "+14155552671"),
            ("From", "+15005550006"),
            ("Body", "x"),
            ("StatusCallback", f"{receiver.url}/s"),
        ],
    )
    await asyncio.sleep(0.2)
    assert receiver.calls == []


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_injected_reply_is_signed_like_twilio(
    simulator: Simulator, receiver: Receiver, method: str
) -> None:
    result = await simulator.control(
        "POST",
        "inbound",
        {
            "url": f"{receiver.url}/inbound",
            "method": method,
            "account_sid": simulator.account_sid,
            "from": "+14155552671",
            "to": "+15005550006",
            "body": "STOP",
            "media_urls": ["https://m.example/1.jpg"],
        },
    )
    assert result["status"] == 200
    call = receiver.calls[-1]
    validator = RequestValidator(simulator.auth_token)
    if method == "POST":
        assert validator.validate(call["url"], call["form"], call["signature"])
        fields = call["form"]
    else:
        assert validator.validate(call["url"], {}, call["signature"])
        fields = dict(parse_qsl(urlsplit(call["url"]).query))
    assert (fields["Body"], fields["NumMedia"], fields["MediaUrl0"], fields["SmsStatus"]) == (
        "STOP",
        "1",
        "https://m.example/1.jpg",
        "received",
    )
