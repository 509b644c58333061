"""Group commit: many requests, one transaction (callbacks, link clicks).

Providers call back in bursts, and each callback must be stored durably
before it is answered. Committing each one on its own makes the database the
bottleneck (and on SQLite, concurrent writers queue on one lock with sleeps
in between). Instead each request hands its item to a writer and waits; the
writer takes everything queued so far, runs its handler over the whole batch
as one transaction (so look-ups can be batched too) and then answers them
all. A request is answered only after the commit that contains its work, so
the acknowledgement stays durable.

If a batch fails, its items are retried one transaction each, so one bad
callback cannot sink the others it happened to share a batch with; an item
that lost a race with another process (:class:`ConcurrentUpdate`) is tried
again a few times before its request is failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from textcast.context import Context
from textcast.errors import ConcurrentUpdate

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")
# Runs a batch as one transaction: each item's result, in order.
Handler = Callable[[Sequence[Item]], Awaitable[list[Result]]]
MAX_BATCH = 256
RACE_RETRIES = 3


class GroupCommitter(Generic[Item, Result]):
    """``concurrency`` batches may be in their transactions at once: one is right
    for SQLite (one writer), more hide a database server's round trips."""

    def __init__(
        self, handler: Handler[Item, Result], max_batch: int = MAX_BATCH, concurrency: int = 1
    ) -> None:
        self.handler = handler
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._commits: set[asyncio.Task[None]] = set()

    async def run(self, item: Item) -> Result:
        """Handle ``item`` in a shared transaction; its result once committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)

    async def _drain(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                batch = [await self._queue.get()]
            except asyncio.CancelledError:
                self._slots.release()
                raise
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            live = [(item, future) for item, future in batch if not future.cancelled()]
            task = asyncio.create_task(self._commit_and_release(live))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)

    async def _commit_and_release(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            if batch:
                await self._commit(batch)
        finally:
            self._slots.release()

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self.handler([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1 and not isinstance(exc, ConcurrentUpdate):
                return _fail(batch[0][1], exc)
            if len(batch) > 1:
                log.warning("a batch of %d callbacks failed (%s); one by one", len(batch), exc)
            for entry in batch:
                await self._commit_alone(entry)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _commit_alone(self, entry: tuple[Item, asyncio.Future[Result]]) -> None:
        item, future = entry
        for attempt in range(RACE_RETRIES + 1):
            try:
                result = (await self.handler([item]))[0]
            except ConcurrentUpdate as exc:
                if attempt == RACE_RETRIES:
                    return _fail(future, exc)
                continue
            except Exception as exc:
                return _fail(future, exc)
            if not future.done():
                future.set_result(result)
            return


def _fail(future: asyncio.Future[Result], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)


def one_by_one(
    ctx: Context, handle: Callable[[AsyncSession, Item], Awaitable[Result]]
) -> Handler[Item, Result]:
    """A batch handler from a per-item one (for the less frequent callbacks):
    the items run one after another in one session."""

    async def handler(items: Sequence[Item]) -> list[Result]:
        async with ctx.session() as session:
            return [await handle(session, item) for item in items]

    return handler
