"""How Twilio judges a send request: required fields, formats, magic test numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from textcast.simulator.state import Account

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
BODY_LIMIT = 1600

# Twilio's documented magic numbers for test credentials.
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "Twilio cannot route to this number."),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
MAGIC_FROM = {
    "+15005550001": (
        21212,
        "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
    ),
    "+15005550007": (
        21606,
        "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
    ),
    "+15005550008": (
        21611,
        "This 'From' number has exceeded the maximum number of queued messages.",
    ),
}


@dataclass(frozen=True)
class Refusal:
    code: int
    message: str
    status: int = 400


def check_send(form: dict[str, list[str]], account: Account) -> Refusal | None:
    """The error Twilio would answer for this form, or None when it would accept it."""
    to = _one(form, "To")
    from_ = _one(form, "From")
    service = _one(form, "MessagingServiceSid")
    body = _one(form, "Body") or ""
    media = form.get("MediaUrl", [])
    if not to:
        return Refusal(21604, "A 'To' phone number is required.")
    if not from_ and not service:
        return Refusal(21603, "A 'From' phone number is required.")
    if service and not MESSAGING_SERVICE_SID.match(service):
        return Refusal(21701, f"The Messaging Service Sid {service} is invalid.")
    if not body and not media:
        return Refusal(21602, "Message body is required.")
    if len(body) > BODY_LIMIT:
        return Refusal(21617, "The concatenated message body exceeds the 1600 character limit.")
    for url in [*media, *form.get("StatusCallback", [])]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return Refusal(21620, f"Invalid media or callback URL: {url}")
    if to in MAGIC_TO:
        return Refusal(*MAGIC_TO[to])
    if not E164.match(to):
        return Refusal(21211, f"The 'To' number {to} is not a valid phone number.")
    if from_ in MAGIC_FROM:
        return Refusal(*MAGIC_FROM[from_])
    if account.trial and to not in account.verified_numbers:
        return Refusal(
            21608,
            f"The number {to} is unverified. Trial accounts cannot send messages to unverified numbers; "
            "verify it at twilio.com/user/account/phone-numbers/verified, or purchase a Twilio number.",
        )
    return None


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None
