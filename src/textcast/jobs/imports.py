"""The import runner: takes contact import jobs whose file is on this machine
and runs them, one at a time, in ``serve``'s event loop.

An upload wakes it at once; otherwise it looks every few seconds, which is
also how a job left by a process that died is taken over (its lease
expires).
"""

from __future__ import annotations

import asyncio

from textcast.audience import imports
from textcast.context import Context
from textcast.jobs.leased import LeasedRunner


class ImportRunner(LeasedRunner):
    name = "contact import runner"

    def __init__(self, ctx: Context, poll_interval: float = 5.0) -> None:
        super().__init__(ctx, poll_interval)

    async def claim(self) -> int | None:
        return await imports.claim(self._ctx, self.owner)

    async def work(self, job_id: int, stop: asyncio.Event) -> None:
        await imports.run(self._ctx, job_id, self.owner)
