"""Frequency caps: at most N messages of a category per contact per period.

A period is rolling (the last 24 hours) or a calendar span in the contact's
own time zone (this calendar day, this week from Monday, this month). Caps
bind promotional messages by default; transactional ones bypass them, as
Braze and Klaviyo do. A capped message is skipped with reason
``frequency_cap`` and never sent late: a marketer who reads "skipped" can act
on it, one who finds the message went out two days later cannot.

The count itself is the database's (messages already committed for the
contact since :meth:`FrequencyCap.since`): the check and the new message are
one transaction with the contact locked, so two campaigns and an automation
racing for one contact on several workers cannot pass a cap together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from textcast.errors import ValidationFailed
from textcast.policy.decision import SEND, Decision, Skip

Calendar = Literal["day", "week", "month"]
_SETTING_CAP = re.compile(r"^(\d+)/(?:(\d+)(h|d)|(day|week|month))$")


@dataclass(frozen=True)
class FrequencyCap:
    """``limit`` messages per ``rolling`` span or per ``calendar`` period."""

    limit: int
    rolling: timedelta | None = None
    calendar: Calendar | None = None
    categories: frozenset[str] = frozenset({"promotional"})

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValidationFailed("limit", "must be 0 or more")
        if (self.rolling is None) == (self.calendar is None):
            raise ValidationFailed("period", "give either a rolling span or a calendar period")
        if self.rolling is not None and self.rolling <= timedelta(0):
            raise ValidationFailed("period", "a rolling span must be positive")

    def binds(self, category: str) -> bool:
        return category in self.categories

    def since(self, now: datetime, zone: ZoneInfo) -> datetime:
        """Where the period counting toward the cap starts (aware, UTC-comparable)."""
        if self.rolling is not None:
            return now - self.rolling
        local = now.astimezone(zone)
        day = local.date()
        if self.calendar == "week":
            day -= timedelta(days=day.weekday())
        elif self.calendar == "month":
            day = day.replace(day=1)
        return datetime.combine(day, time(0), zone)

    def describe(self) -> str:
        per = (
            f"per {self.calendar} in the contact's time zone"
            if self.calendar
            else f"per rolling {_span(self.rolling)}"
        )
        return f"at most {self.limit} {'/'.join(sorted(self.categories))} {per}"


def caps_of_setting(text: str, field: str) -> list[FrequencyCap]:
    """Caps written ``LIMIT/SPAN`` and comma separated, SPAN a number of hours
    or days (``24h``, ``7d``) or a calendar period (``day``, ``week``,
    ``month``): ``2/24h,5/week``; empty for none. The installation's caps are
    written so, in the environment and when saved. A part that cannot be read
    is a :class:`ValidationFailed` naming ``field`` and quoting the part."""
    caps = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        unreadable = ValidationFailed(field, f"cannot read {part!r} (e.g. 2/24h)")
        found = _SETTING_CAP.match(part)
        if found is None:
            raise unreadable
        limit = int(found.group(1))
        try:
            if found.group(4):
                caps.append(FrequencyCap(limit, calendar=cast(Calendar, found.group(4))))
            else:
                hours = int(found.group(2)) * (24 if found.group(3) == "d" else 1)
                caps.append(FrequencyCap(limit, rolling=timedelta(hours=hours)))
        # A zero span (2/0h) or one past timedelta's range is as unreadable as 2/banana.
        except (OverflowError, ValidationFailed):
            raise unreadable from None
    return caps


def _span(span: timedelta | None) -> str:
    assert span is not None
    hours = span.total_seconds() / 3600
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"


def check(
    caps: Iterable[FrequencyCap],
    category: str,
    sent_since: Mapping[FrequencyCap, int],
) -> Decision:
    """Skip when any cap binding ``category`` has already been reached, given
    how many messages each cap counted in its period."""
    for cap in caps:
        if cap.binds(category) and sent_since.get(cap, 0) >= cap.limit:
            return Skip("frequency_cap", cap.describe())
    return SEND


def stricter_only(global_caps: list[FrequencyCap], campaign_caps: list[FrequencyCap]) -> None:
    """A campaign may add caps, never loosen the installation's: every global
    cap still applies, so a campaign's own can only make the set stricter.
    Raises when a campaign cap is looser than a global one over the same
    period (it could only mislead whoever reads it)."""
    for own in campaign_caps:
        for cap in global_caps:
            same_period = (own.rolling, own.calendar) == (cap.rolling, cap.calendar)
            if same_period and own.categories & cap.categories and own.limit > cap.limit:
                raise ValidationFailed(
                    "frequency_caps", f"looser than the installation's cap ({cap.describe()})"
                )
