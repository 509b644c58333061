"""Reading an import file: which column is what, and every kind of bad row
reported with its line and reason."""

from __future__ import annotations

import io
import json

import pytest

from textcast.audience import imports
from textcast.errors import ValidationFailed

OPTIONS = imports.options({}, ["spring"], "US")


def read_csv(text: str, mapping: dict[str, str] | None = None) -> tuple[list, list]:
    opts = imports.options(mapping or {}, ["spring"], "US")
    header = text.splitlines()[0].split(",")
    reader = imports.RowReader(opts, imports.plan(header, opts.mapping))
    good, bad = [], []
    for line, record in imports.records(io.BytesIO(text.encode()), "csv"):
        try:
            good.append(reader.csv_row(line, record))  # type: ignore[arg-type]
        except imports.RowError as exc:
            bad.append((exc.line, exc.field, exc.reason))
    return good, bad


def test_every_kind_of_bad_row_is_reported_with_its_line_and_reason() -> None:
    good, bad = read_csv(
        "phone,external_id,renewal,age:number,time_zone\n"
        "+14155552671,u1,2026-03-01,36,\n"  # line 2: fine
        "(415) 555-2672,u2,2026-02-30,41,\n"  # 3: a bad date
        "not a number,u3,,,\n"  # 4: an invalid phone
        "+1 415 555 2671,u4,,,\n"  # 5: the number of line 2 again
        "+14155552673,u1,,,\n"  # 6: line 2's external ID again
        "+14155552674,u5,,forty,\n"  # 7: not a number
        "+14155552675,u6,,,Mars/Base\n"  # 8: no such zone
        "+14155552676,u7\n"  # 9: too few cells
        '"+1415555\n2677",u8,,,\n'  # 10-11: one record over two lines, still not a number
        "+14155552678,,,,Europe/Paris\n"  # 12: fine
    )
    assert [row.line for row in good] == [2, 12]
    assert [(line, field) for line, field, _ in bad] == [
        (3, "renewal"),
        (4, "phone"),
        (5, "phone"),
        (6, "external_id"),
        (7, "age:number"),
        (8, "time_zone"),
        (9, None),
        (10, "phone"),
    ]
    reasons = [reason for _, _, reason in bad]
    assert "bad date" in reasons[0] and "duplicate in file" in reasons[2]
    assert good[0].attributes == {"renewal": "2026-03-01", "age": 36}
    assert good[0].tags == ["spring"]
    assert (good[1].time_zone, good[1].time_zone_source) == ("Europe/Paris", "explicit")
    assert (good[0].time_zone, good[0].time_zone_source) == ("America/Los_Angeles", "phone")


def test_columns_are_mapped_typed_renamed_or_skipped() -> None:
    good, bad = read_csv(
        "Mobile,First Name,Plan,Points,VIP,tags\n+14155552671,Ada,gold,12,yes,a;b\n",
        {
            "Mobile": "phone",
            "First Name": "first_name",
            "Plan": "attributes.plan",
            "Points": "points:number",
            "VIP": "-",
        },
    )
    assert bad == []
    assert good[0].attributes == {"first_name": "Ada", "plan": "gold", "points": 12}
    assert good[0].tags == ["a", "b", "spring"]


def test_an_exports_read_only_columns_are_skipped() -> None:
    good, _ = read_csv("phone,id,country,created_at,plan\n+14155552671,7,US,2026-01-01,gold\n")
    assert good[0].attributes == {"plan": "gold"}


@pytest.mark.parametrize(
    ("header", "mapping", "field"),
    [
        pytest.param("mobile,name", {}, "phone", id="no phone column"),
        pytest.param("phone,First Name", {}, "column 2", id="a column that is no attribute name"),
        pytest.param("phone,plan", {"Plan": "plan"}, "map.Plan", id="mapping a missing column"),
        pytest.param("phone,age", {"age": "age:integer"}, "map.age", id="an unknown type"),
        pytest.param("phone,a,b", {"a": "x", "b": "x"}, "map", id="two columns, one attribute"),
        pytest.param("phone,m", {"m": "phone"}, "map", id="two phone columns"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_before_it_starts(
    header: str, mapping: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        imports.plan(header.split(","), mapping)
    assert caught.value.field == field


def test_map_options_are_column_equals_field() -> None:
    assert imports.parse_map(["Mobile=phone", "a=b=c:number"]) == {
        "Mobile": "phone",
        "a=b": "c:number",
    }
    with pytest.raises(ValidationFailed):
        imports.parse_map(["Mobile"])


def test_json_lines_carry_typed_values() -> None:
    reader = imports.RowReader(OPTIONS, None)
    line = json.dumps(
        {"phone": "+14155552671", "attributes": {"age": 36, "vip": True, "gone": None}}
    )
    row = reader.json_row(1, line)
    assert row.attributes == {"age": 36, "vip": True}
    for bad, field in [
        ('{"phone": "+14155552672", "colour": 1}', "colour"),
        ('{"phone": "+14155552673", "attributes": {"d": "2026-02-30"}}', "attributes.d"),
        ('{"phone": 14155552674}', "phone"),
        ("[1, 2]", None),
        ("{not json", None),
    ]:
        with pytest.raises(imports.RowError) as caught:
            reader.json_row(2, bad)
        assert caught.value.field == field


def test_a_resumed_job_skips_the_records_it_committed() -> None:
    text = b"phone\n+14155552671\n+14155552672\n\n+14155552673\n"
    lines = [line for line, _ in imports.records(io.BytesIO(text), "csv", skip=1)]
    assert lines == [3, 5]
