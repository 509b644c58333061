"""The error answers each operation can give, written into the OpenAPI document.

Every error leaves as the one JSON shape of :mod:`textcast.web.errors`, so the
document says so once (``Error``) and lists, per operation, the statuses its
kind of route can answer with: a client that reads ``/docs`` sees every status
it may get, and the property-based tests hold the server to that list.
"""

from __future__ import annotations

import json
from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every error answer: what went wrong, and the field at fault when one is.",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            "description": "validation_failed, not_found, conflict, unauthorized, …",
        },
        "message": {"type": "string"},
        "field": {"type": "string", "description": "the input at fault (dotted path)"},
        "errors": {
            "type": "array",
            "description": "every field at fault, for request validation",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}

DESCRIPTIONS = {
    400: "The body is not what the content type says (malformed JSON or form).",
    401: "No API key, or one that is unknown or revoked.",
    403: "The key's role may not do this; for provider callbacks, a bad signature.",
    404: "Something the request names does not exist.",
    409: "The change conflicts with what is stored (a name taken, a key reused).",
    413: "The request body is too large.",
    422: "The input is invalid; ``field`` names it.",
    429: "Too many requests; retry after the ``Retry-After`` header's seconds.",
    502: "The SMS provider refused or could not be reached.",
}
API_STATUSES = (401, 403, 404, 422)
CALLBACK_STATUSES = (400, 403, 404, 413, 422)
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})


def statuses_for(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """What this kind of route answers besides its success."""
    if path.startswith("/webhooks/"):
        return list(CALLBACK_STATUSES)
    if not path.startswith("/api/"):
        return [400, 422] if "requestBody" in operation else []
    codes = list(API_STATUSES)
    if "requestBody" in operation:
        codes.append(400)
    if method in WRITE_METHODS:
        codes.append(409)
    if "/balance" in path or "/credentials" in path:
        codes.append(502)
    return sorted(codes)


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the error answers added to every operation (in place)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            # FastAPI's own 422 shape ({"detail": [...]}) is not what this API answers.
            codes = set(statuses_for(path, method, operation))
            codes |= {int(code) for code in responses if code in ("400", "422")}
            for code in sorted(codes):
                responses[str(code)] = {
                    "description": DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
    if "schemas/HTTPValidationError" not in json.dumps(schema["paths"]):
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
    return schema
