"""Reconciliation beside the claim loop: every minute, look up the messages whose
final callback never arrived (:func:`textcast.dispatch.reconcile.reconcile_once`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from textcast.context import Context
from textcast.dispatch.reconcile import reconcile_once

log = logging.getLogger(__name__)

RECONCILE_INTERVAL = 60.0


class ReconcileLoop:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.interval = RECONCILE_INTERVAL  # seconds between passes

    async def run(self, stop: asyncio.Event) -> None:
        """A pass every :attr:`interval` until ``stop`` is set. A pass cut short
        (the task cancelled) is picked up next window: its rows wait one."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
                return
            try:
                counts = await reconcile_once(self._ctx)
            except Exception:
                log.exception("reconciliation failed; trying again next time")
                continue
            if counts["checked"]:
                log.info("reconciliation: %s", counts)
