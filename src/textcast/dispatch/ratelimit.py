"""Per-sender pacing in segments per second (carriers count segments, not messages).

A virtual-clock limiter (GCRA): each sender has the time its next segment may
leave; reserving N segments pushes that time N/MPS forward and returns how long
the caller must wait. No timers, no background task, O(1) per message.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SenderRateLimiter:
    def __init__(
        self, burst_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # A sender may start up to ``burst_seconds`` worth of segments at once,
        # as Twilio's own queue does, instead of being dripped out evenly.
        self._burst = burst_seconds
        self._clock = clock
        self._tat: dict[int, float] = {}  # "theoretical arrival time" per sender

    def _after(self, sender_id: int, mps: float, segments: int) -> tuple[float, float]:
        now = self._clock()
        tat = max(self._tat.get(sender_id, now), now) + segments / mps
        return tat, max(0.0, tat - self._burst - now)

    def delay_for(self, sender_id: int, mps: float, segments: int) -> float:
        """How long before ``segments`` may leave, without reserving them."""
        return self._after(sender_id, mps, segments)[1]

    def reserve(self, sender_id: int, mps: float, segments: int) -> float:
        """Reserve ``segments`` for ``sender_id``; the wait before sending them."""
        tat, wait = self._after(sender_id, mps, segments)
        self._tat[sender_id] = tat
        return wait
