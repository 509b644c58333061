"""Retry policy as data: which failures to retry, how long to wait between tries."""

from __future__ import annotations

import random
from dataclasses import dataclass

from textcast.errors import ProviderError


@dataclass(frozen=True)
class RetryStrategy:
    """Exponential backoff with jitter, capped, honouring the provider's Retry-After.

    ``max_attempts`` counts every try including the first.
    """

    max_attempts: int = 6
    base_delay: float = 2.0
    multiplier: float = 2.0
    max_delay: float = 600.0
    jitter: float = 0.2

    def should_retry(self, error: ProviderError, attempts_made: int) -> bool:
        return not error.permanent and attempts_made < self.max_attempts

    def delay(
        self, attempts_made: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next try, after ``attempts_made`` tries."""
        backoff = min(
            self.max_delay, self.base_delay * self.multiplier ** max(0, attempts_made - 1)
        )
        spread = backoff * self.jitter
        backoff += (rng or random).uniform(-spread, spread)
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return max(0.0, min(backoff, self.max_delay))
