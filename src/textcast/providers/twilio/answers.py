"""Twilio's answers read back: a message resource (a send's answer, or one a
look-up found) as :class:`SendResult`, an error answer as :class:`ProviderError`
with ``permanent`` saying whether another try can help."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from textcast import error_codes, json_values, status
from textcast.errors import ProviderError
from textcast.providers.base import OutboundMessage, SendResult
from textcast.providers.http import parse_retry_after
from textcast.providers.twilio.statuses import STATUS_MAP

# Answers worth another try besides every 5xx: request timeout, too many requests.
RETRYABLE_4XX = frozenset({408, 429})


def send_result(resource: Mapping[str, Any], http_status: int | None = None) -> SendResult:
    """A message resource (a send's answer, or one found by a look-up) as a SendResult."""
    return SendResult(
        provider_message_id=resource.get("sid"),
        status=STATUS_MAP.get(str(resource.get("status")), status.ACCEPTED),
        segments=_int_or_none(resource.get("num_segments")),
        raw=resource,
        http_status=http_status,
        **_error_of(resource),
    )


def could_be(resource: Mapping[str, Any], message: OutboundMessage, earliest: datetime) -> bool:
    """Whether a message resource Twilio listed could be ``message``."""
    created = _rfc2822(resource.get("date_created"))
    service = message.sender_id if message.sender_type == "messaging_service" else None
    return (
        created is not None
        and created >= earliest
        and resource.get("direction", "outbound-api") != "inbound"
        and resource.get("body") == message.body
        and _int_or_none(resource.get("num_media")) in (None, len(message.media_urls))
        and (service is None or resource.get("messaging_service_sid") == service)
    )


def created_before(resource: Mapping[str, Any], earliest: datetime) -> bool:
    created = _rfc2822(resource.get("date_created"))
    return created is not None and created < earliest


def _error_of(resource: Mapping[str, Any]) -> dict[str, str | None]:
    """A message resource's error, described from the catalogue when Twilio gave no text."""
    code = str_or_none(resource.get("error_code"))
    text = str_or_none(resource.get("error_message"))
    description = error_codes.describe(code) if code else None
    return {"error_code": code, "error_message": text or description}


async def json_or_text(response: aiohttp.ClientResponse) -> Any:
    """The answer as parsed JSON, or its first 500 characters of text when it is not JSON."""
    # Parsed from the bytes: skipping response.text() skips its charset
    # detection on every answer.
    raw = await response.read()
    try:
        return json_values.loads(raw)
    except ValueError:  # also UnicodeDecodeError
        return (await response.text(errors="replace"))[:500]


def error_from(response: aiohttp.ClientResponse, payload: Any) -> ProviderError:
    """An answer that is not a message resource, as the ProviderError it means."""
    body = payload if isinstance(payload, dict) else {}
    code = str(body.get("code") or f"http_{response.status}")
    message = str(body.get("message") or payload or response.reason or "error")
    if response.status < 300:
        # Accepted, but the answer is not a message resource: Twilio may have the
        # message, and its ID is lost. A look-up finds out (see base.UNANSWERED_CODES).
        return ProviderError(
            "unreadable_answer",
            f"Twilio's answer could not be read: {message[:200]}",
            permanent=False,
            http_status=response.status,
        )
    retryable = (
        response.status >= 500
        or response.status in RETRYABLE_4XX
        or (error_codes.lookup(code) is not None and not error_codes.is_permanent(code))
    )
    return ProviderError(
        code=code,
        message=message,
        permanent=not retryable,
        http_status=response.status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _rfc2822(value: Any) -> datetime | None:
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
