"""Quiet hours: when a message may reach a recipient, in the recipient's own
local time.

Two kinds of window apply together, and a message goes only while every one
of them is open: the operator's window (the installation default, or a
campaign's own) and the law of the recipient's country where Textcast ships
one. Where a recipient's zone is not known for sure (a number whose country
spans several zones and no zone given), every candidate zone must be open:
the most restrictive reading, as regulators expect.

Windows bind promotional messages; transactional ones bypass them unless the
policy says otherwise (the laws below are about marketing, too).

Shipped country rules (their text and sources; check them against your own
counsel, laws change):

- United States: 47 CFR § 64.1200(c)(1) (TCPA) bars telephone solicitations
  "before the hour of 8 a.m. or after 9 p.m. (local time at the called
  party's location)"; the FCC and courts apply it to marketing texts. Some
  states are narrower, 08:00-20:00: Florida (Fla. Stat. § 501.616(6)),
  Oklahoma (15 O.S. § 775C.4), Maryland (Md. Code Com. Law § 14-4501 et seq., Stop
  the Spam Calls Act of 2023) and Washington (RCW 19.158.040(2)). A number's
  state is read from its area code, the usual proxy: people keep their
  numbers when they move, so this errs in both directions and the operator's
  own window should sit inside the federal one anyway.
- India: TRAI's Telecom Commercial Communications Customer Preference
  Regulations, 2018 (trai.gov.in/tcccpr), as operators enforce them on the
  DLT platform: promotional SMS only 10:00-21:00 IST; transactional and
  service messages at any time.
- France: SMS marketing Monday to Saturday 08:00-20:00, never on Sundays
  (the operators' code of practice, Fédération Française des Télécoms;
  public holidays are not modelled). Voice calls have a stricter statutory
  window (Code de la consommation, art. D.223-9) that does not bind SMS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from textcast.errors import ValidationFailed
from textcast.policy.decision import SEND, Decision, Defer, Skip

EVERY_DAY = frozenset(range(7))  # 0 is Monday, as datetime.weekday() counts
MONDAY_TO_SATURDAY = frozenset(range(6))
# How far ahead to look for a moment when every window is open at once.
SEARCH_DAYS = 14


@dataclass(frozen=True)
class SendingWindow:
    """When messages may go, in local time: from ``opens`` until ``closes``
    on ``days``. A window that closes before it opens runs past midnight
    (its day is the day it opened)."""

    opens: time
    closes: time
    days: frozenset[int] = EVERY_DAY

    @classmethod
    def outside_quiet(cls, quiet_from: time, quiet_until: time) -> SendingWindow:
        """The window left open by quiet hours (e.g. quiet 21:00-08:00 sends 08:00-21:00)."""
        return cls(opens=quiet_until, closes=quiet_from)

    def opening_on(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
        """The window that opens on local ``day``, as aware datetimes; None on a day off."""
        if day.weekday() not in self.days:
            return None
        opens = datetime.combine(day, self.opens, zone)
        closes_on = day if self.closes > self.opens else day + timedelta(days=1)
        return opens, datetime.combine(closes_on, self.closes, zone)

    def next_open(self, at: datetime, zone: ZoneInfo) -> datetime:
        """``at`` itself when the window is open then, else when it next opens
        (UTC). Zone arithmetic goes through zoneinfo, so a DST change moves
        the opening with the clocks."""
        local = at.astimezone(zone)
        # Yesterday's window may still be open past midnight.
        for offset in range(-1, 8):
            span = self.opening_on(local.date() + timedelta(days=offset), zone)
            if span is None:
                continue
            opens, closes = (moment.astimezone(UTC) for moment in span)
            if at < closes:
                return max(at, opens)
        raise ValueError("a sending window must be open on at least one day of the week")


# A window that is always open: no quiet hours of the operator's own.
ALWAYS_OPEN = SendingWindow(time(0), time(0))
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def clock(value: object, field: str) -> time:
    """A time of day written HH:MM (24 h clock), or :class:`ValidationFailed` naming ``field``."""
    if not isinstance(value, str) or not (found := _CLOCK.match(value)):
        raise ValidationFailed(field, "must be a time of day as HH:MM (24 h clock)")
    return time(int(found.group(1)), int(found.group(2)))


def window_of_setting(text: str, field: str) -> SendingWindow:
    """The window quiet hours written ``FROM-UNTIL`` leave open (``21:00-08:00``
    sends 08:00-21:00; empty: no quiet hours, always open). The installation's
    quiet hours are written so, in the environment and when saved."""
    setting = text.strip()
    if not setting:
        return ALWAYS_OPEN
    start, _, end = setting.partition("-")
    return SendingWindow.outside_quiet(clock(start.strip(), field), clock(end.strip(), field))


@dataclass(frozen=True)
class WindowRule:
    """A window, the message categories it binds, and where it comes from."""

    window: SendingWindow
    source: str
    categories: frozenset[str] = frozenset({"promotional"})

    def binds(self, category: str) -> bool:
        return category in self.categories


TCPA = WindowRule(
    SendingWindow(time(8), time(21)), "US TCPA, 47 CFR 64.1200(c)(1): 08:00-21:00 local"
)
US_STATES_8_TO_8 = WindowRule(
    SendingWindow(time(8), time(20)),
    "US state law (FL 501.616(6), OK 775C.4, MD 14-4501 ff., WA 19.158.040): 08:00-20:00 local",
)
TRAI = WindowRule(
    SendingWindow(time(10), time(21)), "India TRAI TCCCPR 2018: promotional SMS 10:00-21:00 IST"
)
FRANCE = WindowRule(
    SendingWindow(time(8), time(20), MONDAY_TO_SATURDAY),
    "France, operators' SMS marketing practice: Monday-Saturday 08:00-20:00",
)
COUNTRY_RULES: Mapping[str, WindowRule] = {"US": TCPA, "IN": TRAI, "FR": FRANCE}
# Area codes of the states with the narrower 08:00-20:00 window (NANPA assignments).
NARROWER_US_AREA_CODES = frozenset(
    {
        # Florida
        "239", "305", "321", "324", "352", "386", "407", "448", "561", "645", "656", "689",
        "727", "728", "754", "772", "786", "813", "850", "863", "904", "941", "954",
        # Oklahoma
        "405", "539", "572", "580", "918",
        # Maryland
        "227", "240", "301", "410", "443", "667",
        # Washington
        "206", "253", "360", "425", "509", "564",
    }
)  # fmt: skip


def legal_rule(country: str | None, phone: str) -> WindowRule | None:
    """The law's window for a recipient in ``country`` with number ``phone`` (E.164)."""
    if country == "US" and phone.startswith("+1") and phone[2:5] in NARROWER_US_AREA_CODES:
        return US_STATES_8_TO_8
    return COUNTRY_RULES.get(country or "")


