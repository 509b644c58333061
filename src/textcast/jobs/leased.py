"""The loop every leased background job runs in: take one job, work it, look
again; between looks, wait for a wake-up (something was queued here) or the
poll interval (how a job left by a process that died is taken over, once its
lease expires).

A runner says how to take a job (:meth:`LeasedRunner.claim`) and how to work
it (:meth:`LeasedRunner.work`); the leases themselves are the job's table's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket

from textcast.context import Context


class LeasedRunner:
    """One job at a time, in the event loop of ``serve`` or a worker."""

    # Named in the log when a job fails; the runner itself goes on.
    name = "job runner"

    def __init__(self, ctx: Context, poll_interval: float) -> None:
        self._ctx = ctx
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        # Unique per process and runner: what a lease row records as its holder.
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"

    def wake(self) -> None:
        """Work was queued here: look now rather than at the next poll."""
        self._wake.set()

    async def claim(self) -> int | None:
        """Lease a job with work due; its ID, or None."""
        raise NotImplementedError

    async def work(self, job_id: int, stop: asyncio.Event) -> None:
        """Work the leased job until it is done, its lease is lost, or ``stop``."""
        raise NotImplementedError

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                job_id = await self.claim()
                if job_id is not None:
                    await self.work(job_id, stop)
                    continue
            except Exception:  # one bad job or a database blip must not stop the runner
                logging.getLogger(type(self).__module__).exception(self.name)
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
