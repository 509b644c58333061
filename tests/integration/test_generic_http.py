"""Generic HTTP providers and every preset over real HTTP on 127.0.0.1: the
request each documented API expects, success and ID extraction, and errors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import RunningServer
from tests.integration.helpers import api, eventually
from textcast.errors import ProviderError
from textcast.netguard import TargetGuard
from textcast.providers.base import HttpClient, OutboundMessage
from textcast.providers.generic_http import GenericHttpProvider

BODY = 'Order "42" & co: 1+1=2, 100%\nThanks! 😀'


@dataclass
class FakeApi:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: tuple[int, Any, dict[str, str]] = (200, {}, {})
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        status, payload, headers = self.answer
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return web.Response(
            status=status, text=text, headers=headers, content_type="application/json"
        )


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield fake
    await runner.cleanup()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# name, credentials, documented success answer, expected id, check(request)
PRESET_CASES: list[tuple[str, dict[str, str], tuple[int, Any], str, Any]] = [
    (
        "msg91",
        {"authkey": "AK123", "template_id": "flow-1"},
        (200, {"type": "success", "message": "3763646c3058373530393832"}),
        "3763646c3058373530393832",
        lambda r: (
            r["method"] == "POST"
            and r["path"] == "/api/v5/flow/"
            and r["headers"]["authkey"] == "AK123"
            and json.loads(r["body"])
            == {
                "template_id": "flow-1",
                "sender": "TXTCST",
                "short_url": "0",
                "recipients": [{"mobiles": "919876543210", "VAR1": BODY}],
            }
        ),
    ),
    (
        "textlocal",
        {"apikey": "TL-KEY"},
        (200, {"status": "success", "messages": [{"id": "1151346216", "recipient": 919876543210}]}),
        "1151346216",
        lambda r: (
            r["path"] == "/send/"
            and r["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
            and parse_qs(r["body"].decode())
            == {
                "apikey": ["TL-KEY"],
                "numbers": ["919876543210"],
                "sender": ["TXTCST"],
                "message": [BODY],
            }
        ),
    ),
    (
        "plivo",
        {"auth_id": "MAXXXXXXXX", "auth_token": "plivo-token"},
        (
            202,
            {
                "api_id": "x",
                "message": "message(s) queued",
                "message_uuid": ["db3ce55a-7f1d-11e1-8ea7"],
            },
        ),
        "db3ce55a-7f1d-11e1-8ea7",
        lambda r: (
            r["path"] == "/v1/Account/MAXXXXXXXX/Message/"
            and r["headers"]["Authorization"] == basic("MAXXXXXXXX", "plivo-token")
            and json.loads(r["body"]) == {"src": "TXTCST", "dst": "+919876543210", "text": BODY}
        ),
    ),
    (
        "bulksms",
        {"username": "user1", "password": "pw1"},
        (201, [{"id": "1234567", "type": "SENT", "to": "+919876543210"}]),
        "1234567",
        lambda r: (
            r["path"] == "/v1/messages"
            and r["query"] == {"auto-unicode": "true"}
            and r["headers"]["Authorization"] == basic("user1", "pw1")
            and json.loads(r["body"]) == {"to": "+919876543210", "from": "TXTCST", "body": BODY}
        ),
    ),
    (
        "exotel",
        {"account_sid": "acme1", "api_key": "key1", "api_token": "tok1", "dlt_entity_id": "110"},
        (200, {"SMSMessage": {"Sid": "b6f3c9", "Status": "queued"}}),
        "b6f3c9",
        lambda r: (
            r["path"] == "/v1/Accounts/acme1/Sms/send.json"
            and r["headers"]["Authorization"] == basic("key1", "tok1")
            and parse_qs(r["body"].decode())
            == {"From": ["TXTCST"], "To": ["+919876543210"], "Body": [BODY], "DltEntityId": ["110"]}
        ),
    ),
]


def outbound() -> OutboundMessage:
    return OutboundMessage(1, "+919876543210", BODY, "alphanumeric", "TXTCST")


def make(payload: dict[str, Any]) -> GenericHttpProvider:
    config, secrets = GenericHttpProvider.from_payload(payload)
    return GenericHttpProvider(config, secrets)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "credentials", "answer", "expected_id", "check"), PRESET_CASES)
async def test_each_preset_sends_its_documented_request(
    fake_api: FakeApi,
    name: str,
    credentials: dict[str, str],
    answer: tuple[int, Any],
    expected_id: str,
    check: Any,
) -> None:
    fake_api.answer = (answer[0], answer[1], {})
    provider = make({"preset": name, "credentials": credentials, "base_url": fake_api.url})
    async with aiohttp.ClientSession() as session:
        result = await provider.send(HttpClient(session), outbound())
    assert result.provider_message_id == expected_id
    assert check(fake_api.requests[-1]), fake_api.requests[-1]


async def test_a_success_rule_turns_a_200_with_an_error_into_a_permanent_failure(
    fake_api: FakeApi,
) -> None:
    fake_api.answer = (
        200,
        {"status": "failure", "errors": [{"code": 7, "message": "Insufficient credits"}]},
        {},
    )
    provider = make(
        {"preset": "textlocal", "credentials": {"apikey": "k"}, "base_url": fake_api.url}
    )
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ProviderError) as caught:
            await provider.send(HttpClient(session), outbound())
    assert (caught.value.code, caught.value.message, caught.value.permanent) == (
        "7",
        "Insufficient credits",
        True,
    )


@pytest.mark.parametrize(
    ("status", "headers", "permanent", "retry_after"),
    [
        (429, {"Retry-After": "7"}, False, 7.0),
        (503, {}, False, None),
        (400, {}, True, None),
        (401, {}, True, None),
    ],
)
async def test_http_errors_are_classified(
    fake_api: FakeApi,
    status: int,
    headers: dict[str, str],
    permanent: bool,
    retry_after: float | None,
) -> None:
    fake_api.answer = (status, {"error": "nope"}, headers)
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To", "text": "$$Body"}})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ProviderError) as caught:
            await provider.send(HttpClient(session), outbound())
    assert (caught.value.permanent, caught.value.retry_after, caught.value.code) == (
        permanent,
        retry_after,
        f"http_{status}",
    )


async def test_a_timeout_is_retryable(fake_api: FakeApi) -> None:
    fake_api.delay = 1.0
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To"}})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ProviderError) as caught:
            await provider.send(HttpClient(session, timeout=0.2), outbound())
    assert caught.value.code == "timeout" and not caught.value.permanent


async def test_the_guard_blocks_loopback_unless_allowed(fake_api: FakeApi) -> None:
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To"}})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ProviderError) as caught:
            await provider.send(
                HttpClient(session, guard=TargetGuard(allow_private=False)), outbound()
            )
        assert caught.value.code == "target_refused" and caught.value.permanent
        assert fake_api.requests == []
        await provider.send(HttpClient(session, guard=TargetGuard(allow_private=True)), outbound())
    assert len(fake_api.requests) == 1


async def test_generic_provider_end_to_end_through_the_api(
    server: RunningServer, fake_api: FakeApi, http: aiohttp.ClientSession
) -> None:
    fake_api.answer = (202, {"message_uuid": ["uuid-1"]}, {})
    status, provider = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        {
            "name": "plivo-test",
            "type": "generic",
            "preset": "plivo",
            "base_url": fake_api.url,
            "credentials": {"auth_id": "MA1", "auth_token": "secret-plivo-token"},
            "senders": [{"name": "brand", "type": "alphanumeric", "sender_id": "TXTCST"}],
        },
    )
    assert status == 201, provider
    assert provider["credentials"]["basic_password"].endswith("oken")
    assert "secret-plivo-token" not in json.dumps(provider)
    status, queued = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": "+919876543210", "body": BODY, "sender": "brand"},
    )
    assert status == 202

    async def accepted() -> dict[str, Any] | None:
        _, body = await api(
            http, "GET", f"{server.url}/api/v1/messages/{queued['id']}", server.headers
        )
        return body if body["status"] == "accepted" else None

    message = await eventually(accepted)
    assert message["provider_message_id"] == "uuid-1"
    assert json.loads(fake_api.requests[-1]["body"])["text"] == BODY


async def test_private_endpoint_is_refused_when_not_allowed(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server.ctx.guard.allow_private = False
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        {
            "name": "internal",
            "type": "generic",
            "url": "http://169.254.169.254/latest",
            "params": {"to": "$$To"},
        },
    )
    assert status == 422
    assert body["field"] == "url" and "internal address" in body["message"]
