"""The segment rule language: what it accepts, the errors that name where a
rule is wrong, and SQL that carries no user string in its text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from textcast.audience import rules
from textcast.audience.segment_sql import CONTACTS, SegmentCompiler
from textcast.errors import ValidationFailed

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        pytest.param({"all": [{"field": "colour", "op": "eq", "value": 1}]}, "rules.all[0].field",
                     "unknown field", id="an unknown field"),
        pytest.param({"all": [{"field": "attributes.age", "op": "gt", "value": "old"}]},
                     "rules.all[0].value", "cannot be ordered", id="a range over text"),
        pytest.param({"any": [{"field": "attributes.age", "op": "gt", "value": True}]},
                     "rules.any[0].value", "cannot be ordered", id="a range over a boolean"),
        pytest.param({"field": "attributes.plan", "op": "contains", "value": 3},
                     "rules.value", "text", id="contains a number"),
        pytest.param({"field": "attributes.plan", "op": "like", "value": "g"},
                     "rules.op", "not 'like'", id="an unknown operator"),
        pytest.param({"field": "attributes.first name", "op": "eq", "value": "x"},
                     "rules.field", "not an attribute name", id="a name that is no identifier"),
        pytest.param({"field": "tags", "op": "has", "value": ""},
                     "rules.value", "tag", id="an empty tag"),
        pytest.param({"field": "country", "op": "in", "value": []},
                     "rules.value", "non-empty list", id="an empty list"),
        pytest.param({"field": "country", "op": "eq", "value": "USA"},
                     "rules.value", "ISO 3166", id="not a country code"),
        pytest.param({"field": "created_at", "op": "within_last", "value": "30 days"},
                     "rules.value", "period", id="a period in words"),
        pytest.param({"field": "attributes.renewal", "op": "within_last", "value": "12h"},
                     "rules.value", "days", id="hours on an attribute date"),
        pytest.param({"field": "phone", "op": "starts_with", "value": "+1' OR 1=1"},
                     "rules.value", "prefix", id="a prefix that is not digits"),
        pytest.param({"activity": "opened"}, "rules.activity", "one of", id="unknown activity"),
        pytest.param({"not": {"all": [{"field": "opted_out", "op": "eq", "value": "yes"}]}},
                     "rules.not.all[0].value", "true or false", id="a nested error"),
        pytest.param({"all": [], "any": []}, "rules.any", "unknown key", id="two kinds at once"),
        pytest.param({"field": "country", "op": "eq", "value": "US", "extra": 1},
                     "rules.extra", "unknown key", id="an unknown key"),
        pytest.param([], "rules", "JSON object", id="not an object"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_refused_naming_where_it_is(raw: Any, field: str, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason) as caught:
        rules.parse(raw)
    assert caught.value.field == field


def test_rules_nest_and_count_within_limits() -> None:
    deep: dict[str, Any] = {"field": "opted_out", "op": "eq", "value": False}
    for _ in range(rules.MAX_DEPTH + 1):
        deep = {"not": deep}
    with pytest.raises(ValidationFailed, match="deep"):
        rules.parse(deep)
    many = {"all": [{"field": "opted_out", "op": "eq", "value": False}] * 201}
    with pytest.raises(ValidationFailed, match="at most 200"):
        rules.parse(many)


def test_values_are_normalised_as_attributes_store_them() -> None:
    rule = rules.parse({"field": "attributes.seen", "op": "gte", "value": "2026-03-01T10:00+01:00"})
    assert rule == rules.Attribute("seen", "gte", "2026-03-01T09:00:00Z")
    rule = rules.parse({"field": "country", "op": "in", "value": ["us", "GB"]})
    assert rule == rules.Field("country", "in", ("US", "GB"))


HOSTILE = "x'); DROP TABLE contacts; --"


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "pg"])
def test_no_user_string_reaches_the_sql_text(dialect: Any) -> None:
    raw = {
        "any": [
            {"field": "attributes.plan", "op": "eq", "value": HOSTILE},
            {"field": "attributes.plan", "op": "contains", "value": HOSTILE},
            {"field": "attributes.plan", "op": "starts_with", "value": HOSTILE},
            {"field": "attributes.plan", "op": "in", "value": [HOSTILE, 1]},
            {"field": "attributes.some_key", "op": "exists"},
            {"field": "tags", "op": "has", "value": HOSTILE},
            {"field": "external_id", "op": "eq", "value": HOSTILE},
            {"activity": "received", "campaign": HOSTILE, "within_last": "7d"},
        ]
    }
    compiler = SegmentCompiler(dialect.name, NOW, "UTC")
    compiled = (
        select(CONTACTS.c.id).where(compiler.where(rules.parse(raw))).compile(dialect=dialect)
    )
    assert "DROP" not in compiled.string
    assert "some_key" not in compiled.string  # JSON keys and paths are bound too
    assert any(HOSTILE in str(value) for value in compiled.params.values())
