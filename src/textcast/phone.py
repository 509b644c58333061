"""Phone numbers in E.164, through libphonenumber (never hand-rolled).

Every number Textcast stores or sends is E.164 (``+14155552671``): one spelling
per subscriber, so opt-outs, suppression and de-duplication match reliably.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType
from phonenumbers.phonenumberutil import _number_type_helper

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
    return parse(raw, default_region, field, allow_test_numbers=allow_test_numbers).e164


@dataclass(frozen=True, slots=True)
class Parsed:
    """A number :func:`parse` accepted: E.164, libphonenumber's parse, its
    region (None only for Twilio's test range) and its number type
    (``PhoneNumberType``; ``UNKNOWN`` only for Twilio's test range)."""

    e164: str
    number: phonenumbers.PhoneNumber
    region: str | None
    number_type: int


def parse(
    raw: str,
    default_region: str = "US",
    field: str = "to",
    *,
    allow_test_numbers: bool = True,
) -> Parsed:
    """:func:`normalize`, keeping what the check learnt (the parsed number and
    its type), so callers that need more facts do not parse it twice."""
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
        parsed = parse_e164(text) or phonenumbers.parse(text, default_region.upper())
    except NumberParseException as exc:
        problem = _PARSE_PROBLEMS.get(exc.error_type, "is not a phone number")
        raise ValidationFailed(field, f"{shown} {problem}") from None
    e164 = str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    if TWILIO_TEST_NUMBER.fullmatch(e164):
        if allow_test_numbers:
            return Parsed(e164, parsed, None, PhoneNumberType.UNKNOWN)
        raise ValidationFailed(field, f"{shown} is a Twilio test number and cannot be used here")
    if parsed.extension:
        raise ValidationFailed(field, f"{shown} has an extension, which cannot receive SMS")
    region, number_type = region_and_type(parsed)
    if number_type == PhoneNumberType.UNKNOWN:
        if text.startswith("+"):
            problem = "is not a valid phone number (check the country code and the digits)"
        else:
            problem = (
                f"is not a valid {default_region.upper()} number; "
                "numbers from other countries need + and the country code"
            )
        raise ValidationFailed(field, f"{shown} {problem}")
    return Parsed(e164, parsed, region, number_type)


def parse_e164(text: str) -> phonenumbers.PhoneNumber | None:
    """``phonenumbers.parse`` of a number already written as E.164, at a
    fraction of the cost (imports read a million of them); None when it is
    not that simple (then the full parse decides).

    The same number the full parse builds: the country code is taken the way
    it takes it, and the rest is the national number as long as the full
    parse would strip nothing from it (no national prefix there to strip,
    no Italian leading zero). A unit test holds the two to each other.
    """
    if not E164.fullmatch(text) or len(text) < 8:
        return None
    digits = text[1:]
    for size in (1, 2, 3):
        calling_code = int(digits[:size])
        if calling_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if national.startswith("0"):
        return None
    region = phonenumbers.region_code_for_country_code(calling_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(calling_code, region)
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix and re.match(prefix, national):
        return None
    return phonenumbers.PhoneNumber(country_code=calling_code, national_number=int(national))


def region_and_type(number: phonenumbers.PhoneNumber) -> tuple[str | None, int]:
    """``region_code_for_number`` and ``number_type`` in one pass.

    A number is valid exactly when libphonenumber can type it (that is its
    ``is_valid_number``). Asked one after the other, the two functions match
    the number against its region's patterns twice (three times for +1,
    shared by 25 regions); a contact import spent most of its time there.
    This is their code, joined, on the library's own pattern matcher; a unit
    test holds it to the two public functions.
    """
    calling_code = number.country_code or 0
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(calling_code)
    if not regions:
        return None, PhoneNumberType.UNKNOWN
    national = phonenumbers.national_significant_number(number)
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(calling_code, regions[0])
        if metadata is None:
            return regions[0], PhoneNumberType.UNKNOWN
        return regions[0], _number_type_helper(national, metadata)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re.match(metadata.leading_digits, national):
                return region, _number_type_helper(national, metadata)
        else:
            number_type = _number_type_helper(national, metadata)
            if number_type != PhoneNumberType.UNKNOWN:
                return region, number_type
    return None, PhoneNumberType.UNKNOWN


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
    # Imported here: the geocoder loads all of libphonenumber's place names,
    # about 100 MB, which only this picker needs (a contact import's whole
    # process is 170 MB without them).
    from phonenumbers import geocoder

    found = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        name = geocoder.country_name_for_number(example, "en") if example else ""
        found.append((region, phonenumbers.country_code_for_region(region), name or region))
    return tuple(sorted(found, key=lambda item: item[2]))
