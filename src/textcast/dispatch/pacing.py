"""Sender pacing shared by every worker, in segments per second.

Carriers and Twilio count a sender's throughput in segments. Each sender has a
"theoretical arrival time" (GCRA) stored in ``sender_pacing``; a worker that
claims messages locks that row inside its claim transaction, schedules the
messages it may send within the next ``HOLD_SECONDS`` and hands the rest back
to the queue with the time they become due. Three workers sharing a 10-MPS
sender therefore send about 10 segments a second between them, not 30, and a
busy sender never holds send slots that other senders could use.

Messages handed back are spread out at the sender's pace, each due when it
could be admitted, and the rest of a saturated sender's due backlog is pushed
back the same way (up to ``DEFER_LIMIT`` a claim). Otherwise a large backlog
would all be due at once, be claimed and handed back over and over, and keep
every other sender's messages waiting behind it in the queue's order.

Times are wall-clock epoch seconds, so workers on several machines need
synchronised clocks (NTP), as any distributed rate limiter does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.db import bulk
from textcast.db.dialect import dialect_of
from textcast.db.models import Message, SenderPacing

# A sender may start one second's worth of segments at once, like Twilio's own queue.
BURST_SECONDS = 1.0
# Messages due later than this go back to the queue instead of waiting in memory.
HOLD_SECONDS = 2.0

PACING: Table = SenderPacing.__table__  # type: ignore[assignment]


# At most this many further due messages of a saturated sender are pushed back per claim.
DEFER_LIMIT = 10_000


@dataclass
class Schedule:
    send_at: list[float] = field(default_factory=list)  # per admitted message, in order
    release_at: list[float] = field(default_factory=list)  # per refused one: due again at
    tat: float = 0.0  # the sender's new theoretical arrival time
    projected: float = 0.0  # where the refused ones leave the sender's queue

    @property
    def saturated(self) -> bool:
        return bool(self.release_at)


def schedule(tat: float, now: float, mps: float, segments: Sequence[int]) -> Schedule:
    """Admit messages in order while they can leave within the hold window; the
    others are due again when each could be admitted, at the sender's pace."""
    result = Schedule(tat=max(tat, now))
    projected = result.tat
    for count in segments:
        cost = count / mps
        start = projected + cost - BURST_SECONDS
        if result.release_at or start - now > HOLD_SECONDS + 1e-9:  # float rounding
            result.release_at.append(start - HOLD_SECONDS)
        else:
            result.send_at.append(max(now, start))
            result.tat += cost
        projected += cost
    result.projected = projected
    return result


@dataclass
class Plan:
    send_at: dict[int, float] = field(default_factory=dict)  # message id → epoch seconds
    released: dict[int, float] = field(default_factory=dict)  # message id → due again at


async def plan(
    session: AsyncSession,
    batch: Sequence[tuple[int, int, int]],
    mps: Mapping[int, float],
    now: float,
) -> Plan:
    """Schedule ``(message id, sender id, segments)`` rows against the shared pacing.

    Must run in the claim's transaction: the pacing rows stay locked until it commits.
    """
    by_sender: dict[int, list[tuple[int, int]]] = {}
    for message_id, sender_id, segments in batch:
        by_sender.setdefault(sender_id, []).append((message_id, segments))
    result = Plan()
    for sender_id in sorted(by_sender):  # a fixed lock order: no deadlocks between workers
        rows = by_sender[sender_id]
        tat = await _lock(session, sender_id, now)
        planned = schedule(tat, now, mps[sender_id], [segments for _, segments in rows])
        for (message_id, _), send_at in zip(rows, planned.send_at, strict=False):
            result.send_at[message_id] = send_at
        refused = rows[len(planned.send_at) :]
        for (message_id, _), due in zip(refused, planned.release_at, strict=True):
            result.released[message_id] = due
        if planned.saturated:
            await _defer_backlog(
                session, sender_id, planned.projected, mps[sender_id], now, {m for m, _ in rows}
            )
        await session.execute(
            update(PACING).where(PACING.c.sender_id == sender_id).values(tat=planned.tat)
        )
    return result


async def _defer_backlog(
    session: AsyncSession,
    sender_id: int,
    projected: float,
    mps: float,
    now: float,
    claimed: set[int],
) -> None:
    """Push the saturated sender's other due messages back, each to when it
    could be admitted (one segment each: a longer one is simply handed back
    again when it comes due). Rows another worker has claimed are not touched."""
    now_at = datetime.fromtimestamp(now, UTC)
    due = (
        select(MESSAGES.c.id, MESSAGES.c.segments)
        .where(
            MESSAGES.c.sender_id == sender_id,
            MESSAGES.c.status == status.QUEUED,
            MESSAGES.c.next_attempt_at <= now_at,
        )
        .order_by(MESSAGES.c.next_attempt_at, MESSAGES.c.id)
        .limit(DEFER_LIMIT + len(claimed))
    )
    connection = await session.connection()
    db_time = dialect_of(connection).bind_time
    rows = []
    for message_id, segments in await connection.execute(due):
        if message_id in claimed:
            continue
        projected += segments / mps
        due_at = datetime.fromtimestamp(projected - BURST_SECONDS - HOLD_SECONDS, UTC)
        rows.append({"mid": message_id, "at": db_time(due_at)})
    await bulk.executemany(connection, _DEFER, rows)


MESSAGES: Table = Message.__table__  # type: ignore[assignment]
# Only a message still waiting, due: one another worker took meanwhile is left alone.
_DEFER = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("mid"), MESSAGES.c.status == status.QUEUED)
    .values(next_attempt_at=bindparam("at"))
)


async def _lock(session: AsyncSession, sender_id: int, now: float) -> float:
    """The sender's theoretical arrival time, its row locked until the claim commits.

    One statement once the row exists (every claim after a sender's first):
    the claim transaction's other statements wait behind the send lanes for
    each await, so each one saved shortens the claim.
    """
    locked = select(PACING.c.tat).where(PACING.c.sender_id == sender_id).with_for_update()
    tat = await session.scalar(locked)
    if tat is not None:
        return float(tat)
    # Two workers may meet a new sender at once: one inserts, the other waits for it.
    await session.execute(
        dialect_of(session)
        .insert_unless_exists(PACING, key=["sender_id"])
        .values(sender_id=sender_id, tat=now)
    )
    return float(await session.scalar(locked) or now)
