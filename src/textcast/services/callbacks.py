"""Replies and single status reports: stored, linked, attributed.

Batches of status reports (callbacks, receipts) go through
:mod:`textcast.services.status_reports`; this module applies one report to a
loaded message (reconciliation) and takes in replies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
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
from textcast.providers.base import StatusUpdate
from textcast.services import events
from textcast.services.status_reports import first_values


def apply_status(session: AsyncSession, message: Message, update: StatusUpdate, source: str) -> str:
    """Move ``message`` forward if ``update`` is news; the outcome's name.

    ``applied`` when the status moved, ``duplicate`` when it repeats the current
    one, ``stale`` when it arrived after a later status (out of order).
    """
    if message.provider_message_id is None and update.provider_message_id:
        message.provider_message_id = update.provider_message_id
    outcome = status.report_outcome(message.status, update.status)
    if outcome != "applied":
        return outcome
    now = utcnow()
    message.status = update.status
    message.updated_at = now
    if update.error_code:
        message.error_code = update.error_code
        message.error_message = update.error_message
    if update.status in status.FINAL and message.final_at is None:
        message.final_at = now
    if update.done_at is not None and update.status in (status.DELIVERED, status.UNDELIVERED):
        message.delivered_at = update.done_at
    if message.lease_owner is not None:
        message.lease_owner = None
        message.lease_expires_at = None
    session.add(
        MessageEvent(
            message_id=message.id,
            status=update.status,
            source=source,
            error_code=update.error_code,
            detail=update.error_message,
            created_at=now,
        )
    )
    return "applied"


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
