"""The built-in simulator behaves like Twilio: shapes, auth, validation, magic
numbers, 429s, signed callbacks (duplicated, out of order, failing) and injected
replies. Everything runs over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
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
from textcast import sms_segments
from textcast.listeners import bound_url, start_listener
from textcast.providers.http import basic_auth

# The vendored cut of Twilio's OpenAPI definition (see tests/fixtures/README.md).
SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "twilio_api_v2010_messaging.json"
SPEC = json.loads(SPEC_PATH.read_text())
TO, FROM = "+14155552671", "+15005550006"
SERVICE = "MG" + "a" * 32
CONTENT = "HX" + "b" * 32


def schema(name: str) -> dict[str, Any]:
    return {**SPEC["components"]["schemas"][name], "components": SPEC["components"]}


class Receiver:
    """A local endpoint recording every request the simulator makes to it."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(
            {
                "method": request.method,
                "url": str(request.url),
                "form": dict(await request.post()) if request.method == "POST" else {},
                "signature": request.headers.get("X-Twilio-Signature"),
                "idempotency": request.headers.get("I-Twilio-Idempotency-Token"),
            }
        )
        return web.Response(text="<Response/>", content_type="text/xml")

    def statuses(self) -> list[str]:
        return [call["form"]["MessageStatus"] for call in self.calls]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = await start_listener(app, "127.0.0.1", 0)
    rec.url = bound_url(runner)
    yield rec
    await runner.cleanup()


def message(*extra: tuple[str, str], to: str = TO, body: str = "x") -> list[tuple[str, str]]:
    return [("To", to), ("From", FROM), ("Body", body), *extra]


async def post(
    sim: Simulator, form: list[tuple[str, str]], token: str | None = None
) -> tuple[int, Any, Any]:
    auth = basic_auth(sim.account_sid, token or sim.auth_token)
    url = f"{sim.url}/2010-04-01/Accounts/{sim.account_sid}/Messages.json"
    async with aiohttp.ClientSession() as http, http.post(url, data=form, headers=auth) as response:
        return response.status, await response.json(), response.headers


async def get(sim: Simulator, path: str) -> tuple[int, Any]:
    auth = basic_auth(sim.account_sid, sim.auth_token)
    url = f"{sim.url}/2010-04-01/Accounts/{sim.account_sid}/{path}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=auth) as response:
        return response.status, await response.json()


