"""How Twilio judges a send request (required fields, formats, magic test numbers)
and which final status a delivery error code ends in."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from textcast.simulator.state import Account

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# ContentSid's pattern in Twilio's API definition.
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
# Twilio wants callback URLs already percent-encoded: printable ASCII, no spaces.
ENCODED_URL = re.compile(r"^[\x21-\x7e]+$")
BODY_LIMIT = 1600
URL_LIMIT = 4000
MEDIA_LIMIT = 10

# The magic numbers Twilio documents for test credentials, and the error each triggers.
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS."),
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
        "The 'From' phone number provided is not a valid, message-capable Twilio phone number for this destination.",
    ),
    "+15005550008": (
        21611,
        "This 'From' number has exceeded the maximum number of queued messages.",
    ),
}

# Codes where Twilio never hands the message to a carrier end "failed"; carrier-side
# refusals (30003-30008 and the like) end "undelivered" after "sent".
FAILED_CODES = frozenset({30001, 30002, 30010})


@dataclass(frozen=True)
class Refusal:
    """A Twilio error answer: code, message and HTTP status."""

    code: int
    message: str
    status: int = 400


def final_status(error_code: int | None) -> str:
    if error_code is None:
        return "delivered"
    if error_code in FAILED_CODES or not 30000 <= error_code < 31000:
        return "failed"
    return "undelivered"


def check_send(form: Mapping[str, list[str]], account: Account) -> Refusal | None:
    """The error Twilio would answer for this form, or None when it would accept it."""
    to, from_, service = _one(form, "To"), _one(form, "From"), _one(form, "MessagingServiceSid")
    body, media = _one(form, "Body") or "", form.get("MediaUrl", [])
    if not to:
        return Refusal(21604, "A 'To' phone number is required.")
    if not from_ and not service:
        return Refusal(21603, "A 'From' phone number is required.")
    if service and not MESSAGING_SERVICE_SID.match(service):
        return Refusal(21701, f"The Messaging Service Sid {service} is invalid.")
    content = _check_content(form)
    if isinstance(content, Refusal):
        return content
    if not body and not media and not content:
        return Refusal(21602, "Message body is required.")
    if len(body) > BODY_LIMIT:
        return Refusal(21617, "The concatenated message body exceeds the 1600 character limit.")
    if len(media) > MEDIA_LIMIT:
        return Refusal(21623, f"Too many media URLs: at most {MEDIA_LIMIT} are allowed.")
    if not all(_absolute_http_url(url) for url in media):
        return Refusal(21620, "Invalid media URL(s)")
    callback = _one(form, "StatusCallback")
    if callback is not None and not _absolute_http_url(callback):
        return Refusal(21609, f"The StatusCallback URL {callback[:200]} is not a valid URL.")
    return _check_numbers(to, from_, account)


def _check_content(form: Mapping[str, list[str]]) -> Refusal | bool:
    """A Content Template send (``ContentSid``, its ``ContentVariables`` a JSON
    object of non-empty text): True when well formed, False when there is none."""
    sid, variables = _one(form, "ContentSid"), _one(form, "ContentVariables")
    if sid is None:
        if variables is not None:
            return Refusal(21654, "ContentSid Required")
        return False
    if not CONTENT_SID.match(sid):
        return Refusal(21655, "The ContentSid is Invalid")
    if variables is not None:
        try:
            parsed = json.loads(variables)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(
            isinstance(v, str) and v and "\n" not in v and "\t" not in v for v in parsed.values()
        ):
            return Refusal(21656, "The ContentVariables Parameter is invalid")
    return True


def _check_numbers(to: str, from_: str | None, account: Account) -> Refusal | None:
    if to in MAGIC_TO:
        return Refusal(*MAGIC_TO[to])
    if not E164.match(to):
        return Refusal(21211, f"The 'To' number {to[:40]} is not a valid phone number.")
    if from_ in MAGIC_FROM:
        return Refusal(*MAGIC_FROM[from_])
    if from_ == to:
        return Refusal(21266, "'To' and 'From' number cannot be the same")
    if account.trial and to not in account.verified_numbers:
        return Refusal(
            21608,
            f"The number {to} is unverified. Trial accounts can only send messages to verified numbers.",
        )
    return None


def _absolute_http_url(url: str) -> bool:
    if len(url) > URL_LIMIT or not ENCODED_URL.match(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _one(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None
