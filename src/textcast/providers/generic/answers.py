"""Reading a generic provider's answer: rules that find a value in it (a JSON
path or a regular expression) and the record of it kept on the attempt.

Paths are written ``$.a.b.0.c`` or ``a.b[0].c``; receipts use the same syntax.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


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
