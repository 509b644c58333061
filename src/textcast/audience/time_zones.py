"""A contact's time zone, and where it came from.

``time_zone_source`` says how sure Textcast is of a zone:

- ``explicit``: the operator or an import set it.
- ``phone``: libphonenumber maps the number to exactly one zone
  (``phonenumbers.timezone``; +1 415 → America/Los_Angeles).
- ``country_default``: the number could be in several zones of its country
  (an Alaskan number: Adak or Anchorage; a US toll-free number: 42 zones; a
  Russian or Australian mobile: the whole country), or in none libphonenumber
  knows, and its country has a reference zone: the zone of its capital
  (:data:`REFERENCE_ZONES`), or the country's only zone. The reference zone is
  for display and local-time scheduling; rules that must hold in the
  recipient's real zone (quiet hours) take every zone in
  :func:`candidates` — the most restrictive reading (DESIGN.md section 6).
- ``install_default``: nothing better is known; the contact's ``time_zone``
  is stored empty and reads as ``TEXTCAST_DEFAULT_TIME_ZONE``, so changing the
  setting moves them all.

libphonenumber answers ``Etc/Unknown`` for numbers it cannot place; that is
not an IANA zone (``zoneinfo`` cannot load it) and is never stored.
"""

from __future__ import annotations

import functools
import zoneinfo

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from textcast.errors import ValidationFailed

EXPLICIT = "explicit"
PHONE = "phone"
COUNTRY_DEFAULT = "country_default"
INSTALL_DEFAULT = "install_default"
SOURCES = (EXPLICIT, PHONE, COUNTRY_DEFAULT, INSTALL_DEFAULT)

# The capital's zone of each country libphonenumber spreads over several zones.
# Countries with one zone need no entry: that zone is their default.
REFERENCE_ZONES = {
    "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney",  # Canberra
    "BR": "America/Sao_Paulo",  # Brasília keeps São Paulo's time
    "CA": "America/Toronto",  # Ottawa
    "CD": "Africa/Kinshasa",
    "CL": "America/Santiago",
    "EC": "America/Guayaquil",  # Quito
    "ES": "Europe/Madrid",
    "FI": "Europe/Helsinki",
    "FM": "Pacific/Pohnpei",
    "GB": "Europe/London",
    "GL": "America/Nuuk",
    "ID": "Asia/Jakarta",
    "IE": "Europe/Dublin",
    "IT": "Europe/Rome",
    "KI": "Pacific/Tarawa",
    "KZ": "Asia/Almaty",  # Astana keeps Almaty's time
    "MN": "Asia/Ulaanbaatar",
    "MX": "America/Mexico_City",
    "NO": "Europe/Oslo",
    "NZ": "Pacific/Auckland",
    "PF": "Pacific/Tahiti",  # Papeete
    "PT": "Europe/Lisbon",
    "RE": "Indian/Reunion",
    "RU": "Europe/Moscow",
    "US": "America/New_York",  # Washington, D.C.
}


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone this machine's tz database has."""
    return name in _known_zones()


def check_zone(name: object, field: str = "time_zone") -> str:
    """``name`` if it is an IANA zone, else :class:`ValidationFailed` naming ``field``."""
    if not isinstance(name, str) or not is_zone(name.strip()):
        raise ValidationFailed(
            field, f"{name!r} is not an IANA time zone (e.g. America/New_York, Europe/Paris)"
        )
    return name.strip()


def zones_of(number: phonenumbers.PhoneNumber, number_type: int, e164: str) -> tuple[str, ...]:
    """The IANA zones libphonenumber places a number of ``number_type`` in
    (``Etc/Unknown`` and zones this machine lacks left out).

    ``phonenumbers.timezone.time_zones_for_number``, without typing and
    formatting the number again (the caller has both): the longest prefix of
    the number in libphonenumber's zone data, or for a type that says nothing
    of place (a mobile in most countries, toll-free) its country code's.
    """
    if number_type == PhoneNumberType.UNKNOWN:
        return ()
    if phonenumbers.is_number_type_geographical(number_type, number.country_code or 0):
        digits = e164[1:]
        for length in range(min(TIMEZONE_LONGEST_PREFIX, len(digits)), 0, -1):
            found = TIMEZONE_DATA.get(digits[:length])
            if found is not None:
                return _loadable(found)
        return ()
    return _loadable(TIMEZONE_DATA.get(str(number.country_code), ()))


@functools.cache
def _loadable(zones: tuple[str, ...]) -> tuple[str, ...]:
    known = _known_zones()
    return tuple(zone for zone in zones if zone in known)


def derive(zones: tuple[str, ...], country: str) -> tuple[str | None, str]:
    """(time_zone, time_zone_source) for a number in ``zones`` of ``country``."""
    if len(zones) == 1:
        return zones[0], PHONE
    default = country_zone(country)
    if default is not None:
        return default, COUNTRY_DEFAULT
    return None, INSTALL_DEFAULT


@functools.cache
def country_zone(country: str) -> str | None:
    """The reference zone of ``country`` (ISO 3166), or None when it has none."""
    if country in REFERENCE_ZONES:
        return REFERENCE_ZONES[country]
    calling_code = phonenumbers.country_code_for_region(country)
    if not calling_code:
        return None
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(calling_code, ())
    if len(regions) != 1:  # shared calling codes (+1, +7, +44) list other countries' zones
        return None
    zones = [z for z in TIMEZONE_DATA.get(str(calling_code), ()) if is_zone(z)]
    return zones[0] if len(zones) == 1 else None


def candidates(phone: str, time_zone: str | None, source: str, install_zone: str) -> list[str]:
    """Every zone the contact may be in: the one known zone, or for a
    ``country_default`` contact each zone libphonenumber gives its number."""
    if source != COUNTRY_DEFAULT:
        return [time_zone or install_zone]
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return [time_zone or install_zone]
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    found = zones_of(number, phonenumbers.number_type(number), e164)
    return sorted(found) if found else [time_zone or install_zone]
