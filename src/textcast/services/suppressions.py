"""The suppression list: numbers a provider account must not message."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import Suppression


async def add(session: AsyncSession, provider_id: int, phone: str, reason: str) -> None:
    exists = await session.scalar(
        select(Suppression.id).where(
            Suppression.provider_id == provider_id, Suppression.phone == phone
        )
    )
    if exists is None:
        session.add(Suppression(provider_id=provider_id, phone=phone, reason=reason))
        await session.flush()


async def remove(session: AsyncSession, provider_id: int, phone: str) -> None:
    await session.execute(
        delete(Suppression).where(
            Suppression.provider_id == provider_id, Suppression.phone == phone
        )
    )
