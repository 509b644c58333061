"""Retry backoff and per-sender pacing, both as pure policy objects."""

import random

import pytest

from textcast.dispatch.ratelimit import SenderRateLimiter
from textcast.dispatch.retry import RetryStrategy
from textcast.errors import ProviderError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("error", "attempts", "expected"),
    [
        (ProviderError("20429", "too many", permanent=False), 1, True),
        (ProviderError("30001", "queue overflow", permanent=False), 5, True),
        (ProviderError("timeout", "slow", permanent=False), 6, False),
        (ProviderError("21211", "invalid To", permanent=True), 1, False),
    ],
)
def test_only_transient_errors_are_retried_until_the_limit(
    error: ProviderError, attempts: int, expected: bool
) -> None:
    assert RetryStrategy(max_attempts=6).should_retry(error, attempts) is expected


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    strategy = RetryStrategy(base_delay=2, multiplier=2, max_delay=30, jitter=0.2)
    rng = random.Random(7)
    delays = [strategy.delay(n, rng=rng) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        nominal = min(30, 2 * 2 ** (n - 1))
        assert nominal * 0.8 <= delay <= min(30, nominal * 1.2)


def test_retry_after_is_honoured_when_longer_than_backoff() -> None:
    assert RetryStrategy(base_delay=1, jitter=0).delay(1, retry_after=17) == 17


def test_a_sender_bursts_one_second_then_paces_at_its_segments_per_second() -> None:
    clock = FakeClock()
    limiter = SenderRateLimiter(clock=clock)
    waits = [limiter.reserve(1, mps=10, segments=1) for _ in range(20)]
    assert waits[:10] == pytest.approx([0.0] * 10, abs=1e-9)
    assert waits[10] == pytest.approx(0.1)
    assert waits[19] == pytest.approx(1.0)


def test_multi_segment_messages_cost_one_token_per_segment() -> None:
    limiter = SenderRateLimiter(clock=FakeClock())
    assert limiter.reserve(1, mps=1, segments=3) == pytest.approx(2.0)


def test_one_busy_sender_does_not_delay_another() -> None:
    limiter = SenderRateLimiter(clock=FakeClock())
    for _ in range(50):
        limiter.reserve(1, mps=1, segments=1)
    assert limiter.reserve(2, mps=1, segments=1) == 0.0
    assert limiter.delay_for(1, mps=1, segments=1) > 40
