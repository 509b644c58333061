"""A message's clicks as they were recorded: each request for one of its
tracked links, people's counted and bots' flagged with the reason (a link
preview, a scanner), so an operator can see why a click did not count."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import LinkClick, ShortLink

# What each of :func:`textcast.tracking.bots.bot_reason`'s answers means.
BOT_REASONS = {
    "head_request": "a HEAD request (browsers GET)",
    "no_user_agent": "no user agent",
    "bot_user_agent": "a bot's user agent",
    "right_after_delivery": "seconds after delivery (a link preview)",
}


async def of_message(
    session: AsyncSession, message_id: int, limit: int = 100
) -> list[dict[str, Any]]:
    """The message's first ``limit`` clicks, oldest first, with their link's URL."""
    query = (
        select(LinkClick, ShortLink.url)
        .join(ShortLink, ShortLink.id == LinkClick.link_id)
        .where(LinkClick.message_id == message_id)
        .order_by(LinkClick.id)
        .limit(limit)
    )
    return [click_view(click, url) for click, url in await session.execute(query)]


def click_view(click: LinkClick, url: str) -> dict[str, Any]:
    return {
        "at": click.clicked_at.isoformat(),
        "url": url,
        "counted": not click.is_bot,
        "first": click.first,
        "bot_reason": BOT_REASONS.get(click.bot_reason or "", click.bot_reason),
        "user_agent": click.user_agent,
    }
