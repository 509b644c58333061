"""The segment rule language: JSON in, a checked rule tree out.

A rule is ``{"all": [rules]}``, ``{"any": [rules]}``, ``{"not": rule}`` or a
condition:

- ``{"field": "attributes.<name>", "op": OP, "value": V}`` with OP ``eq``,
  ``ne``, ``in``, ``not_in`` (a list), ``contains``, ``starts_with`` (text),
  ``exists`` (true or false), ``gt``/``gte``/``lt``/``lte`` (a number, an ISO
  date or date-time), ``within_last``/``within_next`` (days: ``"30d"``);
- ``{"field": "tags", "op": "has" | "has_not", "value": "vip"}``;
- ``{"field": F, ...}`` for ``country``, ``phone_type``, ``time_zone``
  (``eq``/``ne``/``in``/``not_in``), ``phone`` (``eq``, ``starts_with``),
  ``external_id`` (``eq``, ``exists``), ``opted_out`` (``eq`` true/false),
  ``created_at``/``updated_at``/``last_inbound_at`` (``gt``/``gte``/``lt``/``lte``
  a date or date-time, ``within_last`` ``"30d"`` or ``"12h"``;
  ``last_inbound_at`` also ``exists``);
- ``{"activity": A, "campaign": "spring", "within_last": "30d"}`` with A
  ``received`` (a message to the contact was accepted by the provider),
  ``delivered``, ``failed`` (failed or undelivered), ``clicked`` (a human click
  on a tracked link) or ``replied``; campaign and window optional.

Every error names where it is (``rules.all[2].value``), for a 422.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from textcast import phone as phone_numbers
from textcast.audience import attributes, numbers, time_zones
from textcast.errors import ValidationFailed

MAX_DEPTH = 8
MAX_CONDITIONS = 200
MAX_LIST = 1000
MAX_TAG_LENGTH = 50

Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Period:
    amount: int
    unit: str  # "d" or "h"

    @property
    def delta(self) -> timedelta:
        return timedelta(days=self.amount) if self.unit == "d" else timedelta(hours=self.amount)


@dataclass(frozen=True, slots=True)
class All:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    rule: Rule


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    op: str
    value: Any  # Scalar, tuple[Scalar, ...], bool for exists, Period


@dataclass(frozen=True, slots=True)
class Field:
    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Tag:
    tag: str
    present: bool


@dataclass(frozen=True, slots=True)
class Activity:
    kind: str
    campaign: str | None
    within: Period | None


Rule = All | AnyOf | Not | Attribute | Field | Tag | Activity

ATTRIBUTE_OPS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "exists",
    "gt",
    "gte",
    "lt",
    "lte",
    "within_last",
    "within_next",
)
COMPARISONS = ("gt", "gte", "lt", "lte")
SET_OPS = ("eq", "ne", "in", "not_in")
TIMESTAMPS = ("created_at", "updated_at", "last_inbound_at")
FIELD_OPS: dict[str, tuple[str, ...]] = {
    "country": SET_OPS,
    "phone_type": SET_OPS,
    "time_zone": SET_OPS,
    "phone": ("eq", "starts_with"),
    "external_id": ("eq", "exists"),
    "opted_out": ("eq",),
    "created_at": (*COMPARISONS, "within_last"),
    "updated_at": (*COMPARISONS, "within_last"),
    "last_inbound_at": (*COMPARISONS, "within_last", "exists"),
}
FIELDS = ("attributes.<name>", "tags", *FIELD_OPS)
ACTIVITIES = ("received", "delivered", "failed", "clicked", "replied")

_PERIOD = re.compile(r"([1-9][0-9]{0,4})([dh])")
_COUNTRY = re.compile(r"[A-Z]{2}|001")
_PREFIX = re.compile(r"\+[0-9]{1,15}")


def parse(raw: object, path: str = "rules") -> Rule:
    """The checked rule tree of ``raw``, or :class:`ValidationFailed` naming where."""
    counter = [0]
    return _rule(raw, path, 0, counter)


def _rule(raw: object, path: str, depth: int, counter: list[int]) -> Rule:
    if depth > MAX_DEPTH:
        raise ValidationFailed(path, f"rules nest at most {MAX_DEPTH} deep")
    if not isinstance(raw, Mapping):
        raise ValidationFailed(path, "a rule is a JSON object")
    for key in ("all", "any"):
        if key in raw:
            _only(raw, {key}, path)
            items = raw[key]
            if not isinstance(items, list):
                raise ValidationFailed(f"{path}.{key}", "a list of rules")
            if key == "any" and not items:
                raise ValidationFailed(f"{path}.any", "at least one rule")
            rules = tuple(
                _rule(item, f"{path}.{key}[{i}]", depth + 1, counter)
                for i, item in enumerate(items)
            )
            return All(rules) if key == "all" else AnyOf(rules)
    if "not" in raw:
        _only(raw, {"not"}, path)
        return Not(_rule(raw["not"], f"{path}.not", depth + 1, counter))
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise ValidationFailed(path, f"at most {MAX_CONDITIONS} conditions in a segment")
    if "activity" in raw:
        return _activity(raw, path)
    if "field" in raw:
        return _condition(raw, path)
    raise ValidationFailed(path, 'expected "all", "any", "not", "field" or "activity"')


def _only(raw: Mapping[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ValidationFailed(f"{path}.{extra[0]}", "unknown key here")


def _condition(raw: Mapping[str, Any], path: str) -> Rule:
    _only(raw, {"field", "op", "value"}, path)
    field, op = raw.get("field"), raw.get("op")
    if not isinstance(field, str):
        raise ValidationFailed(f"{path}.field", "a field name")
    if not isinstance(op, str):
        raise ValidationFailed(f"{path}.op", "an operator")
    value_path = f"{path}.value"
    has_value = "value" in raw
    value = raw.get("value")
    if field.startswith("attributes."):
        name = attributes.check_name(field.removeprefix("attributes."), f"{path}.field")
        _check_op(op, ATTRIBUTE_OPS, f"{path}.op", field)
        if op == "exists" and not has_value:
            value = True
        elif not has_value:
            raise ValidationFailed(value_path, f"{op} needs a value")
        return Attribute(name, op, _attribute_value(op, value, value_path))
    if field == "tags":
        _check_op(op, ("has", "has_not"), f"{path}.op", field)
        return Tag(_tag(value, value_path), op == "has")
    if field not in FIELD_OPS:
        raise ValidationFailed(
            f"{path}.field", f"unknown field {field!r}; one of {', '.join(FIELDS)}"
        )
    _check_op(op, FIELD_OPS[field], f"{path}.op", field)
    if op == "exists" and not has_value:
        value = True
    elif not has_value:
        raise ValidationFailed(value_path, f"{op} needs a value")
    return Field(field, op, _field_value(field, op, value, value_path))


def _check_op(op: str, allowed: tuple[str, ...], path: str, field: str) -> None:
    if op not in allowed:
        raise ValidationFailed(path, f"{field} takes {', '.join(allowed)}, not {op!r}")


def _attribute_value(op: str, value: object, path: str) -> Any:
    if op in ("eq", "ne"):
        return attributes.value(value, path)
    if op in ("in", "not_in"):
        return tuple(attributes.value(v, f"{path}[{i}]") for i, v in enumerate(_list(value, path)))
    if op in ("contains", "starts_with"):
        if not isinstance(value, str) or not value:
            raise ValidationFailed(path, f"{op} compares text: a non-empty string")
        if "\x00" in value or len(value) > attributes.MAX_TEXT:
            raise ValidationFailed(path, "not a text value an attribute can hold")
        return value
    if op == "exists":
        return _boolean(value, path)
    if op in COMPARISONS:
        return _ordered(value, path)
    return _period(value, path, units="d")


def _ordered(value: object, path: str) -> int | float | str:
    """A number, or a date or date-time in canonical form: what gt/lt compare."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return attributes.number(value, path)
    if isinstance(value, str):
        stored = attributes.text(value, path)
        if attributes.is_stored_date(stored):
            return stored
    raise ValidationFailed(
        path, f"{value!r} cannot be ordered: compare with a number or an ISO date (YYYY-MM-DD)"
    )


