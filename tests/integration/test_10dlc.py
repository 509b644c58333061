"""Seed 003's 10DLC note: a US long code can be marked registered for A2P
10DLC with its campaign ID; an unregistered one carries a warning in the API
and the CLI, and messages from it are sent but counted."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, cli
from tests.integration.test_send_flow import final, send

US = {"name": "us-number", "type": "long_code", "sender_id": "+14155550100", "mps": 500}
TEST_RANGE = {"name": "test-number", "type": "long_code", "sender_id": "+15005550006"}


async def stats(http: aiohttp.ClientSession, server: RunningServer, query: str = "") -> Any:
    status, body = await api(http, "GET", f"{server.url}/api/v1/stats?{query}", server.headers)
    assert status == 200, body
    return body


async def test_unregistered_us_long_codes_are_warned_about_sent_from_and_counted(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    status, provider = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator, senders=[US, TEST_RANGE]),
    )
    assert status == 201, provider
    us, test_range = provider["senders"]
    assert [w["code"] for w in us["warnings"]] == ["unregistered_10dlc"]
    assert (us["a2p_10dlc_registered"], test_range["a2p_10dlc_registered"]) == (False, None)
    assert test_range["warnings"] == []

    before = await send(http, server, to="+14155552671", body="unregistered", sender="us-number")
    await final(http, server, before["id"], {"delivered"})
    await send(http, server, to="+14155552672", body="not 10DLC", sender="test-number")
    assert (await stats(http, server))["unregistered_10dlc"] == 1

    status, registered = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/senders/us-number",
        server.headers,
        {"a2p_10dlc_campaign_id": "CX7QK2M"},
    )
    assert status == 200, registered
    assert registered["a2p_10dlc_registered"] and registered["warnings"] == []
    after = await send(http, server, to="+14155552673", body="registered", sender="us-number")
    await final(http, server, after["id"], {"delivered"})
    # Sends from before the registration stay counted; later ones are not.
    assert (await stats(http, server))["unregistered_10dlc"] == 1
    assert (await stats(http, server, "sender=test-number"))["unregistered_10dlc"] == 0

    status, body = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/senders/test-number",
        server.headers,
        {"a2p_10dlc_campaign_id": "CX7QK2M"},
    )
    assert status == 422 and body["field"] == "a2p_10dlc_campaign_id", body


async def test_the_cli_shows_the_warning_and_registers_the_sender(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    status, _ = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator, senders=[US]),
    )
    assert status == 201
    table = await cli(server.ctx, "senders", "list")
    assert table.exit_code == 0 and "unregistered_10dlc" in table.stdout, table.output
    assert "A2P 10DLC" in table.stdout  # the caption says what to do
    shown = await cli(server.ctx, "providers", "show", "twilio-sim")
    assert "unregistered_10dlc" in shown.stdout, shown.output

    bad = await cli(server.ctx, "senders", "update", "us-number", "--a2p-10dlc-campaign", "nope")
    assert bad.exit_code == 2 and "a2p_10dlc_campaign_id" in bad.stderr, bad.output
    done = await cli(
        server.ctx, "senders", "update", "us-number", "--a2p-10dlc-campaign", "CX7QK2M", "--json"
    )
    assert done.exit_code == 0, done.output
    view = json.loads(done.stdout)
    assert (view["a2p_10dlc_campaign_id"], view["warnings"]) == ("CX7QK2M", [])
    undone = await cli(
        server.ctx, "senders", "update", "us-number", "--a2p-10dlc-unregister", "--json"
    )
    assert json.loads(undone.stdout)["a2p_10dlc_registered"] is False
    numbers = await cli(server.ctx, "stats")
    assert "unregistered 10DLC" in numbers.stdout, numbers.output
