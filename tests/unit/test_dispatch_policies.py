"""Retry backoff, per-sender pacing, send outcomes and recovery decisions: pure policy."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from textcast.dispatch.claims import Claimed
from textcast.dispatch.outcomes import ProviderTraits, accepted, failed_send
from textcast.dispatch.pacing import schedule
from textcast.dispatch.recovery import Policy, Verdict, decide, verdict
from textcast.errors import ProviderError
from textcast.providers.base import SendResult
from textcast.retry import RetryStrategy


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


def test_messages_beyond_the_hold_window_are_handed_back_spread_at_the_senders_pace() -> None:
    planned = schedule(tat=0, now=1000.0, mps=1, segments=[1] * 10)
    assert [at - 1000.0 for at in planned.send_at] == pytest.approx([0.0, 1.0, 2.0])
    # The fourth would leave at +3 s, beyond the window: due again when it fits in
    # it (+1 s), the next ones a second apart, not all at once.
    assert [at - 1000.0 for at in planned.release_at] == pytest.approx([1, 2, 3, 4, 5, 6, 7])
    assert planned.tat == pytest.approx(1003.0)  # only the admitted ones take the sender's time
    assert planned.projected == pytest.approx(1010.0)


def test_multi_segment_messages_cost_one_slot_per_segment() -> None:
    planned = schedule(tat=0, now=0.0, mps=1, segments=[3, 1])
    assert planned.send_at == [pytest.approx(2.0)]
    assert planned.release_at == [pytest.approx(1.0)]  # leaves at +3 s: fits the window at +1


def test_a_sender_busy_from_earlier_claims_starts_where_they_left_off() -> None:
    planned = schedule(tat=1001.5, now=1000.0, mps=2, segments=[1])
    assert planned.send_at == [pytest.approx(1001.0)]


def claimed(message_id: int, *, attempts: int = 1, waited: float = 0.0) -> Claimed:
    """A message as recovery takes it over: ``attempts`` tries, due ``waited`` s ago."""
    return Claimed(
        message_id,
        provider_id=1,
        sender_id=1,
        to="+14155552671",
        body="hello",
        media_urls=(),
        segments=1,
        attempts=attempts,
        created_at=NOW,
        due_at=NOW - timedelta(seconds=waited),
        error_code="timeout" if attempts > 1 else None,
    )


NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_recovery_decisions_depend_on_what_the_provider_says() -> None:
    found = SendResult("SM1", status="sent")
    verdicts: list[tuple[Claimed, Verdict]] = [
        (claimed(1), found),
        (claimed(2), "absent"),
        (claimed(3), "unknown"),
    ]
    lenient = decide(verdicts, Policy(resend_unknown=True), NOW)
    assert [
        (o.message_id, o.kind, o.provider_message_id, o.possible_duplicate) for o in lenient
    ] == [
        (1, "accepted", "SM1", False),
        (2, "requeued", None, False),
        (3, "requeued", None, True),
    ]
    strict = decide(verdicts, Policy(resend_unknown=False), NOW)
    assert [(o.message_id, o.kind, o.error_code) for o in strict][1:] == [
        (2, "requeued", None),
        (3, "failed", "unknown_outcome"),
    ]


def test_a_message_found_already_failed_keeps_the_providers_error_code() -> None:
    found = SendResult("SM" + "1" * 32, "undelivered", error_code="30005", error_message="gone")
    [outcome] = decide([(claimed(7), found)], Policy(), NOW)
    assert (outcome.new_status, outcome.error_code, outcome.error_message) == (
        "undelivered",
        "30005",
        "gone",
    )


def test_a_match_already_recorded_on_a_message_is_not_this_one() -> None:
    earlier, this = SendResult("SM" + "a" * 32), SendResult("SM" + "b" * 32)
    assert verdict([this, earlier], known_sids={earlier.provider_message_id or ""}) == this
    assert verdict([earlier], known_sids={earlier.provider_message_id or ""}) == "absent"


def test_several_plausible_matches_cannot_be_told_apart() -> None:
    first, second = SendResult("SM" + "a" * 32), SendResult("SM" + "b" * 32)
    assert verdict([first, second], known_sids=set()) == "unknown"


def test_a_provider_that_cannot_be_asked_or_did_not_answer_is_not_absent() -> None:
    assert verdict(None, known_sids=set()) == "unknown"
    assert verdict(ProviderError("timeout", "slow", permanent=False), set()) == "unanswered"
    assert verdict([], known_sids=set()) == "absent"


def test_an_unanswered_look_up_is_asked_again_later_the_longer_the_message_waited() -> None:
    policy = Policy(min_recheck=2, max_recheck=600)
    [soon] = decide([(claimed(1, waited=1), "unanswered")], policy, NOW)
    [later] = decide([(claimed(2, waited=100), "unanswered")], policy, NOW)
    [capped] = decide([(claimed(3, waited=86400), "unanswered")], policy, NOW)
    assert [o.kind for o in (soon, later, capped)] == ["unsure"] * 3
    assert [o.next_attempt_at for o in (soon, later, capped)] == [
        NOW + timedelta(seconds=2),
        NOW + timedelta(seconds=50),
        NOW + timedelta(seconds=600),
    ]


def test_a_message_the_provider_never_got_fails_when_no_attempts_are_left() -> None:
    [outcome] = decide([(claimed(1, attempts=6), "absent")], Policy(max_attempts=6), NOW)
    assert (outcome.kind, outcome.error_code) == ("failed", "timeout")
    [retried] = decide([(claimed(2, attempts=5), "absent")], Policy(max_attempts=6), NOW)
    assert retried.kind == "requeued"


TRAITS_TWILIO = ProviderTraits("twilio", lookup=True, resend_unknown=True)
TRAITS_GENERIC = ProviderTraits("generic", lookup=False, resend_unknown=True)
TRAITS_GENERIC_STRICT = ProviderTraits("generic", lookup=False, resend_unknown=False)
NO_ANSWER = [
    pytest.param(ProviderError("timeout", "slow", permanent=False), id="timeout"),
    pytest.param(ProviderError("network", "connection reset", permanent=False), id="reset"),
    pytest.param(
        ProviderError("unreadable_answer", "not JSON", permanent=False, http_status=201),
        id="unreadable 201",
    ),
]


@pytest.mark.parametrize("error", NO_ANSWER)
def test_a_send_without_an_answer_is_looked_up_before_any_resend(error: ProviderError) -> None:
    outcome = failed_send(claimed(1), TRAITS_TWILIO, error, 15.0, RetryStrategy(jitter=0))
    assert (outcome.kind, outcome.error_code, outcome.possible_duplicate) == (
        "unsure",
        error.code,
        False,
    )
    assert outcome.next_attempt_at is not None and outcome.latency_ms == 15000.0


def test_a_send_without_an_answer_is_looked_up_even_with_no_attempts_left() -> None:
    error = ProviderError("timeout", "slow", permanent=False)
    outcome = failed_send(claimed(1, attempts=6), TRAITS_TWILIO, error, 1.0, RetryStrategy())
    assert outcome.kind == "unsure"


@pytest.mark.parametrize("error", NO_ANSWER)
def test_a_send_without_an_answer_to_a_provider_that_cannot_be_asked_is_flagged(
    error: ProviderError,
) -> None:
    outcome = failed_send(claimed(1), TRAITS_GENERIC, error, 1.0, RetryStrategy())
    assert (outcome.kind, outcome.possible_duplicate) == ("retry", True)
    assert "possible duplicate" in (outcome.detail or "")
    strict = failed_send(claimed(1), TRAITS_GENERIC_STRICT, error, 1.0, RetryStrategy())
    assert (strict.kind, strict.error_code) == ("failed", "unknown_outcome")


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ProviderError("http_503", "unavailable", False, http_status=503), id="503"),
        pytest.param(ProviderError("20429", "too many", False, http_status=429), id="429"),
        pytest.param(ProviderError("timeout", "edge timeout", False, http_status=504), id="504"),
        pytest.param(ProviderError("unreachable", "refused", permanent=False), id="no connection"),
    ],
)
def test_a_send_the_provider_answered_or_never_got_is_retried_as_usual(
    error: ProviderError,
) -> None:
    for traits in (TRAITS_TWILIO, TRAITS_GENERIC_STRICT):
        outcome = failed_send(claimed(1), traits, error, 1.0, RetryStrategy())
        assert (outcome.kind, outcome.possible_duplicate, outcome.http_status) == (
            "retry",
            False,
            error.http_status,
        )


def test_an_accepted_send_records_the_http_status_of_the_answer() -> None:
    outcome = accepted(claimed(1), SendResult("SM" + "c" * 32, http_status=201), 0.05)
    assert (outcome.kind, outcome.http_status) == ("accepted", 201)
