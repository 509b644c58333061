"""The numbers: what was sent, what arrived, what failed and why, who replied.

Counted from the messages themselves (their current status) and from the
event log (replies, opt-outs), over a time window on ``created_at`` and
optionally one sender, provider, campaign or automation. Sends from US long
codes not registered for A2P 10DLC are counted apart (``unregistered_10dlc``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import error_codes, status
from textcast.db.models import Message, MessageEvent, Sender
from textcast.db.models import Provider as ProviderRow
from textcast.errors import ValidationFailed
from textcast.services.senders import is_us_long_code

PENDING = frozenset(
    {
        status.QUEUED,
        status.DISPATCHING,
        status.ACCEPTED,
        status.SCHEDULED,
        status.SENDING,
        status.SENT,
    }
)
# Statuses a message reaches once the provider has it.
WITH_PROVIDER = frozenset(status.ALL - {status.QUEUED, status.DISPATCHING, status.FAILED})


def aware(value: datetime | None, field: str) -> datetime | None:
    """A window's end as given, refused without a time zone (ambiguous)."""
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(field, "give a time zone, e.g. 2026-11-24T10:00:00Z")
    return value


@dataclass(frozen=True)
class Scope:
    since: datetime | None = None
    until: datetime | None = None
    sender_id: int | None = None
    provider_id: int | None = None
    campaign: str | None = None
    automation: str | None = None

    def conditions(self) -> list[Any]:
        found: list[Any] = []
        if self.since is not None:
            found.append(Message.created_at >= self.since)
        if self.until is not None:
            found.append(Message.created_at < self.until)
        if self.sender_id is not None:
            found.append(Message.sender_id == self.sender_id)
        if self.provider_id is not None:
            found.append(Message.provider_id == self.provider_id)
        if self.campaign is not None:
            found.append(Message.campaign == self.campaign)
        if self.automation is not None:
            found.append(Message.automation == self.automation)
        return found


async def summary(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    where = scope.conditions()
    rows = await session.execute(
        select(Message.status, func.count(), func.coalesce(func.sum(Message.segments), 0))
        .where(*where)
        .group_by(Message.status)
    )
    counted = rows.all()
    by_status = {row[0]: int(row[1]) for row in counted}
    total = sum(by_status.values())
    delivered = by_status.get(status.DELIVERED, 0) + by_status.get(status.READ, 0)
    failed = by_status.get(status.FAILED, 0) + by_status.get(status.UNDELIVERED, 0)
    reached_provider = sum(n for s, n in by_status.items() if s in WITH_PROVIDER)
    settled = delivered + failed
    return {
        "messages": total,
        "segments": sum(int(row[2]) for row in counted),
        "by_status": dict(sorted(by_status.items())),
        "sent": reached_provider,
        "delivered": delivered,
        "failed": failed,
        "pending": sum(n for s, n in by_status.items() if s in PENDING),
        "unknown": by_status.get(status.UNKNOWN, 0),
        "delivery_rate": round(delivered / settled, 4) if settled else None,
        "errors": await errors_by_code(session, where),
        "replies": await _count_events(session, scope, "message.replied"),
        "opt_outs": await _count_events(session, scope, "contact.opted_out"),
        "unregistered_10dlc": await _unregistered_10dlc(session, where),
    }


async def _unregistered_10dlc(session: AsyncSession, where: list[Any]) -> int:
    """Messages sent from US long codes while not registered for A2P 10DLC:
    allowed, but carriers filter and surcharge them."""
    senders = await session.execute(
        select(Sender.id, Sender.type, Sender.sender_id, Sender.a2p_10dlc_registered_at)
    )
    unregistered = [
        Message.sender_id == row.id
        if row.a2p_10dlc_registered_at is None
        else and_(Message.sender_id == row.id, Message.created_at < row.a2p_10dlc_registered_at)
        for row in senders
        if is_us_long_code(row.type, row.sender_id)
    ]
    if not unregistered:
        return 0
    query = select(func.count(Message.id)).where(
        *where, Message.status.in_(sorted(WITH_PROVIDER)), or_(*unregistered)
    )
    return int(await session.scalar(query) or 0)


async def errors_by_code(session: AsyncSession, where: list[Any]) -> list[dict[str, Any]]:
    """Failures by error code, most frequent first (the Errors tab)."""
    rows = await session.execute(
        select(Message.error_code, ProviderRow.type, func.count())
        .join(ProviderRow, ProviderRow.id == Message.provider_id)
        .where(*where, Message.status.in_((status.FAILED, status.UNDELIVERED)))
        .group_by(Message.error_code, ProviderRow.type)
    )
    return error_list((code, provider_type, int(n)) for code, provider_type, n in rows)


def error_list(counts: Iterable[tuple[str | None, str, int]]) -> list[dict[str, Any]]:
    """(error code, provider type, count) merged per code, most frequent
    first, with the catalogue's description."""
    merged: dict[str | None, dict[str, Any]] = {}
    for code, provider_type, count in counts:
        entry = merged.setdefault(
            code,
            {
                "error_code": code,
                # The catalogue is Twilio's; another provider's codes are shown raw.
                "description": error_codes.describe(code)
                if code and provider_type == "twilio"
                else None,
                "count": 0,
            },
        )
        entry["count"] += count
    return sorted(merged.values(), key=lambda e: (-e["count"], str(e["error_code"])))


async def _count_events(session: AsyncSession, scope: Scope, type_: str) -> int:
    query = select(func.count()).select_from(MessageEvent).where(MessageEvent.type == type_)
    if scope.since is not None:
        query = query.where(MessageEvent.created_at >= scope.since)
    if scope.until is not None:
        query = query.where(MessageEvent.created_at < scope.until)
    if scope.sender_id is not None:
        query = query.where(MessageEvent.sender_id == scope.sender_id)
    if scope.provider_id is not None:
        query = query.where(MessageEvent.provider_id == scope.provider_id)
    if scope.campaign is not None or scope.automation is not None:
        query = query.join(Message, Message.id == MessageEvent.message_id)
        if scope.campaign is not None:
            query = query.where(Message.campaign == scope.campaign)
        if scope.automation is not None:
            query = query.where(Message.automation == scope.automation)
    return int(await session.scalar(query) or 0)
