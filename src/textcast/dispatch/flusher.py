"""The outcome flusher: what happened to claimed messages, buffered as sends
finish and written every few milliseconds in one transaction, so the database
is not the bottleneck and a slow provider call never holds a connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from textcast.context import Context
from textcast.dispatch import outcome_store
from textcast.dispatch.leases import HeldLeases
from textcast.dispatch.outcomes import Outcome

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.02


class OutcomeFlusher:
    def __init__(self, ctx: Context, worker_id: str, leases: HeldLeases) -> None:
        self._ctx = ctx
        self._worker_id = worker_id
        self._leases = leases
        self._buffer: list[Outcome] = []

    def add(self, outcome: Outcome) -> None:
        self._buffer.append(outcome)

    def add_all(self, outcomes: Iterable[Outcome]) -> None:
        self._buffer.extend(outcomes)

    @property
    def buffered(self) -> int:
        """Outcomes not yet written."""
        return len(self._buffer)

    async def run(self, stop: asyncio.Event, sends_under_way: Callable[[], bool]) -> None:
        """Flush every :data:`FLUSH_INTERVAL` until ``stop`` is set and no send is under way."""
        while not stop.is_set() or sends_under_way():
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()

    async def flush(self) -> None:
        """Write buffered outcomes; on a database error keep them for the next try."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        # No longer renewed: recording takes a moment, not a lease. Let go first,
        # so a message claimed again as soon as this commits keeps its new lease.
        let_go = self._leases.let_go([o.message_id for o in batch])
        try:
            async with self._ctx.write_session() as session:
                await outcome_store.record(session, self._worker_id, batch)
        except Exception:
            log.exception("recording %d send outcomes failed; will retry", len(batch))
            self._buffer[:0] = batch
            self._leases.take_back(let_go)
            await asyncio.sleep(0.5)
