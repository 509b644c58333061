"""Concurrent requests with one Idempotency-Key queue one message between them."""

from __future__ import annotations

import asyncio

import aiohttp
from sqlalchemy import func, select

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api
from textcast.db.models import Message, MessageEvent
from textcast.services import messages as message_service

CONCURRENT = 8


async def add_provider(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await simulator.control("PATCH", "config", {"callbacks": False})
    url = f"{server.url}/api/v1/providers"
    status, body = await api(http, "POST", url, server.headers, twilio_provider_payload(simulator))
    assert status == 201, body


async def post_all(
    server: RunningServer, http: aiohttp.ClientSession, key: str, bodies: list[str]
) -> list[tuple[int, dict[str, object]]]:
    headers = {**server.headers, "Idempotency-Key": key}
    url = f"{server.url}/api/v1/messages"
    return await asyncio.gather(
        *(api(http, "POST", url, headers, {"to": "+14155552671", "body": b}) for b in bodies)
    )


async def stored(server: RunningServer, key: str) -> tuple[int, int]:
    """How many messages carry ``key``, and how many queued events they have."""
    async with server.ctx.sessions() as session:
        messages = await session.scalar(
            select(func.count()).select_from(Message).where(Message.idempotency_key == key)
        )
        events = await session.scalar(
            select(func.count())
            .select_from(MessageEvent)
            .join(Message, Message.id == MessageEvent.message_id)
            .where(Message.idempotency_key == key, MessageEvent.status == "queued")
        )
    return int(messages or 0), int(events or 0)


async def test_concurrent_requests_with_one_key_all_get_the_same_message(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    results = await post_all(server, http, "race-same", ["same body"] * CONCURRENT)
    assert [status for status, _ in results] == [202] * CONCURRENT, results
    assert len({body["id"] for _, body in results}) == 1
    assert await stored(server, "race-same") == (1, 1)


async def test_concurrent_requests_with_one_key_and_other_bodies_conflict(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    bodies = [f"body {i}" for i in range(CONCURRENT)]
    results = await post_all(server, http, "race-different", bodies)
    statuses = sorted(status for status, _ in results)
    assert statuses == [202] + [409] * (CONCURRENT - 1), results
    assert all(body["error"] == "conflict" for status, body in results if status == 409)
    assert await stored(server, "race-different") == (1, 1)


async def test_a_later_request_with_the_key_is_replayed(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    (first,) = await post_all(server, http, "later", ["hello"])
    headers = {**server.headers, "Idempotency-Key": "later"}
    async with http.post(
        f"{server.url}/api/v1/messages",
        headers=headers,
        json={"to": "+14155552671", "body": "hello"},
    ) as response:
        again = await response.json()
        assert response.status == 202
        assert response.headers["Idempotent-Replayed"] == "true"
    assert again["id"] == first[1]["id"]
    assert await stored(server, "later") == (1, 1)


async def test_the_service_itself_resolves_a_race_between_two_transactions(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """Below the API's own queueing: two transactions that both miss the key in
    their look-up, then both insert (as two processes would)."""
    await add_provider(server, simulator, http)
    ctx = server.ctx
    request = message_service.SendRequest(to="+14155552671", body="two transactions")

    async def submit() -> tuple[int, bool]:
        async with ctx.session() as session:
            done = await message_service.submit(
                ctx.settings, session, request, idempotency_key="two-transactions"
            )
            return done.message.id, done.replayed

    results = await asyncio.gather(*(submit() for _ in range(CONCURRENT)))
    assert len({message_id for message_id, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * (CONCURRENT - 1)
    assert await stored(server, "two-transactions") == (1, 1)
