"""A slow provider does not slow intake: the API keeps answering 202 quickly
while every send slot waits on the provider."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, eventually

PROVIDER_LATENCY_MS = 3000
REQUESTS = 200
IN_FLIGHT_REQUESTS = 10  # clients at once, like a busy application server
ANSWER_BOUND = 2.0  # seconds; each send takes 3


async def in_flight_at_provider(simulator: Simulator) -> int:
    """Sends the simulator has received and not yet answered."""
    return simulator.state.post_count - len(simulator.state.messages)


async def test_the_api_accepts_quickly_while_every_send_waits_on_a_slow_provider(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await simulator.control(
        "PATCH", "config", {"callbacks": False, "latency_ms": PROVIDER_LATENCY_MS}
    )
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator),
    )
    assert status == 201, body
    url = f"{server.url}/api/v1/messages"
    status, body = await api(
        http,
        "POST",
        f"{url}/batch",
        server.headers,
        {"messages": [{"to": f"+1415555{i:04d}", "body": "slow"} for i in range(100)]},
    )
    assert status == 202 and body["accepted"] == 100, body
    await eventually(lambda: in_flight_at_provider(simulator), timeout=10)

    slots = asyncio.Semaphore(IN_FLIGHT_REQUESTS)

    async def timed_post(i: int) -> tuple[int, float]:
        async with slots:
            started = time.monotonic()
            status, _ = await api(
                http, "POST", url, server.headers, {"to": f"+1415666{i:04d}", "body": "fast?"}
            )
            return status, time.monotonic() - started

    results = await asyncio.gather(*(timed_post(i) for i in range(REQUESTS)))
    still_sending = await in_flight_at_provider(simulator)

    assert [status for status, _ in results] == [202] * REQUESTS
    slowest = max(seconds for _, seconds in results)
    assert slowest < ANSWER_BOUND, f"slowest answer took {slowest:.2f}s"
    assert still_sending > 0, "the provider answered everything: nothing was in flight"
