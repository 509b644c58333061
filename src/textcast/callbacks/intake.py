"""The front door for Twilio's status callbacks.

Status callbacks are most of the traffic Textcast receives: several per
message sent, in bursts. They are answered here, in front of FastAPI: the
framework's middleware, routing and dependency injection cost about four
times what uvicorn itself spends on a request, more than verifying, storing
and applying the callback. Everything else — inbound messages, receipts, the
API — goes to FastAPI as usual.

Each callback is parsed and verified through the Twilio package
(:mod:`textcast.providers.twilio.webhook`, with the secrets
:mod:`textcast.callbacks.twilio_verify` loads), read as a status update,
stored and applied in a shared transaction (:mod:`textcast.callbacks.group_commit`),
and only then answered 200, so an acknowledged callback is never lost. Unknown
messages are stored and answered 200 too, so Twilio does not retry them
forever; a request that fails verification is answered 403 and changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.types import Receive, Scope, Send

from textcast import metrics
from textcast.callbacks.group_commit import GroupCommitter
from textcast.callbacks.twilio_verify import MAX_BODY_BYTES, ProviderAuthCache, verify
from textcast.errors import WebhookRejected
from textcast.providers.twilio.statuses import parse_status_callback
from textcast.providers.twilio.webhook import callback_request
from textcast.services.status_reports import StatusReport

log = logging.getLogger(__name__)
STATUS_PATH = re.compile(r"/webhooks/twilio/([0-9]{1,18})/status")


class StatusCallbackIntake:
    """An ASGI handler for ``POST /webhooks/twilio/{provider_id}/status``."""

    def __init__(self, auth: ProviderAuthCache, writer: GroupCommitter[StatusReport, str]) -> None:
        self.auth = auth
        self.writer = writer

    @staticmethod
    def provider_id(scope: Scope) -> int | None:
        """The provider whose status callback this request is; None when it is
        not one (then it is FastAPI's)."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        match = STATUS_PATH.fullmatch(scope["path"])
        return int(match.group(1)) if match else None

    async def __call__(self, provider_id: int, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body = await self._handle(provider_id, scope, receive)
        except _Disconnected:
            return
        except Exception:
            log.exception("status callback failed")
            status, body = 500, _error("internal_error", "unexpected server error; see the log")
        await _respond(send, status, body)

    async def _handle(self, provider_id: int, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        headers = _headers(scope)
        try:
            raw_body = await _read_body(headers, receive)
            auth = await self.auth.get(provider_id)
            request = callback_request(
                "POST",
                scope.get("scheme", "http"),
                headers.get("host") or _server(scope),
                scope.get("raw_path") or scope["path"].encode(),
                scope.get("query_string", b""),
                headers,
                raw_body,
            )
            meta = verify(auth, request)
        except WebhookRejected as exc:
            metrics.callback_counter("status", f"rejected_{exc.status}").inc()
            return exc.status, _error("webhook_rejected", exc.message)
        form = dict(request.params)
        update = parse_status_callback(form)
        report = StatusReport(
            provider_id=provider_id,
            meta=meta,
            provider_message_id=update.provider_message_id if update else form.get("MessageSid"),
            update=update,
            params=request.params,
            idempotency_token=headers.get("i-twilio-idempotency-token"),
        )
        outcome = await self.writer.run(report)
        metrics.callback_counter("status", outcome).inc()
        return 200, b""


# The path as documented in the app's OpenAPI schema: it is served here, not by a
# FastAPI route, so FastAPI cannot describe it by itself.
OPENAPI_PATH = {
    "post": {
        "tags": ["webhooks"],
        "summary": "Twilio status callback",
        "operationId": "twilio_status_callback",
        "description": (
            "Twilio's StatusCallback for messages sent through this provider (Textcast "
            "passes it on each message, with its signed `meta`). Verified by "
            "`X-Twilio-Signature` (or a relay's `X-Textcast-Signature`), stored and "
            "applied before the answer. Callbacks for unknown messages are stored "
            "and answered 200."
        ),
        "parameters": [
            {"name": "provider_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "meta", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "requestBody": {
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
        },
        "responses": {
            "200": {"description": "Stored (and applied when it is news)"},
            "400": {"description": "Not UTF-8 form data"},
            "403": {"description": "Missing or invalid signature; nothing was stored"},
            "404": {"description": "No such Twilio provider"},
            "413": {"description": f"Body larger than {MAX_BODY_BYTES} bytes"},
        },
    }
}


class _Disconnected(Exception):
    """The caller went away before its request was read: nothing to answer."""


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def _server(scope: Scope) -> str:
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else "localhost"


async def _read_body(headers: dict[str, str], receive: Receive) -> bytes:
    """The raw body, refused (413) past MAX_BODY_BYTES without reading it all."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise WebhookRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
        if not message.get("more_body", False):
            return body


def _error(error: str, message: str) -> bytes:
    return json.dumps({"error": error, "message": message}).encode()


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers: list[tuple[bytes, bytes]] = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
