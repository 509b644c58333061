"""End to end: 1,000 messages through the simulator with failures, duplicate
and out-of-order callbacks, and replies (STOP among them). Every message ends
as the simulator decided, the event log matches one to one, STOPs suppress."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import aiohttp
from sqlalchemy import select

from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, eventually
from tests.integration.test_webhooks import add_provider
from textcast.db.models import Message, MessageEvent, Suppression
from textcast.services import events

COUNT = 1000
STOPPERS = 25
OTHER_REPLIES = 25
FINAL_EVENTS = {"message.delivered", "message.undelivered", "message.failed"}


def number(i: int) -> str:
    return f"+1415{5550000 + i:07d}"


async def test_a_thousand_messages_end_as_the_simulator_decided(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await simulator.control(
        "PATCH",
        "config",
        {
            "seed": 7,
            "failure_ratio": 0.3,
            "duplicate_callback_ratio": 0.25,
            "out_of_order_ratio": 0.25,
            "callback_delay_ms": 5,
        },
    )
    provider = await add_provider(server, simulator, http)
    rows = [{"to": number(i), "body": f"offer {i}", "campaign": "e2e"} for i in range(COUNT)]
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/messages/batch", server.headers, {"messages": rows}
    )
    assert status in (200, 201, 202) and not body["rejected"], body

    # Replies arrive while callbacks are still flowing.
    replies = [(number(i), "STOP") for i in range(STOPPERS)] + [
        (number(i), "thanks!") for i in range(STOPPERS, STOPPERS + OTHER_REPLIES)
    ]

    async def inject(phone: str, text: str) -> None:
        result = await simulator.control(
            "POST",
            "inbound",
            {
                "url": provider["inbound_url"],
                "account_sid": simulator.account_sid,
                "from": phone,
                "to": "+15005550006",
                "body": text,
            },
        )
        assert result["status"] == 200, result

    async def all_sent() -> bool:
        return len(simulator.state.messages) == COUNT

    await eventually(all_sent, timeout=60)
    await asyncio.gather(*(inject(p, t) for p, t in replies))

    decided = dict(simulator.state.messages)

    async def settled() -> bool:
        if simulator.state.tasks:
            return False
        async with server.ctx.sessions() as session:
            rows = (
                await session.execute(select(Message.provider_message_id, Message.status))
            ).all()
        return all(decided[sid].outcome == state for sid, state in rows)

    await eventually(settled, timeout=90, interval=0.2)

    async with server.ctx.sessions() as session:
        messages = {m.id: m for m in await session.scalars(select(Message))}
        finals = (
            await session.execute(
                select(MessageEvent.message_id, MessageEvent.type, MessageEvent.error_code).where(
                    MessageEvent.type.in_(FINAL_EVENTS)
                )
            )
        ).all()
        suppressed = set(await session.scalars(select(Suppression.phone)))
        found = await events.find(
            session, events.EventFilter(types=("contact.opted_out",)), after_id=None, limit=1000
        )
        replied = await events.find(
            session, events.EventFilter(types=("message.replied",)), after_id=None, limit=1000
        )

    # One final event per message, of the type and error code the simulator chose.
    per_message = collections.Counter(mid for mid, _, _ in finals)
    assert set(per_message) == set(messages) and set(per_message.values()) == {1}
    for mid, type_, code in finals:
        fate = decided[messages[mid].provider_message_id or ""]
        assert type_ == f"message.{fate.outcome}"
        assert code == (str(fate.error_code) if fate.error_code else None)
    outcomes: dict[str, Any] = collections.Counter(m.outcome for m in decided.values())
    assert outcomes["failed"] + outcomes["undelivered"] > 100  # the mix really was mixed

    stoppers = {number(i) for i in range(STOPPERS)}
    assert suppressed == stoppers
    assert {e["phone"] for e in found} == stoppers and len(found) == STOPPERS
    assert len(replied) == len(replies)
    assert {e["campaign"] for e in replied} == {"e2e"}

    status, numbers = await api(
        http, "GET", f"{server.url}/api/v1/stats?campaign=e2e", server.headers
    )
    assert status == 200, numbers
    failed = outcomes["failed"] + outcomes["undelivered"]
    assert (numbers["messages"], numbers["delivered"], numbers["failed"]) == (
        COUNT,
        outcomes["delivered"],
        failed,
    )
    assert numbers["pending"] == 0 and numbers["delivery_rate"] == round(
        outcomes["delivered"] / COUNT, 4
    )
    assert sum(e["count"] for e in numbers["errors"]) == failed
    assert all(e["description"] for e in numbers["errors"])  # Twilio codes are described
    assert (numbers["replies"], numbers["opt_outs"]) == (len(replies), STOPPERS)
