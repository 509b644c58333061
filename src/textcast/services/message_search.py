"""Finding messages for people browsing them: by status and by the same scope
the numbers use (time window, sender, provider, campaign, automation)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import Message
from textcast.services.stats import Scope


async def find(
    session: AsyncSession,
    scope: Scope,
    *,
    status: str | None = None,
    to: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Message]:
    """Newest first (to the number ``to`` only, when given); ``before_id`` pages on."""
    query = select(Message).where(*scope.conditions()).order_by(Message.id.desc()).limit(limit)
    if status:
        query = query.where(Message.status == status)
    if to:
        query = query.where(Message.to == to)
    if before_id is not None:
        query = query.where(Message.id < before_id)
    return list(await session.scalars(query))


async def campaign_labels(session: AsyncSession, limit: int = 200) -> list[str]:
    """Campaign labels in use, for filter pickers."""
    query = (
        select(Message.campaign)
        .distinct()
        .where(Message.campaign.is_not(None))
        .order_by(Message.campaign)
        .limit(limit)
    )
    return [str(label) for label in await session.scalars(query)]
