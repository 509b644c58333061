"""Geographic permissions: the destination countries a provider account may
send to (``allowed_countries`` among its settings; none listed: every one).

A Twilio account only sends to the countries enabled under Messaging
Geographic Permissions; a message to any other fails with error 21408
(region not enabled) after it was queued and tried. Textcast knows the list
and does not try: a single message to another country is refused at once
(422 naming ``to``), and a campaign skips such recipients with reason
``geo_not_allowed`` when it chooses them (the same rule as a condition in
SQL, :func:`excluded`, so a million-recipient audience is decided by the
database).

A destination's country is its number's (libphonenumber's region, the one
stored as ``contacts.country``); Twilio's test range counts as the US.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, false, literal

from textcast import phone
from textcast.errors import ValidationFailed

SETTING = "allowed_countries"
SKIP_REASON = "geo_not_allowed"
# The ISO 3166-1 alpha-2 codes a phone number can belong to (libphonenumber's
# regions, which also use XK for Kosovo and AC/TA for Ascension and Tristan da
# Cunha, as Twilio does). A code no number has, such as AQ, could never match
# a destination, so it is refused like a typo.
COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS)


def parse_countries(raw: object, field: str = SETTING) -> list[str]:
    """The allow-list as stored: upper-case codes, sorted, each once; empty
    for every country. :class:`ValidationFailed` names ``field`` and the bad
    code."""
    if raw is None:
        return []
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise ValidationFailed(field, 'must be a list of country codes, e.g. ["US", "CA"]')
    codes = set()
    for item in raw:
        code = item.strip().upper() if isinstance(item, str) else ""
        if code not in COUNTRIES:
            shown = repr(item) if isinstance(item, str) else "a non-string"
            raise ValidationFailed(
                field, f"{shown} is not an ISO 3166-1 alpha-2 country code (e.g. US, GB, IN)"
            )
        codes.add(code)
    return sorted(codes)


def split_countries(text: str) -> list[str]:
    """Codes typed as one comma- or space-separated line (a form field, a
    CLI option): ``"us, ca"`` → ``["us", "ca"]``, checked by
    :func:`parse_countries`."""
    return [part for part in text.replace(",", " ").split() if part]


def allowed_of(config: Mapping[str, Any]) -> frozenset[str]:
    """A provider's stored allow-list; empty when it may send anywhere."""
    return frozenset(config.get(SETTING) or ())


# A batch repeats numbers, and libphonenumber costs about 30 µs a number.
_country_of = functools.lru_cache(maxsize=10_000)(phone.country_code_of)


def refusal(provider: str, allowed: Collection[str], e164: str) -> str | None:
    """Why ``provider`` may not send to ``e164``; None when it may."""
    if not allowed:
        return None
    country = _country_of(e164)
    if country in allowed:
        return None
    return (
        f"{e164} is a number in {country}; provider {provider!r} may send only to "
        f"{', '.join(sorted(allowed))} (its allowed countries exclude {country})"
    )


def check_destination(
    provider: str, allowed: Collection[str], e164: str, field: str = "to"
) -> None:
    """:class:`ValidationFailed` naming ``field`` unless ``provider`` may send to ``e164``."""
    problem = refusal(provider, allowed, e164)
    if problem is not None:
        raise ValidationFailed(field, problem)


def excluded(country: ColumnElement[str], allowed: Iterable[str]) -> ColumnElement[bool]:
    """The rule as SQL over a country column: true where it is not allowed."""
    codes = sorted(allowed)
    return country.not_in(codes) if codes else false()


def _not_among(provider: str) -> str:
    return f" is not among the allowed countries of provider {provider!r}"


def skip_detail(country: ColumnElement[str], provider: str) -> ColumnElement[str]:
    """What a skipped recipient's ``detail`` says, built in SQL: its country
    and the provider whose list leaves it out."""
    return country + literal(_not_among(provider))


def skip_detail_text(country: str, provider: str) -> str:
    """:func:`skip_detail` for one recipient decided in Python."""
    return country + _not_among(provider)
