"""Contact attributes: names, values, and the one written form of dates.

An attribute value is a string, a number, a boolean, or a date or date-time.
JSON has no date type, so dates are strings in one canonical form, which
sorts the way time runs (segments compare them as text):

- a date: ``2026-03-01``
- a date-time: ``2026-03-01T08:30:00Z`` (UTC, whole seconds; an offset given
  on the way in is applied, a time without one is taken as UTC)

Any string written like an ISO date or date-time is read as one and stored in
that form; one that looks like a date but is none (``2026-02-30``) is
refused: a bad date.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from textcast.errors import ValidationFailed

# Names are bound into SQL as JSON paths and keys: this pattern keeps them
# plain identifiers everywhere (no quotes, dots or brackets to escape).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# A contact's own fields: not attribute names, so ``contact.<name>`` in a
# template or a column of an export means one thing.
RESERVED = frozenset(
    {
        "id",
        "phone",
        "external_id",
        "attributes",
        "tags",
        "time_zone",
        "time_zone_source",
        "time_zone_candidates",
        "country",
        "phone_type",
        "opted_out",
        "suppressions",
        "created_at",
        "updated_at",
        "last_inbound_at",
    }
)
MAX_ATTRIBUTES = 100
MAX_TEXT = 1000  # characters in a string value
# Numbers stay exact in every database and in JSON readers up to 2^53.
MAX_NUMBER = 2**53
TYPES = ("string", "number", "boolean", "date", "datetime")

DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATETIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?)"
    r"(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
# The stored forms, exactly (what segment conditions treat as dates).
STORED_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
STORED_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

_SURROGATE = re.compile("[\ud800-\udfff]")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def check_name(name: object, field: str = "attributes") -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValidationFailed(
            field,
            f"{name!r} is not an attribute name: letters, digits and _, "
            "starting with a letter or _, at most 64 characters",
        )
    if name in RESERVED:
        raise ValidationFailed(field, f"{name!r} is a contact field, not an attribute name")
    return name


def value(raw: object, field: str) -> str | int | float | bool:
    """A JSON value as stored: dates in their canonical form; anything that
    is no string, number or boolean is :class:`ValidationFailed`."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return number(raw, field)
    if isinstance(raw, str):
        return text(raw, field)
    kind = "null" if raw is None else type(raw).__name__
    raise ValidationFailed(
        field, f"an attribute is a string, number, boolean or ISO date, not {kind}"
    )


def number(raw: int | float, field: str) -> int | float:
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValidationFailed(field, "a number must be finite")
        if raw.is_integer() and abs(raw) <= MAX_NUMBER:
            raw = int(raw)  # 30.0 and 30 are one value in JSON
    if abs(raw) > MAX_NUMBER:
        raise ValidationFailed(field, f"numbers are at most {MAX_NUMBER:,} either way")
    return raw


def text(raw: str, field: str) -> str:
    """A string; one written as an ISO date or date-time becomes its canonical form."""
    if len(raw) > MAX_TEXT:
        raise ValidationFailed(field, f"at most {MAX_TEXT} characters")
    if not raw.isascii() and _SURROGATE.search(raw):
        raise ValidationFailed(field, "not valid Unicode text (a lone surrogate)")
    if "\x00" in raw:
        raise ValidationFailed(field, "NUL characters cannot be stored")
    stripped = raw.strip()
    if stripped[:4].isdigit():  # only then can it be a date (most values are not)
        if DATE.fullmatch(stripped):
            return as_date(stripped, field)
        if DATETIME.fullmatch(stripped):
            return as_datetime(stripped, field)
    return raw


def as_date(raw: str, field: str) -> str:
    try:
        return date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise ValidationFailed(field, f"bad date {raw!r}: expected YYYY-MM-DD") from None


def as_datetime(raw: str, field: str) -> str:
    """The canonical date-time form of ``raw`` (a date alone is its midnight UTC)."""
    stripped = raw.strip()
    found = DATETIME.fullmatch(stripped)
    if found is None:
        if DATE.fullmatch(stripped):
            return as_date(stripped, field) + "T00:00:00Z"
        raise ValidationFailed(
            field, f"bad date-time {raw!r}: expected ISO 8601, e.g. 2026-03-01T08:30:00Z"
        )
    day, clock, zone = found.groups()
    zone = {None: "+00:00", "Z": "+00:00", "z": "+00:00"}.get(zone, zone)
    if len(zone) == 3:
        zone += ":00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    clock = clock.replace(",", ".")
    if "." in clock:
        whole, fraction = clock.split(".")
        clock = f"{whole}.{fraction[:6]}"
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}{zone}")
    except ValueError:
        raise ValidationFailed(field, f"bad date-time {raw!r}") from None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def convert(raw: str, kind: str, field: str) -> str | int | float | bool:
    """A text cell (CSV, a command-line option) read as ``kind``, one of :data:`TYPES`."""
    if kind == "string":
        return text(raw, field)
    stripped = raw.strip()
    if kind == "date":
        return as_date(stripped, field)
    if kind == "datetime":
        return as_datetime(stripped, field)
    if kind == "boolean":
        folded = stripped.casefold()
        if folded in _TRUE or folded in _FALSE:
            return folded in _TRUE
        raise ValidationFailed(field, f"{raw!r} is not a boolean (true/false, yes/no, 1/0)")
    if kind == "number":
        if _INTEGER.fullmatch(stripped):
            return number(int(stripped), field)
        if _DECIMAL.fullmatch(stripped):
            return number(float(stripped), field)
        raise ValidationFailed(field, f"{raw!r} is not a number")
    raise ValidationFailed(field, f"unknown type {kind!r}; one of {', '.join(TYPES)}")


def merged(
    current: Mapping[str, Any], changes: Mapping[str, object], field: str = "attributes"
) -> dict[str, Any]:
    """``current`` with ``changes`` applied: a value sets a key, None deletes it."""
    result = dict(current)
    for name, raw in changes.items():
        check_name(name, field)
        if raw is None:
            result.pop(name, None)
        else:
            result[name] = value(raw, f"{field}.{name}")
    if len(result) > MAX_ATTRIBUTES:
        raise ValidationFailed(field, f"at most {MAX_ATTRIBUTES} attributes per contact")
    return result


def is_stored_date(raw: object) -> bool:
    """Whether a stored value counts as a date in segment conditions."""
    return isinstance(raw, str) and bool(
        STORED_DATE.fullmatch(raw) or STORED_DATETIME.fullmatch(raw)
    )
