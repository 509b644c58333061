"""Taking messages from the outbox: claims with a lease, their renewal, and
the take-over of messages whose lease expired.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so any number of workers
share the queue without waiting on each other; SQLite has one writer anyway
and runs one dispatcher per file (see :mod:`textcast.db.dialect`). A claim
reads what a send needs and no more, each value as the driver returns it (see
:data:`_SEND_COLUMNS`).
What happened to claimed messages is written by :mod:`textcast.dispatch.outcome_store`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, Text, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from textcast import status
from textcast.audience import suppressions
from textcast.db.dialect import dialect_of
from textcast.db.models import Contact, Message, WebhookReceipt, utcnow

MESSAGES = cast(Table, Message.__table__)
CONTACTS = cast(Table, Contact.__table__)
RECEIPTS = cast(Table, WebhookReceipt.__table__)


# Not frozen: a frozen dataclass costs about 3.5 µs to build against 0.4 µs for
# a plain one with slots, and a claim builds one per message. Treat as read-only.
@dataclass(slots=True)
class Claimed:
    id: int
    provider_id: int
    sender_id: int
    to: str
    body: str
    media_urls: tuple[str, ...]
    segments: int
    attempts: int
    # Attribution carried in the callback's meta.
    campaign: str | None = None
    automation: str | None = None
    # The provider's template ID, and a Twilio Content template's variables.
    template_id: str | None = None
    content_variables: str | None = None
    variant: str | None = None  # a campaign's A/B variant, also in the meta
    campaign_id: int | None = None  # the campaign object that made it (see campaign_outbox)
    contact_id: int | None = None
    # What recovery needs, read only when it takes a message over (take_expired):
    # when the message was created and its current attempt became due, and the
    # last attempt's error. A claim for sending leaves them None.
    created_at: datetime | None = None
    due_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None


async def claim(
    session: AsyncSession, *, worker: str, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Take up to ``limit`` due messages for ``worker`` (one more attempt each)."""
    due = (Message.status == status.QUEUED, Message.next_attempt_at <= utcnow())
    return await _take(session, due, worker, limit, lease_seconds, new_attempt=True)


async def take_expired(
    session: AsyncSession,
    *,
    worker: str,
    limit: int,
    lease_seconds: float,
    exclude: Collection[int] = (),
) -> list[Claimed]:
    """Take over messages whose lease expired (their worker vanished mid-send, or
    a send or look-up left them ``unsure``), so exactly one worker decides what
    happened to each. ``exclude`` names messages ``worker`` itself still holds
    in memory: their fate is its own to record, even if a renewal came late."""
    expired = [Message.status == status.DISPATCHING, Message.lease_expires_at < utcnow()]
    if exclude:
        expired.append(Message.id.not_in(list(exclude)))
    return await _take(session, tuple(expired), worker, limit, lease_seconds, new_attempt=False)


async def _take(
    session: AsyncSession,
    where: tuple[Any, ...],
    worker: str,
    limit: int,
    lease_seconds: float,
    *,
    new_attempt: bool,
) -> list[Claimed]:
    now = utcnow()
    chosen = (
        select(Message.id).where(*where).order_by(Message.next_attempt_at, Message.id).limit(limit)
    )
    chosen = dialect_of(session).skip_locked(chosen)
    # The table, not the ORM entity: the ORM's bulk-update path costs more
    # than the statement, and nothing here needs its bookkeeping.
    stmt = (
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(chosen.scalar_subquery()))
        .values(
            status=status.DISPATCHING,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=MESSAGES.c.attempts + (1 if new_attempt else 0),
            updated_at=now,
        )
        .returning(*_SEND_COLUMNS, *(() if new_attempt else _RECOVERY_COLUMNS))
    )
    # Through the connection: rows as the driver returns them, past the ORM.
    connection = await session.connection()
    rows = (await connection.execute(stmt)).all()
    contact_ids = await _contact_ids(connection, {row[3] for row in rows})
    taken = [_claimed(row, contact_ids.get(row[3])) for row in rows]
    taken.sort(key=lambda c: c.id)
    return taken


def _claimed(row: Sequence[Any], contact_id: int | None) -> Claimed:
    """A row of :data:`_SEND_COLUMNS` (then maybe :data:`_RECOVERY_COLUMNS`)."""
    claimed = Claimed(
        row[0], row[1], row[2], row[3], row[4], _media(row[5]),
        row[6], row[7], row[8], row[9], row[10], row[11], row[12], row[13],
    )  # fmt: skip
    claimed.contact_id = contact_id
    if len(row) > _SENT:
        claimed.created_at, claimed.due_at, claimed.error_code, claimed.error_message = row[_SENT:]
    return claimed


async def _contact_ids(connection: AsyncConnection, phones: set[str]) -> dict[str, int]:
    # Not a subquery in RETURNING: SQLite runs those without indexes (a scan
    # of the contacts per message).
    if not phones:
        return {}
    query = select(CONTACTS.c.phone, CONTACTS.c.id).where(
        dialect_of(connection).one_of(CONTACTS.c.phone, phones)
    )
    return {phone: contact_id for phone, contact_id in await connection.execute(query)}


