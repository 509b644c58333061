"""What a sending policy answers for one recipient: send now, defer, or skip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Send:
    """Nothing stands in the way."""


@dataclass(frozen=True, slots=True)
class Defer:
    """Not now: the earliest moment the message may go (UTC)."""

    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    """Not at all; ``reason`` is stored with the recipient (a code such as
    ``frequency_cap`` or ``quiet_hours``) and ``detail`` says why in words."""

    reason: str
    detail: str = ""


Decision = Send | Defer | Skip
SEND = Send()
