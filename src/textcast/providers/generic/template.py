"""The request templates of generic HTTP providers.

``$$To``, ``$$Body``, ``$$From``, ``$$ReceiptURL`` (this message's delivery
receipt URL), ``$$TemplateId`` (the message's template ID, such as an India
DLT content template ID) and ``$$Secret.<name>`` (case-sensitive) are
replaced in one pass, so a message body that itself contains ``$$To`` stays
as written. Each value is encoded for where it lands: percent-encoding in
URLs, form encoding in form bodies, JSON escaping inside JSON, verbatim in
headers (where line breaks are refused, as they would smuggle headers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Iterable, Mapping
from urllib.parse import quote, quote_plus

from textcast.errors import TextcastError

PLACEHOLDER = re.compile(r"\$\$(To|Body|From|ReceiptURL|TemplateId|Secret\.[A-Za-z0-9_]+)")


class TemplateError(TextcastError):
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
