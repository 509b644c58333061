"""The README's runnable sections: found, split into steps, run, and checked.

A section is marked by an HTML comment under its heading,
``<!-- readme-test: NAME -->``; it runs to the next heading of the same or a
higher level. Every ```` ```sh ```` block in it runs, in document order, except
one preceded by ``<!-- readme-test: skip -->``. A comment line
``# → EXPECTED`` after commands says what those commands (since the previous
``# →``) must answer:

- an optional HTTP status first (``# → 202 {...}``): the status of the last
  ``curl`` among them;
- then JSON, matched as a pattern against their output parsed as JSON:
  objects match when the output has at least the keys shown with matching
  values (``...`` may close an object, for readers), arrays must match item by
  item and in length unless they end with ``...`` (then the output may have
  more), a string ending with ``…`` matches any string that starts with the
  rest;
- or plain text, which must appear in their output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MARKER = re.compile(r"<!--\s*readme-test:\s*([\w-]+)\s*-->")
SKIP = "skip"
HEADING = re.compile(r"^(#{1,6})\s")
FENCE = re.compile(r"^```(\w*)\s*$")
EXPECTATION = re.compile(r"^#\s*→\s?(.*)$")
STATUS_FIRST = re.compile(r"^(\d{3})(?:\s+(.*))?$")
MORE = "\u0000more"  # an array pattern's "...": the output may have more items


@dataclass
class Expectation:
    status: int | None
    text: str  # JSON pattern or plain text; empty when only the status is given

    @property
    def is_json(self) -> bool:
        return self.text.startswith(("{", "["))


@dataclass
class Step:
    """Commands run together, and what they must answer."""

    commands: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)

    @property
    def script(self) -> str:
        return "\n".join(self.commands)


@dataclass
class Section:
    name: str
    heading: str
    steps: list[Step]


def sections(markdown: str) -> list[Section]:
    """The marked sections, in document order."""
    lines = markdown.splitlines()
    found: list[Section] = []
    for index, line in enumerate(lines):
        marker = MARKER.fullmatch(line.strip())
        if marker is None or marker.group(1) == SKIP:
            continue
        heading_at = next(
            i
            for i in range(index, -1, -1)
            if HEADING.match(lines[i]) and not _inside_fence(lines, i)
        )
        level = len(HEADING.match(lines[heading_at]).group(1))  # type: ignore[union-attr]
        end = next(
            (
                i
                for i in range(index + 1, len(lines))
                if (h := HEADING.match(lines[i]))
                and len(h.group(1)) <= level
                and not _inside_fence(lines, i)
            ),
            len(lines),
        )
        blocks = _sh_blocks(lines[index + 1 : end])
        steps = [step for block in blocks for step in split_steps(block)]
        found.append(Section(marker.group(1), lines[heading_at].lstrip("# ").strip(), steps))
    return found


def _inside_fence(lines: list[str], index: int) -> bool:
    return sum(1 for line in lines[:index] if FENCE.match(line)) % 2 == 1


def _sh_blocks(lines: list[str]) -> list[list[str]]:
    """The lines of each ``sh`` block not marked to skip."""
    blocks: list[list[str]] = []
    in_fence = keep = skip_next = False
    for line in lines:
        fence = FENCE.match(line)
        if in_fence:
            if fence:
                in_fence = False
            elif keep:
                blocks[-1].append(line)
        elif fence:
            in_fence = True
            keep = fence.group(1) in ("sh", "bash") and not skip_next
            if keep:
                blocks.append([])
            skip_next = False
        elif (marker := MARKER.fullmatch(line.strip())) is not None:
            skip_next = marker.group(1) == SKIP
        elif line.strip():
            skip_next = False
    return blocks


def split_steps(block: list[str]) -> list[Step]:
    """A block's commands, cut after each group of ``# →`` lines."""
    steps: list[Step] = [Step()]
    for line in block:
        expected = EXPECTATION.match(line.strip())
        if expected is None:
            if steps[-1].expectations:
                steps.append(Step())
            steps[-1].commands.append(line)
            continue
        steps[-1].expectations.append(parse_expectation(expected.group(1)))
    return [step for step in steps if any(_runs(line) for line in step.commands)]


def _runs(line: str) -> bool:
    """Whether a line does anything (is not blank or a comment)."""
    return bool(line.strip()) and not line.lstrip().startswith("#")


def parse_expectation(text: str) -> Expectation:
    text = text.strip()
    status = STATUS_FIRST.match(text)
    if status is not None:
        return Expectation(int(status.group(1)), (status.group(2) or "").strip())
    return Expectation(None, text)


def json_pattern(text: str) -> Any:
    """The JSON pattern of an expectation, its ``...`` made readable by json."""
    text = re.sub(r"\{\s*\.\.\.\s*\}", "{}", text)
    text = re.sub(r",\s*\.\.\.\s*\}", "}", text)
    more = json.dumps(MORE)
    text = re.sub(r"\[\s*\.\.\.\s*\]", lambda _: f"[{more}]", text)
    text = re.sub(r",\s*\.\.\.\s*\]", lambda _: f", {more}]", text)
    return json.loads(text)


def mismatches(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from the pattern ``expected`` (empty: it matches)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        problems: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += mismatches(value, actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array, got {actual!r}"]
        more = bool(expected) and expected[-1] == MORE
        items = expected[:-1] if more else expected
        if len(actual) < len(items) or (not more and len(actual) != len(items)):
            return [f"{path}: expected {len(items)}{'+' if more else ''} items, got {len(actual)}"]
        return [
            problem
            for i, item in enumerate(items)
            for problem in mismatches(item, actual[i], f"{path}[{i}]")
        ]
    if isinstance(expected, str) and expected.endswith("…"):
        if isinstance(actual, str) and actual.startswith(expected[:-1]):
            return []
        return [f"{path}: expected a string starting {expected[:-1]!r}, got {actual!r}"]
    same_kind = isinstance(expected, bool) == isinstance(actual, bool)  # True == 1 otherwise
    if expected != actual or not same_kind:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def check(expectation: Expectation, output: str, http_status: int | None) -> list[str]:
    """What is wrong with a step's output (and its last curl's HTTP status)."""
    problems: list[str] = []
    if expectation.status is not None and expectation.status != http_status:
        problems.append(f"HTTP status: expected {expectation.status}, got {http_status}")
    if not expectation.text:
        return problems
    if not expectation.is_json:
        if expectation.text not in output:
            problems.append(f"expected the output to contain {expectation.text!r}")
        return problems
    try:
        actual = json.loads(output)
    except ValueError:
        return [*problems, f"expected JSON, got {output[:500]!r}"]
    return problems + mismatches(json_pattern(expectation.text), actual)
