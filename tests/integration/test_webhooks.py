"""Status callbacks and inbound messages: signed, stored, applied forward-only."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import yarl
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, eventually, post_signed_form
from textcast.callbacks.twilio_verify import AUTH_CACHE_SECONDS
from textcast.db.models import InboundMessage, Suppression, WebhookReceipt

# The seed documents' sample payloads, field for field.
SEED_DELIVERED = [
    ("RawDlrDoneDate", "2308102223"),
    ("SmsSid", "SMXXXXXXXXXXXXX"),
    ("SmsStatus", "delivered"),
    ("MessageStatus", "delivered"),
    ("To", "00000000000"),
    ("MessagingServiceSid", "MGXXXXXXXXXXXX"),
    ("MessageSid", "SMXXXXXXXXXXXX"),
    ("AccountSid", "AC0000000000"),
    ("From", "0000000000"),
    ("ApiVersion", "2010-04-0"),
]
SEED_FAILED = [
    ("ErrorCode", "30005"),
    ("SmsSid", "SMXXXXXXXXXXXXXXXXXXXXXXX"),
    ("SmsStatus", "failed"),
    ("MessageStatus", "failed"),
    ("To", "000000000000"),
    ("MessagingServiceSid", "MGXXXXXXXXXXXX"),
    ("MessageSid", "SMXXXXXXXXXXXXXXX"),
    ("AccountSid", "AAAAAAA000000"),
    ("From", "0000000000"),
    ("ApiVersion", "2010-04-0"),
]
SEED_REPLY = [
    ("ToCountry", "US"),
    ("ToState", "MA"),
    ("SmsSid", "SMXXXXXXXXXXXXX"),
    ("FromState", "CA"),
    ("FromCity", "SAN FRANCISCO"),
    ("FromCountry", "US"),
    ("SmsStatus", "received"),
    ("Body", "Test Reply Message 2"),
    ("To", "00000000000"),
    ("MessagingServiceSid", "MGXXXXXXXXXXXX"),
    ("MessageSid", "SMXXXXXXXXXXXX"),
    ("AccountSid", "AC000000000000"),
    ("From", "00000000000"),
    ("ApiVersion", "2010-04-0"),
]


def with_sid(payload: list[tuple[str, str]], sid: str) -> list[tuple[str, str]]:
    return [(k, sid if k in ("MessageSid", "SmsSid") else v) for k, v in payload]


async def add_provider(
    server: RunningServer, sim: Simulator, http: aiohttp.ClientSession
) -> dict[str, Any]:
    status, provider = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, twilio_provider_payload(sim)
    )
    assert status == 201, provider
    return dict(provider)


async def accepted_message(
    server: RunningServer, sim: Simulator, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """A message the simulator accepted but will never call back about."""
    await sim.control("PATCH", "config", {"callbacks": False})
    provider = await add_provider(server, sim, http)
    status, queued = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": "+14155552671", "body": "hi"},
    )
    assert status == 202

    async def accepted() -> dict[str, Any] | None:
        _, body = await api(
            http, "GET", f"{server.url}/api/v1/messages/{queued['id']}", server.headers
        )
        return body if body["status"] == "accepted" else None

    message: dict[str, Any] = await eventually(accepted)
    message["provider"] = provider
    return message


async def receipts(server: RunningServer) -> list[WebhookReceipt]:
    async with server.ctx.sessions() as session:
        return list(await session.scalars(select(WebhookReceipt).order_by(WebhookReceipt.id)))


async def test_seed_delivered_payload_moves_the_message_to_delivered(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    url = message["provider"]["status_callback_url"]
    payload = with_sid(SEED_DELIVERED, message["provider_message_id"])
    signature = RequestValidator(simulator.auth_token).compute_signature(url, dict(payload))
    async with http.post(url, data=payload, headers={"X-Twilio-Signature": signature}) as response:
        assert response.status == 200
    _, shown = await api(
        http, "GET", f"{server.url}/api/v1/messages/{message['id']}", server.headers
    )
    assert shown["status"] == "delivered"
    assert shown["history"][-1]["source"] == "callback"
    # The carrier's time is kept as reported (RawDlrDoneDate 2308102223) ...
    assert shown["carrier_done_at"].startswith("2023-08-10T22:23")
    # ... and a delivery is never shown before its send.
    assert shown["delivered_at"] == shown["sent_at"]
    stored = await receipts(server)
    assert stored[-1].payload["RawDlrDoneDate"] == "2308102223"
    assert stored[-1].outcome == "applied"


async def test_seed_failed_payload_stores_the_error_code(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    url = message["provider"]["status_callback_url"]
    status = await post_signed_form(
        http, url, simulator.auth_token, with_sid(SEED_FAILED, message["provider_message_id"])
    )
    assert status == 200
    _, shown = await api(
        http, "GET", f"{server.url}/api/v1/messages/{message['id']}", server.headers
    )
    assert (shown["status"], shown["error_code"]) == ("failed", "30005")
    assert shown["error_description"]


async def test_late_and_repeated_callbacks_never_move_a_message_backwards(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    url = message["provider"]["status_callback_url"]
    sid = message["provider_message_id"]
    delivered = with_sid(SEED_DELIVERED, sid)
    sent = [(k, "sent" if k in ("MessageStatus", "SmsStatus") else v) for k, v in delivered]
    for payload in (delivered, sent, delivered):
        assert await post_signed_form(http, url, simulator.auth_token, payload) == 200
    _, shown = await api(
        http, "GET", f"{server.url}/api/v1/messages/{message['id']}", server.headers
    )
    assert shown["status"] == "delivered"
    assert [e["status"] for e in shown["history"]].count("delivered") == 1
    assert [r.outcome for r in await receipts(server)][-3:] == ["applied", "stale", "duplicate"]


async def test_forged_or_missing_signature_is_refused_and_nothing_applied(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    url = message["provider"]["status_callback_url"]
    payload = with_sid(SEED_DELIVERED, message["provider_message_id"])
    assert await post_signed_form(http, url, simulator.auth_token, payload, tamper=True) == 403
    assert await post_signed_form(http, url, "not-the-token", payload) == 403
    async with http.post(url, data=payload) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "webhook_rejected"
    changed = [(k, "+19999999999" if k == "To" else v) for k, v in payload]
    signature_for_original = RequestValidator(simulator.auth_token).compute_signature(
        url, dict(payload)
    )
    async with http.post(
        url, data=changed, headers={"X-Twilio-Signature": signature_for_original}
    ) as response:
        assert response.status == 403
    _, shown = await api(
        http, "GET", f"{server.url}/api/v1/messages/{message['id']}", server.headers
    )
    assert shown["status"] == "accepted"
    assert await receipts(server) == []


async def test_callback_for_an_unknown_message_is_stored_and_answered_200(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    assert (
        await post_signed_form(
            http, provider["status_callback_url"], simulator.auth_token, SEED_DELIVERED
        )
        == 200
    )
    stored = await receipts(server)
    assert [(r.outcome, r.provider_message_id) for r in stored] == [("unmatched", "SMXXXXXXXXXXXX")]


async def test_signature_is_checked_against_the_public_url_behind_a_proxy(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    path = f"/webhooks/twilio/{message['provider']['id']}/status"
    public = f"https://sms.example.com{path}"
    payload = with_sid(SEED_DELIVERED, message["provider_message_id"])
    signature = RequestValidator(simulator.auth_token).compute_signature(public, dict(payload))
    headers = {
        "X-Twilio-Signature": signature,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "sms.example.com",
    }
    async with http.post(f"{server.url}{path}", data=payload, headers=headers) as response:
        assert response.status == 200
    _, shown = await api(
        http, "GET", f"{server.url}/api/v1/messages/{message['id']}", server.headers
    )
    assert shown["status"] == "delivered"


async def test_oversized_callback_gets_413(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    big = [("Body", "x" * 70_000)]
    assert (
        await post_signed_form(http, provider["status_callback_url"], simulator.auth_token, big)
        == 413
    )


async def test_malformed_status_callbacks_get_a_clear_json_error_and_store_nothing(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    url = provider["status_callback_url"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        (url, b"MessageSid=SM1&Body=%FF%FE", form, 400),  # not UTF-8 once unquoted
        (url, b"MessageSid=SM1&Body=\xff", form, 400),  # raw bytes that are not UTF-8
        (url.replace(f"/{provider['id']}/", "/987654/"), b"MessageSid=SM1", form, 404),
        (url.replace(f"/{provider['id']}/", "/not-a-number/"), b"MessageSid=SM1", form, 404),
        (url, b"MessageSid=SM1&MessageStatus=delivered", form, 403),  # unsigned
    ]
    for target, body, headers, expected in cases:
        async with http.post(target, data=body, headers=headers) as response:
            payload = await response.json(content_type=None)
            assert response.status == expected, (target, body, response.status, payload)
            assert payload["error"] and payload["message"], payload
    assert await receipts(server) == []


async def test_the_status_callback_is_in_the_api_documentation(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/openapi.json") as response:
        schema = await response.json()
    operation = schema["paths"]["/webhooks/twilio/{provider_id}/status"]["post"]
    assert set(operation["responses"]) >= {"200", "403", "413"}


async def test_seed_reply_is_stored_and_answered_with_empty_twiml(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    url = provider["inbound_url"]
    signature = RequestValidator(simulator.auth_token).compute_signature(url, dict(SEED_REPLY))
    async with http.post(
        url, data=SEED_REPLY, headers={"X-Twilio-Signature": signature}
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/xml")
        assert "<Response>" in await response.text()
    async with server.ctx.sessions() as session:
        inbound = await session.scalar(select(InboundMessage))
    assert inbound is not None and inbound.body == "Test Reply Message 2"


async def test_stop_reply_from_the_simulator_suppresses_the_number(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    for method in ("POST", "GET"):
        result = await simulator.control(
            "POST",
            "inbound",
            {
                "url": provider["inbound_url"],
                "method": method,
                "account_sid": simulator.account_sid,
                "from": "+14155552671",
                "to": "+15005550006",
                "body": " Stop ",
            },
        )
        assert result["status"] == 200, result
    async with server.ctx.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Suppression))
    assert count == 1


async def test_signature_covers_the_url_exactly_as_requested(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    # Percent-escapes in the path and query are signed as sent, not as decoded.
    provider_id = message["provider"]["id"]
    url = (
        message["provider"]["status_callback_url"].replace(
            f"/twilio/{provider_id}/",
            "/twilio/" + "".join(f"%{ord(c):02X}" for c in str(provider_id)) + "/",
        )
        + "?tenant=acme%2Fus&note=a%20b"
    )
    payload = with_sid(SEED_DELIVERED, message["provider_message_id"])
    signature = RequestValidator(simulator.auth_token).compute_signature(url, dict(payload))
    async with http.post(
        yarl.URL(url, encoded=True), data=payload, headers={"X-Twilio-Signature": signature}
    ) as response:
        assert response.status == 200


async def test_callback_relayed_from_a_custom_url_is_checked_against_that_url(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    sender_id = message["sender_id"]
    relay = "https://relay.customer.example/twilio-callbacks"
    status, _ = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/senders/{sender_id}",
        server.headers,
        {"custom_callback_url": relay},
    )
    assert status == 200
    await asyncio.sleep(AUTH_CACHE_SECONDS + 0.1)  # the webhook's provider cache refreshes
    meta = simulator.state.messages[message["provider_message_id"]].status_callback.split("meta=")[
        1
    ]
    # Twilio signed the customer's URL; the relay forwards every field and the signature unchanged.
    twilio_signed = f"{relay}?meta={meta}"
    payload = with_sid(SEED_DELIVERED, message["provider_message_id"])
    signature = RequestValidator(simulator.auth_token).compute_signature(
        twilio_signed, dict(payload)
    )
    ours = f"{message['provider']['status_callback_url']}?meta={meta}"
    async with http.post(ours, data=payload, headers={"X-Twilio-Signature": signature}) as response:
        assert response.status == 200
    _, shown = await api(
        http, "GET", f"{server.url}/api/v1/messages/{message['id']}", server.headers
    )
    assert shown["status"] == "delivered"
    # The same relay with a forged attribution is refused.
    forged = ours.replace(f"meta={meta}", "meta=" + meta.replace(meta.split(".")[0], "999999", 1))
    async with http.post(
        forged, data=payload, headers={"X-Twilio-Signature": signature}
    ) as response:
        assert response.status == 403


async def test_a_retried_request_with_the_same_idempotency_token_counts_once(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    url = message["provider"]["status_callback_url"]
    delivered = with_sid(SEED_DELIVERED, message["provider_message_id"])
    sent = [(k, "sent" if k in ("MessageStatus", "SmsStatus") else v) for k, v in delivered]

    async def post(payload: list[tuple[str, str]], token: str) -> None:
        signature = RequestValidator(simulator.auth_token).compute_signature(url, dict(payload))
        headers = {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": token}
        async with http.post(url, data=payload, headers=headers) as response:
            assert response.status == 200

    await post(sent, "token-a")
    await post(delivered, "token-b")
    await post(sent, "token-a")  # Twilio retrying the first request, late
    assert [r.outcome for r in await receipts(server)] == ["applied", "applied", "duplicate"]


async def test_the_api_schema_says_delivered_at_never_precedes_sent_at(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/openapi.json") as response:
        spec = await response.json()
    fields = spec["components"]["schemas"]["MessageDetailOut"]["properties"]
    assert "never earlier than sent_at" in fields["delivered_at"]["description"]
    assert "RawDlrDoneDate" in fields["carrier_done_at"]["description"]
