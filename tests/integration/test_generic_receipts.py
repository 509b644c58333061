"""Delivery receipts from generic providers, per preset, over real HTTP: the
per-message receipt URL each documented API is given, the receipt each sends
back, Plivo's V3 signature, and hostile requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from sqlalchemy import select

from tests.conftest import RunningServer
from tests.integration.helpers import FakeApi, api, eventually
from textcast.db.models import Message, WebhookReceipt

TO = "+919876543210"
PLIVO_TOKEN = "plivo-auth-token"

# (method, url, headers, body) for a receipt about provider message ``pmid``
Build = Callable[[str, str], tuple[str, str, dict[str, str], bytes]]


def form(url: str, fields: dict[str, str]) -> tuple[str, str, dict[str, str], bytes]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return "POST", url, headers, urlencode(fields).encode()


def plivo_receipt(pmid: str, url: str) -> tuple[str, str, dict[str, str], bytes]:
    fields = {
        "From": "TXTCST",
        "To": TO.lstrip("+"),
        "MessageUUID": pmid,
        "Status": "undelivered",
        "ErrorCode": "30",
        "TotalRate": "0.0035",
        "Units": "1",
    }
    method, url, headers, body = form(url, fields)
    nonce = "12345678901234567890"
    signed = construct_post_url(url, dict(fields))
    signature = get_signature_v3(PLIVO_TOKEN.encode(), signed, nonce.encode())
    headers["X-Plivo-Signature-V3"] = signature.decode()
    headers["X-Plivo-Signature-V3-Nonce"] = nonce
    return method, url, headers, body


@dataclass(frozen=True)
class Case:
    preset: str
    credentials: dict[str, str]
    answer: Any  # the send API's answer
    callback_param: str | None  # where the send request carries the receipt URL
    receipt: Build
    per_message_url: bool  # the receipt comes back to the URL with meta
    status: str
    error_code: str | None


def plain(url: str) -> str:
    return url.split("?", 1)[0]


CASES = [
    Case(
        "plivo",
        {"auth_id": "MA1", "auth_token": PLIVO_TOKEN},
        {"message_uuid": ["db3ce55a-7f1d-11e1-8ea7-1231380bc196"]},
        "url",
        plivo_receipt,
        True,
        "undelivered",
        "30",
    ),
    Case(
        "exotel",
        {"account_sid": "acme1", "api_key": "k", "api_token": "t"},
        {"SMSMessage": {"Sid": "b6f3c9a1d2e3", "Status": "queued"}},
        "StatusCallback",
        lambda pmid, url: form(
            url,
            {
                "SmsSid": pmid,
                "To": TO,
                "Status": "sent",
                "DetailedStatus": "DELIVERED_TO_HANDSET",
                "DetailedStatusCode": "20005",
                "DateSent": "2026-11-24 10:00:00",
            },
        ),
        True,
        "delivered",
        None,
    ),
    Case(
        "textlocal",
        {"apikey": "k"},
        {"status": "success", "messages": [{"id": "1151346216", "recipient": 919876543210}]},
        "receipt_url",
        lambda _pmid, url: form(
            url, {"number": "919876543210", "status": "D", "datetime": "2026-11-24 10:00:00"}
        ),
        True,
        "delivered",
        None,
    ),
    Case(
        "msg91",
        {"authkey": "k", "template_id": "t"},
        {"type": "success", "message": "3763646c3058373530393832"},
        None,
        lambda pmid, url: form(
            plain(url),
            {
                "data": json.dumps(
                    [
                        {
                            "senderId": "TXTCST",
                            "requestId": pmid,
                            "report": [
                                {
                                    "date": "2026-11-24 10:00:00",
                                    "number": "919876543210",
                                    "status": "2",
                                    "desc": "FAILED",
                                }
                            ],
                        }
                    ]
                )
            },
        ),
        False,
        "undelivered",
        "2",
    ),
    Case(
        "bulksms",
        {"username": "u", "password": "p"},
        [{"id": "1234567", "type": "SENT", "to": TO, "status": {"type": "ACCEPTED"}}],
        None,
        lambda pmid, url: (
            "POST",
            plain(url),
            {"Content-Type": "application/json"},
            json.dumps(
                [
                    {
                        "id": pmid,
                        "type": "SENT",
                        "to": TO,
                        "status": {"id": "DELIVERED.null", "type": "DELIVERED", "subtype": None},
                    }
                ]
            ).encode(),
        ),
        False,
        "delivered",
        None,
    ),
]


async def sent_message(
    server: RunningServer, fake: FakeApi, http: aiohttp.ClientSession, case: Case
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A generic provider on ``fake`` and one message it accepted."""
    fake.answer = (200, case.answer, {})
    status, provider = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        {
            "name": f"{case.preset}-receipts",
            "type": "generic",
            "preset": case.preset,
            "base_url_override": fake.url,
            "credentials": case.credentials,
            "senders": [{"name": "brand", "type": "alphanumeric", "sender_id": "TXTCST"}],
        },
    )
    assert status == 201, provider
    assert provider["receipt_url"].startswith(f"{server.url}/webhooks/generic/{provider['id']}/")
    status, queued = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": TO, "body": "hello", "sender": "brand"},
    )
    assert status == 202, queued

    async def accepted() -> dict[str, Any] | None:
        _, body = await api(
            http, "GET", f"{server.url}/api/v1/messages/{queued['id']}", server.headers
        )
        return body if body["status"] == "accepted" else None

    return provider, await eventually(accepted)


