"""Twilio's message statuses in Textcast's words, and its status callbacks read
as :class:`StatusUpdate`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from textcast import error_codes, status
from textcast.providers.base import StatusUpdate

# Twilio's vocabulary mapped onto Textcast's (the message resource's
# ``status``, and a status callback's ``MessageStatus``).
STATUS_MAP: Mapping[str, str] = {
    "queued": status.ACCEPTED,
    "accepted": status.ACCEPTED,
    "scheduled": status.SCHEDULED,
    "sending": status.SENDING,
    "sent": status.SENT,
    "delivered": status.DELIVERED,
    "undelivered": status.UNDELIVERED,
    "failed": status.FAILED,
    "canceled": status.CANCELED,
    "read": status.READ,
}
# Twilio's statuses of inbound messages. They say nothing about an outbound
# message's delivery: a callback naming one is understood, and changes nothing.
INBOUND_STATUSES = frozenset({"receiving", "received"})
KNOWN_STATUSES = frozenset(STATUS_MAP) | INBOUND_STATUSES


def parse_status_callback(form: Mapping[str, str]) -> StatusUpdate | None:
    """A status callback's fields as an update; None when it names no status of
    an outbound message's: an inbound one (:data:`INBOUND_STATUSES`, which an
    outbound message never moves to) or one Twilio does not define."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if raw_status in INBOUND_STATUSES:
        return None  # understood: a message Twilio received, not one it delivers
    mapped = STATUS_MAP.get(raw_status)
    if not sid or mapped is None:
        return None
    code = form.get("ErrorCode") or None
    done_at = parse_dlr_done_date(form.get("RawDlrDoneDate"))
    return StatusUpdate(sid, mapped, code, error_codes.describe(code) if code else None, done_at)


def parse_dlr_done_date(value: str | None) -> datetime | None:
    """``RawDlrDoneDate`` (YYMMDDhhmm, the carrier's receipt time, taken as UTC).

    None when absent or malformed.
    """
    if not value or len(value) != 10 or not value.isdigit():
        return None
    try:
        return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None
