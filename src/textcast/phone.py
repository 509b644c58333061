"""Phone numbers in E.164, through libphonenumber (never hand-rolled)."""

from __future__ import annotations

import re

import phonenumbers

from textcast.errors import ValidationFailed

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# Twilio's magic test numbers (+1 500 555 xxxx) are not real numbers, so
# libphonenumber rejects them; they are accepted as-is so trial and simulator
# flows can use them exactly as Twilio documents.
TWILIO_TEST_NUMBER = re.compile(r"^\+1500555\d{4}$")


def is_e164(value: str) -> bool:
    return bool(E164.match(value))


def normalize(
    raw: str, default_region: str = "US", field: str = "to", *, allow_test_numbers: bool = True
) -> str:
    """``raw`` as E.164 (``+14155552671``), or ValidationFailed naming ``field``.

    Accepts national formats for ``default_region``, ``+`` and ``00`` international
    prefixes, and common punctuation.
    """
    text = (raw or "").strip()
    if not text:
        raise ValidationFailed(field, "a phone number is required")
    if text.startswith("00"):
        text = "+" + text[2:]
    compact = re.sub(r"[\s().-]", "", text)
    if allow_test_numbers and TWILIO_TEST_NUMBER.match(compact):
        return compact
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(field, f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed(
            field, f"{raw!r} is not a valid number (write it as E.164, e.g. +14155552671)"
        )
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def country_code_of(e164: str) -> str | None:
    """The region (e.g. ``US``) of an E.164 number, None when unknown."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    return str(region) if region and region != "ZZ" else None


def is_us_or_canada(e164: str) -> bool:
    """North American numbers (+1), including Twilio's test range."""
    return e164.startswith("+1")
