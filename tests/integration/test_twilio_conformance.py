"""What Textcast sends to Twilio must validate against Twilio's own published
OpenAPI definition — not just against our simulator."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from textcast.listeners import bound_url, start_listener
from textcast.providers.base import OutboundMessage
from textcast.providers.http import HttpClient
from textcast.providers.twilio.config import TwilioConfig, TwilioSecrets
from textcast.providers.twilio.provider import TwilioProvider

SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "twilio_api_v2010_messaging.json"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "fake-token-for-conformance"
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"


@pytest.fixture(scope="module")
def twilio_api() -> OpenAPI:
    return OpenAPI.from_dict(json.loads(SPEC_PATH.read_text()))


@pytest.fixture(scope="module")
def form_schema() -> dict[str, Any]:
    spec = json.loads(SPEC_PATH.read_text())
    body = spec["paths"][MESSAGES_PATH]["post"]["requestBody"]["content"]
    schema: dict[str, Any] = body["application/x-www-form-urlencoded"]["schema"]
    return schema


class Capture:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "headers": dict(request.headers),
                "body": body,
            }
        )
        return web.json_response(
            {"sid": "SM" + "a" * 32, "status": "queued", "num_segments": "1"}, status=201
        )


@pytest.fixture
async def capture() -> AsyncIterator[tuple[Capture, str]]:
    cap = Capture()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", cap.handle)
    runner = await start_listener(app, "127.0.0.1", 0)
    yield cap, bound_url(runner)
    await runner.cleanup()


def validate_as_twilio(twilio_api: OpenAPI, sent: dict[str, Any]) -> None:
    """Validate the very same request as if it had gone to api.twilio.com."""
    environ = EnvironBuilder(
        method="POST",
        base_url="https://api.twilio.com",
        path=sent["path"],
        data=sent["body"],
        content_type=sent["headers"]["Content-Type"],
        headers={"Authorization": sent["headers"]["Authorization"]},
    ).get_environ()
    twilio_api.validate_request(WerkzeugOpenAPIRequest(Request(environ)))


SENDS = [
    ("long_code", "+15005550006", "Hello from a long code", ()),
    ("toll_free", "+18005550100", "Toll-free hello", ()),
    ("short_code", "12345", "Short code hello", ()),
    ("alphanumeric", "Textcast", "Alphanumeric hello", ()),
    ("messaging_service", "MG" + "ab" * 16, "Messaging Service hello", ()),
    (
        "long_code",
        "+15005550006",
        "MMS: picture attached",
        ("https://cdn.example.com/a.png", "https://cdn.example.com/b.jpg"),
    ),
    ("long_code", "+15005550006", "Quotes \" ' & + = % \n newline, emoji 😀 and ünïcödé", ()),
]


@pytest.mark.parametrize(("sender_type", "sender_id", "body", "media"), SENDS)
async def test_send_request_validates_against_twilio_api_definition(
    twilio_api: OpenAPI,
    form_schema: dict[str, Any],
    capture: tuple[Capture, str],
    sender_type: str,
    sender_id: str,
    body: str,
    media: tuple[str, ...],
) -> None:
    cap, base_url = capture
    provider = TwilioProvider(
        TwilioConfig(account_sid=SID, base_url=base_url), TwilioSecrets(auth_token=TOKEN)
    )
    message = OutboundMessage(
        message_id=1,
        to="+14155552671",
        body=body,
        sender_type=sender_type,
        sender_id=sender_id,
        media_urls=media,
        status_callback="https://textcast.example.com/webhooks/twilio/1/status?meta=1.1.abcdef0123456789",
    )
    async with aiohttp.ClientSession() as session:
        result = await provider.send(HttpClient(session), message)
    assert result.provider_message_id == "SM" + "a" * 32

    sent = cap.requests[-1]
    assert sent["method"] == "POST"
    assert sent["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert sent["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")
    scheme, _, credentials = sent["headers"]["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == f"{SID}:{TOKEN}"

    validate_as_twilio(twilio_api, sent)

    fields = parse_qsl(sent["body"].decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    names = {name for name, _ in fields}
    assert names <= set(form_schema["properties"]), names - set(form_schema["properties"])
    assert ("MessagingServiceSid" in names) == (sender_type == "messaging_service")
    assert ("From" in names) != ("MessagingServiceSid" in names)
    assert [v for k, v in fields if k == "MediaUrl"] == list(media)
    assert dict(fields)["Body"] == body  # byte-identical UTF-8, nothing substituted
    for name, value in fields:
        if name in ("StatusCallback", "MediaUrl"):
            parts = urlsplit(value)
            assert parts.scheme in ("http", "https") and parts.netloc


CONTENT_SID = "HX" + "0123456789abcdef" * 2


@pytest.mark.parametrize(
    "variables", [json.dumps({"1": "Ana", "2": "A-17 ünï 😀"}, ensure_ascii=False), None]
)
async def test_a_content_template_send_validates_against_twilio_api_definition(
    twilio_api: OpenAPI,
    form_schema: dict[str, Any],
    capture: tuple[Capture, str],
    variables: str | None,
) -> None:
    cap, base_url = capture
    provider = TwilioProvider(
        TwilioConfig(account_sid=SID, base_url=base_url), TwilioSecrets(auth_token=TOKEN)
    )
    message = OutboundMessage(
        message_id=1,
        to="+14155552671",
        body="Hi Ana, your order A-17 has shipped",  # what Textcast shows; Twilio renders its own
        sender_type="long_code",
        sender_id="+15005550006",
        status_callback="https://textcast.example.com/webhooks/twilio/1/status?meta=1.1.abcdef0123456789",
        template_id=CONTENT_SID,
        content_variables=variables,
    )
    async with aiohttp.ClientSession() as session:
        await provider.send(HttpClient(session), message)
    sent = cap.requests[-1]
    validate_as_twilio(twilio_api, sent)
    fields = dict(parse_qsl(sent["body"].decode("utf-8"), strict_parsing=True))
    assert set(fields) <= set(form_schema["properties"])
    assert fields["ContentSid"] == CONTENT_SID
    assert "Body" not in fields  # the template's text is Twilio's, not ours
    assert fields.get("ContentVariables") == variables
    if variables is not None:
        assert json.loads(fields["ContentVariables"]) == json.loads(variables)


async def test_balance_and_fetch_use_the_documented_paths(capture: tuple[Capture, str]) -> None:
    cap, base_url = capture
    provider = TwilioProvider(
        TwilioConfig(account_sid=SID, base_url=base_url), TwilioSecrets(auth_token=TOKEN)
    )
    async with aiohttp.ClientSession() as session:
        http = HttpClient(session)
        await provider.fetch_status(http, "SM" + "b" * 32)
        assert cap.requests[-1]["path"] == f"/2010-04-01/Accounts/{SID}/Messages/SM{'b' * 32}.json"
        assert cap.requests[-1]["method"] == "GET"
        await provider.balance(http)
        assert cap.requests[-1]["path"] == f"/2010-04-01/Accounts/{SID}/Balance.json"


async def test_a_content_template_send_is_not_looked_for_by_its_body(
    capture: tuple[Capture, str],
) -> None:
    """Twilio writes a Content send's body from the template: a look-up by
    body could only say it never arrived, so it answers "cannot tell"."""
    cap, base_url = capture
    provider = TwilioProvider(
        TwilioConfig(account_sid=SID, base_url=base_url), TwilioSecrets(auth_token=TOKEN)
    )
    message = OutboundMessage(
        1, "+14155552671", "Hi Ana", "long_code", "+15005550006", template_id=CONTENT_SID
    )
    async with aiohttp.ClientSession() as session:
        found = await provider.find_sent(HttpClient(session), message, datetime.now(UTC))
    assert found is None and cap.requests == []
