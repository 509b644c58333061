"""How the README's runnable sections are found, cut into steps and checked
(the machinery of tests/acceptance/test_readme_walkthrough.py)."""

from __future__ import annotations

import pytest

from tests.acceptance.readme_sections import (
    Expectation,
    check,
    json_pattern,
    mismatches,
    parse_expectation,
    sections,
)

MARKDOWN = """\
# Project

## Walkthrough

<!-- readme-test: walkthrough -->
Text.

```sh
export KEY=tc_...
alias tc='.venv/bin/textcast'
```

```python
print("not run")
```

<!-- readme-test: skip -->
```sh
make run   # shown, not run
```

### A step

```sh
curl -s http://127.0.0.1:8000/api/v1/things
# → 200 {"status": "ok", "items": [{"id": 1}, ...], ...}
# → ok
tc stats
# comment only
```

## Not marked

```sh
rm -rf /
```
"""


def test_marked_sections_run_to_the_next_heading_of_their_level() -> None:
    (section,) = sections(MARKDOWN)
    assert (section.name, section.heading) == ("walkthrough", "Walkthrough")
    scripts = [step.script for step in section.steps]
    assert scripts == [
        "export KEY=tc_...\nalias tc='.venv/bin/textcast'",
        "curl -s http://127.0.0.1:8000/api/v1/things",
        "tc stats\n# comment only",
    ]


def test_expectation_lines_attach_to_the_commands_before_them() -> None:
    (section,) = sections(MARKDOWN)
    first, curl, last = section.steps
    assert first.expectations == [] and last.expectations == []
    assert curl.expectations == [
        Expectation(200, '{"status": "ok", "items": [{"id": 1}, ...], ...}'),
        Expectation(None, "ok"),
    ]


def test_a_heading_inside_a_code_block_does_not_end_the_section() -> None:
    markdown = "## A\n<!-- readme-test: a -->\n```sh\n# → x\necho x\n# not a heading\n```\n"
    (section,) = sections(markdown)
    assert [step.script for step in section.steps] == ["echo x\n# not a heading"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("201 {}", Expectation(201, "{}")),
        ("202", Expectation(202, "")),
        ("delivered", Expectation(None, "delivered")),
        ("1 message", Expectation(None, "1 message")),
    ],
)
def test_a_leading_three_digit_number_is_the_http_status(text: str, expected: Expectation) -> None:
    assert parse_expectation(text) == expected


def test_json_patterns_match_keys_prefixes_and_open_arrays() -> None:
    pattern = json_pattern('{"a": 1, "s": "SM…", "list": [{"t": "x"}, ...], "exact": [], ...}')
    actual = {"a": 1, "s": "SM123", "list": [{"t": "x", "more": 1}, {"t": "y"}], "exact": []}
    assert mismatches(pattern, {**actual, "extra": True}) == []
    assert mismatches(pattern, {**actual, "exact": [1]}) == ["$.exact: expected 0 items, got 1"]
    assert mismatches(pattern, {**actual, "s": "MM1"}) == [
        "$.s: expected a string starting 'SM', got 'MM1'"
    ]
    assert mismatches(pattern, {k: v for k, v in actual.items() if k != "a"}) == ["$.a: missing"]


def test_true_is_not_one() -> None:
    assert mismatches(json_pattern('{"ok": true}'), {"ok": 1}) == ["$.ok: expected True, got 1"]


def test_check_reports_the_status_and_unparseable_output() -> None:
    assert check(Expectation(201, '{"a": 1}'), '{"a": 1}', 201) == []
    assert check(Expectation(201, ""), "", 422) == ["HTTP status: expected 201, got 422"]
    assert check(Expectation(None, "{}"), "a table", None) == ["expected JSON, got 'a table'"]
    assert check(Expectation(None, "delivered"), "status  delivered", None) == []
