"""Send lanes: a few long-lived tasks per provider that send claimed messages in turn.

A task per message cost more than the rest of the dispatcher's bookkeeping:
creating it, and waking it through two semaphores when most of the claimed
batch waits for a slot. Here each provider account has at most ``cap`` lanes,
each taking the next due message from the provider's queue until the queue is
empty, so a send needs no new task and no wait on a lock. Messages that the
shared pacing schedules for later join the queue from a timer when they are
due, so a paced sender never holds a lane that another sender could use.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class SendLanes(Generic[Item]):
    """Due items of one provider account, sent by at most ``cap`` lanes at a time.

    ``send`` does one item's whole send; ``release`` hands back an item that
    was never started because the dispatcher is stopping.
    """

    def __init__(
        self,
        cap: int,
        send: Callable[[Item], Awaitable[None]],
        release: Callable[[Item], None],
        stopping: asyncio.Event,
    ) -> None:
        self._cap = cap
        self._send = send
        self._release = release
        self._stopping = stopping
        self._due: deque[Item] = deque()
        self._timers: dict[int, tuple[asyncio.TimerHandle, Item]] = {}
        self._timer_keys = itertools.count()
        self._lanes: set[asyncio.Task[None]] = set()

    def add(self, item: Item, send_at: float) -> None:
        """Send ``item`` at ``send_at`` (epoch seconds) or as soon after as a lane is free."""
        wait = send_at - time.time()
        if wait <= 0 or self._stopping.is_set():
            self._enqueue(item)
            return
        key = next(self._timer_keys)
        handle = asyncio.get_running_loop().call_later(wait, self._on_timer, key)
        self._timers[key] = (handle, item)

    def _on_timer(self, key: int) -> None:
        _, item = self._timers.pop(key)
        self._enqueue(item)

    def _enqueue(self, item: Item) -> None:
        if self._stopping.is_set():
            self._release(item)
            return
        self._due.append(item)
        if len(self._lanes) < self._cap:
            lane = asyncio.create_task(self._lane())
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)

    async def _lane(self) -> None:
        due = self._due
        while due:
            item = due.popleft()
            if self._stopping.is_set():
                self._release(item)
            else:
                await self._send(item)

    def stop(self) -> None:
        """Hand back every item not yet started; lanes finish the sends under way."""
        for handle, item in self._timers.values():
            handle.cancel()
            self._release(item)
        self._timers.clear()
        while self._due:
            self._release(self._due.popleft())

    @property
    def lanes(self) -> set[asyncio.Task[None]]:
        return self._lanes
