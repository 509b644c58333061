"""Placeholders for generic HTTP providers, encoded for where they land.

``$$To``, ``$$Body``, ``$$From`` and ``$$Secret.<name>`` (case-sensitive) are
replaced in one pass, so a message body that itself contains ``$$To`` stays
as written. Each value is encoded for its location: percent-encoding in URLs,
form encoding in form bodies, JSON escaping inside JSON, verbatim in headers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

PLACEHOLDER = re.compile(r"\$\$(To|Body|From|Secret\.[A-Za-z0-9_]+)")


class TemplateError(ValueError):
    """A template names a secret that is not configured, or renders invalid output."""


def render(
    template: str, values: Mapping[str, str], encode: Callable[[str], str] = lambda v: v
) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(f"no value for $${name}")
        return encode(values[name])

    return PLACEHOLDER.sub(substitute, template)


def url_encoded(value: str) -> str:
    return quote(value, safe="")


def form_encoded(value: str) -> str:
    return quote_plus(value, safe="")


def json_escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise TemplateError("header values cannot contain line breaks")
    return value


def names_in(template: str) -> set[str]:
    return {match.group(1) for match in PLACEHOLDER.finditer(template)}


def json_path(document: Any, path: str) -> Any:
    """``$.a.b.0.c`` (or ``a.b[0].c``) into parsed JSON; None when absent."""
    current = document
    cleaned = path.strip().removeprefix("$").lstrip(".").replace("[", ".").replace("]", "")
    for part in filter(None, cleaned.split(".")):
        if isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else None
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            return None
        if current is None:
            return None
    return current
