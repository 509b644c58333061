"""An operator putting a number on a suppression list or taking it off: the
list and the contact's ``opted-out`` tag change together (the API and the
dashboard both come through here)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import contacts, suppressions
from textcast.db.models import Contact


async def suppress(
    session: AsyncSession, provider_id: int, number: str, reason: str, sender_id: int | None
) -> bool:
    """Suppress the E.164 ``number``; False when it already was in this scope."""
    added = await suppressions.add(session, provider_id, number, reason, sender_id=sender_id)
    contact = await contacts.ensure(session, number)
    contacts.set_tags(contact, add=[contacts.OPTED_OUT_TAG])
    return added


async def lift(session: AsyncSession, provider_id: int, number: str, sender_id: int | None) -> int:
    """Lift the account-wide suppression (and the sender's, when given); rows
    removed. The contact loses its tag once no list holds the number."""
    removed = await suppressions.remove(session, provider_id, number, sender_id)
    if removed and not await suppressions.any_for(session, number):
        contact = await session.scalar(select(Contact).where(Contact.phone == number))
        if contact is not None:
            contacts.set_tags(contact, remove=[contacts.OPTED_OUT_TAG])
    return removed
