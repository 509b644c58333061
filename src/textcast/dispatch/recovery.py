"""What to do with a message whose worker died mid-send, once the provider
has (or has not) been asked about it. Pure: the dispatcher does the I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from textcast.dispatch.outbox import Outcome
from textcast.providers.base import SendResult

# What a look-up at the provider can say about a message.
Verdict = SendResult | Literal["absent", "unsupported"]

FOUND = "found at the provider after its worker stopped; not resent"
ABSENT = "worker stopped before the provider got it; resending"
UNKNOWN_RESEND = "worker stopped mid-send; resending as a possible duplicate"
UNKNOWN_FAIL = "worker stopped mid-send and the provider cannot be asked; not resent"


@dataclass
class Decisions:
    record: list[Outcome] = field(default_factory=list)  # accepted (found) or failed
    requeue: list[tuple[int, bool, str]] = field(default_factory=list)  # (id, flag duplicate?, why)


def decide(verdicts: Sequence[tuple[int, Verdict]], resend_unknown: bool) -> Decisions:
    """A message the provider has is recorded, not resent; one it never got is
    resent as a plain retry; one nobody can vouch for is resent flagged as a
    possible duplicate, or failed when resending unknowns is switched off."""
    decisions = Decisions()
    for message_id, verdict in verdicts:
        if isinstance(verdict, SendResult):
            decisions.record.append(
                Outcome(
                    message_id,
                    "accepted",
                    provider_message_id=verdict.provider_message_id,
                    new_status=verdict.status,
                    error_code=verdict.error_code,
                    error_message=verdict.error_message,
                    detail=FOUND,
                )
            )
        elif verdict == "absent":
            decisions.requeue.append((message_id, False, ABSENT))
        elif resend_unknown:
            decisions.requeue.append((message_id, True, UNKNOWN_RESEND))
        else:
            decisions.record.append(
                Outcome(
                    message_id, "failed", error_code="unknown_outcome", error_message=UNKNOWN_FAIL
                )
            )
    return decisions
