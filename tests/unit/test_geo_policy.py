"""Geographic permissions: which codes an allow-list takes, and which
destinations it refuses."""

from __future__ import annotations

import pytest

from textcast.errors import ValidationFailed
from textcast.policy import geo

LONDON = "+442079460958"
SAN_FRANCISCO = "+14155552671"
TORONTO = "+14165550123"


def test_codes_are_upper_cased_sorted_and_kept_once() -> None:
    assert geo.parse_countries(["us", " CA ", "US", "xk"]) == ["CA", "US", "XK"]


@pytest.mark.parametrize("empty", [None, []])
def test_no_codes_means_every_country(empty: object) -> None:
    assert geo.parse_countries(empty) == []
    assert geo.refusal("p", geo.parse_countries(empty), LONDON) is None


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (["US", "XX"], "'XX'"),
        (["USA"], "'USA'"),
        (["AQ"], "'AQ'"),  # Antarctica: ISO, but no phone number is there
        (["001"], "'001'"),
        ([""], "''"),
        ([7], "a non-string"),
    ],
)
def test_an_unknown_code_is_refused_naming_it(raw: list[object], named: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        geo.parse_countries(raw)
    assert caught.value.field == "allowed_countries"
    assert named in caught.value.message


@pytest.mark.parametrize("raw", ["US,CA", {"US": True}, 1])
def test_anything_but_a_list_is_refused(raw: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        geo.parse_countries(raw, field="config.allowed_countries")
    assert caught.value.field == "config.allowed_countries"


def test_a_typed_line_splits_on_commas_and_spaces() -> None:
    assert geo.split_countries(" us, ca  gb,,") == ["us", "ca", "gb"]
    assert geo.split_countries("  ") == []


def test_a_destination_outside_the_list_is_refused_naming_provider_and_country() -> None:
    allowed = geo.allowed_of({"account_sid": "AC…", "allowed_countries": ["US", "CA"]})
    assert geo.refusal("twilio-main", allowed, SAN_FRANCISCO) is None
    assert geo.refusal("twilio-main", allowed, TORONTO) is None  # +1, but Canada
    problem = geo.refusal("twilio-main", allowed, LONDON)
    assert problem is not None
    assert "'twilio-main'" in problem and "exclude GB" in problem
    with pytest.raises(ValidationFailed) as caught:
        geo.check_destination("twilio-main", allowed, LONDON, field="phones[0]")
    assert caught.value.field == "phones[0]"


def test_canada_alone_refuses_the_us_though_both_dial_plus_one() -> None:
    assert geo.refusal("p", {"CA"}, SAN_FRANCISCO) is not None
    assert geo.refusal("p", {"CA"}, TORONTO) is None


def test_twilio_test_numbers_count_as_the_us() -> None:
    assert geo.refusal("p", {"US"}, "+15005550006") is None
    assert geo.refusal("p", {"GB"}, "+15005550006") is not None
