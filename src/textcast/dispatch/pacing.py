"""Sender pacing shared by every worker, in segments per second.

Carriers and Twilio count a sender's throughput in segments. Each sender has a
"theoretical arrival time" (GCRA) stored in ``sender_pacing``; a worker that
claims messages locks that row inside its claim transaction, schedules the
messages it may send within the next ``HOLD_SECONDS`` and hands the rest back
to the queue with the time they become due. Three workers sharing a 10-MPS
sender therefore send about 10 segments a second between them, not 30, and a
busy sender never holds send slots that other senders could use.

Times are wall-clock epoch seconds, so workers on several machines need
synchronised clocks (NTP), as any distributed rate limiter does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import SenderPacing

# A sender may start one second's worth of segments at once, like Twilio's own queue.
BURST_SECONDS = 1.0
# Messages due later than this go back to the queue instead of waiting in memory.
HOLD_SECONDS = 2.0

PACING: Table = SenderPacing.__table__  # type: ignore[assignment]


@dataclass
class Schedule:
    send_at: list[float] = field(default_factory=list)  # per admitted message, in order
    release_at: float | None = None  # when the first refused message becomes due
    tat: float = 0.0  # the sender's new theoretical arrival time


def schedule(tat: float, now: float, mps: float, segments: Sequence[int]) -> Schedule:
    """Admit messages in order while they can leave within the hold window."""
    result = Schedule(tat=max(tat, now))
    for count in segments:
        cost = count / mps
        start = result.tat + cost - BURST_SECONDS
        if start - now > HOLD_SECONDS + 1e-9:  # tolerate float rounding at the edge
            result.release_at = start
            break
        result.send_at.append(max(now, start))
        result.tat += cost
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
        for message_id, _ in rows[len(planned.send_at) :]:
            result.released[message_id] = planned.release_at or now
        await session.execute(
            update(PACING).where(PACING.c.sender_id == sender_id).values(tat=planned.tat)
        )
    return result


async def _lock(session: AsyncSession, sender_id: int, now: float) -> float:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(PACING)
        .values(sender_id=sender_id, tat=now)
        .on_conflict_do_nothing(index_elements=["sender_id"])
    )
    query = select(PACING.c.tat).where(PACING.c.sender_id == sender_id).with_for_update()
    return float(await session.scalar(query) or now)
