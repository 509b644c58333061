"""Providers and senders through the API: create with senders, validation,
defaults, updates, re-authentication, deletion."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api


async def create(
    http: aiohttp.ClientSession, server: RunningServer, payload: dict[str, Any]
) -> tuple[int, Any]:
    return await api(http, "POST", f"{server.url}/api/v1/providers", server.headers, payload)


@pytest.mark.parametrize(
    ("sender", "field"),
    [
        ({"name": "a", "type": "long_code", "sender_id": "12"}, "sender_id"),
        ({"name": "a", "type": "short_code", "sender_id": "12"}, "sender_id"),
        ({"name": "a", "type": "short_code", "sender_id": "123456789"}, "sender_id"),
        ({"name": "a", "type": "messaging_service", "sender_id": "MG123"}, "sender_id"),
        ({"name": "a", "type": "alphanumeric", "sender_id": "123456"}, "sender_id"),
        ({"name": "a", "type": "alphanumeric", "sender_id": "TooLongSenderID"}, "sender_id"),
        ({"name": "a", "type": "pager", "sender_id": "+14155552671"}, "senders.type"),
        ({"name": "a", "type": "long_code", "sender_id": "+14155552671", "mps": 0}, "senders.mps"),
        ({"name": "42", "type": "long_code", "sender_id": "+14155552671"}, "senders.name"),
    ],
)
async def test_sender_ids_are_validated_per_type(
    server: RunningServer,
    simulator: Simulator,
    http: aiohttp.ClientSession,
    sender: dict[str, Any],
    field: str,
) -> None:
    status, body = await create(http, server, twilio_provider_payload(simulator, senders=[sender]))
    assert status == 422, body
    assert body["field"] == field


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"account_sid": "AC123"}, "account_sid"),
        ({"auth_token": ""}, "auth_token"),
        ({"name": ""}, "name"),
        ({"name": "123"}, "name"),
        ({"type": "carrier-pigeon"}, "type"),
        ({"base_url": "ftp://example.com"}, "base_url"),
    ],
)
async def test_provider_fields_are_validated(
    server: RunningServer,
    simulator: Simulator,
    http: aiohttp.ClientSession,
    override: dict[str, Any],
    field: str,
) -> None:
    status, body = await create(http, server, twilio_provider_payload(simulator, **override))
    assert status == 422, body
    assert body["field"] == field


async def test_default_sender_is_the_first_and_exactly_one(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    senders = [
        {"name": "numbers", "type": "long_code", "sender_id": "+15005550006"},
        {"name": "service", "type": "messaging_service", "sender_id": "MG" + "1" * 32},
        {"name": "brand", "type": "alphanumeric", "sender_id": "Textcast"},
        {"name": "short", "type": "short_code", "sender_id": "12345"},
    ]
    status, provider = await create(
        http, server, twilio_provider_payload(simulator, senders=senders)
    )
    assert status == 201, provider
    defaults = [s["name"] for s in provider["senders"] if s["is_default"]]
    assert defaults == ["numbers"]
    mps = {s["name"]: s["mps"] for s in provider["senders"]}
    assert mps == {"numbers": 1, "service": 10, "brand": 10, "short": 100}

    status, sender = await api(
        http, "POST", f"{server.url}/api/v1/senders/brand/default", server.headers
    )
    assert status == 200 and sender["is_default"]
    _, shown = await api(
        http, "GET", f"{server.url}/api/v1/providers/{provider['id']}", server.headers
    )
    assert [s["name"] for s in shown["senders"] if s["is_default"]] == ["brand"]

    status, _ = await api(http, "DELETE", f"{server.url}/api/v1/senders/brand", server.headers)
    assert status == 200
    _, shown = await api(
        http, "GET", f"{server.url}/api/v1/providers/{provider['id']}", server.headers
    )
    assert [s["name"] for s in shown["senders"] if s["is_default"]] == ["numbers"]


async def test_custom_callback_url_and_restore_default(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    _, provider = await create(http, server, twilio_provider_payload(simulator))
    sender = provider["senders"][0]
    assert sender["status_callback_url"] == f"{server.url}/webhooks/twilio/{provider['id']}/status"
    assert sender["inbound_url"] == (
        f"{server.url}/webhooks/twilio/{provider['id']}/inbound/{sender['id']}"
    )
    status, changed = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/senders/{sender['id']}",
        server.headers,
        {"custom_callback_url": "https://relay.example.com/twilio"},
    )
    assert status == 200 and changed["status_callback_url"] == "https://relay.example.com/twilio"
    status, restored = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/senders/{sender['id']}",
        server.headers,
        {"restore_default_callback": True},
    )
    assert restored["status_callback_url"] == sender["status_callback_url"]


async def test_names_are_unique(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    assert (await create(http, server, twilio_provider_payload(simulator)))[0] == 201
    status, body = await create(http, server, twilio_provider_payload(simulator, senders=[]))
    assert status == 409 and "already exists" in body["message"]


async def test_reauthenticate_verifies_before_saving(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    _, provider = await create(http, server, twilio_provider_payload(simulator))
    url = f"{server.url}/api/v1/providers/{provider['id']}/credentials"
    status, body = await api(http, "PUT", url, server.headers, {"auth_token": "wrong-token-123"})
    assert status == 422 and body["field"] == "credentials"
    status, body = await api(http, "PUT", url, server.headers, {"auth_token": simulator.auth_token})
    assert status == 200, body
    assert body["credentials"]["auth_token"].endswith(simulator.auth_token[-4:])


async def test_delete_is_refused_while_messages_wait_then_soft_deletes(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    _, provider = await create(http, server, twilio_provider_payload(simulator))
    await simulator.control("PATCH", "config", {"rate_limit_ratio": 1.0})
    server.ctx.settings.retry_base_delay = 30
    status, _ = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": "+14155552671", "body": "waiting"},
    )
    assert status == 202
    status, body = await api(
        http, "DELETE", f"{server.url}/api/v1/providers/{provider['id']}", server.headers
    )
    assert status == 409 and "queued" in body["message"]


async def test_delete_frees_the_name(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    _, provider = await create(http, server, twilio_provider_payload(simulator))
    status, _ = await api(
        http, "DELETE", f"{server.url}/api/v1/providers/{provider['id']}", server.headers
    )
    assert status == 200
    status, _ = await api(
        http, "GET", f"{server.url}/api/v1/providers/{provider['id']}", server.headers
    )
    assert status == 404
    assert (await create(http, server, twilio_provider_payload(simulator)))[0] == 201


async def test_malformed_json_gets_a_json_error(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{server.url}/api/v1/providers",
        data=b"{not json",
        headers={**server.headers, "Content-Type": "application/json"},
    ) as response:
        assert response.status == 422
        body = await response.json()
    assert body["error"] == "validation_failed"
    status, body = await create(http, server, ["a", "list"])  # type: ignore[arg-type]
    assert status == 422 and body["field"] == "body"


async def test_segment_preview(server: RunningServer, http: aiohttp.ClientSession) -> None:
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/segments", server.headers, {"body": "a" * 161}
    )
    assert status == 200
    assert (body["encoding"], body["segments"]) == ("GSM-7", 2)
