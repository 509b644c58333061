"""What happened to a claimed message, as an :class:`Outcome`, and what one send
attempt's result means for its message.

Pure apart from metrics: the dispatcher buffers the outcomes and
:func:`textcast.dispatch.outcome_store.record` writes them in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from textcast import error_codes, metrics, status
from textcast.db.models import utcnow
from textcast.dispatch.claims import Claimed
from textcast.errors import ProviderError
from textcast.providers.base import SendResult, may_have_arrived
from textcast.retry import RetryStrategy

SUPPRESSED_CODE = "21610"
UNKNOWN_CODE = "unknown_outcome"
MAYBE_SENT = "the provider may have it, so this resend is flagged as a possible duplicate"
MAYBE_SENT_FAIL = "the provider may have it and cannot be asked; not resent"


@dataclass(slots=True)
class Outcome:
    """What happened to one claimed message; recorded in bulk by
    :func:`textcast.dispatch.outcome_store.record`.

    ``kind`` is one of:

    - ``accepted``: the provider has it (``new_status`` is what it said);
    - ``retry``: back to the queue, due at ``next_attempt_at``;
    - ``failed``: final;
    - ``released``: back to the queue untried (its sender is at its rate
      limit, or the worker is stopping), due at ``next_attempt_at``;
    - ``requeued``: back to the queue due now, after recovery found that the
      provider never got it (or could not tell, then ``possible_duplicate``);
    - ``unsure``: the provider may or may not have it (a send without an
      answer, a look-up that failed). The message stays ``dispatching`` with
      nobody's lease, expiring at ``next_attempt_at``, when recovery asks the
      provider about it (again) before anything is resent.
    """

    message_id: int
    kind: str
    provider_message_id: str | None = None
    new_status: str = status.ACCEPTED
    error_code: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    latency_ms: float | None = None
    next_attempt_at: datetime | None = None
    suppress: tuple[int, str] | None = None  # (provider_id, phone)
    detail: str | None = None  # for the status history, when not an error message
    possible_duplicate: bool = False  # retry, requeued: the provider may already have it
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class ProviderTraits:
    """What the outcome of a failed send depends on about its provider."""

    type: str
    # It can be asked whether it got a message (Provider.supports_lookup).
    lookup: bool
    # TEXTCAST_RESEND_UNKNOWN: resend what nobody can vouch for, flagged.
    resend_unknown: bool


def accepted(
    message: Claimed, result: SendResult, latency: float | None, *, detail: str | None = None
) -> Outcome:
    """The provider has the message: it answered a send (``latency`` seconds,
    recorded as an attempt), or a look-up found it (``latency`` None: no
    attempt was made, and ``detail`` says how it was found)."""
    return Outcome(
        message.id,
        "accepted",
        provider_message_id=result.provider_message_id,
        new_status=result.status,
        error_code=result.error_code,
        error_message=result.error_message,
        http_status=result.http_status,
        latency_ms=None if latency is None else latency * 1000,
        detail=detail,
    )


def failed_send(
    message: Claimed,
    provider: ProviderTraits,
    error: ProviderError,
    latency: float,
    retry: RetryStrategy,
) -> Outcome:
    """A retry later, or a final failure (suppressing the recipient where Twilio
    says so). A failure the provider may have the message despite (see
    :func:`unanswered`) is never resent as a plain retry."""
    text = _explained(error, provider.type)
    metrics.count_send_error(provider.type, error.code)  # every failed attempt, once
    if may_have_arrived(error):
        return unanswered(message, provider, error, text, latency, retry)
    if retry.should_retry(error, message.attempts):
        return _retry(message, provider.type, error, text, latency, retry)
    return _failed(message, provider.type, error, text, latency)


def unanswered(
    message: Claimed,
    provider: ProviderTraits,
    error: ProviderError,
    text: str,
    latency: float,
    retry: RetryStrategy,
) -> Outcome:
    """No answer came, so the provider may have the message. One that can be
    asked is asked first: ``unsure`` until the backoff is over, then recovery
    looks it up (attempts left or not: it may have been delivered). One that
    cannot be asked is resent flagged ``possible_duplicate``, or failed as
    ``unknown_outcome`` when TEXTCAST_RESEND_UNKNOWN is off."""
    if provider.lookup:
        metrics.SENDS.labels(provider.type, "unsure").inc()
        return Outcome(
            message.id,
            "unsure",
            error_code=error.code,
            error_message=text,
            http_status=error.http_status,
            latency_ms=latency * 1000,
            next_attempt_at=_after(retry.delay(message.attempts, error.retry_after)),
        )
    if not retry.should_retry(error, message.attempts):
        return _failed(message, provider.type, error, text, latency)
    if provider.resend_unknown:
        return _retry(message, provider.type, error, text, latency, retry, possible_duplicate=True)
    metrics.SENDS.labels(provider.type, "failed").inc()
    return Outcome(
        message.id,
        "failed",
        error_code=UNKNOWN_CODE,
        error_message=f"{text}; {MAYBE_SENT_FAIL}",
        http_status=error.http_status,
        latency_ms=latency * 1000,
    )


def _retry(
    message: Claimed,
    provider_type: str,
    error: ProviderError,
    text: str,
    latency: float,
    retry: RetryStrategy,
    *,
    possible_duplicate: bool = False,
) -> Outcome:
    metrics.SENDS.labels(provider_type, "retry").inc()
    return Outcome(
        message.id,
        "retry",
        error_code=error.code,
        error_message=text,
        http_status=error.http_status,
        latency_ms=latency * 1000,
        next_attempt_at=_after(retry.delay(message.attempts, error.retry_after)),
        possible_duplicate=possible_duplicate,
        detail=f"retry scheduled: {text}; {MAYBE_SENT}" if possible_duplicate else None,
    )


def _failed(
    message: Claimed, provider_type: str, error: ProviderError, text: str, latency: float
) -> Outcome:
    metrics.SENDS.labels(provider_type, "failed").inc()
    lookup = error_codes.lookup(error.code) if provider_type == "twilio" else None
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


def _explained(error: ProviderError, provider_type: str) -> str:
    """The provider's message, with the catalogue's description of its code."""
    # The catalogue holds Twilio's codes; another provider's "21610" means something else.
    description = error_codes.describe(error.code) if provider_type == "twilio" else None
    if description and description != error.message:
        return f"{error.message} — {description}"
    return error.message


def _after(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


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
