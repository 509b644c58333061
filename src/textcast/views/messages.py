"""Messages and their history as API answers, the CLI's --json and the dashboard show them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from textcast import error_codes
from textcast.db.models import Message, MessageEvent


def event_view(event: MessageEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "status": event.status,
        "source": event.source,
        "error_code": event.error_code,
        "detail": event.detail,
        "at": event.created_at.isoformat(),
    }


def message_view(message: Message, events: list[MessageEvent] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": message.id,
        "status": message.status,
        "to": message.to,
        "body": message.body,
        "media_urls": message.media_urls,
        "template_id": message.template_id,
        "template_version_id": message.template_version_id,
        "content_variables": (
            json.loads(message.content_variables) if message.content_variables else None
        ),
        "sender_id": message.sender_id,
        "provider_id": message.provider_id,
        "provider_message_id": message.provider_message_id,
        "segments": message.segments,
        "encoding": message.encoding,
        "error_code": message.error_code,
        "error_description": _describe(message),
        "attempts": message.attempts,
        "possible_duplicate": message.possible_duplicate,
        "is_test": message.is_test,
        "campaign": message.campaign,
        "automation": message.automation,
        "created_at": message.created_at.isoformat(),
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "final_at": message.final_at.isoformat() if message.final_at else None,
        "delivered_at": _iso(delivered_at(message)),
        "carrier_done_at": _iso(message.delivered_at),
    }
    if events is not None:
        view["history"] = [event_view(e) for e in events]
    return view


def delivered_at(message: Message) -> datetime | None:
    """When the carrier finished with the message, never before it was sent.

    The carrier's own time (``carrier_done_at``, Twilio's ``RawDlrDoneDate``)
    is kept as reported, but it has minute resolution: a message sent at
    10:15:42 and delivered a second later reads 10:15. Shown as at least
    ``sent_at``, so a delivery never appears to precede its send.
    """
    done = message.delivered_at
    if done is None or message.sent_at is None:
        return done
    return max(done, message.sent_at)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _describe(message: Message) -> str | None:
    if message.error_code is None:
        return None
    # What the provider or dispatcher recorded, else the Twilio catalogue's words.
    return message.error_message or error_codes.describe(message.error_code)


TRIAL_HINT = (
    "Twilio trial accounts only send to verified numbers: verify this number "
    "in the Twilio console (Phone Numbers > Verified Caller IDs) "
    "or upgrade the account."
)


def outcome_view(message: Message, events: list[MessageEvent], final: bool) -> dict[str, Any]:
    """A test message once final (or the wait ran out): its history, and a
    hint where the error has an obvious fix."""
    view = message_view(message, events)
    view["final"] = final
    if message.error_code == "21608":
        view["hint"] = TRIAL_HINT
    return view