async def calls(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    await eventually(lambda: asyncio.sleep(0, result=len(receiver.calls) >= count))
    await asyncio.sleep(0.1)  # and no more than that
    assert len(receiver.calls) == count
    return receiver.calls


async def test_accepted_message_matches_twilios_message_schema(simulator: Simulator) -> None:
    status, body, _ = await post(simulator, message(body="hi 😀"))
    assert status == 201
    message_schema = schema("api.v2010.account.message")
    validate(body, message_schema, cls=OAS30Validator)
    assert set(body) == set(message_schema["properties"])  # every field, nothing extra
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert (body["status"], body["num_segments"], body["num_media"]) == ("queued", "1", "0")
    assert (body["body"], body["to"], body["from"], body["direction"]) == (
        "hi 😀",
        TO,
        FROM,
        "outbound-api",
    )
    assert body["price"] is None and body["error_code"] is None and body["date_sent"] is None
    assert parsedate_to_datetime(body["date_created"]).tzinfo is not None
    assert (
        body["uri"] == f"/2010-04-01/Accounts/{simulator.account_sid}/Messages/{body['sid']}.json"
    )


@pytest.mark.parametrize("text", ["a" * 161, "😀" * 40, "{" * 81, ""])
async def test_num_segments_comes_from_the_segment_counter(simulator: Simulator, text: str) -> None:
    form = message(("MediaUrl", "https://m.example/a.jpg"), body=text)
    _, body, _ = await post(simulator, form)
    assert body["num_segments"] == str(sms_segments.analyze(text).segments)


async def test_service_and_media_messages(simulator: Simulator) -> None:
    media = [("MediaUrl", "https://m.example/1.jpg"), ("MediaUrl", "https://m.example/2.png")]
    form = [("To", TO), ("MessagingServiceSid", SERVICE), ("Body", "pics"), *media]
    status, body, _ = await post(simulator, form)
    assert (status, body["status"], body["from"], body["messaging_service_sid"]) == (
        201,
        "accepted",
        None,
        SERVICE,
    )
    assert body["sid"].startswith("MM") and body["num_media"] == "2"
    stored = simulator.state.messages[body["sid"]]
    assert stored.params == form and stored.media_urls == [url for _, url in media]


@pytest.mark.parametrize(
    ("form", "code"),
    [
        (message(to="+15005550001"), 21211),
        (message(to="+15005550002"), 21612),
        (message(to="+15005550003"), 21408),
        (message(to="+15005550004"), 21610),
        (message(to="+15005550009"), 21614),
        ([("To", TO), ("From", "+15005550001"), ("Body", "x")], 21212),
        ([("To", TO), ("From", "+15005550007"), ("Body", "x")], 21606),
        ([("To", TO), ("From", "+15005550008"), ("Body", "x")], 21611),
        ([("From", FROM), ("Body", "x")], 21604),
        ([("To", TO), ("Body", "x")], 21603),
        ([("To", TO), ("From", FROM)], 21602),
        ([("To", TO), ("From", FROM), ("Body", "")], 21602),
        (message(body="x" * 1601), 21617),
        (message(to="4155552671"), 21211),
        (message(to="+1 415 555 2671"), 21211),
        ([("To", TO), ("MessagingServiceSid", "MG1"), ("Body", "x")], 21701),
        (message(("StatusCallback", "/relative")), 21609),
        (message(("StatusCallback", "ftp://x.example/cb")), 21609),
        (message(("StatusCallback", "https://x.example/a b")), 21609),
        (message(("MediaUrl", "not a url")), 21620),
        ([("To", TO), ("From", FROM), ("ContentSid", "HX123")], 21655),
        ([("To", TO), ("From", FROM), ("Body", "x"), ("ContentVariables", '{"1": "a"}')], 21654),
        ([("To", TO), ("From", FROM), ("ContentSid", CONTENT), ("ContentVariables", "{1")], 21656),
        (
            [
                ("To", TO),
                ("From", FROM),
                ("ContentSid", CONTENT),
                ("ContentVariables", '{"1": ""}'),
            ],
            21656,
        ),
    ],
)
async def test_refusals_use_twilios_codes_and_error_shape(
    simulator: Simulator, form: list[tuple[str, str]], code: int
) -> None:
    status, body, _ = await post(simulator, form)
    assert (status, body["code"], body["status"]) == (400, code, 400)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}" and body["message"]
    assert simulator.state.messages == {}


async def test_a_content_template_needs_no_body(simulator: Simulator) -> None:
    form = [
        ("To", TO),
        ("From", FROM),
        ("ContentSid", CONTENT),
        ("ContentVariables", '{"1": "Ana"}'),
    ]
    status, body, _ = await post(simulator, form)
    assert status == 201, body
    assert simulator.state.messages[body["sid"]].params == form


async def test_wrong_credentials_get_401_with_20003(simulator: Simulator) -> None:
    status, body, _ = await post(simulator, message(), "wrong")
    assert (status, body["code"], body["status"]) == (401, 20003, 401)
    url = f"{simulator.url}/2010-04-01/Accounts/{simulator.account_sid}/Balance.json"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 401


async def balance_with(sim: Simulator, account_sid: str, token: str) -> int:
    url = f"{sim.url}/2010-04-01/Accounts/{account_sid}/Balance.json"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers=basic_auth(account_sid, token)) as response,
    ):
        return response.status


@pytest.mark.parametrize("open_accounts", [False, True])
async def test_open_accounts_register_a_well_formed_sid_on_first_use(
    simulator: Simulator, open_accounts: bool
) -> None:
    """Demo mode: any well-formed account works with any token, and that token
    only, from its first request on. Elsewhere an unknown account is refused."""
    simulator.state.open_accounts = open_accounts
    sid = "AC0123456789abcdef0123456789abcdef"
    assert await balance_with(simulator, sid, "first-token") == (200 if open_accounts else 401)
    assert await balance_with(simulator, sid, "another-token") == 401
    assert await balance_with(simulator, "AC123", "first-token") == 401  # not an Account SID
    assert await balance_with(simulator, "AC" + "g" * 32, "first-token") == 401
    assert (sid in simulator.state.accounts) is open_accounts


