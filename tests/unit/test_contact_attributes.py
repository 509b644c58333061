"""Contact attribute values: one stored form for dates, bad ones refused with
the field named."""

from __future__ import annotations

from typing import Any

import pytest

from textcast.audience import attributes
from textcast.errors import ValidationFailed


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param("gold", "gold", id="text stays text"),
        pytest.param(" gold ", " gold ", id="text keeps its spaces"),
        pytest.param(3, 3, id="an integer"),
        pytest.param(2.5, 2.5, id="a float"),
        pytest.param(30.0, 30, id="a whole float is the integer"),
        pytest.param(True, True, id="a boolean is no number"),
        pytest.param("2026-03-01", "2026-03-01", id="a date"),
        pytest.param("2026-03-01T10:30:00+02:00", "2026-03-01T08:30:00Z", id="offset to UTC"),
        pytest.param("2026-03-01 10:30", "2026-03-01T10:30:00Z", id="no offset: UTC"),
        pytest.param("2026-03-01T10:30:00.75Z", "2026-03-01T10:30:00Z", id="whole seconds"),
        pytest.param("2026-03-01T23:30:00-01:00", "2026-03-02T00:30:00Z", id="next day in UTC"),
        pytest.param("31/02/2026", "31/02/2026", id="not ISO: just text"),
        pytest.param("café ☕", "café ☕", id="any Unicode text"),
    ],
)
def test_values_are_stored_in_one_form(raw: Any, stored: Any) -> None:
    value = attributes.value(raw, "attributes.x")
    assert value == stored and type(value) is type(stored)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("2026-02-30", "bad date", id="a date that does not exist"),
        pytest.param("2026-13-01T10:00:00Z", "bad date-time", id="month 13"),
        pytest.param(None, "not null", id="null is no value"),
        pytest.param({"a": 1}, "not dict", id="no nested objects"),
        pytest.param([1], "not list", id="no lists"),
        pytest.param(2**53 + 1, "at most", id="past 2^53"),
        pytest.param(float("inf"), "finite", id="infinity"),
        pytest.param("a\x00b", "NUL", id="a NUL character"),
        pytest.param("a\ud800b", "surrogate", id="a lone surrogate"),
        pytest.param("x" * 1001, "at most 1000", id="too long"),
    ],
)
def test_bad_values_are_refused_naming_the_attribute(raw: Any, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason) as caught:
        attributes.value(raw, "attributes.x")
    assert caught.value.field == "attributes.x"


@pytest.mark.parametrize(
    ("cell", "kind", "value"),
    [
        ("42", "number", 42),
        ("-1.5", "number", -1.5),
        ("1e3", "number", 1000),
        ("Yes", "boolean", True),
        ("0", "boolean", False),
        ("2026-03-01", "date", "2026-03-01"),
        ("2026-03-01", "datetime", "2026-03-01T00:00:00Z"),
        ("02139", "string", "02139"),
    ],
)
def test_a_text_cell_is_read_as_its_type(cell: str, kind: str, value: Any) -> None:
    assert attributes.convert(cell, kind, "age") == value


@pytest.mark.parametrize(
    ("cell", "kind"), [("forty", "number"), ("maybe", "boolean"), ("03/01/2026", "date")]
)
def test_a_cell_that_is_not_its_type_is_refused(cell: str, kind: str) -> None:
    with pytest.raises(ValidationFailed):
        attributes.convert(cell, kind, "age")


@pytest.mark.parametrize(
    "name", ["first name", "1st", "plan.level", "a" * 65, "phone", "country", "tags", ""]
)
def test_attribute_names_are_plain_identifiers_and_not_contact_fields(name: str) -> None:
    with pytest.raises(ValidationFailed):
        attributes.check_name(name)


def test_a_change_sets_values_and_null_deletes() -> None:
    merged = attributes.merged({"plan": "gold", "city": "Paris"}, {"plan": "silver", "city": None})
    assert merged == {"plan": "silver"}