# What a send needs, in Claimed's field order, each value as the driver
# returns it: the media list as JSON text, parsed only when not empty (cast in
# SQL, or asyncpg decodes every row's JSON), and nothing SQLAlchemy converts
# row by row, such as SQLite's datetimes. At a thousand rows a claim, those
# conversions cost more than the statement. The contact ID (Claimed's next
# field) is looked up apart.
_SEND_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.provider_id,
    MESSAGES.c.sender_id,
    MESSAGES.c.to,
    MESSAGES.c.body,
    MESSAGES.c.media_urls.cast(Text()),
    MESSAGES.c.segments,
    MESSAGES.c.attempts,
    MESSAGES.c.campaign,
    MESSAGES.c.automation,
    MESSAGES.c.template_id,
    MESSAGES.c.content_variables,
    MESSAGES.c.variant,
    MESSAGES.c.campaign_id,
)
_SENT = len(_SEND_COLUMNS)
# What recovery needs besides (see Claimed).
_RECOVERY_COLUMNS = (
    MESSAGES.c.created_at,
    MESSAGES.c.next_attempt_at,
    MESSAGES.c.error_code,
    MESSAGES.c.error_message,
)


def _media(stored: str | list[str] | None) -> tuple[str, ...]:
    """A message's media URLs from the JSON column read as text."""
    if not stored or stored == "[]":
        return ()
    return tuple(json.loads(stored) if isinstance(stored, str) else stored)


async def suppressed(session: AsyncSession, batch: Sequence[Claimed]) -> set[int]:
    """The IDs of messages in ``batch`` whose number is suppressed for their
    provider account, or for their sender alone (sender-scoped opt-outs)."""
    blocked = await suppressions.blocked(
        session, ((c.provider_id, c.sender_id, c.to) for c in batch)
    )
    return {c.id for c in batch if (c.provider_id, c.sender_id, c.to) in blocked}


# --- leases ------------------------------------------------------------------------

# IDs per renewal statement: well inside both databases' limits on bound values.
RENEW_CHUNK = 1000


@dataclass
class Renewal:
    renewed: set[int] = field(default_factory=set)  # leases extended
    lost: set[int] = field(default_factory=set)  # no longer held by the worker


async def renew(
    session: AsyncSession, *, worker: str, ids: Collection[int], lease_seconds: float
) -> Renewal:
    """Extend ``worker``'s leases on ``ids`` by ``lease_seconds`` from now.

    A message another worker took over, or that a callback moved on, is
    ``lost``. On PostgreSQL rows locked by another transaction at that moment
    (a callback batch, this worker's own flush) are skipped rather than waited
    for, so a renewal never deadlocks with them; they are neither renewed nor
    lost this time, and the next renewal (a third of a lease later) has them.
    """
    result = Renewal()
    until = utcnow() + timedelta(seconds=lease_seconds)
    dialect = dialect_of(session)
    ordered = sorted(ids)
    for start in range(0, len(ordered), RENEW_CHUNK):
        chunk = ordered[start : start + RENEW_CHUNK]
        held = and_(
            MESSAGES.c.id.in_(chunk),
            MESSAGES.c.status == status.DISPATCHING,
            MESSAGES.c.lease_owner == worker,
        )
        chosen = dialect.skip_locked(select(MESSAGES.c.id).where(held))
        stmt = (
            update(MESSAGES)
            .where(MESSAGES.c.id.in_(chosen.scalar_subquery()))
            .values(lease_expires_at=until)
            .returning(MESSAGES.c.id)
        )
        renewed = set((await session.execute(stmt)).scalars())
        still_held = renewed
        if dialect.skips_locked and len(renewed) < len(chunk):
            # Skipped (locked) is not lost: ask without locking.
            still_held = set((await session.execute(select(MESSAGES.c.id).where(held))).scalars())
        result.renewed |= renewed
        result.lost.update(mid for mid in chunk if mid not in still_held)
    return result


async def recorded_sids(session: AsyncSession, sids: Collection[str]) -> set[str]:
    """The provider message IDs among ``sids`` Textcast already attributes to a
    message: recorded on one, or named by a callback that was applied to one.

    A message being recovered is ``dispatching``, so none of these can be its
    current attempt's: its own recorded ID, if any, is an earlier attempt's.
    """
    if not sids:
        return set()
    wanted = list(sids)
    known = set(
        (
            await session.execute(
                select(MESSAGES.c.provider_message_id).where(
                    MESSAGES.c.provider_message_id.in_(wanted)
                )
            )
        ).scalars()
    )
    known |= set(
        (
            await session.execute(
                select(RECEIPTS.c.provider_message_id).where(
                    RECEIPTS.c.provider_message_id.in_(wanted),
                    RECEIPTS.c.message_id.is_not(None),
                    RECEIPTS.c.outcome.in_(ATTRIBUTED_OUTCOMES),
                )
            )
        ).scalars()
    )
    return {sid for sid in known if sid}


# Callback outcomes that tie a provider message ID to a message's attempt.
ATTRIBUTED_OUTCOMES = ("applied", "duplicate", "stale", "requeued")
