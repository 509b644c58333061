"""Phone numbers in E.164, through libphonenumber (never hand-rolled).

Every number Textcast stores or sends is E.164 (``+14155552671``): one spelling
per subscriber, so opt-outs, suppression and de-duplication match reliably.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, geocoder

from textcast.errors import ValidationFailed

# [0-9], not \d: \d also matches other scripts' digits, which E.164 does not allow.
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")

# Twilio's magic test numbers (+1 500 555 XXXX) reach no real phone: Twilio's test
# credentials and Textcast's simulator answer them with scripted outcomes. Whether
# libphonenumber calls them valid depends on its metadata version, so they are
# recognised here explicitly and trial and simulator flows work on any version.
TWILIO_TEST_NUMBER = re.compile(r"^\+1500555[0-9]{4}$")

# libphonenumber gives up past 250 characters anyway; a short cap keeps error
# messages (which quote the input) readable.
_MAX_INPUT = 64

_PARSE_PROBLEMS = {
    NumberParseException.INVALID_COUNTRY_CODE: (
        "has no recognisable country code; write it in international form, e.g. +44 20 7946 0958"
    ),
    NumberParseException.NOT_A_NUMBER: "is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "is too short to be a phone number",
    NumberParseException.TOO_SHORT_NSN: "is too short to be a phone number",
    NumberParseException.TOO_LONG: "is too long to be a phone number",
}


def is_e164(value: str) -> bool:
    """Whether ``value`` is already written as E.164 (syntax only, not validity)."""
    return E164.fullmatch(value) is not None


def normalize(
    raw: str,
    default_region: str = "US",
    field: str = "to",
    *,
    allow_test_numbers: bool = True,
) -> str:
    """``raw`` as E.164, or :class:`ValidationFailed` naming ``field``.

    Accepts international numbers (``+44 20 7946 0958``, or ``0044 …`` with the
    ``00`` international prefix), national numbers of ``default_region``
    (``(415) 555-2671`` with ``US``) and common punctuation. The result must be
    a valid number per libphonenumber; extensions are refused because SMS
    cannot reach them.

    ``allow_test_numbers`` controls Twilio's magic range ``+1 500 555 XXXX``:
    when True those numbers are returned as-is, when False they are refused, so
    a production path can keep simulator numbers out.
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise ValidationFailed(field, "a phone number is required")
    shown = _shown(text)
    if len(text) > _MAX_INPUT:
        raise ValidationFailed(field, f"{shown} is too long to be a phone number")
    if text.startswith("00"):
        # The ITU international prefix; regions whose own prefix differs (011 in
        # North America) would otherwise read it as a national number.
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, default_region.upper())
    except NumberParseException as exc:
        problem = _PARSE_PROBLEMS.get(exc.error_type, "is not a phone number")
        raise ValidationFailed(field, f"{shown} {problem}") from None
    e164 = str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    if TWILIO_TEST_NUMBER.fullmatch(e164):
        if allow_test_numbers:
            return e164
        raise ValidationFailed(field, f"{shown} is a Twilio test number and cannot be used here")
    if parsed.extension:
        raise ValidationFailed(field, f"{shown} has an extension, which cannot receive SMS")
    if not phonenumbers.is_valid_number(parsed):
        if text.startswith("+"):
            problem = "is not a valid phone number (check the country code and the digits)"
        else:
            problem = (
                f"is not a valid {default_region.upper()} number; "
                "numbers from other countries need + and the country code"
            )
        raise ValidationFailed(field, f"{shown} {problem}")
    return e164


def country_code_of(e164: str) -> str:
    """The region of a number as an ISO 3166 code (``"US"``, ``"GB"``).

    ``"001"`` for non-geographic numbers (e.g. +800) and ``"ZZ"``, the CLDR code
    for an unknown region, when the number is unparseable or matches no region.
    Twilio's test range counts as ``"US"``, as Twilio treats it.
    """
    if TWILIO_TEST_NUMBER.fullmatch(e164):
        return "US"
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except NumberParseException:
        return "ZZ"
    return str(region) if region else "ZZ"


def is_us_or_canada(e164: str) -> bool:
    """Whether the number belongs to the US or Canada.

    Not merely ``+1``: the North American Numbering Plan also covers Caribbean
    countries, whose senders get other throughput and compliance rules.
    """
    return country_code_of(e164) in {"US", "CA"}


def _shown(text: str) -> str:
    """The input as quoted in an error message, cut short if long."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def with_country_code(country_code: str, number: str) -> str:
    """A number given in two parts (Send Test SMS: country code ``1`` or ``+1``
    and mobile number ``4155552671``) as one string for :func:`normalize`. A
    number written with its own ``+`` keeps it; a national trunk ``0`` goes."""
    number, code = number.strip(), country_code.strip().lstrip("+")
    if code and not number.startswith("+"):
        return f"+{code}{number.lstrip('0')}"
    return number


@functools.cache
def calling_codes() -> tuple[tuple[str, int, str], ...]:
    """(region, country calling code, English name) for every region
    libphonenumber knows, sorted by name: the country code picker."""
    found = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        name = geocoder.country_name_for_number(example, "en") if example else ""
        found.append((region, phonenumbers.country_code_for_region(region), name or region))
    return tuple(sorted(found, key=lambda item: item[2]))