@dataclass(frozen=True)
class QuietHours:
    """The quiet-hours policy: the operator's window, the law's where shipped,
    and what to do with a message due while a window is closed: ``defer`` it
    to the moment every window is open again, or ``skip`` it."""

    window: SendingWindow = field(default_factory=lambda: SendingWindow(time(8), time(21)))
    inside: Literal["defer", "skip"] = "defer"
    bypass_transactional: bool = True
    follow_law: bool = True

    def rules(self, country: str | None, phone: str) -> list[WindowRule]:
        rules = [WindowRule(self.window, "the operator's quiet hours")]
        law = legal_rule(country, phone) if self.follow_law else None
        if law is not None:
            rules.append(law)
        return rules

    def check(
        self,
        at: datetime,
        *,
        zones: Sequence[ZoneInfo],
        category: str,
        country: str | None,
        phone: str,
    ) -> Decision:
        """Whether a message of ``category`` may reach ``phone`` at ``at`` (UTC),
        with every zone in ``zones`` open (one zone when it is known)."""
        if category == "transactional" and self.bypass_transactional:
            return SEND
        binding = [r for r in self.rules(country, phone) if r.binds(category)]
        opens = earliest_open(at, [(r.window, z) for r in binding for z in zones])
        if opens == at:
            return SEND
        reason = "; ".join(r.source for r in binding)
        if opens is None:
            return Skip("quiet_hours", f"no moment in {SEARCH_DAYS} days fits {reason}")
        if self.inside == "skip":
            return Skip("quiet_hours", f"inside quiet hours ({reason})")
        return Defer(opens, f"quiet hours ({reason})")


def earliest_open(
    at: datetime, windows: Iterable[tuple[SendingWindow, ZoneInfo]]
) -> datetime | None:
    """The first moment from ``at`` when every (window, zone) is open at once;
    None when there is none within :data:`SEARCH_DAYS`."""
    pairs = list(windows)
    limit = at + timedelta(days=SEARCH_DAYS)
    moment = at
    while moment <= limit:
        later = max((w.next_open(moment, zone) for w, zone in pairs), default=moment)
        if later == moment:
            return moment
        moment = later
    return None
