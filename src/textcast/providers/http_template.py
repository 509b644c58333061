"""Templates and answer rules for generic HTTP providers.

``$$To``, ``$$Body``, ``$$From``, ``$$ReceiptURL`` (this message's delivery
receipt URL) and ``$$Secret.<name>`` (case-sensitive) are
replaced in one pass, so a message body that itself contains ``$$To`` stays
as written. Each value is encoded for where it lands: percent-encoding in
URLs, form encoding in form bodies, JSON escaping inside JSON, verbatim in
headers (where line breaks are refused, as they would smuggle headers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

PLACEHOLDER = re.compile(r"\$\$(To|Body|From|ReceiptURL|Secret\.[A-Za-z0-9_]+)")


class TemplateError(ValueError):
    """A template names a value that is not set, or renders something unsendable."""


def render(
    template: str, values: Mapping[str, str], encode: Callable[[str], str] = lambda v: v
) -> str:
    """``template`` with every placeholder replaced by its ``encode``-d value."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(f"no value for $${name}")
        return encode(values[name])

    return PLACEHOLDER.sub(substitute, template)


def url_encoded(value: str) -> str:
    # safe="" so "/", "?", "&", "=" and "#" inside a value cannot reshape the URL.
    return quote(value, safe="")


def form_encoded(value: str) -> str:
    return quote_plus(value, safe="")


def json_escaped(value: str) -> str:
    """The inside of a JSON string literal: quotes, backslashes and controls escaped."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def body_encoder(body_format: str, content_type: str) -> Callable[[str], str]:
    """How values are escaped inside a body template: by format, else by content type."""
    kind = content_type.lower()
    if body_format == "json" or "json" in kind:
        return json_escaped
    if body_format == "form" or "x-www-form-urlencoded" in kind:
        return form_encoded
    return str


def header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise TemplateError("header values cannot contain line breaks")
    return value


def names_in(template: str) -> set[str]:
    return {match.group(1) for match in PLACEHOLDER.finditer(template)}


def unknown_secrets(templates: Iterable[str], known: Container[str]) -> list[str]:
    """Names used as ``$$Secret.<name>`` in ``templates`` but missing from ``known``."""
    used = {name for template in templates for name in names_in(template)}
    secrets = (name.removeprefix("Secret.") for name in used if name.startswith("Secret."))
    return sorted(name for name in secrets if name not in known)


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


class ResponseRule(BaseModel):
    """Where to find a value in the provider's answer: a JSON path or a regex.

    With ``equals``, the rule *holds* only when the value found equals it.
    A regex yields its first group, or the whole match when it has no group.
    """

    model_config = ConfigDict(extra="forbid")

    json_path: str | None = None
    equals: str | None = None
    regex: str | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ResponseRule:
        if bool(self.json_path) == bool(self.regex):
            raise ValueError("give exactly one of json_path or regex")
        return self

    def extract(self, text: str, document: Any) -> str | None:
        if self.json_path:
            found = json_path(document, self.json_path)
            if found is None or isinstance(found, dict | list):
                return None
            # JSON booleans read as the JSON words, so `equals: "true"` works.
            return json.dumps(found) if isinstance(found, bool) else str(found)
        match = re.search(self.regex or "", text)
        if match is None:
            return None
        return match.group(1) if match.groups() else match.group(0)

    def holds(self, text: str, document: Any) -> bool:
        found = self.extract(text, document)
        return found is not None and (self.equals is None or found == self.equals)


def answer_record(status: int, text: str, document: Any, limit: int) -> dict[str, Any]:
    """The answer as kept on the attempt: parsed JSON when small, else truncated text."""
    small = document is not None and len(text) <= limit
    return {"http_status": status, "body": document if small else text[:limit]}
