"""Text no database can store, refused at the door of the API.

A NUL character reaches a PostgreSQL query as an error (SQLite takes it), and
a lone surrogate cannot be encoded by either: both arrive in a path, a query
string, or a JSON escape (``"\\u0000"``). Every ``/api/`` request is checked
before routing and refused with 422 naming the field, the same on both
databases. Routes that judge their body row by row (a batch: one bad row must
not stop the others) are left to check their rows themselves.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textcast import storable_text
from textcast.web.errors import error_body

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class UnstorableTextGuard:
    def __init__(self, app: ASGIApp, row_wise: Collection[str] = ()) -> None:
        self.app = app
        self.row_wise = frozenset(row_wise)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        found = _in_url(scope)
        judged_here = scope["path"] not in self.row_wise
        if found is None and judged_here and scope["method"] in BODY_METHODS and _is_json(scope):
            body = await _read_body(receive)
            found = _in_json(body)
            receive = _replay(body, receive)
        if found is None:
            await self.app(scope, receive, send)
            return
        field, reason = found
        answer = JSONResponse(error_body("validation_failed", reason, field=field), 422)
        await answer(scope, receive, send)


def _in_url(scope: Scope) -> tuple[str, str] | None:
    reason = storable_text.problem(scope["path"])
    if reason:
        return "path", reason
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        found = storable_text.first_unstorable(value, name) or storable_text.first_unstorable(
            name, "query"
        )
        if found:
            return found
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


def _in_json(body: bytes) -> tuple[str, str] | None:
    if not storable_text.JSON_ESCAPES.search(body):
        return None  # the common case: nothing to parse twice
    try:
        document: Any = json.loads(body)
    except ValueError:
        return None  # malformed: the route answers that
    return storable_text.first_unstorable(document)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read once more, then the client's own messages (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
