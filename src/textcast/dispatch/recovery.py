"""What to do with a message whose fate is unknown (its worker died mid-send, or
its send got no answer), once the provider has (or has not) been asked about it.
Pure: the dispatcher does the I/O."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from textcast.dispatch import outcomes
from textcast.dispatch.claims import Claimed
from textcast.dispatch.outcomes import Outcome
from textcast.errors import ProviderError
from textcast.providers.base import SendResult

# What asking the provider about a message can say: it has it (the one match),
# it has not, nobody can tell (no look-up, or several plausible matches), or
# the question got no answer (ask again later).
Verdict = SendResult | Literal["absent", "unknown", "unanswered"]
# What the look-up itself returned: the provider's plausible matches, None when
# it cannot be asked, or the error that stopped it.
LookUp = Sequence[SendResult] | None | ProviderError

FOUND = "found at the provider; not resent"
ABSENT = "the provider never got it; resending"
EXHAUSTED = "the provider never got it and no attempts are left; not resent"
UNKNOWN_RESEND = "nobody can tell whether the provider got it; resending as a possible duplicate"
UNKNOWN_FAIL = "nobody can tell whether the provider got it; not resent"


def verdict(look_up: LookUp, known_sids: Collection[str]) -> Verdict:
    """What a look-up's answer says about the message.

    Matches whose ID Textcast already attributes to a message (another one with
    the same text to the same number, or an earlier attempt of this one) are
    not this attempt; of the rest, exactly one is the message, none means the
    provider never got it, and more than one cannot be told apart.
    """
    if isinstance(look_up, ProviderError):
        return "unanswered"
    if look_up is None:
        return "unknown"
    fresh = {
        match.provider_message_id: match
        for match in look_up
        if match.provider_message_id and match.provider_message_id not in known_sids
    }
    if not fresh:
        return "absent"
    if len(fresh) > 1:
        return "unknown"
    return next(iter(fresh.values()))


@dataclass(frozen=True)
class Policy:
    """``resend_unknown``: TEXTCAST_RESEND_UNKNOWN. ``max_attempts`` caps resends
    as for any retry. An unanswered look-up is asked again after half as long
    as the attempt has been waiting, within ``min_recheck``..``max_recheck``
    seconds: soon for a passing blip, rarely during a long outage."""

    resend_unknown: bool = True
    max_attempts: int = 6
    min_recheck: float = 2.0
    max_recheck: float = 600.0

    def recheck_at(self, message: Claimed, now: datetime) -> datetime:
        waited = (now - message.due_at).total_seconds() if message.due_at else 0.0
        delay = min(self.max_recheck, max(self.min_recheck, waited / 2))
        return now + timedelta(seconds=delay)


def decide(
    verdicts: Sequence[tuple[Claimed, Verdict]], policy: Policy, now: datetime
) -> list[Outcome]:
    """A message the provider has is recorded, not resent; one it never got is
    resent as a plain retry while attempts are left; one nobody can vouch for is
    resent flagged as a possible duplicate, or failed when resending unknowns is
    switched off; one whose look-up went unanswered is looked up again later."""
    return [_decide(message, found, policy, now) for message, found in verdicts]


def _decide(message: Claimed, found: Verdict, policy: Policy, now: datetime) -> Outcome:
    if isinstance(found, SendResult):
        return outcomes.accepted(message, found, None, detail=FOUND)
    if found == "unanswered":
        return Outcome(message.id, "unsure", next_attempt_at=policy.recheck_at(message, now))
    if found == "absent" and message.attempts >= policy.max_attempts:
        return Outcome(
            message.id,
            "failed",
            error_code=message.error_code,
            error_message=message.error_message or EXHAUSTED,
            detail=EXHAUSTED,
        )
    if found == "absent":
        return Outcome(message.id, "requeued", detail=ABSENT)
    if policy.resend_unknown:
        return Outcome(message.id, "requeued", possible_duplicate=True, detail=UNKNOWN_RESEND)
    return Outcome(message.id, "failed", error_code="unknown_outcome", error_message=UNKNOWN_FAIL)
