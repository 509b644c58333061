"""Storing minted links with the messages whose text carries them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from textcast.db.dialect import dialect_of
from textcast.db.models import ShortLink, utcnow

LINKS = cast(Table, ShortLink.__table__)
COLUMNS = ("code", "url", "message_id", "contact_id", "campaign", "created_at", "expires_at")


@dataclass(frozen=True, slots=True)
class MessageLinks:
    """The links minted for one message."""

    message_id: int
    contact_id: int | None
    campaign: str | None
    links: Sequence[tuple[str, str]]  # (code, destination)
    expires_at: datetime | None = None


async def save(connection: AsyncConnection, batch: Sequence[MessageLinks]) -> None:
    """Insert every link of ``batch`` in one statement (a campaign's batch of
    messages has one link each, typically): ``COPY`` on PostgreSQL, which
    writes them a page at a time, as the fan-out writes its messages. A code
    already taken is an :class:`~sqlalchemy.exc.IntegrityError` either way."""
    dialect = dialect_of(connection)
    at = dialect.bind_time
    now = at(utcnow())
    rows = [
        (code, url, m.message_id, m.contact_id, m.campaign, now, at(m.expires_at))
        for m in batch
        for code, url in m.links
    ]
    await dialect.copy_rows(connection, LINKS, COLUMNS, rows)
