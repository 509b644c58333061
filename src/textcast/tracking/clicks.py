"""Clicks: every request for a short link, recorded before it is redirected.

A batch of requests is one transaction: one look-up of the codes, one of the
messages they belong to (when each arrived, for the preview-bot rule) and of
which of them already had a person's click, then one insert of the clicks and
one of the ``message.clicked`` events. A person's click writes an event every
time (total clicks) and marks the first per message (``first``: unique
clicks); a bot's is stored, flagged, and writes no event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from textcast import status
from textcast.db import bulk
from textcast.db.dialect import Convert, dialect_of
from textcast.db.models import LinkClick, Message, MessageEvent, ShortLink, utcnow
from textcast.tracking.bots import bot_reason

LINKS = cast(Table, ShortLink.__table__)
CLICKS = cast(Table, LinkClick.__table__)
MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
_INSERT_CLICK = insert(CLICKS)
_INSERT_EVENT = insert(EVENTS)
USER_AGENT_LIMIT = 300


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """One request for ``/s/<code>`` as it arrived."""

    code: str
    method: str
    user_agent: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Found:
    """Where a request goes: ``url`` for a live link, else ``gone`` (expired)
    or neither (no such code)."""

    url: str | None
    gone: bool = False


NOT_FOUND = Found(None)
GONE = Found(None, gone=True)


async def record(
    connection: AsyncConnection,
    requests: Sequence[LinkRequest],
    in_flight: set[int] | None = None,
    claimed: set[int] | None = None,
) -> list[Found]:
    """Store ``requests`` as clicks in one transaction; where each one goes.

    ``in_flight`` names the messages whose first click is in a batch of this
    process not yet committed (two batches may run at once): theirs is not
    first again. This batch adds the messages it gives a first click to it
    and to ``claimed``, which the caller takes out of ``in_flight`` once the
    transaction is over (committed, the database answers for them)."""
    dialect = dialect_of(connection)
    codes = {r.code for r in requests}
    links = {
        row.code: row
        for row in await connection.execute(
            select(LINKS).where(dialect.one_of(LINKS.c.code, codes))
        )
    }
    message_ids = {link.message_id for link in links.values() if link.message_id is not None}
    arrived, clicked_before = await _messages(connection, message_ids)
    in_flight = set() if in_flight is None else in_flight
    claimed = set() if claimed is None else claimed
    clicked_before |= in_flight & message_ids
    at = dialect.bind_time
    clicks: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    answers: list[Found] = []
    for request in requests:
        link = links.get(request.code)
        if link is None:
            answers.append(NOT_FOUND)
            continue
        if link.expires_at is not None and link.expires_at <= request.at:
            answers.append(GONE)
            continue
        answers.append(Found(link.url))
        reason = bot_reason(
            request.user_agent, request.method, request.at, arrived.get(link.message_id)
        )
        first = reason is None and link.message_id not in clicked_before
        if first and link.message_id is not None:
            clicked_before.add(link.message_id)
            in_flight.add(link.message_id)
            claimed.add(link.message_id)
        clicks.append(_click(link, request, reason, first, at))
        if reason is None and link.message_id is not None:
            events.append(_event(link, request, first, at))
    await bulk.executemany(connection, _INSERT_CLICK, clicks)
    await bulk.executemany(connection, _INSERT_EVENT, events)
    return answers


async def _messages(
    connection: AsyncConnection, ids: set[int]
) -> tuple[dict[int, datetime], set[int]]:
    """When each message reached its recipient (Textcast heard of delivery;
    the send, until then), and which already had a person's click."""
    if not ids:
        return {}, set()
    dialect = dialect_of(connection)
    rows = await connection.execute(
        select(MESSAGES.c.id, MESSAGES.c.status, MESSAGES.c.final_at, MESSAGES.c.sent_at).where(
            dialect.one_of(MESSAGES.c.id, ids)
        )
    )
    arrived: dict[int, datetime] = {}
    for row in rows:
        delivered = row.status in (status.DELIVERED, status.READ) and row.final_at is not None
        moment = row.final_at if delivered else row.sent_at
        if moment is not None:
            arrived[row.id] = moment
    clicked = await connection.execute(
        select(CLICKS.c.message_id)
        .where(dialect.one_of(CLICKS.c.message_id, ids), CLICKS.c.first.is_(True))
        .distinct()
    )
    return arrived, {row.message_id for row in clicked}


def _click(
    link: Any, request: LinkRequest, reason: str | None, first: bool, at: Convert
) -> dict[str, Any]:
    return {
        "link_id": link.id,
        "message_id": link.message_id,
        "contact_id": link.contact_id,
        "campaign": link.campaign,
        "clicked_at": at(request.at),
        "method": request.method[:8],
        "user_agent": (request.user_agent or "")[:USER_AGENT_LIMIT] or None,
        "is_bot": reason is not None,
        "bot_reason": reason,
        "first": first,
    }


def _event(link: Any, request: LinkRequest, first: bool, at: Convert) -> dict[str, Any]:
    return {
        "type": "message.clicked",
        "message_id": link.message_id,
        "contact_id": link.contact_id,
        "status": None,
        "source": "click",
        "error_code": None,
        "detail": link.url,
        "data": json.dumps({"url": link.url, "code": link.code, "first": first}),
        "created_at": at(request.at or utcnow()),
    }
