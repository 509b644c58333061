"""The dispatch loop: claim a batch, send with bounded concurrency, record in bulk.

The :class:`Dispatcher` claims and composes the rest, each in a module of its
own: claimed messages wait in :mod:`~textcast.dispatch.sending`'s lanes until
the shared pacing lets them go; each finished send's outcome is buffered for
the :mod:`~textcast.dispatch.flusher`, which writes a batch every few
milliseconds; the :mod:`~textcast.dispatch.leases` of everything claimed and
not yet recorded are renewed however long it waits; and recovery
(:mod:`~textcast.dispatch.recovery_loop`) and reconciliation
(:mod:`~textcast.dispatch.reconcile_loop`) run beside the claim loop, never
inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

from sqlalchemy import func, select

from textcast import status
from textcast.context import Context
from textcast.db.models import Message
from textcast.dispatch import claims, outcome_store, outcomes, pacing, reconcile_loop
from textcast.dispatch.claims import Claimed
from textcast.dispatch.flusher import OutcomeFlusher
from textcast.dispatch.leases import HeldLeases
from textcast.dispatch.outcomes import Outcome
from textcast.dispatch.recovery_loop import RecoveryLoop
from textcast.dispatch.references import References
from textcast.dispatch.sending import Sending
from textcast.retry import RetryStrategy
from textcast.services import campaign_outbox

# Epoch seconds of campaign_outbox.HELD_UNTIL, as a released outcome takes it.
HELD = campaign_outbox.HELD_UNTIL.timestamp()

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        ctx: Context,
        *,
        worker_id: str | None = None,
        retry: RetryStrategy | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.retry = retry or RetryStrategy(
            max_attempts=ctx.settings.max_attempts, base_delay=ctx.settings.retry_base_delay
        )
        self._refs = References(ctx)
        self.leases = HeldLeases(ctx, self.worker_id)
        self.flusher = OutcomeFlusher(ctx, self.worker_id, self.leases)
        self.sending = Sending(ctx, self._refs, self.leases, self.retry, self._finish)
        self.recovery = RecoveryLoop(ctx, self.worker_id, self._refs, self.leases, self.retry)
        self.reconciliation = reconcile_loop.ReconcileLoop(ctx)
        # Claimed messages not yet sent or handed back are capped at a few times
        # the concurrency, so claims come in large batches (few transactions)
        # without hoarding the queue from other workers. Two batches' worth, so
        # the next claim starts while a full batch is still waiting: under load
        # a claim takes 100-150 ms of wall time (its turn for the write lock, and
        # each statement's await behind the send lanes on the event loop), and
        # starting it with half a batch left ran the lanes dry 15-20% of the
        # time (6-12% now; 5% more messages a second in 7 of 8 paired runs).
        self._max_claimed = max(
            ctx.settings.dispatch_concurrency * 4, 2 * ctx.settings.dispatch_batch_size
        )
        self._claim_at_least = min(ctx.settings.dispatch_batch_size, self._max_claimed // 2)
        self._outstanding = 0  # claimed here and not yet finished
        self._room = asyncio.Event()  # set when a claim of _claim_at_least fits

    @property
    def reconcile_interval(self) -> float:
        """Seconds between reconciliation passes."""
        return self.reconciliation.interval

    @reconcile_interval.setter
    def reconcile_interval(self, seconds: float) -> None:
        self.reconciliation.interval = seconds

    # --- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, shutdown_timeout: float = 20.0) -> None:
        """Dispatch until ``stop`` is set, then finish in-flight sends and flush."""
        flusher = asyncio.create_task(self.flusher.run(stop, self.sending.under_way))
        renewer = asyncio.create_task(self.leases.keep_renewed())
        recoverer = asyncio.create_task(self.recovery.run(stop))
        reconciler = asyncio.create_task(self.reconciliation.run(stop))
        try:
            while not stop.is_set():
                try:
                    claimed = await self.step()
                except Exception:  # a database outage or bad row must not kill the loop
                    log.exception("dispatch step failed; retrying shortly")
                    claimed = 0
                    await asyncio.sleep(1.0)
                if not claimed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.dispatch_poll_interval)
        finally:
            # A reconciliation pass cut short is picked up next window (its rows wait one).
            reconciler.cancel()
            # Sends already under way finish; claimed messages not yet started go back.
            self.sending.stop()
            running = self.sending.running()
            if running:
                await asyncio.wait(running, timeout=shutdown_timeout)
            for lane in running:
                lane.cancel()
            if running:
                # A cancelled send leaves its message leased: recovery decides it later.
                await asyncio.wait(running)
            await recoverer  # a round under way finishes: it holds what it took
            await flusher
            await self.flush()
            # Renewed until here: what is still held (cancelled sends) is recovery's now.
            renewer.cancel()
            await asyncio.gather(renewer, reconciler, return_exceptions=True)

    async def step(self) -> int:
        """Claim what fits in the free capacity and hand it to the send lanes."""
        capacity = self._max_claimed - self._outstanding
        if capacity < self._claim_at_least:
            self._room.clear()
            await self._room.wait()
            return 1
        batch = await self._claim(min(capacity, self.settings.dispatch_batch_size))
        self._outstanding += len(batch)
        for message, send_at in batch:
            self.sending.add(message, send_at)
        return len(batch)

    async def drain(self, timeout: float = 30.0) -> None:
        """Send until no message is queued or in flight (tests, benchmarks).

        Runs the same loop as :meth:`run`, so claims, sends and recording overlap
        as in production instead of taking turns.
        """
        stop = asyncio.Event()
        runner = asyncio.create_task(self.run(stop))
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not runner.done():
                await asyncio.sleep(self.settings.dispatch_poll_interval)
                # The database has the last word: a claim or a flush may be under way.
                in_hand = self._outstanding or self.flusher.buffered
                if not in_hand and not await self._pending():
                    return
        finally:
            stop.set()
            await runner
        raise TimeoutError("dispatcher did not drain in time")

    async def _pending(self) -> int:
        """Messages still waiting: paced, backing off, or held by another worker."""
        async with self.ctx.sessions() as session:
            query = select(func.count()).where(
                Message.status.in_((status.QUEUED, status.DISPATCHING))
            )
            return int(await session.scalar(query) or 0)

    async def flush(self) -> None:
        """Write buffered outcomes now (see :meth:`OutcomeFlusher.flush`)."""
        await self.flusher.flush()

    async def renew_leases(self) -> None:
        """Renew the leases this worker holds now (see :meth:`HeldLeases.renew`)."""
        await self.leases.renew()

    async def recover_expired(self) -> int:
        """One round of recovery now (see :meth:`RecoveryLoop.recover_expired`)."""
        return await self.recovery.recover_expired()

    def _finish(self, outcome: Outcome) -> None:
        """Buffer a claimed message's outcome; it no longer counts against the claim cap."""
        self.flusher.add(outcome)
        self._outstanding -= 1
        if self._max_claimed - self._outstanding >= self._claim_at_least:
            self._room.set()

    # --- claiming ------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[tuple[Claimed, float]]:
        send_until = self.leases.send_deadline()
        async with self.ctx.write_session() as session:
            batch = await claims.claim(
                session,
                worker=self.worker_id,
                limit=limit,
                lease_seconds=self.settings.lease_seconds,
            )
            if not batch:
                return []
            await self._refs.refresh(session, batch)
            # Of a campaign paused or ended since they were queued (a retry
            # queued again after the stop): back untried and held, and an
            # ended campaign's then cancelled (textcast.services.campaign_outbox).
            states = await campaign_outbox.stopped(
                session, {m.campaign_id for m in batch if m.campaign_id is not None}
            )
            stopped = {m.id for m in batch if m.campaign_id in states}
            suppressed = await claims.suppressed(session, batch)
            sendable = [m for m in batch if m.id not in suppressed and m.id not in stopped]
            senders = self._refs.senders
            planned = await pacing.plan(
                session,
                [(m.id, m.sender_id, m.segments) for m in sendable],
                {m.sender_id: senders[m.sender_id].mps for m in sendable},
                time.time(),
            )
            # Over the sender's pace: back to the queue in this same transaction, untried.
            released = [outcomes.released(mid, at) for mid, at in planned.released.items()]
            released += [outcomes.released(mid, HELD) for mid in stopped]
            await outcome_store.record(session, self.worker_id, released)
            for campaign_id, state in states.items():
                if state in campaign_outbox.ENDED_EARLY:
                    why = campaign_outbox.ENDED_EARLY[state]
                    await campaign_outbox.cancel_waiting(session, campaign_id, why)
        gone = planned.released.keys() | stopped
        self.leases.hold([m.id for m in batch if m.id not in gone], send_until)
        self.flusher.add_all(outcomes.suppressed(m) for m in batch if m.id in suppressed - stopped)
        return [(m, planned.send_at[m.id]) for m in sendable if m.id in planned.send_at]
