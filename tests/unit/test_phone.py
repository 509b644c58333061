"""E.164 normalisation through libphonenumber."""

import pytest

from textcast.errors import ValidationFailed
from textcast.phone import country_code_of, is_e164, normalize


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("+1 415 555 2671", "GB", "+14155552671"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("98765 43210", "IN", "+919876543210"),
        ("+15005550006", "US", "+15005550006"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalize(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "hello", "+1 555", "12", "+999 1234 5678"])
def test_bad_numbers_name_the_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize(raw, "US", field="to")
    assert caught.value.field == "to"
    assert caught.value.message


def test_helpers() -> None:
    assert is_e164("+14155552671") and not is_e164("14155552671")
    assert country_code_of("+442079460958") == "GB"
