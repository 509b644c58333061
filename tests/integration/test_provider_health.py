"""A provider's health (GET /api/v1/providers/{ref}/health, textcast
providers health) from its last
minutes of sending against the simulator: idle, healthy, degraded by 429s or
by sends that got no status callback, failing when no send goes through, and
not failing for a run of invalid recipients."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, cli, eventually
from textcast.db.models import Message

SENDER = {"name": "main", "type": "long_code", "sender_id": "+15005550006", "mps": 500}


async def add_provider(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession, **overrides: Any
) -> dict[str, Any]:
    payload = twilio_provider_payload(simulator, senders=[SENDER], **overrides)
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
    )
    assert status == 201, body
    return dict(body)


async def health(server: RunningServer, http: aiohttp.ClientSession, ref: str) -> dict[str, Any]:
    url = f"{server.url}/api/v1/providers/{ref}/health"
    status, body = await api(http, "GET", url, server.headers)
    assert status == 200, body
    return dict(body)


async def send(
    server: RunningServer, http: aiohttp.ClientSession, to: str, sender: str = "main"
) -> int:
    message = {"to": to, "body": "Hello", "sender": sender}
    status, body = await api(http, "POST", f"{server.url}/api/v1/messages", server.headers, message)
    assert status == 202, body
    return int(body["id"])


async def settled(server: RunningServer, http: aiohttp.ClientSession, *ids: int) -> None:
    async def final() -> bool:
        for message_id in ids:
            url = f"{server.url}/api/v1/messages/{message_id}"
            _, body = await api(http, "GET", url, server.headers)
            if body["status"] not in ("delivered", "failed", "undelivered"):
                return False
        return True

    await eventually(final)


async def test_idle_then_healthy_then_rate_limited(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    idle = await health(server, http, "twilio-sim")
    assert (idle["verdict"], idle["messages"]) == ("idle", 0)

    await settled(server, http, await send(server, http, "+14155552671"))
    healthy = await health(server, http, "twilio-sim")
    assert healthy["verdict"] == "healthy", healthy
    assert (healthy["delivered"], healthy["attempts"], healthy["unreported"]) == (1, 1, 0)
    assert healthy["last_accepted_at"] is not None
    assert healthy["median_latency_ms"] is not None

    # Every POST answered 429 for a moment: retried, then through.
    await simulator.control("PATCH", "config", {"rate_limit_ratio": 1.0})
    limited = await send(server, http, "+14155552672")

    async def refused_once() -> bool:
        return bool((await health(server, http, "twilio-sim"))["rate_limited"] >= 1)

    await eventually(refused_once)
    await simulator.control("PATCH", "config", {"rate_limit_ratio": 0.0})
    await settled(server, http, limited)
    degraded = await health(server, http, "twilio-sim")
    assert degraded["verdict"] == "degraded", degraded
    assert "429" in degraded["reasons"][0]
    assert degraded["last_refusal"]["code"] == "20429", degraded


async def test_sends_without_status_callbacks_are_a_reason(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    await add_provider(server, simulator, http)
    message_id = await send(server, http, "+14155552671")

    async def accepted() -> bool:
        url = f"{server.url}/api/v1/messages/{message_id}"
        _, body = await api(http, "GET", url, server.headers)
        return bool(body["sent_at"])

    await eventually(accepted)
    assert (await health(server, http, "twilio-sim"))["verdict"] == "healthy"  # within the grace
    async with server.ctx.session() as session:
        message = await session.get(Message, message_id)
        assert message is not None and message.sent_at is not None
        message.sent_at -= timedelta(minutes=6)
    found = await health(server, http, "twilio-sim")
    assert found["verdict"] == "degraded" and found["unreported"] == 1, found
    assert "TEXTCAST_PUBLIC_URL" in found["reasons"][0]


async def test_no_send_going_through_is_failing_but_invalid_recipients_are_not(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http, auth_token="not-the-token", verify=False)
    await settled(
        server, http, *[await send(server, http, "+1415555267" + str(n)) for n in range(3)]
    )
    failing = await health(server, http, "twilio-sim")
    assert failing["verdict"] == "failing", failing
    assert failing["failed"] == 3 and failing["account_refusals"] == 3
    assert "20003" in failing["reasons"][0]  # named, with what it means
    shown = await cli(server.ctx, "providers", "health", "twilio-sim")
    assert shown.exit_code == 0 and "failing" in shown.stdout, shown.output
    assert "20003" in shown.stdout

    good = {**SENDER, "name": "good", "sender_id": "+15005550007"}
    payload = twilio_provider_payload(simulator, name="twilio-good", senders=[good])
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
    )
    assert status == 201, body
    invalid = [await send(server, http, "+15005550001", sender="good") for _ in range(3)]
    await settled(server, http, *invalid)  # the simulator refuses the number: 21211
    found = await health(server, http, "twilio-good")
    assert found["verdict"] == "healthy", found
    assert (found["failed"], found["account_refusals"]) == (3, 0)

    status, body = await api(
        http, "GET", f"{server.url}/api/v1/providers/nope/health", server.headers
    )
    assert status == 404, body
