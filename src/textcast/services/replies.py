"""Replies: stored, linked to their contact and conversation, keywords applied.

Status reports of every kind (callbacks, receipts, look-ups) go through
:mod:`textcast.services.status_reports`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import contacts, keywords, suppressions
from textcast.db.models import (
    Contact,
    InboundMessage,
    Message,
    MessageEvent,
    Sender,
    WebhookReceipt,
    utcnow,
)
from textcast.db.models import Provider as ProviderRow
from textcast.services import events
from textcast.services.status_reports import first_values


def store_receipt(
    session: AsyncSession,
    *,
    provider_id: int,
    kind: str,
    payload: Sequence[tuple[str, str]],
    provider_message_id: str | None,
    message_id: int | None,
    outcome: str,
    idempotency_token: str | None = None,
) -> None:
    session.add(
        WebhookReceipt(
            provider_id=provider_id,
            kind=kind,
            provider_message_id=provider_message_id,
            message_id=message_id,
            payload=first_values(payload),
            outcome=outcome,
            idempotency_token=idempotency_token,
        )
    )


async def seen_before(session: AsyncSession, provider_id: int, token: str | None) -> bool:
    """Whether Twilio already delivered this very request (same I-Twilio-Idempotency-Token)."""
    if not token:
        return False
    query = select(WebhookReceipt.id).where(
        WebhookReceipt.provider_id == provider_id, WebhookReceipt.idempotency_token == token
    )
    return await session.scalar(query.limit(1)) is not None


async def inbound_stored(session: AsyncSession, provider_id: int, sid: str | None) -> bool:
    """Whether this reply (by the provider's message ID) is already stored."""
    if not sid:
        return False
    query = select(InboundMessage.id).where(
        InboundMessage.provider_id == provider_id, InboundMessage.provider_message_id == sid
    )
    return await session.scalar(query.limit(1)) is not None


async def inbound_sender_id(
    session: AsyncSession, provider_id: int, form: Mapping[str, str]
) -> int | None:
    """The sender a reply was addressed to: its number or its Messaging Service."""
    candidates = [form.get("To", ""), form.get("MessagingServiceSid", "")]
    return await session.scalar(
        select(Sender.id)
        .where(
            Sender.provider_id == provider_id,
            Sender.deleted_at.is_(None),
            Sender.sender_id.in_([c for c in candidates if c]),
        )
        .limit(1)
    )


@dataclass(frozen=True)
class Inbound:
    message: InboundMessage
    decision: keywords.Decision
    contact_id: int | None


LOCATION_FIELDS = tuple(
    f"{side}{part}" for side in ("From", "To") for part in ("City", "State", "Zip", "Country")
)


async def receive_inbound(
    session: AsyncSession, provider_id: int, form: Mapping[str, str], sender_id: int | None = None
) -> Inbound:
    """Store a reply, link it to its contact (created if new) and to the last
    message sent to that number (the conversation thread), record the event,
    and apply keywords: opt-out/opt-in on the suppression list, auto-replies."""
    from_number = form.get("From", "")
    to_number = form.get("To", "")
    body = form.get("Body", "")
    media = [
        form[f"MediaUrl{i}"] for i in range(_int(form.get("NumMedia"))) if f"MediaUrl{i}" in form
    ]
    if sender_id is None:
        sender_id = await inbound_sender_id(session, provider_id, form)
    last_sent = await session.scalar(
        select(Message.id)
        .where(Message.provider_id == provider_id, Message.to == from_number)
        .order_by(Message.id.desc())
        .limit(1)
    )
    contact = await contacts.ensure(session, from_number[:32]) if from_number else None
    now = utcnow()
    if contact is not None:
        contact.last_inbound_at = now
    inbound = InboundMessage(
        provider_id=provider_id,
        sender_id=sender_id,
        provider_message_id=form.get("MessageSid") or form.get("SmsSid"),
        from_number=from_number,
        to_number=to_number,
        body=body,
        media_urls=media,
        location={k: form[k] for k in LOCATION_FIELDS if form.get(k)},
        in_reply_to=last_sent,
        received_at=now,
    )
    session.add(inbound)
    await session.flush()
    session.add(
        MessageEvent(
            type="message.replied" if last_sent else "message.received",
            message_id=last_sent,
            contact_id=contact.id if contact else None,
            provider_id=provider_id,
            sender_id=sender_id,
            source="inbound",
            data={"inbound_id": inbound.id, "body": body, "media_urls": media},
            created_at=now,
        )
    )
    decision = await keywords.decide(session, provider_id, sender_id, body)
    if contact is not None and decision.action in ("opt_out", "opt_in"):
        await _apply_opt_keyword(session, provider_id, sender_id, contact, decision, last_sent)
    await session.flush()
    return Inbound(inbound, decision, contact.id if contact else None)


async def _apply_opt_keyword(
    session: AsyncSession,
    provider_id: int,
    sender_id: int | None,
    contact: Contact,
    decision: keywords.Decision,
    in_reply_to: int | None,
) -> None:
    """Suppress or re-subscribe, tag the contact, and record the event against
    the message replied to (so opt-outs are counted per campaign)."""
    provider = await session.get(ProviderRow, provider_id)
    scope_sender = (
        sender_id if provider is not None and provider.opt_out_scope == "sender" else None
    )
    word = (decision.keyword or "").upper()
    tag = suppressions.opt_out_tag(provider)
    if decision.action == "opt_out":
        changed = await suppressions.add(
            session,
            provider_id,
            contact.phone,
            f"replied {word}",
            sender_id=scope_sender,
            source=suppressions.Source.reply(word),
        )
        contacts.set_tags(contact, add=[tag])
        kind = "contact.opted_out"
    else:
        changed = bool(await suppressions.remove(session, provider_id, contact.phone, sender_id))
        if not await suppressions.any_for(session, contact.phone, opt_out_tag=tag):
            contacts.set_tags(contact, remove=[tag])
        kind = "contact.opted_in"
    if changed:
        events.contact_event(
            session,
            kind,
            contact_id=contact.id,
            provider_id=provider_id,
            sender_id=sender_id,
            source="inbound",
            detail=f"replied {word}",
            message_id=in_reply_to,
        )


def _int(value: str | None) -> int:
    try:
        return max(0, min(int(value or 0), 10))
    except ValueError:
        return 0
