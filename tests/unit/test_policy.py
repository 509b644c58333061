"""Quiet hours and frequency caps: decisions in the recipient's local time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcast.errors import ValidationFailed
from textcast.policy import frequency
from textcast.policy.decision import SEND, Defer, Skip
from textcast.policy.frequency import FrequencyCap
from textcast.policy.quiet_hours import (
    ALWAYS_OPEN,
    QuietHours,
    SendingWindow,
    earliest_open,
    window_of_setting,
)

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
KOLKATA = ZoneInfo("Asia/Kolkata")
PARIS = ZoneInfo("Europe/Paris")
POLICY = QuietHours()  # the operator's 08:00-21:00, the law where shipped, defer


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def check(at: datetime, zones: list[ZoneInfo], country: str, phone: str, **kw: str) -> object:
    category = kw.get("category", "promotional")
    return POLICY.check(at, zones=zones, category=category, country=country, phone=phone)


CALIFORNIA = "+14155550100"
FLORIDA = "+13055550100"


def test_inside_the_window_a_message_goes_now() -> None:
    assert check(local(NEW_YORK, 2026, 12, 7, 12, 0), [NEW_YORK], "US", CALIFORNIA) == SEND


def test_before_opening_it_waits_for_local_eight() -> None:
    decision = check(local(LOS_ANGELES, 2026, 12, 7, 6, 30), [LOS_ANGELES], "US", CALIFORNIA)
    assert isinstance(decision, Defer)
    assert decision.until == local(LOS_ANGELES, 2026, 12, 7, 8, 0)


def test_after_closing_it_waits_for_the_next_morning() -> None:
    decision = check(local(LOS_ANGELES, 2026, 12, 7, 21, 0), [LOS_ANGELES], "US", CALIFORNIA)
    assert isinstance(decision, Defer)
    assert decision.until == local(LOS_ANGELES, 2026, 12, 8, 8, 0)


def test_a_state_with_a_narrower_window_is_followed() -> None:
    evening = local(NEW_YORK, 2026, 12, 7, 20, 30)
    assert check(evening, [NEW_YORK], "US", "+12125550100") == SEND  # New York: TCPA's 21:00
    decision = check(evening, [NEW_YORK], "US", FLORIDA)  # Florida: 20:00
    assert isinstance(decision, Defer)
    assert "501.616" in decision.reason


def test_unsure_of_the_zone_every_candidate_must_be_open() -> None:
    # 08:30 in New York is 05:30 in Los Angeles: wait until 08:00 there.
    decision = check(local(NEW_YORK, 2026, 12, 7, 8, 30), [NEW_YORK, LOS_ANGELES], "US", "+1")
    assert isinstance(decision, Defer)
    assert decision.until == local(LOS_ANGELES, 2026, 12, 7, 8, 0)
    # 20:30 in Los Angeles is 23:30 in New York: the next moment both are open.
    decision = check(local(LOS_ANGELES, 2026, 12, 7, 20, 30), [NEW_YORK, LOS_ANGELES], "US", "+1")
    assert isinstance(decision, Defer)
    assert decision.until == local(LOS_ANGELES, 2026, 12, 8, 8, 0)


@pytest.mark.parametrize(
    ("night", "opening_utc"),
    [
        # Spring forward (8 March 2026): 08:00 EDT is 12:00 UTC, not 13:00.
        (datetime(2026, 3, 8, 6, 0, tzinfo=UTC), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        # Fall back (1 November 2026): 08:00 EST is 13:00 UTC.
        (datetime(2026, 11, 1, 5, 0, tzinfo=UTC), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
    ],
)
def test_the_opening_moves_with_daylight_saving(night: datetime, opening_utc: datetime) -> None:
    decision = check(night, [NEW_YORK], "US", "+12125550100")
    assert isinstance(decision, Defer)
    assert decision.until == opening_utc


def test_india_promotional_waits_for_ten_and_transactional_does_not() -> None:
    nine = local(KOLKATA, 2026, 12, 7, 9, 0)
    decision = check(nine, [KOLKATA], "IN", "+919812345678")
    assert isinstance(decision, Defer)
    assert decision.until == local(KOLKATA, 2026, 12, 7, 10, 0)
    assert "TRAI" in decision.reason
    assert check(nine, [KOLKATA], "IN", "+919812345678", category="transactional") == SEND


def test_france_waits_out_sunday() -> None:
    sunday_noon = local(PARIS, 2026, 12, 6, 12, 0)
    decision = check(sunday_noon, [PARIS], "FR", "+33612345678")
    assert isinstance(decision, Defer)
    assert decision.until == local(PARIS, 2026, 12, 7, 8, 0)


def test_a_policy_may_skip_instead_of_deferring() -> None:
    skipping = QuietHours(inside="skip")
    decision = skipping.check(
        local(LOS_ANGELES, 2026, 12, 7, 23, 0),
        zones=[LOS_ANGELES],
        category="promotional",
        country="US",
        phone=CALIFORNIA,
    )
    assert isinstance(decision, Skip)
    assert decision.reason == "quiet_hours"


def test_a_window_may_run_past_midnight() -> None:
    late = SendingWindow(opens=time(22), closes=time(2))
    one_am = local(PARIS, 2026, 12, 8, 1, 0)
    assert late.next_open(one_am, PARIS) == one_am
    assert late.next_open(local(PARIS, 2026, 12, 8, 3, 0), PARIS) == local(PARIS, 2026, 12, 8, 22)


def test_quiet_hours_are_turned_into_the_window_between_them() -> None:
    window = SendingWindow.outside_quiet(quiet_from=time(21), quiet_until=time(8))
    assert (window.opens, window.closes) == (time(8), time(21))


ZONES = st.sampled_from(
    [NEW_YORK, LOS_ANGELES, KOLKATA, PARIS, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]
)


@given(
    at=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    zones=st.lists(ZONES, min_size=1, max_size=3),
    opens=st.integers(0, 23),
    length=st.integers(1, 23),
)
def test_the_moment_found_is_open_everywhere_and_not_before_asked(
    at: datetime, zones: list[ZoneInfo], opens: int, length: int
) -> None:
    window = SendingWindow(time(opens), time((opens + length) % 24))
    found = earliest_open(at, [(window, zone) for zone in zones])
    if found is None:
        return  # windows that never overlap across these zones
    assert found >= at
    assert all(window.next_open(found, zone) == found for zone in zones)


def test_rolling_caps_count_back_from_now() -> None:
    cap = FrequencyCap(2, rolling=timedelta(hours=24))
    now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert cap.since(now, NEW_YORK) == now - timedelta(hours=24)


@pytest.mark.parametrize(
    ("calendar", "start"),
    [
        ("day", datetime(2026, 12, 9, 0, 0, tzinfo=NEW_YORK)),
        ("week", datetime(2026, 12, 7, 0, 0, tzinfo=NEW_YORK)),  # the Monday
        ("month", datetime(2026, 12, 1, 0, 0, tzinfo=NEW_YORK)),
    ],
)
def test_calendar_caps_start_at_local_midnight(calendar: str, start: datetime) -> None:
    cap = FrequencyCap(5, calendar=calendar)  # type: ignore[arg-type]
    # 03:00 UTC on Thursday 10 December is 22:00 on Wednesday the 9th in New York.
    now = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
    assert cap.since(now, NEW_YORK) == start


def test_a_reached_cap_skips_and_transactional_bypasses() -> None:
    cap = FrequencyCap(2, rolling=timedelta(hours=24))
    assert frequency.check([cap], "promotional", {cap: 1}) == SEND
    decision = frequency.check([cap], "promotional", {cap: 2})
    assert decision == Skip("frequency_cap", "at most 2 promotional per rolling 24 h")
    assert frequency.check([cap], "transactional", {cap: 9}) == SEND


def test_a_campaign_cannot_loosen_the_installations_cap() -> None:
    strict = FrequencyCap(2, rolling=timedelta(hours=24))
    frequency.stricter_only([strict], [FrequencyCap(1, rolling=timedelta(hours=24))])
    with pytest.raises(ValidationFailed):
        frequency.stricter_only([strict], [FrequencyCap(3, rolling=timedelta(hours=24))])


def test_a_cap_needs_exactly_one_kind_of_period() -> None:
    with pytest.raises(ValidationFailed):
        FrequencyCap(1)
    with pytest.raises(ValidationFailed):
        FrequencyCap(1, rolling=timedelta(hours=1), calendar="day")


def test_installation_caps_are_read_from_their_written_form() -> None:
    caps = frequency.caps_of_setting(" 2/24h, 5/week ,3/7d", "frequency_caps")
    assert [(c.limit, c.rolling, c.calendar) for c in caps] == [
        (2, timedelta(hours=24), None),
        (5, None, "week"),
        (3, timedelta(days=7), None),
    ]
    assert frequency.caps_of_setting("", "frequency_caps") == []


@pytest.mark.parametrize("written", ["2/banana", "2/0h", "2/99999999999999999d", "-1/day"])
def test_an_unreadable_installation_cap_names_the_setting_and_the_part(written: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        frequency.caps_of_setting(f"1/day,{written}", "frequency_caps")
    assert refused.value.field == "frequency_caps"
    assert repr(written) in refused.value.message


def test_installation_quiet_hours_are_read_from_their_written_form() -> None:
    assert window_of_setting("22:30 - 07:00", "quiet_hours") == SendingWindow(time(7), time(22, 30))
    assert window_of_setting(" ", "quiet_hours") == ALWAYS_OPEN
    with pytest.raises(ValidationFailed) as refused:
        window_of_setting("22:00-7", "quiet_hours")
    assert refused.value.field == "quiet_hours"
