"""The filters Messages, the Overview and Analytics > Events share: sender,
campaign and a date range (whole UTC days), read from the query string."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from textcast.services import message_search, stats
from textcast.services import providers as provider_service


def day_start(text: str, *, plus_days: int = 0) -> datetime | None:
    """``YYYY-MM-DD`` as the start of that UTC day (plus days); None when blank or bad."""
    try:
        day = date.fromisoformat(text) if text else None
    except ValueError:
        return None
    if day is None:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=plus_days)


@dataclass(frozen=True)
class Chosen:
    """What the filter form says: raw strings, kept to fill the form again."""

    sender: str = ""
    campaign: str = ""
    since: str = ""
    until: str = ""

    @property
    def sender_id(self) -> int | None:
        return int(self.sender) if self.sender.isdigit() else None

    @property
    def since_at(self) -> datetime | None:
        return day_start(self.since)

    @property
    def until_at(self) -> datetime | None:
        return day_start(self.until, plus_days=1)  # the "to" day is included

    def scope(self) -> stats.Scope:
        """The messages these filters choose, as the stats and the message search take them."""
        return stats.Scope(
            since=self.since_at,
            until=self.until_at,
            sender_id=self.sender_id,
            campaign=self.campaign or None,
        )


async def choices(session: AsyncSession) -> dict[str, Any]:
    """Senders and campaign labels to pick from."""
    rows = await provider_service.list_providers(session)
    senders = [
        (s.id, f"{s.name} ({s.sender_id})") for p in rows for s in p.senders if s.deleted_at is None
    ]
    return {"senders": senders, "campaigns": await message_search.campaign_labels(session)}
