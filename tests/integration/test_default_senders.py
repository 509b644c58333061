"""One default sender per provider, and one for the installation (the default
provider's): messages that name no sender go from it (seed 002: "the first
sender ... will be marked as the default sender")."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, cli


def long_code(name: str, number: str) -> dict[str, str]:
    return {"name": name, "type": "long_code", "sender_id": number}


async def add(
    http: aiohttp.ClientSession, server: RunningServer, sim: Simulator, name: str, *senders: Any
) -> dict[str, Any]:
    payload = twilio_provider_payload(sim, name=name, senders=list(senders))
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
    )
    assert status == 201, body
    return dict(body)


async def defaults(http: aiohttp.ClientSession, server: RunningServer) -> dict[str, Any]:
    """Each provider's default sender, and the installation's default sender."""
    _, providers = await api(http, "GET", f"{server.url}/api/v1/providers", server.headers)
    senders = [s for p in providers for s in p["senders"]]
    return {
        "providers": {p["name"]: p["default_sender"] for p in providers},
        "flagged": sorted(s["name"] for s in senders if s["is_default"]),
        "installation": [s["name"] for s in senders if s["is_installation_default"]],
        "default_provider": [p["name"] for p in providers if p["is_default"]],
    }


async def sender_of_a_message_naming_none(
    http: aiohttp.ClientSession, server: RunningServer
) -> int:
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": "+14155552671", "body": "which sender?"},
    )
    assert status == 202, body
    return int(body["sender_id"])


async def test_each_provider_has_its_default_and_the_first_provider_the_installations(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    first = await add(
        http,
        server,
        simulator,
        "first",
        long_code("a1", "+15005550006"),
        long_code("a2", "+14155550101"),
    )
    second = await add(
        http,
        server,
        simulator,
        "second",
        long_code("b1", "+14155550102"),
        long_code("b2", "+14155550103"),
    )
    assert second["default_sender"] == "b1" and not second["is_default"]
    assert await defaults(http, server) == {
        "providers": {"first": "a1", "second": "b1"},
        "flagged": ["a1", "b1"],
        "installation": ["a1"],
        "default_provider": ["first"],
    }
    a1 = first["senders"][0]["id"]
    assert await sender_of_a_message_naming_none(http, server) == a1

    # A sender's default: its provider's only.
    status, b2 = await api(http, "POST", f"{server.url}/api/v1/senders/b2/default", server.headers)
    assert status == 200 and b2["is_default"] and not b2["is_installation_default"]
    assert (await defaults(http, server))["installation"] == ["a1"]

    # ... and with installation=true, the installation's too.
    status, b2 = await api(
        http, "POST", f"{server.url}/api/v1/senders/b2/default?installation=true", server.headers
    )
    assert status == 200 and b2["is_installation_default"]
    assert await defaults(http, server) == {
        "providers": {"first": "a1", "second": "b2"},
        "flagged": ["a1", "b2"],
        "installation": ["b2"],
        "default_provider": ["second"],
    }
    assert await sender_of_a_message_naming_none(http, server) == b2["id"]

    # A provider made the default brings its default sender, or the one named.
    status, shown = await api(
        http, "POST", f"{server.url}/api/v1/providers/first/default?sender=a2", server.headers
    )
    assert status == 200 and shown["is_default"] and shown["default_sender"] == "a2"
    assert (await defaults(http, server))["installation"] == ["a2"]


async def test_removing_a_default_hands_it_to_the_oldest_remaining(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add(
        http,
        server,
        simulator,
        "first",
        long_code("a1", "+15005550006"),
        long_code("a2", "+14155550101"),
    )
    await add(http, server, simulator, "second", long_code("b1", "+14155550102"))
    status, _ = await api(http, "DELETE", f"{server.url}/api/v1/senders/a1", server.headers)
    assert status == 200
    assert (await defaults(http, server))["installation"] == ["a2"]
    status, _ = await api(http, "DELETE", f"{server.url}/api/v1/providers/first", server.headers)
    assert status == 200
    assert await defaults(http, server) == {
        "providers": {"second": "b1"},
        "flagged": ["b1"],
        "installation": ["b1"],
        "default_provider": ["second"],
    }


async def test_a_provider_without_senders_cannot_be_the_default(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add(http, server, simulator, "empty")
    assert (await defaults(http, server))["default_provider"] == []
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/providers/empty/default", server.headers
    )
    assert status == 409 and "no senders" in body["message"]
    # Its first sender makes it the installation's default: there was none.
    status, _ = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers/empty/senders",
        server.headers,
        long_code("late", "+15005550006"),
    )
    assert status == 201
    assert (await defaults(http, server))["installation"] == ["late"]
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/providers/empty/default?sender=nope", server.headers
    )
    assert status == 422 and body["field"] == "sender"


async def test_the_cli_sets_provider_and_installation_defaults(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add(http, server, simulator, "first", long_code("a1", "+15005550006"))
    await add(
        http,
        server,
        simulator,
        "second",
        long_code("b1", "+14155550102"),
        long_code("b2", "+14155550103"),
    )

    shown = await cli(server.ctx, "senders", "set-default", "b2", "--json")
    assert shown.exit_code == 0, shown.output
    assert (
        json.loads(shown.stdout)["is_default"],
        json.loads(shown.stdout)["is_installation_default"],
    ) == (True, False)

    shown = await cli(server.ctx, "providers", "set-default", "second", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["default_sender"] == "b2"
    assert (await defaults(http, server))["installation"] == ["b2"]

    shown = await cli(server.ctx, "senders", "set-default", "a1", "--installation", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["is_installation_default"]

    table = await cli(server.ctx, "senders", "list")
    assert table.exit_code == 0, table.output
    assert "★★" in next(line for line in table.stdout.splitlines() if " a1 " in line)
