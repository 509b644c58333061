"""Applying provider reports to messages: forward-only, recorded, attributed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import keywords, status
from textcast.db.models import (
    InboundMessage,
    Message,
    MessageEvent,
    Sender,
    WebhookReceipt,
    utcnow,
)
from textcast.providers.base import StatusUpdate
from textcast.services import suppressions
from textcast.webhooks.meta import Meta


async def find_message(
    session: AsyncSession, provider_id: int, meta: Meta | None, provider_message_id: str | None
) -> Message | None:
    """By the signed ``meta`` first (works before the provider's ID is recorded),
    then by the provider's message ID."""
    if meta is not None:
        message = await session.get(Message, meta.message_id)
        if message is not None and message.provider_id == provider_id:
            return message
    if provider_message_id:
        query = select(Message).where(
            Message.provider_message_id == provider_message_id, Message.provider_id == provider_id
        )
        return await session.scalar(query)
    return None


def apply_status(session: AsyncSession, message: Message, update: StatusUpdate, source: str) -> str:
    """Move ``message`` forward if ``update`` is news; the outcome's name.

    ``applied`` when the status moved, ``duplicate`` when it repeats the current
    one, ``stale`` when it arrived after a later status (out of order).
    """
    if message.provider_message_id is None:
        message.provider_message_id = update.provider_message_id
    if update.status == message.status:
        return "duplicate"
    if not status.can_advance(message.status, update.status):
        return "stale"
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
    params: dict[str, Any] = {}
    for key, value in payload:
        params.setdefault(key, value)
    session.add(
        WebhookReceipt(
            provider_id=provider_id,
            kind=kind,
            provider_message_id=provider_message_id,
            message_id=message_id,
            payload=params,
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


async def receive_inbound(
    session: AsyncSession, provider_id: int, form: Mapping[str, str]
) -> tuple[InboundMessage, keywords.Keyword | None]:
    """Store a reply, thread it to the last message sent to that number, and apply
    opt-out/opt-in keywords to the provider account's suppression list."""
    from_number = form.get("From", "")
    to_number = form.get("To", "")
    body = form.get("Body", "")
    media = [
        form[f"MediaUrl{i}"] for i in range(_int(form.get("NumMedia"))) if f"MediaUrl{i}" in form
    ]
    sender = await session.scalar(
        select(Sender).where(
            Sender.provider_id == provider_id,
            Sender.deleted_at.is_(None),
            Sender.sender_id.in_([to_number, form.get("MessagingServiceSid", "")]),
        )
    )
    last_sent = await session.scalar(
        select(Message.id)
        .where(Message.provider_id == provider_id, Message.to == from_number)
        .order_by(Message.id.desc())
        .limit(1)
    )
    inbound = InboundMessage(
        provider_id=provider_id,
        sender_id=sender.id if sender else None,
        provider_message_id=form.get("MessageSid") or form.get("SmsSid"),
        from_number=from_number,
        to_number=to_number,
        body=body,
        media_urls=media,
        in_reply_to=last_sent,
    )
    session.add(inbound)
    keyword = keywords.classify(body)
    if keyword == "opt_out" and from_number:
        await suppressions.add(session, provider_id, from_number, "replied with an opt-out keyword")
    elif keyword == "opt_in" and from_number:
        await suppressions.remove(session, provider_id, from_number)
    await session.flush()
    return inbound, keyword


def _int(value: str | None) -> int:
    try:
        return max(0, min(int(value or 0), 10))
    except ValueError:
        return 0
