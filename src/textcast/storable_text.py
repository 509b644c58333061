"""Text that both databases store as it came: no NUL character (PostgreSQL
refuses it, SQLite keeps it) and no lone surrogate (neither encodes it).

JSON can carry both (``"\\u0000"``, ``"\\ud800"``), and so can a query
string, so input is checked before it reaches a query or a row; the field at
fault is named as the API names fields (``messages.3.body``).
"""

from __future__ import annotations

import re
from typing import Any

from textcast.errors import ValidationFailed

_SURROGATE = re.compile("[\ud800-\udfff]")
# In raw JSON: an escaped NUL or surrogate (a valid pair included, which the
# walk then lets through). A cheap test before any parsing.
JSON_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if "\x00" in text:
        return "NUL characters cannot be stored"
    if not text.isascii() and _SURROGATE.search(text):
        return "not valid Unicode text (a lone surrogate)"
    return None


def first_unstorable(value: Any, field: str = "") -> tuple[str, str] | None:
    """The first string (key or value) in ``value`` that cannot be stored, as
    ``(field, reason)``; None when all can."""
    if isinstance(value, str):
        reason = problem(value)
        return (field or "body", reason) if reason else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{field}.{key}" if field else str(key)
        if isinstance(key, str) and (reason := problem(key)):
            return where, f"a key: {reason}"
        found = first_unstorable(item, where)
        if found:
            return found
    return None


def check(value: Any, field: str = "") -> None:
    """Raise :class:`ValidationFailed` naming the first string that cannot be stored."""
    found = first_unstorable(value, field)
    if found:
        raise ValidationFailed(*found)
