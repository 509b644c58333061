"""Generic HTTP providers and every preset over real HTTP on 127.0.0.1: the
request each documented API expects, success and ID extraction, and errors."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest

from tests.conftest import RunningServer, free_port
from tests.integration.helpers import FakeApi, api, eventually
from textcast.errors import ProviderError
from textcast.netguard import TargetGuard
from textcast.providers.base import OutboundMessage
from textcast.providers.generic.presets import PRESETS
from textcast.providers.generic.provider import GenericHttpProvider
from textcast.providers.http import HttpClient

BODY = 'Order "42" & co: 1+1=2, 100% = a+b\\c\nThanks! 😀 — नमस्ते'
TO = "+919876543210"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def outbound(body: str = BODY) -> OutboundMessage:
    return OutboundMessage(1, TO, body, "alphanumeric", "TXTCST")


def make(payload: dict[str, Any]) -> GenericHttpProvider:
    config, secrets = GenericHttpProvider.from_payload(payload)
    return GenericHttpProvider(config, secrets)


def decoded(request: dict[str, Any]) -> Any:
    """The request body as its content type says: JSON, or form fields."""
    raw: bytes = request["body"]
    if request["headers"]["Content-Type"] == "application/json":
        return json.loads(raw.decode("utf-8"))
    return parse_qs(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)


@dataclass(frozen=True)
class PresetCase:
    """One documented send API: what we must send and what it answers."""

    name: str
    credentials: dict[str, str]
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    extra_headers: dict[str, str]
    content_type: str
    fields: Any
    answer: tuple[int, Any]
    message_id: str | None
    method: str = "POST"


PRESET_CASES = [
    PresetCase(
        "msg91",
        {"authkey": "AK123", "template_id": "6571a1b2c3"},
        "/api/v5/flow/",
        {},
        None,
        {"authkey": "AK123"},
        "application/json",
        {
            "template_id": "6571a1b2c3",
            "sender": "TXTCST",
            "short_url": "0",
            "recipients": [{"mobiles": "919876543210", "VAR1": BODY}],
        },
        (200, {"type": "success", "message": "3763646c3058373530393832"}),
        "3763646c3058373530393832",
    ),
    PresetCase(
        "textlocal",
        {"apikey": "TL-KEY"},
        "/send/",
        {},
        None,
        {},
        "application/x-www-form-urlencoded",
        {
            "apikey": ["TL-KEY"],
            "numbers": ["919876543210"],
            "sender": ["TXTCST"],
            "message": [BODY],
        },
        (
            200,
            {
                "balance": 1162,
                "batch_id": 123456789,
                "cost": 2,
                "num_messages": 1,
                "messages": [{"id": "1151346216", "recipient": 919876543210}],
                "status": "success",
            },
        ),
        "1151346216",
    ),
    PresetCase(
        "plivo",
        {"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": "plivo-token"},
        "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/",
        {},
        basic("MAXXXXXXXXXXXXXXXXXX", "plivo-token"),
        {},
        "application/json",
        {"src": "TXTCST", "dst": "919876543210", "text": BODY},
        (
            202,
            {
                "api_id": "db342550-7f1d-11e1-8ea7-1231380bc196",
                "message": "message(s) queued",
                "message_uuid": ["db3ce55a-7f1d-11e1-8ea7-1231380bc196"],
            },
        ),
        "db3ce55a-7f1d-11e1-8ea7-1231380bc196",
    ),
    PresetCase(
        "bulksms",
        {"username": "user1", "password": "pw1"},
        "/v1/messages",
        {"auto-unicode": ["true"], "longMessageMaxParts": ["30"]},
        basic("user1", "pw1"),
        {},
        "application/json",
        {"to": TO, "from": "TXTCST", "body": BODY},
        (201, [{"id": "1234567", "type": "SENT", "to": TO, "status": {"type": "ACCEPTED"}}]),
        "1234567",
    ),
    PresetCase(
        "exotel",
        {
            "account_sid": "acme1",
            "api_key": "key1",
            "api_token": "tok1",
            "dlt_entity_id": "1101",
            "dlt_template_id": "1107",
        },
        "/v1/Accounts/acme1/Sms/send.json",
        {},
        basic("key1", "tok1"),
        {},
        "application/x-www-form-urlencoded",
        {
            "From": ["TXTCST"],
            "To": [TO],
            "Body": [BODY],
            "DltEntityId": ["1101"],
            "DltTemplateId": ["1107"],
        },
        (200, {"SMSMessage": {"Sid": "b6f3c9a1d2e3", "Status": "queued", "To": TO}}),
        "b6f3c9a1d2e3",
    ),
    # Nimbus takes everything in the query of a GET; its answer carries no ID.
    PresetCase(
        "nimbus",
        {"user_id": "acme", "password": "n-pw", "entity_id": "1701"},
        "/api/SmsApi/SendSingleApi",
        {
            "UserID": ["acme"],
            "Password": ["n-pw"],
            "SenderID": ["TXTCST"],
            "Phno": ["919876543210"],
            "Msg": [BODY],
            "EntityID": ["1701"],
        },
        None,
        {},
        "",
        None,
        (200, {"Status": "OK", "Response": {"Message": "Message Submitted"}}),
        None,
        method="GET",
    ),
]


def test_the_table_covers_every_preset() -> None:
    assert {case.name for case in PRESET_CASES} == set(PRESETS)


@pytest.mark.parametrize("case", PRESET_CASES, ids=lambda case: case.name)
async def test_each_preset_sends_its_documented_request(
    fake_api: FakeApi, session: aiohttp.ClientSession, case: PresetCase
) -> None:
    fake_api.answer = (*case.answer, {})
    provider = make(
        {"preset": case.name, "credentials": case.credentials, "base_url_override": fake_api.url}
    )
    result = await provider.send(HttpClient(session), outbound())
    request = fake_api.last
    assert (request["method"], request["path"]) == (case.method, case.path)
    assert request["query"] == case.query
    assert request["headers"].get("Authorization") == case.authorization
    for name, value in case.extra_headers.items():
        assert request["headers"][name] == value
    if case.method == "GET":
        assert request["body"] == b"" and "Content-Type" not in request["headers"]
    else:
        assert request["headers"]["Content-Type"] == case.content_type
        assert decoded(request) == case.fields
    assert (result.provider_message_id, result.status) == (case.message_id, "accepted")
    assert result.raw["body"] == case.answer[1]


# Where each preset puts a message's own template ID, per its provider's
# documented field (None: the API has no such field, so it is not sent).
# Each reader takes the request as the fake API saw it.
TEMPLATE_ID_FIELDS = {
    "msg91": ("template_id", lambda request: decoded(request)["template_id"]),
    "plivo": ("dlt_template_id", lambda request: decoded(request)["dlt_template_id"]),
    "exotel": ("DltTemplateId", lambda request: decoded(request)["DltTemplateId"][0]),
    "nimbus": ("TemplateID", lambda request: request["query"]["TemplateID"][0]),
    "textlocal": None,
    "bulksms": None,
}


@pytest.mark.parametrize("case", PRESET_CASES, ids=lambda case: case.name)
async def test_each_preset_sends_the_messages_template_id_in_its_documented_field(
    fake_api: FakeApi, session: aiohttp.ClientSession, case: PresetCase
) -> None:
    assert set(TEMPLATE_ID_FIELDS) == set(PRESETS)
    fake_api.answer = (*case.answer, {})
    provider = make(
        {"preset": case.name, "credentials": case.credentials, "base_url_override": fake_api.url}
    )
    message = outbound()
    message.template_id = "1107161234567890123"
    await provider.send(HttpClient(session), message)
    request = fake_api.last
    where = TEMPLATE_ID_FIELDS[case.name]
    if where is None:
        assert b"1107161234567890123" not in request["body"]
        assert decoded(request) == case.fields
    else:
        assert where[1](request) == "1107161234567890123", where[0]


async def test_without_a_template_id_the_field_is_left_out_or_the_configured_one_sent(
    fake_api: FakeApi, session: aiohttp.ClientSession
) -> None:
    fake_api.answer = (202, {"message_uuid": ["u1"]}, {})
    credentials = {"auth_id": "MA1", "auth_token": "t", "dlt_entity_id": "1101"}
    plivo = make({"preset": "plivo", "credentials": credentials, "base_url": fake_api.url})
    await plivo.send(HttpClient(session), outbound())
    fields = decoded(fake_api.last)
    assert "dlt_template_id" not in fields and fields["dlt_entity_id"] == "1101"
    fake_api.answer = (200, {"type": "success", "message": "m1"}, {})
    msg91 = make({"preset": "msg91", "credentials": {"authkey": "k"}, "base_url": fake_api.url})
    with pytest.raises(ProviderError) as refused:  # the flow needs a template: a clear refusal
        await msg91.send(HttpClient(session), outbound())
    assert (refused.value.code, refused.value.permanent) == ("template", True)
    assert "$$TemplateId" in refused.value.message


@pytest.mark.parametrize(
    ("name", "credentials", "answer", "expected"),
    [
        (
            "textlocal",
            {"apikey": "k"},
            (
                200,
                {"status": "failure", "errors": [{"code": 7, "message": "Insufficient credits"}]},
            ),
            ("7", "Insufficient credits", True, 200),
        ),
        (
            "msg91",
            {"authkey": "k", "template_id": "t"},
            (200, {"type": "error", "message": "Invalid template id"}),
            ("http_200", "Invalid template id", True, 200),
        ),
        (
            "exotel",
            {"account_sid": "a", "api_key": "k", "api_token": "t"},
            (
                401,
                {
                    "RestException": {
                        "Status": 401,
                        "Message": "Authentication failed.",
                        "Code": "UNAUTHORIZED",
                    }
                },
            ),
            ("UNAUTHORIZED", "Authentication failed.", True, 401),
        ),
        (
            "bulksms",
            {"username": "u", "password": "p"},
            (
                403,
                {
                    "type": "https://developer.bulksms.com/json/v1/errors#insufficient-credits",
                    "title": "Insufficient Credits",
                    "status": 403,
                },
            ),
            ("Insufficient Credits", None, True, 403),
        ),
        (
            "plivo",
            {"auth_id": "MA1", "auth_token": "t"},
            (400, {"api_id": "x", "error": "invalid destination number"}),
            ("http_400", "invalid destination number", True, 400),
        ),
        (
            "nimbus",
            {"user_id": "u", "password": "p"},
            (200, {"Status": "ERROR", "Response": {"Message": "Invalid Template ID"}}),
            ("http_200", "Invalid Template ID", True, 200),
        ),
    ],
)
async def test_refusals_are_permanent_with_the_providers_code_and_message(
    fake_api: FakeApi,
    session: aiohttp.ClientSession,
    name: str,
    credentials: dict[str, str],
    answer: tuple[int, Any],
    expected: tuple[str, str | None, bool, int],
) -> None:
    fake_api.answer = (*answer, {})
    provider = make({"preset": name, "credentials": credentials, "base_url": fake_api.url})
    with pytest.raises(ProviderError) as caught:
        await provider.send(HttpClient(session), outbound())
    error = caught.value
    code, message, permanent, status = expected
    assert (error.code, error.permanent, error.http_status) == (code, permanent, status)
    assert error.message == (message or json.dumps(answer[1]))
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        (500, {}, None),
        (502, {}, None),
        (501, {}, None),
        (408, {}, None),
    ],
)
async def test_overload_and_server_errors_are_retryable(
    fake_api: FakeApi,
    session: aiohttp.ClientSession,
    status: int,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    fake_api.answer = (status, {"error": "busy"}, headers)
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To", "text": "$$Body"}})
    with pytest.raises(ProviderError) as caught:
        await provider.send(HttpClient(session), outbound())
    error = caught.value
    assert (error.permanent, error.retry_after, error.code) == (
        False,
        retry_after,
        f"http_{status}",
    )
    assert error.http_status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_client_errors_are_permanent(
    fake_api: FakeApi, session: aiohttp.ClientSession, status: int
) -> None:
    fake_api.answer = (status, "nope", {"Retry-After": "5"})
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To"}})
    with pytest.raises(ProviderError) as caught:
        await provider.send(HttpClient(session), outbound())
    assert (caught.value.permanent, caught.value.code, caught.value.message) == (
        True,
        f"http_{status}",
        "nope",
    )


async def test_a_2xx_without_the_id_still_succeeds(
    fake_api: FakeApi, session: aiohttp.ClientSession
) -> None:
    fake_api.answer = (200, "queued, thanks", {})
    provider = make(
        {
            "url": f"{fake_api.url}/send",
            "params": {"to": "$$To"},
            "message_id": {"regex": r"id=(\w+)"},
        }
    )
    result = await provider.send(HttpClient(session), outbound())
    assert result.provider_message_id is None
    assert result.raw == {"http_status": 200, "body": "queued, thanks"}


async def test_custom_rules_read_text_answers(
    fake_api: FakeApi, session: aiohttp.ClientSession
) -> None:
    provider = make(
        {
            "url": f"{fake_api.url}/send",
            "params": {"to": "$$To"},
            "success": {"regex": r"^OK"},
            "message_id": {"regex": r"OK (\d+)"},
            "error_code": {"regex": r"ERR (\d+)"},
        }
    )
    fake_api.answer = (200, "OK 98765", {})
    assert (await provider.send(HttpClient(session), outbound())).provider_message_id == "98765"
    fake_api.answer = (200, "ERR 42 bad number", {})
    with pytest.raises(ProviderError) as caught:
        await provider.send(HttpClient(session), outbound())
    assert (caught.value.code, caught.value.permanent) == ("42", True)


async def test_a_get_api_receives_every_value_intact(
    fake_api: FakeApi, session: aiohttp.ClientSession
) -> None:
    provider = make(
        {
            "method": "GET",
            "url": f"{fake_api.url}/rest?method=sms&mobile_no=$$To&content=$$Body",
            "params": {"sender": "$$From", "access_token": "$$Secret.token"},
            "credentials": {"token": "x y&z"},
            "headers": {"X-Static": "yes"},
        }
    )
    await provider.send(HttpClient(session), outbound())
    request = fake_api.last
    assert request["method"] == "GET" and request["body"] == b""
    assert request["headers"]["X-Static"] == "yes"
    assert request["query"] == {
        "method": ["sms"],
        "mobile_no": [TO],
        "content": [BODY],
        "sender": ["TXTCST"],
        "access_token": ["x y&z"],
    }


async def test_a_raw_json_template_arrives_as_valid_utf8_json(
    fake_api: FakeApi, session: aiohttp.ClientSession
) -> None:
    provider = make(
        {
            "url": f"{fake_api.url}/v2/sms",
            "body_format": "raw",
            "content_type": "application/json",
            "body": '{"sms": [{"message": "$$Body", "to": ["$$To"]}], "sender": "$$From"}',
            "to_format": "e164_no_plus",
        }
    )
    await provider.send(HttpClient(session), outbound())
    raw: bytes = fake_api.last["body"]
    assert "😀".encode() in raw  # UTF-8, not \\u escapes or "?"
    assert json.loads(raw) == {
        "sms": [{"message": BODY, "to": ["919876543210"]}],
        "sender": "TXTCST",
    }


async def test_a_timeout_is_retryable(fake_api: FakeApi, session: aiohttp.ClientSession) -> None:
    fake_api.delay = 1.0
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To"}})
    with pytest.raises(ProviderError) as caught:
        await provider.send(HttpClient(session, timeout=0.2), outbound())
    assert caught.value.code == "timeout" and not caught.value.permanent


async def test_an_unreachable_provider_is_retryable(session: aiohttp.ClientSession) -> None:
    port = free_port()  # bound and released: nothing listens there now
    provider = make({"url": f"http://127.0.0.1:{port}/send", "params": {"to": "$$To"}})
    with pytest.raises(ProviderError) as caught:
        await provider.send(HttpClient(session), outbound())
    # Never connected, so never sent: an ordinary retry, not a possible duplicate.
    assert caught.value.code == "unreachable" and not caught.value.permanent


async def test_an_accepted_send_records_the_providers_http_status(
    fake_api: FakeApi, session: aiohttp.ClientSession
) -> None:
    fake_api.answer = (202, {"id": "abc"}, {})
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To"}})
    result = await provider.send(HttpClient(session), outbound())
    assert result.http_status == 202


async def test_redirects_are_not_followed(
    fake_api: FakeApi, session: aiohttp.ClientSession
) -> None:
    # A redirect could lead past the guard (to 169.254.169.254, say) with our credentials.
    fake_api.answer = (302, "", {"Location": f"{fake_api.url}/elsewhere"})
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To"}})
    with pytest.raises(ProviderError) as caught:
        await provider.send(HttpClient(session), outbound())
    assert [r["path"] for r in fake_api.requests] == ["/send"]
    assert caught.value.permanent and "redirects" in caught.value.message


async def test_the_guard_blocks_loopback_unless_allowed(
    fake_api: FakeApi, session: aiohttp.ClientSession
) -> None:
    provider = make({"url": f"{fake_api.url}/send", "params": {"to": "$$To"}})
    with pytest.raises(ProviderError) as caught:
        await provider.send(HttpClient(session, guard=TargetGuard(allow_private=False)), outbound())
    assert caught.value.code == "target_refused" and caught.value.permanent
    assert "127.0.0.1" in caught.value.message
    assert fake_api.requests == []
    await provider.send(HttpClient(session, guard=TargetGuard(allow_private=True)), outbound())
    only_this = TargetGuard(allow_private=False, allowed_origins=[fake_api.url])
    await provider.send(HttpClient(session, guard=only_this), outbound())
    assert len(fake_api.requests) == 2


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
            "base_url_override": fake_api.url,
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
        {"to": TO, "body": BODY, "sender": "brand"},
    )
    assert status == 202

    async def accepted() -> dict[str, Any] | None:
        _, body = await api(
            http, "GET", f"{server.url}/api/v1/messages/{queued['id']}", server.headers
        )
        return body if body["status"] == "accepted" else None

    message = await eventually(accepted)
    assert message["provider_message_id"] == "uuid-1"
    assert json.loads(fake_api.last["body"])["text"] == BODY


async def test_a_dlt_sender_refuses_messages_without_a_template_id_and_sends_it_with_one(
    server: RunningServer, fake_api: FakeApi, http: aiohttp.ClientSession
) -> None:
    fake_api.answer = (200, {"SMSMessage": {"Sid": "sid-1"}}, {})
    sender = {"name": "dlt", "type": "alphanumeric", "sender_id": "TXTCST"}
    status, provider = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        {
            "name": "exotel-test",
            "type": "generic",
            "preset": "exotel",
            "base_url_override": fake_api.url,
            "credentials": {"account_sid": "a1", "api_key": "k1", "api_token": "t1"},
            "senders": [{**sender, "template_id_required": True}],
        },
    )
    assert status == 201, provider
    messages = f"{server.url}/api/v1/messages"
    status, refused = await api(http, "POST", messages, server.headers, {"to": TO, "body": "hi"})
    assert (status, refused["field"]) == (422, "template_id")
    payload = {"to": TO, "body": "hi", "template_id": "1107161234567890123"}
    status, queued = await api(http, "POST", messages, server.headers, payload)
    assert (status, queued["template_id"]) == (202, "1107161234567890123")

    async def accepted() -> dict[str, Any] | None:
        _, body = await api(http, "GET", f"{messages}/{queued['id']}", server.headers)
        return body if body["status"] == "accepted" else None

    message = await eventually(accepted)
    assert message["template_id"] == "1107161234567890123"
    assert decoded(fake_api.last)["DltTemplateId"] == ["1107161234567890123"]


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
