"""What a contact's number says about them: country, number type and time zone.

Worked out once, when a number is stored: libphonenumber costs about 30 µs a
number, too much to pay on every segment count or page of contacts.
"""

from __future__ import annotations

from dataclasses import dataclass

from phonenumbers import PhoneNumberType

from textcast import phone
from textcast.audience import time_zones
from textcast.errors import ValidationFailed

# PhoneNumberType's values by name, as stored in ``contacts.phone_type``.
TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int) and name != "UNKNOWN"
}
TEST = "test"  # Twilio's magic numbers, which reach no phone
INVALID = "invalid"
PHONE_TYPES = (*sorted(TYPE_NAMES.values()), TEST, INVALID)


@dataclass(frozen=True, slots=True)
class NumberFacts:
    phone: str  # E.164 (or, for a number that is not one, as it came)
    country: str  # ISO 3166 region; "001" non-geographic, "ZZ" unknown
    phone_type: str  # one of PHONE_TYPES
    time_zone: str | None  # None: the install's default zone
    time_zone_source: str


def read(raw: str, region: str, field: str = "phone") -> NumberFacts:
    """A number typed by a person or a file: E.164 with its facts, or
    :class:`ValidationFailed` naming ``field``."""
    parsed = phone.parse(raw, region, field)
    return _facts(parsed)


def of_stored(number: str) -> NumberFacts:
    """Facts of a number already stored (an inbound ``From`` may be a short
    code or a name): never raises; what is not a valid number is ``invalid``."""
    try:
        return read(number, "ZZ")
    except ValidationFailed:
        return NumberFacts(number, "ZZ", INVALID, None, time_zones.INSTALL_DEFAULT)


def _facts(parsed: phone.Parsed) -> NumberFacts:
    if parsed.number_type == PhoneNumberType.UNKNOWN:  # only Twilio's test range gets here
        country, type_name = phone.country_code_of(parsed.e164), TEST
    else:
        country = parsed.region or "ZZ"
        type_name = TYPE_NAMES.get(parsed.number_type, INVALID)
    zones = time_zones.zones_of(parsed.number, parsed.number_type, parsed.e164)
    zone, source = time_zones.derive(zones, country)
    return NumberFacts(parsed.e164, country, type_name, zone, source)