async def test_another_accounts_path_is_not_found(simulator: Simulator) -> None:
    other = "AC" + "0" * 32
    simulator.state.add_account(other, "other-token")
    auth = basic_auth(simulator.account_sid, simulator.auth_token)
    url = f"{simulator.url}/2010-04-01/Accounts/{other}/Messages.json"
    async with aiohttp.ClientSession() as http, http.post(url, data=message(), headers=auth) as r:
        assert (r.status, (await r.json())["code"]) == (404, 20404)


async def test_trial_accounts_only_reach_verified_numbers(simulator: Simulator) -> None:
    simulator.state.add_account(
        simulator.account_sid, simulator.auth_token, trial=True, verified_numbers=[TO]
    )
    ok, _, _ = await post(simulator, message())
    refused, body, _ = await post(simulator, message(to="+14155550000"))
    assert ok == 201 and (refused, body["code"]) == (400, 21608)


async def test_rate_limit_mode_answers_429_with_retry_after(simulator: Simulator) -> None:
    await simulator.control("PATCH", "config", {"rate_limit_ratio": 1})
    for _ in range(2):
        status, body, headers = await post(simulator, message(body="again"))
        assert (status, body["code"], headers["Retry-After"]) == (429, 20429, "1")
    assert simulator.state.messages == {}
    assert simulator.state.post_counts[TO, "again"] == 2
    sent = await simulator.control("GET", "messages")
    assert sent["post_count"] == 2
    assert sent["post_counts"] == [{"to": TO, "body": "again", "count": 2}]


async def test_latency_is_added_before_the_answer(simulator: Simulator) -> None:
    await simulator.control("PATCH", "config", {"latency_ms": 150})
    started = time.monotonic()
    status, _, _ = await post(simulator, message())
    assert status == 201 and time.monotonic() - started >= 0.15


async def test_config_patch_merges_and_rejects_nonsense(simulator: Simulator) -> None:
    merged = await simulator.control("PATCH", "config", {"failure_ratio": 0.5})
    assert (merged["failure_ratio"], merged["callback_delay_ms"]) == (0.5, 20)
    bad_bodies: list[Any] = [{"failure_ratio": 3}, {"no_such_knob": 1}, {"failure_codes": []}, [1]]
    for bad in bad_bodies:
        result = await simulator.control("PATCH", "config", bad)
        assert result["error"] == "invalid config"
    assert (await simulator.control("GET", "config"))["failure_ratio"] == 0.5


async def test_balance_fetch_and_list(simulator: Simulator) -> None:
    _, created, _ = await post(simulator, message())
    await post(simulator, message(to="+14155550123"))
    status, balance = await get(simulator, "Balance.json")
    validate(balance, schema("api.v2010.account.balance"), cls=OAS30Validator)
    assert balance == {"account_sid": simulator.account_sid, "balance": "20.00", "currency": "USD"}
    status, fetched = await get(simulator, f"Messages/{created['sid']}.json")
    assert (status, fetched["sid"], fetched["body"]) == (200, created["sid"], "x")
    status, missing = await get(simulator, f"Messages/SM{'0' * 32}.json")
    assert (status, missing["code"]) == (404, 20404)
    status, listed = await get(simulator, "Messages.json?To=%2B14155552671&PageSize=1")
    assert [m["sid"] for m in listed["messages"]] == [created["sid"]]
    assert listed["next_page_uri"] is None and listed["page_size"] == 1


async def test_status_callbacks_are_signed_and_reach_delivered(
    simulator: Simulator, receiver: Receiver
) -> None:
    await simulator.control("PATCH", "config", {"callback_delay_ms": 1})
    callback = f"{receiver.url}/status?meta=1.2.abc&x=%2F"
    _, created, _ = await post(simulator, message(("StatusCallback", callback)))
    received = await calls(receiver, 2)
    validator = RequestValidator(simulator.auth_token)
    for call in received:
        assert validator.validate(callback, call["form"], call["signature"])
        assert call["url"] == callback and call["idempotency"]
        assert call["form"]["MessageSid"] == call["form"]["SmsSid"] == created["sid"]
        assert (call["form"]["AccountSid"], call["form"]["ApiVersion"]) == (
            simulator.account_sid,
            "2010-04-01",
        )
    assert receiver.statuses() == ["sent", "delivered"]
    assert re.fullmatch(r"\d{10}", received[-1]["form"]["RawDlrDoneDate"])
    assert "ErrorCode" not in received[-1]["form"]
    log = await simulator.control("GET", "callbacks")
    assert [(r["status"], r["http_status"]) for r in log] == [("sent", 200), ("delivered", 200)]
    _, fetched = await get(simulator, f"Messages/{created['sid']}.json")
    assert fetched["status"] == "delivered" and fetched["date_sent"]


