"""What a number says about a contact: country, number type, time zone and
its source; and the shortcuts that read it, held to libphonenumber itself."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as phone_zones

from textcast import phone
from textcast.audience import numbers, time_zones
from textcast.errors import ValidationFailed

CALLING_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
# Country codes, weighted towards the ones shared by several regions or with
# national prefixes and leading zeros (+1, +7, +44, +39), and digits after them.
E164_LIKE = st.builds(
    lambda code, digits: f"+{code}{digits}",
    st.sampled_from(CALLING_CODES) | st.sampled_from([1, 1, 7, 44, 39, 33, 61, 55]),
    st.text("0123456789", min_size=4, max_size=12),
)


@settings(max_examples=3000)
@given(E164_LIKE)
def test_the_e164_shortcut_builds_the_number_the_full_parser_builds(text: str) -> None:
    fast = phone.parse_e164(text)
    if fast is None:
        return
    assert fast == phonenumbers.parse(text, None)


@settings(max_examples=3000)
@given(E164_LIKE)
def test_region_and_type_answer_as_libphonenumber_does(text: str) -> None:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return
    region, number_type = phone.region_and_type(number)
    assert number_type == phonenumbers.number_type(number)
    if number_type != phonenumbers.PhoneNumberType.UNKNOWN:
        assert region == phonenumbers.region_code_for_number(number)


@settings(max_examples=3000)
@given(E164_LIKE)
def test_zones_are_libphonenumbers_without_etc_unknown(text: str) -> None:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return
    number_type = phonenumbers.number_type(number)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    expected = tuple(
        z for z in phone_zones.time_zones_for_number(number) if z != phone_zones.UNKNOWN_TIMEZONE
    )
    assert time_zones.zones_of(number, number_type, e164) == expected


@settings(max_examples=2000)
@given(E164_LIKE)
def test_a_stored_time_zone_is_always_a_real_zone_never_etc_unknown(text: str) -> None:
    facts = numbers.of_stored(text)
    assert facts.time_zone is None or time_zones.is_zone(facts.time_zone)
    assert facts.time_zone_source in time_zones.SOURCES
    assert (facts.time_zone is None) == (facts.time_zone_source == time_zones.INSTALL_DEFAULT)


@pytest.mark.parametrize(
    ("number", "country", "phone_type", "zone", "source"),
    [
        pytest.param(
            "+14155552671",
            "US",
            "fixed_line_or_mobile",
            "America/Los_Angeles",
            "phone",
            id="a San Francisco number has one zone",
        ),
        pytest.param(
            "+442079460001", "GB", "fixed_line", "Europe/London", "phone", id="a London landline"
        ),
        pytest.param(
            "+19075551234",
            "US",
            "fixed_line_or_mobile",
            "America/New_York",
            "country_default",
            id="Alaska spans two zones: the US reference zone",
        ),
        pytest.param(
            "+18005550100",
            "US",
            "toll_free",
            "America/New_York",
            "country_default",
            id="a toll-free number could be anywhere in North America",
        ),
        pytest.param(
            "+79161234567",
            "RU",
            "mobile",
            "Europe/Moscow",
            "country_default",
            id="a Russian mobile: Moscow, the reference zone",
        ),
        pytest.param(
            "+61412345678",
            "AU",
            "mobile",
            "Australia/Sydney",
            "country_default",
            id="an Australian mobile: Sydney",
        ),
        pytest.param(
            "+15005550006", "US", "test", "America/New_York", "country_default", id="Twilio test"
        ),
    ],
)
def test_time_zone_and_its_source_follow_the_number(
    number: str, country: str, phone_type: str, zone: str, source: str
) -> None:
    facts = numbers.read(number, "US")
    assert (facts.country, facts.phone_type, facts.time_zone, facts.time_zone_source) == (
        country,
        phone_type,
        zone,
        source,
    )


@pytest.mark.parametrize("raw", ["12345", "Textcast", "+12845551234", ""])
def test_what_is_not_a_valid_number_is_invalid_with_the_install_zone(raw: str) -> None:
    facts = numbers.of_stored(raw)
    assert (facts.country, facts.phone_type, facts.time_zone, facts.time_zone_source) == (
        "ZZ",
        "invalid",
        None,
        "install_default",
    )


def test_a_country_default_contact_may_be_in_every_zone_of_its_number() -> None:
    candidates = time_zones.candidates("+19075551234", "America/New_York", "country_default", "UTC")
    assert candidates == ["America/Adak", "America/Anchorage"]
    assert time_zones.candidates("+14155552671", "America/Los_Angeles", "phone", "UTC") == [
        "America/Los_Angeles"
    ]
    assert time_zones.candidates("12345", None, "install_default", "Europe/Paris") == [
        "Europe/Paris"
    ]


def test_every_reference_zone_is_a_real_zone() -> None:
    assert all(time_zones.is_zone(zone) for zone in time_zones.REFERENCE_ZONES.values())


def test_etc_unknown_and_made_up_zones_are_refused() -> None:
    for name in ("Etc/Unknown", "Mars/Olympus", "../../etc/passwd", ""):
        with pytest.raises(ValidationFailed, match="IANA"):
            time_zones.check_zone(name)
