"""The leases a worker holds: every message it claimed whose outcome is not yet
recorded, kept alive however long the message waits in a send lane.

The worker renews them all every third of a lease, and starts a send only
while it is sure it still holds the lease: within two thirds of a lease from
the latest renewal (or the claim), so one renewal can be late without a send
ever starting on a lease that may have run out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from textcast.context import Context
from textcast.dispatch import claims

log = logging.getLogger(__name__)

RENEW_FRACTION = 1 / 3
SEND_WINDOW_FRACTION = 2 / 3


class HeldLeases:
    """The messages whose lease this worker holds, each with the monotonic time
    until which a send of it may start."""

    def __init__(self, ctx: Context, worker_id: str) -> None:
        self._ctx = ctx
        self._worker_id = worker_id
        self._send_window = ctx.settings.lease_seconds * SEND_WINDOW_FRACTION
        self._until: dict[int, float] = {}

    def send_deadline(self) -> float:
        """Until when a send may start on a lease taken (or renewed) from now:
        asked before the statement, so never later than the lease it takes."""
        return time.monotonic() + self._send_window

    def hold(self, message_ids: Iterable[int], until: float) -> None:
        """Claimed: sends of ``message_ids`` may start until ``until``."""
        self._until.update(dict.fromkeys(message_ids, until))

    def holds(self, message_id: int) -> bool:
        """A send of ``message_id`` may start now."""
        until = self._until.get(message_id)
        return until is not None and time.monotonic() < until

    def ids(self) -> list[int]:
        return list(self._until)

    def let_go(self, message_ids: Iterable[int]) -> dict[int, float | None]:
        """Stop renewing ``message_ids``, whose outcomes are being recorded;
        what each was held until (None: not held), for :meth:`take_back`."""
        return {message_id: self._until.pop(message_id, None) for message_id in message_ids}

    def take_back(self, let_go: dict[int, float | None]) -> None:
        """The outcomes were not recorded after all: hold those leases again,
        except any a renewal found lost meanwhile."""
        for message_id, until in let_go.items():
            if until is not None:
                self._until.setdefault(message_id, until)

    async def keep_renewed(self) -> None:
        """Renew every third of a lease, until cancelled."""
        interval = self._ctx.settings.lease_seconds * RENEW_FRACTION
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew()
            except Exception:  # the next renewal comes before any lease runs out
                log.exception("renewing leases failed; retrying in %.1f s", interval)

    async def renew(self) -> None:
        """Extend the leases of the messages this worker holds, and forget the
        ones it lost (taken over by another worker, moved on by a callback):
        they are not sent (:meth:`holds` says no)."""
        if not self._until:
            return
        asked = dict(self._until)
        send_until = self.send_deadline()
        async with self._ctx.write_session() as session:
            renewal = await claims.renew(
                session,
                worker=self._worker_id,
                ids=asked.keys(),
                lease_seconds=self._ctx.settings.lease_seconds,
            )
        for message_id, until in asked.items():
            if self._until.get(message_id) != until:
                continue  # recorded, or claimed again, while the renewal ran
            if message_id in renewal.renewed:
                self._until[message_id] = send_until
            elif message_id in renewal.lost:
                del self._until[message_id]
        if renewal.lost:
            log.warning("%d message lease(s) lost to other workers or callbacks", len(renewal.lost))
