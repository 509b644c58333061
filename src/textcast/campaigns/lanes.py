"""A campaign's fan-out written on several connections at once (PostgreSQL).

With one writer, each batch's statements wait for the process between them
and the process waits for the database: at 100,000 recipients on two cores
the write transactions took the whole fan-out (the batch read ahead was
always ready) while the database's processes used ~45 µs of CPU a recipient
and the fan-out process ~48 µs, both cores half idle. Here one reader reads
and decides batches in order, and :data:`WRITERS` writers each write the
next one in a transaction of its own, so one batch's statements run on the
database while the process decides and binds the others.

The reader passes over the batches being written as the runner's single
read-ahead passes over one (:func:`textcast.campaigns.fanout.due`): they are
the head of the same order. A writer's batch takes the campaign's row only
with its last statement (the counts and the lease together, see
:func:`textcast.campaigns.fanout.commit`), so the writers do not queue
behind each other for the whole of a batch, and a pause, cancel or
take-over still either waits for a batch's commit or makes that batch roll
back whole (:class:`~fanout.CampaignMoved`). Their batches never share a
contact (one recipient per contact), so their caps' locks cannot deadlock.

SQLite has one writer: there the runner writes one batch at a time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from textcast.campaigns import fanout
from textcast.campaigns.read_ahead import SLICE, STALE
from textcast.context import Context
from textcast.db.models import utcnow

WRITERS = 2
# Unique-key clashes (a short-link code drawn twice) or moved recipients in a
# row before the writers give up and let the runner decide.
MAX_CLASHES = 5


def wanted(ctx: Context, plan: fanout.Plan) -> bool:
    """Whether ``plan``'s fan-out runs here: on a database with concurrent
    writers, and unthrottled (a throttled campaign writes a batch and waits)."""
    return ctx.dialect.skips_locked and plan.throttle is None


@dataclass
class Lanes:
    """One run of the writers for ``plan``'s campaign, held by ``owner``
    (see :meth:`run`)."""

    ctx: Context
    plan: fanout.Plan
    owner: str
    lease: timedelta  # how long each batch renews the lease for
    until: datetime  # the runner looks at the campaign again then
    queue_ahead: int | None
    stop: asyncio.Event | None = None
    # Decided batches waiting for a writer: one at most, so none goes stale.
    ready: asyncio.Queue[fanout.Prepared | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=1)
    )
    in_flight: set[int] = field(default_factory=set)  # read, not yet committed or dropped
    settled: int = 0
    clashes: int = 0
    # Time is up, the campaign expired or the outbox is full: the batches
    # under way finish, no more are read.
    stopped: bool = False

    async def run(self) -> int:
        """Write due recipients until none is due, the outbox holds
        ``queue_ahead`` of the campaign's messages, the campaign expires,
        ``until`` passes or ``stop`` is set; how many recipients were
        settled. Raises :class:`~fanout.CampaignMoved` when the campaign
        stopped sending or changed hands (nothing of the batches under way
        was written)."""
        tasks = [asyncio.create_task(self.read())]
        tasks += [asyncio.create_task(self.write()) for _ in range(WRITERS)]
        try:
            await asyncio.gather(*tasks)
        finally:
            # After a failure (the campaign moved, a database error) a batch
            # under way rolls back whole: its recipients stay pending.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.settled

    async def read(self) -> None:
        """Read and decide batches in order until none is due; then tell each
        writer (not when cancelled: the writers are being cancelled too)."""
        while not self.stopped and not self._over(now := utcnow()):
            async with self.ctx.session() as session:
                rows = await fanout.due(session, self.plan, now, frozenset(self.in_flight))
            if not rows:
                break
            batch = fanout.Prepared(now)
            for start in range(0, len(rows), SLICE):
                fanout.prepare(self.plan, rows[start : start + SLICE], now, batch)
                await asyncio.sleep(0)
            self.in_flight.update(batch.recipient_ids)
            await self.ready.put(batch)
        for _ in range(WRITERS):
            await self.ready.put(None)

    async def write(self) -> None:
        while (batch := await self.ready.get()) is not None:
            try:
                await self._commit(batch)
            finally:
                self.in_flight.difference_update(batch.recipient_ids)

    def _over(self, now: datetime) -> bool:
        expired = self.plan.expires_at is not None and self.plan.expires_at <= now
        shutting_down = self.stop is not None and self.stop.is_set()
        return now >= self.until or expired or shutting_down

    async def _commit(self, batch: fanout.Prepared) -> None:
        now = utcnow()
        if self.stopped or self._over(now):
            self.stopped = True
            return
        if now - batch.decided_at > STALE:
            return  # decided too long ago (quiet hours, expiry): stays pending
        try:
            async with self.ctx.write_session() as session:
                if self.queue_ahead is not None:
                    waiting = await fanout.waiting_messages(
                        session, self.plan.campaign_id, self.queue_ahead
                    )
                    if waiting >= self.queue_ahead:
                        self.stopped = True
                        return
                lease = (self.owner, now + self.lease)
                outcome = await fanout.commit(session, self.plan, batch, now, lease=lease)
        except (IntegrityError, fanout.RecipientsMoved):
            # Rolled back whole: its recipients stay pending, read again later
            # (with new short-link codes), see runner.drive.
            self.clashes += 1
            if self.clashes > MAX_CLASHES:
                raise
            return
        self.clashes = 0
        self.settled += outcome.touched
