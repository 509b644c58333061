"""The suppression list: numbers that must not be messaged.

A row with no sender blocks the number for the whole provider account; a row
with a sender blocks it only for that sender (providers whose ``opt_out_scope``
is ``sender``, for brands that share an account but not their audiences).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.dialect import dialect_of
from textcast.db.models import Suppression

# (provider id, sender id, phone)
Target = tuple[int, int, str]


async def add(
    session: AsyncSession, provider_id: int, phone: str, reason: str, sender_id: int | None = None
) -> bool:
    """Suppress ``phone``; False when it already was (in this scope)."""
    exists = await session.scalar(
        select(Suppression.id).where(
            Suppression.provider_id == provider_id,
            Suppression.phone == phone,
            Suppression.sender_id.is_(None)
            if sender_id is None
            else Suppression.sender_id == sender_id,
        )
    )
    if exists is not None:
        return False
    session.add(
        Suppression(provider_id=provider_id, sender_id=sender_id, phone=phone, reason=reason)
    )
    await session.flush()
    return True


async def remove(
    session: AsyncSession, provider_id: int, phone: str, sender_id: int | None = None
) -> int:
    """Lift the account-wide suppression, and the sender's own when given; rows removed."""
    scope: ColumnElement[bool] = Suppression.sender_id.is_(None)
    if sender_id is not None:
        scope = or_(scope, Suppression.sender_id == sender_id)
    result = await session.execute(
        delete(Suppression).where(
            Suppression.provider_id == provider_id, Suppression.phone == phone, scope
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def blocked(session: AsyncSession, targets: Iterable[Target]) -> set[Target]:
    """Which of ``targets`` may not be messaged, in one query."""
    wanted = set(targets)
    if not wanted:
        return set()
    phones = {phone for _, _, phone in wanted}
    query = select(Suppression.provider_id, Suppression.sender_id, Suppression.phone).where(
        dialect_of(session).one_of(Suppression.__table__.c.phone, phones)
    )
    account: set[tuple[int, str]] = set()
    per_sender: set[Target] = set()
    for row in await session.execute(query):
        if row.sender_id is None:
            account.add((row.provider_id, row.phone))
        else:
            per_sender.add((row.provider_id, row.sender_id, row.phone))
    return {t for t in wanted if (t[0], t[2]) in account or t in per_sender}


async def is_blocked(session: AsyncSession, provider_id: int, sender_id: int, phone: str) -> bool:
    return bool(await blocked(session, [(provider_id, sender_id, phone)]))


async def any_for(session: AsyncSession, phone: str) -> bool:
    """Whether ``phone`` is suppressed anywhere (keeps the contact's opt-out tag honest)."""
    found = await session.scalar(select(Suppression.id).where(Suppression.phone == phone).limit(1))
    return found is not None
