"""Erasing a contact, for privacy requests (the right to erasure).

The contact goes with its attributes and tags. Delivery history stays, so
statistics still add up, but nothing in it names the person any more: in
every message to the number and every message from it, the number becomes
``erased:<keyed hash>`` (the same hash for the same number on this install,
so counts per recipient survive, with no way back to the number without the
install's secret key) and the body ``[erased]``; media links, reply
locations, stored reply bodies in events and the raw callbacks of those
messages are cleared, and error texts quoting the number get the hash
instead. Messages still queued to the number are canceled. Short links and
their clicks keep their message and campaign but lose their contact (and the
clicks their user agent).

The suppression list keeps the number if it opted out: honouring an opt-out
is the reason to hold it, and erasing it would let the number be messaged
again. A ``contact.erased`` event records the erasure (contact ID and hash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.crypto import SecretBox
from textcast.db.models import (
    Contact,
    InboundMessage,
    LinkClick,
    Message,
    MessageEvent,
    SendAttempt,
    ShortLink,
    WebhookReceipt,
    utcnow,
)

ERASED = "[erased]"
PREFIX = "erased:"
MESSAGES = cast(Table, Message.__table__)
INBOUND = cast(Table, InboundMessage.__table__)


@dataclass(frozen=True)
class Erasure:
    contact_id: int
    phone_hash: str
    messages: int  # outbound messages made anonymous
    inbound: int  # replies made anonymous
    canceled: int  # queued messages that will not be sent


def phone_hash(box: SecretBox, phone: str) -> str:
    """What replaces a number: fits every column that held one (20 characters)."""
    return PREFIX + box.digest("contact-erasure", phone)[:13]


async def erase(session: AsyncSession, contact: Contact, box: SecretBox) -> Erasure:
    """Erase ``contact`` in the session's transaction (see the module's docstring)."""
    phone, contact_id = contact.phone, contact.id
    token = phone_hash(box, phone)
    now = utcnow()
    canceled = await _count(
        session,
        update(Message)
        .where(Message.to == phone, Message.status == status.QUEUED)
        .values(status=status.CANCELED, final_at=now, updated_at=now),
    )
    sent_ids = select(Message.id).where(Message.to == phone).scalar_subquery()
    provider_ids = [
        *await session.scalars(
            select(Message.provider_message_id).where(
                Message.to == phone, Message.provider_message_id.is_not(None)
            )
        ),
        *await session.scalars(
            select(InboundMessage.provider_message_id).where(
                InboundMessage.from_number == phone,
                InboundMessage.provider_message_id.is_not(None),
            )
        ),
    ]
    for start in range(0, len(provider_ids), 1000):
        await session.execute(
            update(WebhookReceipt)
            .where(WebhookReceipt.provider_message_id.in_(provider_ids[start : start + 1000]))
            .values(payload={"erased": True})
        )
    await session.execute(
        update(SendAttempt)
        .where(SendAttempt.message_id.in_(sent_ids), SendAttempt.detail.is_not(None))
        .values(detail=func.replace(SendAttempt.detail, phone, token))
    )
    await session.execute(
        update(MessageEvent)
        .where(MessageEvent.message_id.in_(sent_ids), MessageEvent.detail.is_not(None))
        .values(detail=func.replace(MessageEvent.detail, phone, token))
    )
    await session.execute(
        update(MessageEvent)
        .where(MessageEvent.contact_id == contact_id, MessageEvent.data.is_not(None))
        .values(data=None)
    )
    messages = await _count(
        session,
        update(MESSAGES)
        .where(MESSAGES.c.to == phone)
        .values(
            to=token,
            body=ERASED,
            media_urls=[],
            content_variables=None,  # rendered from the contact: personal too
            request_hash=None,
            error_message=func.replace(MESSAGES.c.error_message, phone, token),
            updated_at=now,
        ),
    )
    inbound = await _count(
        session,
        update(INBOUND)
        .where(INBOUND.c.from_number == phone)
        .values(from_number=token, body=ERASED, media_urls=[], location={}),
    )
    await session.execute(
        update(LinkClick)
        .where(LinkClick.contact_id == contact_id)
        .values(contact_id=None, user_agent=None)
    )
    await session.execute(
        update(ShortLink).where(ShortLink.contact_id == contact_id).values(contact_id=None)
    )
    await session.execute(delete(Contact).where(Contact.id == contact_id))
    session.expunge(contact)
    session.add(
        MessageEvent(
            type="contact.erased",
            contact_id=contact_id,
            source="api",
            data={"contact_id": contact_id, "phone_hash": token},
            created_at=now,
        )
    )
    await session.flush()
    return Erasure(contact_id, token, messages, inbound, canceled)


async def _count(session: AsyncSession, statement: Any) -> int:
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
