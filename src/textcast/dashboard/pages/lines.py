"""Text areas that take ``name=value`` lines (sample attributes, message
data, a new contact's attributes), read one way everywhere."""

from __future__ import annotations

from textcast.audience import attributes
from textcast.errors import ValidationFailed


def name_values(text: str, field: str) -> dict[str, str]:
    """``name=value`` lines as a dict, blank lines skipped and both sides
    trimmed; a line without ``=`` or a name is a :class:`ValidationFailed`
    naming ``field`` and the line."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValidationFailed(field, f"line {number}: write name=value")
        found[name.strip()] = value.strip()
    return found


def attribute_values(text: str, field: str) -> dict[str, str]:
    """:func:`name_values` held to the rules of contact attributes (names that
    are not contact fields, text values within the length limit)."""
    return {
        attributes.check_name(name, field): attributes.text(value, field)
        for name, value in name_values(text, field).items()
    }
