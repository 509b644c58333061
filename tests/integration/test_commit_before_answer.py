"""What the API acknowledges is committed first: a client that gets a 201 or
202 and asks again at once (or on another server) finds what it created, and
a commit that fails is an error answer, not a lost message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from textcast.app import create_app
from textcast.context import Context
from textcast.services import apikeys


@pytest.fixture
def timeline() -> Iterator[list[str]]:
    """Every commit and every response start, in the order they happen."""
    happened: list[str] = []

    def committed(_: Session) -> None:
        happened.append("commit")

    event.listen(Session, "after_commit", committed)
    yield happened
    event.remove(Session, "after_commit", committed)


@pytest.fixture
async def client(ctx: Context, timeline: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ctx, run_dispatcher=False)

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                timeline.append(f"answer {message['status']}")
            await send(message)

        await app(scope, receive, send_and_note)

    async with ctx.session() as session:
        key = (await apikeys.create_key(session, "tests")).key
    transport = httpx.ASGITransport(app=recording)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://textcast.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        yield http


async def answered_after_commit(
    http: httpx.AsyncClient, timeline: list[str], method: str, path: str, body: Any
) -> httpx.Response:
    timeline.clear()
    response = await http.request(method, path, json=body)
    answer = f"answer {response.status_code}"
    assert "commit" in timeline[: timeline.index(answer)], (path, timeline)
    return response


async def test_created_provider_and_queued_message_are_committed_before_the_answer(
    client: httpx.AsyncClient, timeline: list[str]
) -> None:
    provider = {
        "name": "twilio-main",
        "type": "twilio",
        "account_sid": "AC" + "a" * 32,
        "auth_token": "t" * 32,
        "base_url": "https://api.twilio.com",
        "senders": [{"name": "main", "type": "long_code", "sender_id": "+14155550100"}],
    }
    created = await answered_after_commit(client, timeline, "POST", "/api/v1/providers", provider)
    assert created.status_code == 201, created.text
    queued = await answered_after_commit(
        client, timeline, "POST", "/api/v1/messages", {"to": "+14155552671", "body": "hi"}
    )
    assert queued.status_code == 202, queued.text
    shown = await client.get(f"/api/v1/messages/{queued.json()['id']}")
    assert shown.json()["status"] == "queued"
