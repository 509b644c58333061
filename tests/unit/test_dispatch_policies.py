"""Retry backoff and per-sender pacing, both as pure policy objects."""

import random

import pytest

from textcast.dispatch.pacing import schedule
from textcast.dispatch.recovery import Verdict, decide
from textcast.dispatch.retry import RetryStrategy
from textcast.errors import ProviderError
from textcast.providers.base import SendResult


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
    planned = schedule(tat=0, now=1000.0, mps=10, segments=[1] * 30)
    waits = [at - 1000.0 for at in planned.send_at]
    assert waits[:10] == pytest.approx([0.0] * 10, abs=1e-9)
    assert waits[10] == pytest.approx(0.1)
    assert waits[19] == pytest.approx(1.0)
    assert len(planned.send_at) == 30  # the last one leaves at +2.0 s, inside the hold window


def test_messages_beyond_the_hold_window_are_handed_back_with_their_due_time() -> None:
    planned = schedule(tat=0, now=1000.0, mps=1, segments=[1] * 10)
    assert [at - 1000.0 for at in planned.send_at] == pytest.approx([0.0, 1.0, 2.0])
    assert planned.release_at == pytest.approx(1003.0)  # +3 s is beyond the window
    assert planned.tat == pytest.approx(1003.0)


def test_multi_segment_messages_cost_one_slot_per_segment() -> None:
    planned = schedule(tat=0, now=0.0, mps=1, segments=[3, 1])
    assert planned.send_at == [pytest.approx(2.0)]
    assert planned.release_at == pytest.approx(3.0)


def test_a_sender_busy_from_earlier_claims_starts_where_they_left_off() -> None:
    planned = schedule(tat=1001.5, now=1000.0, mps=2, segments=[1])
    assert planned.send_at == [pytest.approx(1001.0)]


def test_recovery_decisions_depend_on_what_the_provider_says() -> None:
    found = SendResult("SM1", status="sent")
    verdicts: list[tuple[int, Verdict]] = [(1, found), (2, "absent"), (3, "unsupported")]
    lenient = decide(verdicts, resend_unknown=True)
    assert [(o.message_id, o.kind, o.provider_message_id) for o in lenient.record] == [
        (1, "accepted", "SM1")
    ]
    assert [(mid, flagged) for mid, flagged, _ in lenient.requeue] == [(2, False), (3, True)]
    strict = decide(verdicts, resend_unknown=False)
    assert [(o.message_id, o.kind, o.error_code) for o in strict.record][1] == (
        3,
        "failed",
        "unknown_outcome",
    )
    assert [mid for mid, _, _ in strict.requeue] == [2]


def test_a_message_found_already_failed_keeps_the_providers_error_code() -> None:
    found = SendResult("SM" + "1" * 32, "undelivered", error_code="30005", error_message="gone")
    [outcome] = decide([(7, found)], resend_unknown=True).record
    assert (outcome.new_status, outcome.error_code, outcome.error_message) == (
        "undelivered",
        "30005",
        "gone",
    )