async def test_failure_ratio_one_ends_undelivered_or_failed_with_a_code(
    simulator: Simulator, receiver: Receiver
) -> None:
    await simulator.control(
        "PATCH",
        "config",
        {"failure_ratio": 1, "failure_codes": [30007], "callback_delay_ms": 1},
    )
    _, carrier, _ = await post(simulator, message(("StatusCallback", f"{receiver.url}/a")))
    assert receiver.statuses() == [] and carrier["error_code"] is None
    await calls(receiver, 2)
    assert receiver.statuses() == ["sent", "undelivered"]
    assert receiver.calls[-1]["form"]["ErrorCode"] == "30007"
    assert "RawDlrDoneDate" in receiver.calls[-1]["form"]
    _, fetched = await get(simulator, f"Messages/{carrier['sid']}.json")
    assert (fetched["status"], fetched["error_code"]) == ("undelivered", 30007)

    # A queue overflow never reaches a carrier: one callback, "failed".
    await simulator.control("PATCH", "config", {"failure_codes": [30001]})
    receiver.calls.clear()
    await post(simulator, message(("StatusCallback", f"{receiver.url}/b")))
    await calls(receiver, 1)
    assert (receiver.statuses(), receiver.calls[0]["form"]["ErrorCode"]) == (["failed"], "30001")


async def test_service_messages_report_queued_before_sent(
    simulator: Simulator, receiver: Receiver
) -> None:
    await simulator.control("PATCH", "config", {"callback_delay_ms": 1})
    form = [("To", TO), ("MessagingServiceSid", SERVICE), ("Body", "x")]
    await post(simulator, [*form, ("StatusCallback", f"{receiver.url}/s")])
    await calls(receiver, 3)
    assert receiver.statuses() == ["queued", "sent", "delivered"]
    assert {call["form"]["MessagingServiceSid"] for call in receiver.calls} == {SERVICE}


async def test_duplicate_mode_sends_each_callback_twice(
    simulator: Simulator, receiver: Receiver
) -> None:
    await simulator.control(
        "PATCH", "config", {"duplicate_callback_ratio": 1, "callback_delay_ms": 1}
    )
    await post(simulator, message(("StatusCallback", f"{receiver.url}/s")))
    received = await calls(receiver, 4)
    assert receiver.statuses() == ["sent", "sent", "delivered", "delivered"]
    # A duplicate is the same event again, so it repeats the idempotency token.
    tokens = [call["idempotency"] for call in received]
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3]


async def test_out_of_order_mode_reports_the_final_status_first(
    simulator: Simulator, receiver: Receiver
) -> None:
    await simulator.control("PATCH", "config", {"out_of_order_ratio": 1, "callback_delay_ms": 1})
    _, created, _ = await post(simulator, message(("StatusCallback", f"{receiver.url}/s")))
    await calls(receiver, 2)
    assert receiver.statuses() == ["delivered", "sent"]
    _, fetched = await get(simulator, f"Messages/{created['sid']}.json")
    assert fetched["status"] == "delivered"  # the simulator's own record only moves forward


async def test_a_seed_makes_outcomes_repeatable(simulator: Simulator) -> None:
    await simulator.control(
        "PATCH", "config", {"seed": 42, "failure_ratio": 0.5, "callbacks": False}
    )

    async def outcomes() -> list[str]:
        await asyncio.gather(*(post(simulator, message(body=f"m{i}")) for i in range(30)))
        return [
            f"{m.body}:{m.outcome}:{m.error_code}"
            for m in sorted(simulator.state.messages.values(), key=lambda m: m.body)
        ]

    first = await outcomes()
    await simulator.control("POST", "reset")
    assert simulator.state.messages == {}
    assert await outcomes() == first
    assert {o.split(":")[1] for o in first} == {"delivered", "undelivered"}


