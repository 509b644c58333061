"""A reply (an inbound message) taken in once: attributed to its sender, stored
with its effect (contact, thread, keyword rules, opt-outs), and recognised when
the provider sends it again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import keywords
from textcast.db.models import Sender
from textcast.services import replies


@dataclass(frozen=True)
class InboundItem:
    """One verified inbound request, as the receiver hands it over."""

    provider_id: int
    sender_id: int | None  # from a sender's own inbound URL
    params: list[tuple[str, str]]
    token: str | None  # the provider's idempotency token, when it sent one


async def record_inbound(session: AsyncSession, item: InboundItem) -> tuple[str, keywords.Decision]:
    """Store ``item`` with its effect; the outcome's name and the keyword decision
    (whose reply, if any, answers the request)."""
    provider_id, params, token = item.provider_id, item.params, item.token
    form = dict(params)
    sender_id = item.sender_id
    if sender_id is not None:
        sender = await session.get(Sender, sender_id)
        if sender is None or sender.provider_id != provider_id or sender.deleted_at is not None:
            sender_id = None  # a stale sender URL still reaches the account
    if sender_id is None:
        sender_id = await replies.inbound_sender_id(session, provider_id, form)
    sid = form.get("MessageSid") or form.get("SmsSid")
    if await replies.seen_before(session, provider_id, token) or await replies.inbound_stored(
        session, provider_id, sid
    ):
        # Twilio retried a reply already stored: answer it the same way, change nothing.
        decision = await keywords.decide(session, provider_id, sender_id, form.get("Body", ""))
        outcome = "duplicate"
    else:
        received = await replies.receive_inbound(session, provider_id, form, sender_id)
        decision = received.decision
        outcome, sid = decision.action or "stored", received.message.provider_message_id
    replies.store_receipt(
        session,
        provider_id=provider_id,
        kind="inbound",
        payload=params,
        provider_message_id=sid,
        message_id=None,
        outcome=outcome,
        idempotency_token=token,
    )
    return outcome, decision
