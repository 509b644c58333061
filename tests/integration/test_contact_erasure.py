"""Erasing a contact for a privacy request: the contact goes, its history
stays without naming the person, an event says so."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from sqlalchemy import select

from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, eventually
from tests.integration.test_engagement import events, reply
from tests.integration.test_webhooks import add_provider
from textcast.db.models import (
    InboundMessage,
    Message,
    MessageEvent,
    Provider,
    Sender,
    Suppression,
    WebhookReceipt,
    utcnow,
)

ADA = "+14155552671"


async def test_erasure_removes_the_contact_and_anonymises_its_history(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    body = {"phone": ADA, "external_id": "user-1", "attributes": {"first_name": "Ada"}}
    await api(http, "POST", f"{server.url}/api/v1/contacts", server.headers, body)
    body = {"to": ADA, "body": f"Hi Ada, call us back on {ADA}", "campaign": "spring"}
    _, sent = await api(http, "POST", f"{server.url}/api/v1/messages", server.headers, body)

    async def delivered() -> bool:
        _, message = await api(
            http, "GET", f"{server.url}/api/v1/messages/{sent['id']}", server.headers
        )
        return message["status"] == "delivered"

    await eventually(delivered)
    await reply(http, simulator, provider, "Thanks! I live at 1 Main St")
    await reply(http, simulator, provider, "STOP")
    async with server.ctx.session() as session:
        sid = await session.scalar(select(Message.provider_message_id))
        assert await session.scalar(
            select(WebhookReceipt.id).where(WebhookReceipt.provider_message_id == sid)
        )

    status, erased = await api(
        http, "DELETE", f"{server.url}/api/v1/contacts/user-1", server.headers
    )
    assert status == 200, erased
    token = erased["phone_hash"]
    assert token.startswith("erased:") and len(token) <= 20
    assert (erased["messages"], erased["inbound"]) == (1, 2)

    assert (await api(http, "GET", f"{server.url}/api/v1/contacts/{ADA}", server.headers))[0] == 404
    _, message = await api(
        http, "GET", f"{server.url}/api/v1/messages/{sent['id']}", server.headers
    )
    assert (message["to"], message["body"], message["status"]) == (token, "[erased]", "delivered")
    async with server.ctx.session() as session:
        inbound = list(await session.scalars(select(InboundMessage)))
        assert {(i.from_number, i.body, str(i.location)) for i in inbound} == {
            (token, "[erased]", "{}")
        }
        payloads = list(
            await session.scalars(
                select(WebhookReceipt.payload).where(WebhookReceipt.provider_message_id == sid)
            )
        )
        assert payloads and all(p == {"erased": True} for p in payloads)
        replied = await session.scalars(
            select(MessageEvent.data).where(MessageEvent.type == "message.replied")
        )
        assert all(data is None for data in replied)
        # The opt-out is still honoured: that is what the suppression list is for.
        assert await session.scalar(select(Suppression.phone)) == ADA
    done = await events(server, http, type="contact.erased")
    assert len(done) == 1 and done[0]["data"] == {
        "contact_id": erased["erased"],
        "phone_hash": token,
    }
    # Everything that named the number now names the hash.
    async with server.ctx.session() as session:
        texts = [
            str(m.error_message or "") + m.body + m.to
            for m in await session.scalars(select(Message))
        ]
    assert not any(ADA in text for text in texts)


async def test_messages_still_queued_to_an_erased_contact_are_canceled(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await api(http, "POST", f"{server.url}/api/v1/contacts", server.headers, {"phone": ADA})
    async with server.ctx.session() as session:
        provider = Provider(
            name="idle", type="twilio", secrets_encrypted="-", webhook_secret_encrypted="-"
        )
        session.add(provider)
        await session.flush()
        sender = Sender(
            provider_id=provider.id, name="idle", type="long_code", sender_id="+1", mps=1
        )
        session.add(sender)
        await session.flush()
        session.add(  # due next year: the dispatcher leaves it queued
            Message(
                provider_id=provider.id,
                sender_id=sender.id,
                to=ADA,
                body="later",
                segments=1,
                encoding="GSM-7",
                next_attempt_at=utcnow() + timedelta(days=365),
            )
        )
    status, erased = await api(
        http, "DELETE", f"{server.url}/api/v1/contacts/{ADA}", server.headers
    )
    assert (status, erased["canceled"]) == (200, 1)
    async with server.ctx.session() as session:
        message = await session.scalar(select(Message))
        assert message is not None and (message.status, message.body) == ("canceled", "[erased]")