def _field_value(field: str, op: str, value: object, path: str) -> Any:
    if op == "exists" or field == "opted_out":
        return _boolean(value, path)
    if field in TIMESTAMPS:
        if op == "within_last":
            return _period(value, path, units="dh")
        moment = _ordered(value, path)
        if not isinstance(moment, str):
            raise ValidationFailed(path, f"{field} compares with an ISO date or date-time")
        return moment
    if op in ("in", "not_in"):
        items = _list(value, path)
        return tuple(_field_scalar(field, v, f"{path}[{i}]") for i, v in enumerate(items))
    if field == "phone" and op == "starts_with":
        if not isinstance(value, str) or not _PREFIX.fullmatch(value):
            raise ValidationFailed(path, "a number prefix: + and up to 15 digits, e.g. +1415")
        return value
    return _field_scalar(field, value, path)


def _field_scalar(field: str, value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(path, f"{field} compares with a string")
    if field == "country":
        if not _COUNTRY.fullmatch(value.upper()):
            raise ValidationFailed(path, f"{value!r} is not an ISO 3166 country code (e.g. US)")
        return value.upper()
    if field == "phone_type":
        if value not in numbers.PHONE_TYPES:
            raise ValidationFailed(path, f"one of {', '.join(numbers.PHONE_TYPES)}")
        return value
    if field == "time_zone":
        return time_zones.check_zone(value, path)
    if field == "phone":
        return phone_numbers.normalize(value, "ZZ", path)
    if not value or len(value) > 200:  # external_id
        raise ValidationFailed(path, "an external ID of 1 to 200 characters")
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValidationFailed(path, "a non-empty list")
    if len(value) > MAX_LIST:
        raise ValidationFailed(path, f"at most {MAX_LIST} values")
    return value


def _boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(path, "true or false")
    return value


def _period(value: object, path: str, *, units: str) -> Period:
    found = _PERIOD.fullmatch(value) if isinstance(value, str) else None
    if found is None or found.group(2) not in units:
        example = '"30d" (days)' if units == "d" else '"30d" (days) or "12h" (hours)'
        raise ValidationFailed(path, f"a period such as {example}")
    return Period(int(found.group(1)), found.group(2))


def _tag(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(path, "a tag (a non-empty string)")
    if len(value.strip()) > MAX_TAG_LENGTH:
        raise ValidationFailed(path, f"a tag is at most {MAX_TAG_LENGTH} characters")
    return value.strip()


def _activity(raw: Mapping[str, Any], path: str) -> Activity:
    _only(raw, {"activity", "campaign", "within_last"}, path)
    kind = raw["activity"]
    if kind not in ACTIVITIES:
        raise ValidationFailed(f"{path}.activity", f"one of {', '.join(ACTIVITIES)}")
    campaign = raw.get("campaign")
    if campaign is not None and (not isinstance(campaign, str) or not 0 < len(campaign) <= 100):
        raise ValidationFailed(f"{path}.campaign", "a campaign label of 1 to 100 characters")
    within = raw.get("within_last")
    period = None if within is None else _period(within, f"{path}.within_last", units="dh")
    return Activity(kind, campaign, period)
