"""What one send attempt's result means for its message, as an :class:`Outcome`.

Pure apart from metrics: the dispatcher buffers the outcomes and
:func:`textcast.dispatch.outbox.record` writes them in bulk.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textcast import error_codes, metrics
from textcast.db.models import utcnow
from textcast.dispatch.outbox import Claimed, Outcome
from textcast.dispatch.retry import RetryStrategy
from textcast.errors import ProviderError
from textcast.providers.base import SendResult

SUPPRESSED_CODE = "21610"


def accepted(message: Claimed, result: SendResult, latency: float) -> Outcome:
    return Outcome(
        message.id,
        "accepted",
        provider_message_id=result.provider_message_id,
        new_status=result.status,
        error_code=result.error_code,
        error_message=result.error_message,
        latency_ms=latency * 1000,
    )


def failed_send(
    message: Claimed,
    provider_type: str,
    error: ProviderError,
    latency: float,
    retry: RetryStrategy,
) -> Outcome:
    """A retry later, or a final failure (suppressing the recipient where Twilio says so)."""
    # The catalogue holds Twilio's codes; another provider's "21610" means something else.
    catalogue = provider_type == "twilio"
    description = error_codes.describe(error.code) if catalogue else None
    text = (
        f"{error.message} — {description}"
        if description and description != error.message
        else error.message
    )
    if retry.should_retry(error, message.attempts):
        metrics.SENDS.labels(provider_type, "retry").inc()
        delay = retry.delay(message.attempts, error.retry_after)
        return Outcome(
            message.id,
            "retry",
            error_code=error.code,
            error_message=text,
            http_status=error.http_status,
            latency_ms=latency * 1000,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
        )
    metrics.SENDS.labels(provider_type, "failed").inc()
    lookup = error_codes.lookup(error.code) if catalogue else None
    suppress = (message.provider_id, message.to) if lookup and lookup.suppress_recipient else None
    return Outcome(
        message.id,
        "failed",
        error_code=error.code,
        error_message=text,
        http_status=error.http_status,
        latency_ms=latency * 1000,
        suppress=suppress,
    )


def released(message_id: int, due_at: float) -> Outcome:
    """Back to the queue untried, due at ``due_at`` (epoch seconds)."""
    return Outcome(message_id, "released", next_attempt_at=datetime.fromtimestamp(due_at, UTC))


def suppressed(message: Claimed) -> Outcome:
    return Outcome(
        message.id,
        "failed",
        error_code=SUPPRESSED_CODE,
        error_message="recipient is on the suppression list (opted out); not sent",
    )
