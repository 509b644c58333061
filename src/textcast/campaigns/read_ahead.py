"""The next fan-out batch, read and decided while the current one is written.

A batch is two kinds of work: deciding each recipient (quiet hours,
rendering, links, the content rule — Python's CPU) and writing the messages
(the database's). Done one after the other, each waits for the other; with
the next batch decided on a session of its own while the current batch's
statements run, they overlap (measured at 50,000 recipients on PostgreSQL:
decisions ~36 µs and writes ~90 µs a recipient).

Nothing is decided here that must be decided with the contacts held: the
frequency caps are counted by :func:`textcast.campaigns.fanout.commit`, in
the writing transaction. The batch read ahead passes over the one being
written; a recipient another process settled in between makes that commit
fail whole (:class:`~textcast.campaigns.fanout.RecipientsMoved`), and it is
read again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from datetime import timedelta

from textcast.campaigns import fanout
from textcast.context import Context
from textcast.db.models import utcnow

# Recipients decided between two looks at the event loop, so the statements
# of the batch being written are sent on as soon as their answers come.
SLICE = 100
# A batch read ahead is written within milliseconds; one older than this (the
# writer waited on a lock) is decided again, its quiet hours and expiry with it.
STALE = timedelta(seconds=5)


class ReadAhead:
    """At most one batch being read ahead for one campaign's plan."""

    def __init__(self, ctx: Context, plan: fanout.Plan) -> None:
        self._ctx = ctx
        self._plan = plan
        self._task: asyncio.Task[fanout.Prepared | None] | None = None

    def start(self, passing_over: Collection[int]) -> None:
        """Read and decide the next batch, none of ``passing_over``."""
        assert self._task is None, "one batch ahead at a time"
        self._task = asyncio.create_task(self._read(frozenset(passing_over)))

    async def take(self) -> fanout.Prepared | None:
        """The batch read ahead; None when none was started or none was due."""
        task, self._task = self._task, None
        return None if task is None else await task

    async def drop(self) -> None:
        """Forget the batch read ahead (nothing of it was written)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _read(self, passing_over: frozenset[int]) -> fanout.Prepared | None:
        now = utcnow()
        async with self._ctx.session() as session:
            rows = await fanout.due(session, self._plan, now, passing_over)
        if not rows:
            return None
        prepared = fanout.Prepared(now)
        for start in range(0, len(rows), SLICE):
            fanout.prepare(self._plan, rows[start : start + SLICE], now, prepared)
            await asyncio.sleep(0)
        return prepared
