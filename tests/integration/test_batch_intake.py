"""Bulk intake writes its rows straight to the driver: what it stores must read
back exactly as what the one-message path stores."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import Simulator, twilio_provider_payload
from textcast.context import Context
from textcast.db.models import Contact, Message
from textcast.services import messages as message_service
from textcast.services.messages import SendRequest
from textcast.services.providers import create_provider

MMS = ["https://cdn.example.com/a.png", "https://cdn.example.com/b.png?size=2"]


async def test_a_batch_row_is_stored_as_a_single_send_is(
    ctx: Context, simulator: Simulator
) -> None:
    payload = twilio_provider_payload(simulator)
    payload["senders"][0]["mms_capable"] = True
    async with ctx.session() as session:
        await create_provider(ctx, session, payload)
    row = {"to": "+14155552671", "body": "pics ✓", "media_urls": MMS, "campaign": "spring"}
    async with ctx.session() as session:
        single = await message_service.submit(
            ctx.settings, session, SendRequest.model_validate(row)
        )
        batch = await message_service.submit_batch(
            ctx.settings, session, [row, {"to": "+14155550199", "body": "plain"}]
        )
    (_, batched), (_, plain) = batch.accepted
    async with ctx.sessions() as session:
        one = await message_service.get_message(session, single.message.id)
        many = await message_service.get_message(session, batched)
        history = await message_service.history(session, batched)
        contacts = {c.phone: c.tags for c in await session.scalars(select(Contact))}
        bare = await session.get(Message, plain)
    skip = {"id", "created_at", "updated_at", "next_attempt_at", "_sa_instance_state"}
    fields = [name for name in vars(one) if name not in skip]
    assert {f: getattr(many, f) for f in fields} == {f: getattr(one, f) for f in fields}
    assert many.media_urls == MMS and many.attempts == 0 and many.is_test is False
    assert many.created_at.tzinfo is not None and many.created_at == many.next_attempt_at
    assert [(e.type, e.status, e.source) for e in history] == [("message.queued", "queued", "api")]
    assert history[0].created_at == many.created_at
    assert contacts == {"+14155552671": [], "+14155550199": []}
    assert bare is not None and bare.media_urls == [] and bare.campaign is None