async def test_fast_mode_sends_no_callbacks_yet_messages_progress(
    simulator: Simulator, receiver: Receiver
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False, "callback_delay_ms": 1})
    _, created, _ = await post(simulator, message(("StatusCallback", f"{receiver.url}/s")))
    await asyncio.sleep(0.2)
    assert receiver.calls == [] and simulator.state.callback_log == []
    _, fetched = await get(simulator, f"Messages/{created['sid']}.json")
    assert fetched["status"] == "delivered"


async def test_an_unreachable_callback_target_is_logged_not_fatal(simulator: Simulator) -> None:
    await simulator.control("PATCH", "config", {"callback_delay_ms": 1})
    await post(simulator, message(("StatusCallback", "http://127.0.0.1:9/down")))
    log = await eventually(lambda: _log(simulator, 2))
    assert all(r["http_status"] is None and r["error"] for r in log)
    assert (await simulator.control("GET", "healthz")) == {"status": "ok"}


async def _log(simulator: Simulator, count: int) -> list[dict[str, Any]] | None:
    log: list[dict[str, Any]] = await simulator.control("GET", "callbacks")
    return log if len(log) >= count else None


async def test_control_api_adds_accounts_lists_raw_params_and_resets(
    simulator: Simulator,
) -> None:
    sid, token = "AC" + "b" * 32, "t0ken"
    added = await simulator.control(
        "POST", "accounts", {"account_sid": sid, "auth_token": token, "trial": False}
    )
    assert added == {"account_sid": sid, "trial": False}
    other = Simulator(simulator.state, simulator.url, sid, token)
    form = message(("MediaUrl", "https://m.example/1"), ("MediaUrl", "https://m.example/2"))
    status, created, _ = await post(other, form)
    assert status == 201
    sent = await simulator.control("GET", "messages")
    [listed] = sent["messages"]
    assert listed["sid"] == created["sid"] and [tuple(p) for p in listed["params"]] == form
    invalid = await simulator.control("POST", "accounts", {"account_sid": sid})
    assert invalid["error"] == "invalid account"
    assert await simulator.control("POST", "reset") == {"reset": True}
    assert (await simulator.control("GET", "messages"))["messages"] == []


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_injected_reply_is_signed_like_twilio(
    simulator: Simulator, receiver: Receiver, method: str
) -> None:
    url = f"{receiver.url}/inbound?tenant=7"
    result = await simulator.control(
        "POST",
        "inbound",
        {
            "url": url,
            "method": method,
            "account_sid": simulator.account_sid,
            "from": TO,
            "to": FROM,
            "body": "STOP ünïcode & more",
            "media_urls": ["https://m.example/1.jpg"],
            "messaging_service_sid": SERVICE,
        },
    )
    assert result == {"status": 200, "body": "<Response/>"}
    [call] = receiver.calls
    validator = RequestValidator(simulator.auth_token)
    if method == "POST":
        assert call["url"] == url
        assert validator.validate(url, call["form"], call["signature"])
        fields = call["form"]
    else:
        assert validator.validate(call["url"], {}, call["signature"])
        fields = dict(parse_qsl(urlsplit(call["url"]).query))
        assert fields["tenant"] == "7"
    assert fields["MessageSid"].startswith("MM") and fields["SmsSid"] == fields["MessageSid"]
    assert (fields["Body"], fields["From"], fields["To"], fields["SmsStatus"]) == (
        "STOP ünïcode & more",
        TO,
        FROM,
        "received",
    )
    assert (fields["NumMedia"], fields["MediaUrl0"], fields["MediaContentType0"]) == (
        "1",
        "https://m.example/1.jpg",
        "image/jpeg",
    )
    assert (fields["AccountSid"], fields["MessagingServiceSid"]) == (simulator.account_sid, SERVICE)
    assert fields["NumSegments"] == "1" and fields["FromCountry"] and fields["ToCity"]


async def test_inbound_to_a_dead_target_answers_502(simulator: Simulator) -> None:
    payload = {"url": "http://127.0.0.1:9/x", "account_sid": simulator.account_sid}
    result = await simulator.control("POST", "inbound", {**payload, "from": TO, "to": FROM})
    assert result["status"] is None and result["error"]
    unknown = await simulator.control(
        "POST", "inbound", {**payload, "account_sid": "AC" + "f" * 32, "from": TO, "to": FROM}
    )
    assert unknown["error"] == "unknown account"
