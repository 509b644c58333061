"""Delivery receipts from generic HTTP providers: where the message ID, status
and error are in the provider's request, and what its statuses mean.

A receipt is read as a list of items (most providers send one; BulkSMS and
MSG91 send arrays). Each item is a flat form (form bodies, GET queries) or a
JSON object; paths use the same ``a.b.0.c`` syntax as the send rules.
Receipts whose status is not in ``status_map`` are stored but change nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, field_validator

from textcast import status
from textcast.errors import TextcastError
from textcast.providers.generic.answers import json_path

FAILURES = frozenset({status.FAILED, status.UNDELIVERED})


class ReceiptMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["auto", "form", "json"] = Field(
        "auto", description="auto: JSON when the body is JSON, else form fields (GET: the query)"
    )
    json_field: str | None = Field(
        None, description="a form field whose value is the JSON document (MSG91's 'data')"
    )
    items: str | None = Field(
        None, description="path to the list of receipts; '' for a top-level list"
    )
    message_id: str = Field(min_length=1, description="path to the provider's message ID")
    status: str = Field(min_length=1, description="path to the provider's status value")
    error_code: str | None = Field(None, description="path to the provider's error code")
    error_message: str | None = Field(None, description="path to an error description")
    status_map: dict[str, str] = Field(
        default_factory=dict,
        description="provider status (case-insensitive) -> Textcast status",
    )
    ok_error_codes: list[str] = Field(
        default_factory=lambda: ["", "0", "000"],
        description="error-code values that mean 'no error'",
    )
    signature: Literal["none", "plivo_v3"] = "none"

    @field_validator("status_map")
    @classmethod
    def _known_statuses(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value.values()) - status.ALL)
        if unknown:
            raise ValueError(f"unknown Textcast statuses: {', '.join(unknown)}")
        return {k.casefold(): v for k, v in value.items()}


@dataclass(frozen=True)
class Receipt:
    provider_message_id: str | None
    raw_status: str | None
    status: str | None  # None: not a status Textcast tracks
    error_code: str | None
    error_message: str | None


class ReceiptUnreadable(TextcastError):
    """The body is not what the mapping describes (answered 400)."""


def read(
    mapping: ReceiptMapping, content_type: str, body: bytes, query: list[tuple[str, str]]
) -> list[Receipt]:
    """Every receipt in one request."""
    return [_receipt(mapping, item) for item in _items(mapping, content_type, body, query)]


def _items(
    mapping: ReceiptMapping, content_type: str, body: bytes, query: list[tuple[str, str]]
) -> list[Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ReceiptUnreadable("body is not UTF-8") from None
    looks_json = "json" in content_type or text.lstrip()[:1] in ("[", "{")
    if mapping.format == "json" or (mapping.format == "auto" and text.strip() and looks_json):
        document: Any = _json(text)
    else:
        fields = dict(parse_qsl(text, keep_blank_values=True)) if text.strip() else {}
        document = {**dict(query), **fields}
        if mapping.json_field is not None:
            if mapping.json_field not in document:
                raise ReceiptUnreadable(f"no {mapping.json_field!r} field")
            document = _json(document[mapping.json_field])
    if mapping.items is not None:
        document = json_path(document, mapping.items) if mapping.items else document
        if not isinstance(document, list):
            raise ReceiptUnreadable(f"no list of receipts at {mapping.items or 'the top level'}")
        return document
    return [document]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ReceiptUnreadable("body is not valid JSON") from None


def _value(item: Any, path: str | None) -> str | None:
    if path is None:
        return None
    found = json_path(item, path) if isinstance(item, dict | list) else None
    if found is None or isinstance(found, dict | list):
        return None
    return str(found).strip()


def _receipt(mapping: ReceiptMapping, item: Any) -> Receipt:
    raw_status = _value(item, mapping.status)
    mapped = mapping.status_map.get((raw_status or "").casefold())
    if mapped is None and not mapping.status_map and raw_status:
        mapped = raw_status.casefold() if raw_status.casefold() in status.ALL else None
    code = _value(item, mapping.error_code)
    # Some providers send a detail code on every receipt (delivered ones too);
    # it is an error only when the message did not get through.
    if code in mapping.ok_error_codes or mapped not in FAILURES:
        code = None
    return Receipt(
        provider_message_id=_value(item, mapping.message_id),
        raw_status=raw_status,
        status=mapped,
        error_code=code,
        error_message=_value(item, mapping.error_message) if code else None,
    )
