"""End to end over real HTTP: Textcast → simulator → signed callbacks → Textcast,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, eventually


async def add_twilio(
    http: aiohttp.ClientSession, server: RunningServer, sim: Simulator, **kw: Any
) -> dict[str, Any]:
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(sim, **kw),
    )
    assert status == 201, body
    return body


async def send(
    http: aiohttp.ClientSession, server: RunningServer, **payload: Any
) -> dict[str, Any]:
    status, body = await api(http, "POST", f"{server.url}/api/v1/messages", server.headers, payload)
    assert status == 202, body
    return body


async def final(
    http: aiohttp.ClientSession, server: RunningServer, message_id: int, wanted: set[str]
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        _, body = await api(
            http, "GET", f"{server.url}/api/v1/messages/{message_id}", server.headers
        )
        return body if body["status"] in wanted else None

    result: dict[str, Any] = await eventually(check)
    return result


async def test_message_travels_from_queued_to_delivered_with_history(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_twilio(http, server, simulator)
    assert provider["credentials"]["auth_token"].startswith("••••")
    assert simulator.auth_token not in str(provider)
    assert provider["senders"][0]["is_default"] is True

    queued = await send(http, server, to="+14155552671", body="Hello {world} 😀")
    assert queued["status"] == "queued"
    assert (queued["segments"], queued["encoding"]) == (1, "UCS-2")

    done = await final(http, server, queued["id"], {"delivered"})
    assert done["provider_message_id"].startswith("SM")
    statuses = [event["status"] for event in done["history"]]
    assert statuses[0] == "queued" and statuses[-1] == "delivered"
    assert "sent" in statuses
    received = simulator.state.messages[done["provider_message_id"]]
    assert received.body == "Hello {world} 😀"
    assert "meta=" in (received.status_callback or "")


async def test_permanent_error_fails_once_with_code_and_description(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_twilio(http, server, simulator)
    queued = await send(http, server, to="+15005550001", body="to an invalid number")
    done = await final(http, server, queued["id"], {"failed"})
    assert done["error_code"] == "21211"
    assert done["error_description"]
    assert done["attempts"] == 1


async def test_unsubscribed_recipient_is_suppressed_before_any_later_provider_call(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_twilio(http, server, simulator)
    first = await send(http, server, to="+15005550004", body="first")
    assert (await final(http, server, first["id"], {"failed"}))["error_code"] == "21610"
    posts_before = simulator.state.post_count
    second = await send(http, server, to="+15005550004", body="second")
    done = await final(http, server, second["id"], {"failed"})
    assert done["error_code"] == "21610"
    assert "suppression" in done["history"][-1]["detail"]
    assert simulator.state.post_count == posts_before


async def test_rate_limited_send_is_retried_and_then_delivered(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    server.ctx.settings.retry_base_delay = 0.05
    await add_twilio(http, server, simulator)
    await simulator.control("PATCH", "config", {"rate_limit_ratio": 1.0})
    queued = await send(http, server, to="+14155552671", body="patience")

    async def retried() -> bool:
        _, body = await api(
            http, "GET", f"{server.url}/api/v1/messages/{queued['id']}", server.headers
        )
        return bool(body["attempts"] >= 2 and body["error_code"] == "20429")

    await eventually(retried)
    await simulator.control("PATCH", "config", {"rate_limit_ratio": 0.0})
    done = await final(http, server, queued["id"], {"delivered"})
    assert done["attempts"] >= 2


async def test_failed_delivery_callback_stores_error_code(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_twilio(http, server, simulator)
    await simulator.control("PATCH", "config", {"failure_ratio": 1.0, "failure_codes": [30005]})
    queued = await send(http, server, to="+14155552671", body="to a dead handset")
    done = await final(http, server, queued["id"], {"failed", "undelivered"})
    assert done["error_code"] == "30005"
    assert "nknown" in done["error_description"]


async def test_send_test_sms_reports_the_outcome(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_twilio(http, server, simulator)
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/test-messages",
        server.headers,
        {"country_code": "1", "number": "4155552671", "message": "This is a test message."},
    )
    assert status == 201, body
    assert body["final"] is True and body["status"] == "delivered"
    assert body["to"] == "+14155552671"
    assert body["provider_message_id"].startswith("SM")
    assert (body["segments"], body["encoding"]) == (1, "GSM-7")


async def test_trial_account_refusal_explains_what_to_do(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.state.add_account(simulator.account_sid, simulator.auth_token, trial=True)
    await add_twilio(http, server, simulator)
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/test-messages",
        server.headers,
        {"number": "+14155552671", "message": "trial"},
    )
    assert status == 201
    assert body["error_code"] == "21608"
    assert "verif" in body["hint"].lower()


async def test_mms_goes_out_with_every_media_url(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    payload = twilio_provider_payload(simulator)
    payload["senders"][0]["mms_capable"] = True
    status, _ = await api(http, "POST", f"{server.url}/api/v1/providers", server.headers, payload)
    assert status == 201
    media = ["https://cdn.example.com/a.png", "https://cdn.example.com/b.png"]
    queued = await send(http, server, to="+14155552671", body="pics", media_urls=media)
    done = await final(http, server, queued["id"], {"delivered"})
    assert done["provider_message_id"].startswith("MM")
    assert simulator.state.messages[done["provider_message_id"]].media_urls == media


async def test_balance_is_shown_with_currency(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_twilio(http, server, simulator)
    status, body = await api(
        http, "GET", f"{server.url}/api/v1/providers/{provider['id']}/balance", server.headers
    )
    assert status == 200
    assert body == {"balance": "20.00", "currency": "USD"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to": "not a number", "body": "x"}, "to"),
        ({"to": "+14155552671", "body": "   "}, "body"),
        ({"to": "+14155552671", "body": "x", "sender": "nope"}, "sender"),
        ({"to": "+14155552671", "body": "x" * 1601}, "body"),
        ({"to": "+14155552671", "body": "ж" * 800}, "body"),
        (
            {"to": "+14155552671", "body": "x", "media_urls": ["https://a.example/x.png"]},
            "media_urls",
        ),
        ({"to": "+14155552671", "body": "x", "media_urls": ["not-a-url"]}, "media_urls.0"),
        ({"to": "+14155552671", "body": "x", "unexpected": 1}, "unexpected"),
        ({"body": "x"}, "to"),
    ],
)
async def test_bad_message_is_refused_with_422_naming_the_field(
    server: RunningServer,
    simulator: Simulator,
    http: aiohttp.ClientSession,
    payload: dict[str, Any],
    field: str,
) -> None:
    await add_twilio(http, server, simulator)
    status, body = await api(http, "POST", f"{server.url}/api/v1/messages", server.headers, payload)
    assert status == 422, body
    assert body["field"] == field
    assert body["message"]


async def test_api_requires_a_valid_bearer_key(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        status, body = await api(http, "GET", f"{server.url}/api/v1/providers", headers)
        assert status == 401
        assert body["error"] == "http_error"
    status, _ = await api(http, "GET", f"{server.url}/healthz", {})
    assert status == 200


async def test_metrics_show_messages_by_status_and_sends(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_twilio(http, server, simulator)
    queued = await send(http, server, to="+14155552671", body="count me")
    await final(http, server, queued["id"], {"delivered"})
    async with http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    assert 'textcast_messages{status="delivered"} 1' in text
    assert 'textcast_sends_total{provider="twilio",result="accepted"}' in text
    assert "textcast_callbacks_total" in text


async def test_idempotency_key_replays_the_same_message_and_refuses_a_different_body(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_twilio(http, server, simulator)
    headers = {**server.headers, "Idempotency-Key": "order-42"}
    url = f"{server.url}/api/v1/messages"
    first = await api(http, "POST", url, headers, {"to": "+14155552671", "body": "shipped"})
    again = await api(http, "POST", url, headers, {"to": "+14155552671", "body": "shipped"})
    other = await api(http, "POST", url, headers, {"to": "+14155552671", "body": "different"})
    assert first[0] == again[0] == 202 and first[1]["id"] == again[1]["id"]
    assert other[0] == 409
    await final(http, server, first[1]["id"], {"delivered"})
    assert simulator.state.post_count == 1


async def test_batch_keeps_good_rows_and_reports_bad_ones_by_index(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_twilio(http, server, simulator)
    rows: list[Any] = [{"to": f"+1415555{i:04d}", "body": f"hello {i}"} for i in range(20)]
    rows[3] = {"to": "nonsense", "body": "x"}
    rows[7] = {"to": "+14155550100", "body": ""}
    rows[11] = "not an object"
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/messages/batch", server.headers, {"messages": rows}
    )
    assert status == 202, body
    assert (body["accepted"], body["rejected"]) == (17, 3)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (3, "to"),
        (7, "body"),
        (11, "body"),
    ]
    ids = [m["id"] for m in body["messages"]]
    for entry in body["messages"]:  # every returned id is the row at that index
        _, shown = await api(
            http, "GET", f"{server.url}/api/v1/messages/{entry['id']}", server.headers
        )
        assert shown["body"] == f"hello {entry['index']}"
    for message_id in ids:
        await final(http, server, message_id, {"delivered"})


async def test_batch_over_the_limit_is_refused(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    rows = [{"to": "+14155552671", "body": "x"}] * 10_001
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/messages/batch", server.headers, {"messages": rows}
    )
    assert status == 422 and body["field"] == "messages"


async def test_unsubscribe_text_is_appended_and_counted_in_segments(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    payload = twilio_provider_payload(simulator)
    payload["senders"][0]["unsubscribe_text"] = "Reply STOP to opt out"
    payload["senders"].append({"name": "plain", "type": "short_code", "sender_id": "12345"})
    status, _ = await api(http, "POST", f"{server.url}/api/v1/providers", server.headers, payload)
    assert status == 201
    body = "x" * 150  # 150 + newline + 21 characters: two segments once the text is added
    queued = await send(http, server, to="+14155552671", body=body, append_unsubscribe_text=True)
    assert queued["body"] == body + "\nReply STOP to opt out"
    assert queued["segments"] == 2
    done = await final(http, server, queued["id"], {"delivered"})
    assert simulator.state.messages[done["provider_message_id"]].body.endswith(
        "Reply STOP to opt out"
    )
    status, refused = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": "+14155552671", "body": "x", "sender": "plain", "append_unsubscribe_text": True},
    )
    assert status == 422 and refused["field"] == "append_unsubscribe_text"
