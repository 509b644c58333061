"""Group commit for callbacks: many requests, one transaction.

Providers call back in bursts, and each callback must be stored durably
before it is answered. Committing each one on its own makes the database the
bottleneck (and on SQLite, concurrent writers queue on one lock with sleeps
in between). Instead each request hands its item to a writer and waits; the
writer takes everything queued so far, runs its handler over the whole batch
inside one transaction (so lookups can be batched too), commits once and then
answers them all. A request is answered only after the commit that contains
its work, so the acknowledgement stays durable.

If a batch fails, its items are retried one transaction each, so one bad
callback cannot sink the others it happened to share a batch with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from textcast.context import Context

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")
Handler = Callable[[AsyncSession, Sequence[Item]], Awaitable[list[Result]]]
MAX_BATCH = 256


class GroupCommitter(Generic[Item, Result]):
    def __init__(
        self, ctx: Context, handler: Handler[Item, Result], max_batch: int = MAX_BATCH
    ) -> None:
        self.ctx = ctx
        self.handler = handler
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def run(self, item: Item) -> Result:
        """Handle ``item`` in a shared transaction; its result once committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _drain(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [(item, future) for item, future in batch if not future.cancelled()]
            if live:
                await self._commit(live)

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            async with self.ctx.session() as session:
                results = await self.handler(session, [item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            log.warning("a batch of %d callbacks failed; retrying one by one", len(batch))
            for entry in batch:
                await self._commit([entry])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def one_by_one(
    handle: Callable[[AsyncSession, Item], Awaitable[Result]],
) -> Handler[Item, Result]:
    """A batch handler from a per-item one (for the less frequent callbacks)."""

    async def handler(session: AsyncSession, items: Sequence[Item]) -> list[Result]:
        return [await handle(session, item) for item in items]

    return handler