def callback_url(fake: FakeApi, case: Case, provider: dict[str, Any]) -> str:
    """The receipt URL the provider was given in the send request (with meta)."""
    request = fake.last
    if case.callback_param is None:
        return str(provider["receipt_url"])
    raw = request["body"].decode()
    fields = json.loads(raw) if raw.startswith("{") else dict(parse_qsl(raw))
    url = str(fields[case.callback_param])
    assert url.startswith(provider["receipt_url"] + "?meta=v2."), url
    return url


async def post(
    http: aiohttp.ClientSession, request: tuple[str, str, dict[str, str], bytes]
) -> tuple[int, str]:
    method, url, headers, body = request
    async with http.request(method, url, headers=headers, data=body) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.preset)
async def test_each_preset_reads_its_providers_receipt(
    server: RunningServer, fake_api: FakeApi, http: aiohttp.ClientSession, case: Case
) -> None:
    provider, message = await sent_message(server, fake_api, http, case)
    url = callback_url(fake_api, case, provider)
    status, text = await post(http, case.receipt(message["provider_message_id"], url))
    assert status == 200, text
    async with server.ctx.sessions() as session:
        row = await session.get(Message, message["id"])
        receipt = await session.scalar(
            select(WebhookReceipt).where(WebhookReceipt.kind == "receipt")
        )
    assert row is not None and (row.status, row.error_code) == (case.status, case.error_code)
    assert receipt is not None and receipt.outcome == "applied"
    assert receipt.message_id == message["id"]


async def test_plivo_receipts_need_a_valid_v3_signature(
    server: RunningServer, fake_api: FakeApi, http: aiohttp.ClientSession
) -> None:
    case = CASES[0]
    provider, message = await sent_message(server, fake_api, http, case)
    url = callback_url(fake_api, case, provider)
    method, _, headers, body = plivo_receipt(message["provider_message_id"], url)
    forged = {**headers, "X-Plivo-Signature-V3": "AAAA" + headers["X-Plivo-Signature-V3"][4:]}
    assert (await post(http, (method, url, forged, body)))[0] == 403
    unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Plivo")}
    assert (await post(http, (method, url, unsigned, body)))[0] == 403
    async with server.ctx.sessions() as session:
        row = await session.get(Message, message["id"])
    assert row is not None and row.status == "accepted"

    parts = urlsplit(url)
    wrong_token = url.replace(parts.path, parts.path[:-4] + "beef")
    assert (await post(http, (method, wrong_token, headers, body)))[0] == 404


async def test_hostile_receipts_get_clear_errors(
    server: RunningServer, fake_api: FakeApi, http: aiohttp.ClientSession
) -> None:
    case = CASES[4]  # BulkSMS: JSON arrays, no signature
    provider, _ = await sent_message(server, fake_api, http, case)
    url = provider["receipt_url"]
    json_headers = {"Content-Type": "application/json"}
    status, text = await post(http, ("POST", url, json_headers, b"[{not json"))
    assert status == 400 and "JSON" in text
    status, _ = await post(http, ("POST", url, json_headers, b'{"id": 1}'))
    assert status == 400
    status, _ = await post(http, ("POST", url, json_headers, b"x" * 70_000))
    assert status == 413
    status, _ = await post(http, ("POST", url, json_headers, b"\xff\xfe"))
    assert status == 400
    unknown = json.dumps([{"id": "nope", "status": {"type": "DELIVERED"}}]).encode()
    assert (await post(http, ("POST", url, json_headers, unknown)))[0] == 200
    async with server.ctx.sessions() as session:
        outcomes = list(await session.scalars(select(WebhookReceipt.outcome)))
    assert outcomes == ["unmatched"]
