"""Twilio error codes Textcast explains to users, and how the dispatcher treats them.

``permanent`` says whether resending can help; ``suppress_recipient`` marks
codes meaning "this person opted out", which put the number on the
suppression list. Codes not listed are stored and shown raw.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    code: str
    name: str
    description: str
    permanent: bool = True
    suppress_recipient: bool = False


_CODES = [
    # Sending refused at the API (HTTP 4xx).
    ErrorCode(
        "20003",
        "Authentication failed",
        "Twilio refused the Account SID and auth token; re-authenticate the provider.",
    ),
    ErrorCode("20404", "Not found", "Twilio has no such resource for this account."),
    ErrorCode(
        "20429",
        "Too many requests",
        "Twilio is rate-limiting API requests; Textcast backs off and retries.",
        permanent=False,
    ),
    ErrorCode("21211", "Invalid 'To' number", "The recipient number is not a valid phone number."),
    ErrorCode(
        "21212", "Invalid 'From' number", "The sender number or ID is not valid for sending."
    ),
    ErrorCode(
        "21408",
        "Region not enabled",
        "The account has no permission to send to this country; enable it in Twilio's geo permissions.",
    ),
    ErrorCode("21602", "Body required", "A message needs text or media."),
    ErrorCode("21603", "'From' required", "The request named no sender."),
    ErrorCode("21604", "'To' required", "The request named no recipient."),
    ErrorCode(
        "21606",
        "'From' not usable",
        "This sender is not a number the account owns or can send SMS from.",
    ),
    ErrorCode(
        "21608",
        "Unverified number on a trial account",
        "Trial accounts only send to verified numbers: verify the recipient in the Twilio console "
        "(Verified Caller IDs) or upgrade the account.",
    ),
    ErrorCode(
        "21610",
        "Unsubscribed recipient",
        "The recipient replied STOP to this sender; it must not be messaged until they opt back in.",
        suppress_recipient=True,
    ),
    ErrorCode(
        "21611",
        "Sender queue full",
        "The sender has too many messages queued at Twilio; retry later.",
        permanent=False,
    ),
    ErrorCode(
        "21612", "Cannot route", "Twilio cannot route a message from this sender to this recipient."
    ),
    ErrorCode(
        "21614",
        "Not a mobile number",
        "The recipient number cannot receive SMS (landline or invalid mobile).",
    ),
    ErrorCode("21617", "Body too long", "The message exceeds Twilio's 1,600-character limit."),
    ErrorCode(
        "21660", "Sender and account mismatch", "The sender belongs to a different Twilio account."
    ),
    ErrorCode(
        "21701",
        "Messaging Service not found",
        "The Messaging Service SID does not exist on this account.",
    ),
    # Delivery outcomes reported in status callbacks.
    ErrorCode(
        "30001",
        "Queue overflow",
        "Too many messages were queued for the sender; resend after a pause.",
        permanent=False,
    ),
    ErrorCode(
        "30002",
        "Account suspended",
        "The Twilio account was suspended between sending and delivery.",
    ),
    ErrorCode("30003", "Unreachable destination handset", "The phone is off or out of coverage."),
    ErrorCode("30004", "Message blocked", "The recipient or their carrier blocked this message."),
    ErrorCode(
        "30005",
        "Unknown destination handset",
        "The number does not exist or is no longer in service.",
    ),
    ErrorCode(
        "30006",
        "Landline or unreachable carrier",
        "The number cannot receive SMS, e.g. a landline.",
    ),
    ErrorCode(
        "30007",
        "Carrier violation",
        "The carrier filtered the message as spam or objectionable content.",
    ),
    ErrorCode("30008", "Unknown error", "Delivery failed for a reason the carrier did not give."),
    ErrorCode("30009", "Missing segment", "A part of a multi-part message did not arrive."),
    ErrorCode(
        "30010",
        "Message price exceeds max price",
        "The message would cost more than the maximum price set.",
    ),
    ErrorCode(
        "30032",
        "Toll-free number not verified",
        "Toll-free numbers must be verified before sending in the US and Canada.",
    ),
    ErrorCode(
        "30034",
        "Unregistered 10DLC number",
        "US long-code traffic needs an A2P 10DLC campaign registration.",
    ),
    ErrorCode(
        "30044",
        "Validity period expired",
        "The message waited in Twilio's queue longer than its validity period.",
    ),
]

CATALOGUE: dict[str, ErrorCode] = {entry.code: entry for entry in _CODES}
# Unknown codes in these families are transient; everything else unknown is permanent.
RETRYABLE_UNKNOWN_PREFIXES = ("5", "http_5", "timeout", "network", "internal")


def lookup(code: str | int | None) -> ErrorCode | None:
    return None if code is None else CATALOGUE.get(str(code))


def describe(code: str | int | None) -> str | None:
    """``Name: description`` for known codes; None for unknown ones (shown raw)."""
    entry = lookup(code)
    return f"{entry.name}: {entry.description}" if entry else None


def is_permanent(code: str | int | None) -> bool:
    entry = lookup(code)
    if entry is not None:
        return entry.permanent
    return not str(code or "").startswith(RETRYABLE_UNKNOWN_PREFIXES)
