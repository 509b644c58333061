"""The inbox: contacts who wrote in, latest first, with what they wrote last."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import Contact, InboundMessage


async def conversations(session: AsyncSession, limit: int = 50) -> list[dict[str, Any]]:
    """One row per contact with a reply: the contact and its latest inbound message."""
    people = list(
        await session.scalars(
            select(Contact)
            .where(Contact.last_inbound_at.is_not(None))
            .order_by(Contact.last_inbound_at.desc(), Contact.id.desc())
            .limit(limit)
        )
    )
    if not people:
        return []
    newest = (
        select(func.max(InboundMessage.id))
        .where(InboundMessage.from_number.in_([c.phone for c in people]))
        .group_by(InboundMessage.from_number)
    )
    latest = {
        m.from_number: m
        for m in await session.scalars(select(InboundMessage).where(InboundMessage.id.in_(newest)))
    }
    return [
        {
            "contact_id": c.id,
            "phone": c.phone,
            "tags": c.tags,
            "last_inbound_at": c.last_inbound_at.isoformat() if c.last_inbound_at else None,
            "last_body": latest[c.phone].body if c.phone in latest else "",
            "sender_id": latest[c.phone].sender_id if c.phone in latest else None,
            "provider_id": latest[c.phone].provider_id if c.phone in latest else None,
        }
        for c in people
    ]


async def last_inbound(session: AsyncSession, phone: str) -> InboundMessage | None:
    return await session.scalar(
        select(InboundMessage)
        .where(InboundMessage.from_number == phone)
        .order_by(InboundMessage.id.desc())
        .limit(1)
    )
