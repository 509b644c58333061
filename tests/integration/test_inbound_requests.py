"""Inbound replies by POST and by GET, as Twilio signs them (the ``twilio``
package's RequestValidator is the oracle), and the requests a hostile or
broken sender makes: each answered with a clear status, none stored."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from yarl import URL

from tests.conftest import RunningServer, Simulator
from tests.integration.test_webhooks import add_provider
from textcast.db.models import InboundMessage

REPLY = [
    ("MessageSid", "SM" + "d" * 32),
    ("From", "+14155552671"),
    ("To", "+15005550006"),
    ("Body", "Thanks! Où est ma commande? 📦"),
    ("NumMedia", "0"),
]


async def stored_replies(server: RunningServer) -> int:
    async with server.ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


async def test_a_get_reply_signed_over_its_full_url_is_stored(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    url = f"{provider['senders'][0]['inbound_url']}?{urlencode(REPLY)}"
    signature = RequestValidator(simulator.auth_token).compute_signature(url, {})
    # encoded=True: send the URL byte for byte as signed (yarl would re-quote it).
    async with http.get(
        URL(url, encoded=True), headers={"X-Twilio-Signature": signature}
    ) as response:
        assert response.status == 200
        assert (await response.text()).startswith("<?xml")
    async with server.ctx.sessions() as session:
        reply = await session.scalar(select(InboundMessage))
    assert reply is not None
    assert (reply.body, reply.sender_id) == (dict(REPLY)["Body"], provider["senders"][0]["id"])


def signed(token: str, url: str, params: list[tuple[str, str]]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, dict(params))}


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_hostile_inbound_requests_get_a_clear_error_and_store_nothing(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession, method: str
) -> None:
    provider = await add_provider(server, simulator, http)
    base = provider["inbound_url"]
    token = simulator.auth_token
    long_from = [(k, "+1" + "5" * 40 if k == "From" else v) for k, v in REPLY]
    long_sid = [(k, "SM" + "c" * 120 if k == "MessageSid" else v) for k, v in REPLY]
    injection = [(k, "'; DROP TABLE messages; --" if k == "Body" else v) for k, v in REPLY]
    cases: list[tuple[str, list[tuple[str, str]], dict[str, str], int]] = [
        ("unsigned", REPLY, {}, 403),
        ("signed for other fields", REPLY, signed(token, base, long_from), 403),
        ("From longer than a number can be", long_from, {}, 400),
        ("MessageSid longer than a SID can be", long_sid, {}, 400),
    ]
    for name, params, headers, expected in cases:
        url, body = base, urlencode(params).encode()
        if method == "GET":
            url, body = f"{base}?{body.decode()}", b""
        if not headers:
            headers = signed(token, url, params if method == "POST" else [])
            if expected == 403:
                headers = {}
        form = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
        target = URL(url, encoded=True)
        async with http.request(method, target, data=body, headers={**form, **headers}) as response:
            payload: Any = await response.json(content_type=None)
            assert response.status == expected, (name, response.status, payload)
            assert payload["error"] == "webhook_rejected" and payload["message"], payload
    assert await stored_replies(server) == 0
    # Text that looks like SQL is only text: stored as sent, nothing else happens.
    url, body = base, urlencode(injection).encode()
    if method == "GET":
        url, body = f"{base}?{body.decode()}", b""
    headers = signed(token, url, injection if method == "POST" else [])
    form = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
    target = URL(url, encoded=True)
    async with http.request(method, target, data=body, headers={**form, **headers}) as response:
        assert response.status == 200
    assert await stored_replies(server) == 1


async def test_inbound_bodies_that_are_too_big_or_not_utf8_are_refused(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    url = provider["inbound_url"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for body, expected in [(b"Body=" + b"x" * 70_000, 413), (b"Body=%FF%FE", 400)]:
        async with http.post(url, data=body, headers=form) as response:
            payload = await response.json(content_type=None)
            assert response.status == expected, (response.status, payload)
    async with http.get(URL(f"{url}?Body=%FF%FE", encoded=True)) as response:
        assert response.status == 400
    assert await stored_replies(server) == 0
