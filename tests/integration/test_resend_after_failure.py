"""A failure Twilio reports after accepting a message, when a resend can fix
it (30001 queue overflow), sends the message again with backoff, until the
attempt budget runs out: end to end through the simulator's callbacks."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, eventually
from textcast.config import Settings

ATTEMPTS = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.max_attempts = ATTEMPTS
    settings.retry_base_delay = 0.05
    return settings


async def test_queue_overflows_are_resent_until_the_attempt_budget_is_spent(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    status, _ = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator),
    )
    assert status == 201
    await simulator.control("PATCH", "config", {"failure_ratio": 1.0, "failure_codes": [30001]})
    status, queued = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": "+14155552671", "body": "flash sale"},
    )
    assert status == 202, queued

    async def final() -> dict[str, Any] | None:
        _, shown = await api(
            http, "GET", f"{server.url}/api/v1/messages/{queued['id']}", server.headers
        )
        return shown if shown["status"] == "failed" else None

    message = await eventually(final, timeout=30)
    assert message["error_code"] == "30001"
    assert len(simulator.state.messages) == ATTEMPTS  # one send per attempt, no more
    requeued = [
        e for e in message["history"] if e["status"] == "queued" and e["source"] == "callback"
    ]
    assert len(requeued) == ATTEMPTS - 1
