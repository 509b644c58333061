"""E.164 normalisation through libphonenumber."""

import pytest

from textcast.errors import ValidationFailed
from textcast.phone import country_code_of, is_e164, is_us_or_canada, normalize


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        pytest.param("(415) 555-2671", "US", "+14155552671", id="a US national number gets +1"),
        pytest.param("415.555.2671", "US", "+14155552671", id="dots are punctuation"),
        pytest.param(
            "1 415 555 2671", "US", "+14155552671", id="the US trunk prefix 1 is understood"
        ),
        pytest.param("  +14155552671  ", "US", "+14155552671", id="surrounding spaces are ignored"),
        pytest.param(
            "+1 415 555 2671", "GB", "+14155552671", id="a + number ignores the default region"
        ),
        pytest.param(
            "+44 20 7946 0958", "US", "+442079460958", id="a UK number with + becomes E.164"
        ),
        pytest.param(
            "0044 20 7946 0958", "US", "+442079460958", id="00 is read as the international prefix"
        ),
        pytest.param(
            "0049 30 901820", "US", "+4930901820", id="a German number with 00 becomes E.164"
        ),
        pytest.param("00 49 30 901820", "US", "+4930901820", id="00 followed by a space works too"),
        pytest.param(
            "011 44 20 7946 0958", "US", "+442079460958", id="the North American 011 prefix works"
        ),
        pytest.param(
            "020 7946 0958", "GB", "+442079460958", id="a UK national number uses region GB"
        ),
        pytest.param("98765 43210", "IN", "+919876543210", id="an Indian mobile uses region IN"),
        pytest.param("98765 43210", "in", "+919876543210", id="the region is case-insensitive"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalize(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("+15005550006", "+15005550006", id="the valid-number magic number"),
        pytest.param("+1 500 555 0001", "+15005550001", id="with spaces"),
        pytest.param("(500) 555-0009", "+15005550009", id="written as a US national number"),
    ],
)
def test_twilio_magic_numbers_are_accepted_as_is(raw: str, expected: str) -> None:
    assert normalize(raw, "US") == expected


def test_twilio_magic_numbers_are_refused_when_test_numbers_are_not_allowed() -> None:
    with pytest.raises(ValidationFailed, match="test number"):
        normalize("+15005550006", allow_test_numbers=False)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        pytest.param("", "required", id="empty"),
        pytest.param("   ", "required", id="only spaces"),
        pytest.param("hello", "not a phone number", id="words"),
        pytest.param("+", "not a phone number", id="a lone plus"),
        pytest.param("+1 555", "not a valid", id="too few digits after +1"),
        pytest.param("12", "not a valid US number", id="two digits"),
        pytest.param("+999 1234 5678", "country code", id="a country code that does not exist"),
        pytest.param("+1 415 555 2671 ext. 12", "extension", id="an extension"),
        pytest.param("+44 20 7946 09581234", "not a valid", id="too many digits for the UK"),
        pytest.param("7946 0958", "not a valid US number", id="a foreign number without +"),
        pytest.param("1" * 100, "too long", id="a very long input"),
    ],
)
def test_bad_numbers_raise_validation_failed_naming_the_field(raw: str, says: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize(raw, "US", field="recipients[3].to")
    assert caught.value.field == "recipients[3].to"
    assert says in caught.value.message


def test_the_error_message_quotes_the_input() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize("hello", field="from")
    assert str(caught.value) == "from: 'hello' is not a phone number"


def test_the_field_defaults_to_to() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize("nope")
    assert caught.value.field == "to"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("+14155552671", True, id="E.164"),
        pytest.param("+442079460958", True, id="UK E.164"),
        pytest.param("+123456789012345", True, id="15 digits is the maximum"),
        pytest.param("+1234567890123456", False, id="16 digits is too many"),
        pytest.param("14155552671", False, id="no plus"),
        pytest.param("+04155552671", False, id="country codes do not start with 0"),
        pytest.param("+1 415 555 2671", False, id="spaces"),
        pytest.param("+14155552671\n", False, id="a trailing newline"),
        pytest.param("+١٤١٥٥٥٥٢٦٧١", False, id="non-ASCII digits"),
        pytest.param("", False, id="empty"),
    ],
)
def test_is_e164_checks_syntax(value: str, expected: bool) -> None:
    assert is_e164(value) is expected


@pytest.mark.parametrize(
    ("e164", "region"),
    [
        pytest.param("+14155552671", "US", id="US"),
        pytest.param("+16135550123", "CA", id="Canada shares +1"),
        pytest.param("+18765550123", "JM", id="Jamaica shares +1"),
        pytest.param("+442079460958", "GB", id="UK"),
        pytest.param("+919876543210", "IN", id="India"),
        pytest.param("+80012345678", "001", id="a non-geographic number"),
        pytest.param("+15005550006", "US", id="Twilio's test range"),
        pytest.param("not a number", "ZZ", id="garbage is the unknown region"),
    ],
)
def test_country_code_of_gives_the_region(e164: str, region: str) -> None:
    assert country_code_of(e164) == region


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        pytest.param("+14155552671", True, id="US"),
        pytest.param("+16135550123", True, id="Canada"),
        pytest.param("+15005550006", True, id="Twilio's test range"),
        pytest.param("+18765550123", False, id="Jamaica is +1 but neither"),
        pytest.param("+442079460958", False, id="UK"),
    ],
)
def test_is_us_or_canada_goes_by_region_not_by_plus_one(e164: str, expected: bool) -> None:
    assert is_us_or_canada(e164) is expected
