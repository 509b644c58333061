"""The audit log: every change made through the dashboard or the API, and
every refused sign-in, with who, what and when. Admins read it.

Entries are written in the transaction that makes the change, so a change
and its entry commit together. Messages queued through the messages API are
not entries: the outbox itself records each one with its history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import AuditEntry, utcnow
from textcast.services.roles import Actor

SIGN_IN_FAILED = "auth.sign_in_failed"


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one entry (``action`` like ``provider.created``; ``target`` names the thing)."""
    session.add(
        AuditEntry(
            actor=actor.label[:150],
            actor_type=actor.kind,
            actor_id=actor.id,
            action=action[:80],
            target=target[:200] if target else None,
            detail=detail,
            ip=actor.ip,
            created_at=utcnow(),
        )
    )


async def latest(
    session: AsyncSession, *, before_id: int | None = None, limit: int = 100
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(await session.scalars(query))


async def failures_since(
    session: AsyncSession, since: datetime, *, ip: str | None, target: str | None = None
) -> int:
    """Refused sign-ins since ``since`` from ``ip`` (and for ``target`` when given)."""
    query = select(func.count(AuditEntry.id)).where(
        AuditEntry.action == SIGN_IN_FAILED, AuditEntry.created_at >= since
    )
    query = query.where(AuditEntry.ip.is_(None) if ip is None else AuditEntry.ip == ip)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    return int(await session.scalar(query) or 0)


def window_start(minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=minutes)


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.created_at.isoformat(),
        "actor": entry.actor,
        "actor_type": entry.actor_type,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
        "ip": entry.ip,
    }
