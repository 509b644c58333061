"""The import runner: takes contact import jobs whose file is on this machine
and runs them, one at a time, in ``serve``'s event loop.

An upload wakes it at once; otherwise it looks every few seconds, which is
also how a job left by a process that died is taken over (its lease
expires).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket

from textcast.audience import imports
from textcast.context import Context

log = logging.getLogger(__name__)


class ImportRunner:
    def __init__(self, ctx: Context, poll_interval: float = 5.0) -> None:
        self._ctx = ctx
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                job_id = await imports.claim(self._ctx, self.owner)
                if job_id is not None:
                    await imports.run(self._ctx, job_id, self.owner)
                    continue
            except Exception:  # one bad job or a database blip must not stop the runner
                log.exception("contact import runner")
            await _first_of(stop, self._wake, self._poll_interval)


async def _first_of(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
