"""Twilio error codes Textcast explains to users, and how the dispatcher treats them.

``permanent`` says whether sending the same message again can help: False for
rate limits, full queues and passing outages, True when the request, the
number or the account must change first. ``suppress_recipient`` marks codes
meaning "this person opted out", which put the number on the suppression list.

Codes not listed are stored and shown raw (``describe`` returns None), and
:func:`is_permanent` treats them as permanent unless they are one of the
transport-level codes Textcast's providers make up for timeouts, network
failures and HTTP 5xx/429 answers. Guessing "transient" for an unknown
Twilio code would resend blindly, which risks duplicate texts and carrier
filtering; guessing "permanent" costs at most one message that a person can
resend.
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


# One entry per line reads best as a table, so the formatter leaves it alone.
# fmt: off
_CODES = [
    # Account and API (HTTP 4xx/5xx answers to a request).
    ErrorCode("20003", "Authentication failed", "Twilio refused the Account SID and auth token; re-authenticate the provider with current credentials."),
    ErrorCode("20404", "Not found", "Twilio has no such resource for this account; check the Account SID and the message or service SID."),
    ErrorCode("20429", "Too many requests", "Twilio is limiting how fast this account calls its API; Textcast backs off and tries again.", permanent=False),
    # The send request was refused.
    ErrorCode("21211", "Invalid 'To' number", "The recipient is not a valid phone number; correct it (E.164, e.g. +14155552671)."),
    ErrorCode("21212", "Invalid 'From' number", "The sender number or sender ID is not valid for sending."),
    ErrorCode("21408", "Region not enabled", "This account may not send to the recipient's country; enable it in the Twilio console under Messaging geographic permissions."),
    ErrorCode("21602", "Body required", "The message had neither text nor media."),
    ErrorCode("21603", "'From' required", "The request named no sender number or Messaging Service."),
    ErrorCode("21604", "'To' required", "The request named no recipient."),
    ErrorCode("21606", "'From' not usable", "The sender is not a number this account owns, or it cannot send SMS to this destination."),
    ErrorCode("21608", "Unverified number on a trial account", "Trial accounts can only text numbers verified on the account: verify the recipient in the Twilio console (Phone Numbers > Verified Caller IDs) or upgrade the account."),
    ErrorCode("21610", "Unsubscribed recipient", "The recipient replied STOP to this sender; do not message them until they reply START.", suppress_recipient=True),
    ErrorCode("21611", "Sender queue full", "So many messages are waiting at Twilio for this sender that it takes no more for now; retry later or spread traffic over more senders.", permanent=False),
    ErrorCode("21612", "Cannot route", "Twilio cannot carry a message from this sender to this recipient (sender type not allowed in that country or network)."),
    ErrorCode("21614", "Not a mobile number", "The recipient cannot receive SMS, for example a landline."),
    ErrorCode("21617", "Body too long", "The text exceeds Twilio's limit of 1,600 characters; shorten it."),
    ErrorCode("21619", "Body or media required", "A message through a Messaging Service needs text, media or a content template."),
    ErrorCode("21620", "Invalid media URL", "A media URL is malformed, typically missing http:// or https://."),
    ErrorCode("21623", "Too many media files", "A message can carry at most 10 media files."),
    ErrorCode("21660", "Sender and account mismatch", "The sender belongs to a different Twilio account than the credentials used."),
    ErrorCode("21705", "Invalid Messaging Service", "The Messaging Service SID is not a valid MG… SID; check it in the Twilio console."),
    ErrorCode("21730", "Twilio under maintenance", "Twilio refused the request during scheduled maintenance; it will work again afterwards.", permanent=False),
    # Delivery outcomes reported in status callbacks.
    ErrorCode("30001", "Queue overflow", "The message waited in the sender's queue longer than Twilio keeps messages; send fewer per second or add senders, then resend.", permanent=False),
    ErrorCode("30002", "Account suspended", "The Twilio account was suspended between sending and delivery; resolve it with Twilio."),
    ErrorCode("30003", "Unreachable destination handset", "The phone is switched off or out of coverage; a later resend may reach it.", permanent=False),
    ErrorCode("30004", "Message blocked", "The recipient or their carrier blocks messages from this sender."),
    ErrorCode("30005", "Unknown destination handset", "The number does not exist or is no longer in service."),
    ErrorCode("30006", "Landline or unreachable carrier", "The number cannot receive SMS (for example a landline), or its carrier is unreachable."),
    ErrorCode("30007", "Message filtered (carrier violation)", "The carrier filtered the message as spam or disallowed content; resending the same text will be filtered again."),
    ErrorCode("30008", "Unknown error", "Delivery failed for a reason the carrier did not give; a resend may succeed.", permanent=False),
    ErrorCode("30009", "Missing segment", "A part of a multi-part message never arrived."),
    ErrorCode("30010", "Message price exceeds max price", "Sending would cost more than the maximum price set for the message."),
    ErrorCode("30022", "10DLC rate limit exceeded", "Carriers refused the message for exceeding the throughput of the sender's A2P 10DLC campaign; send more slowly.", permanent=False),
    ErrorCode("30024", "Sender ID not provisioned", "The destination requires the numeric sender to be registered with the carrier, and it is not (yet)."),
    ErrorCode("30032", "Toll-free number not verified", "Toll-free numbers must pass Twilio's toll-free verification before texting US and Canadian mobiles."),
    ErrorCode("30034", "Unregistered 10DLC number", "US carriers block long-code traffic from numbers not registered to an A2P 10DLC campaign; register the number's campaign in the Twilio console."),
    ErrorCode("30036", "Validity period expired", "The message waited in Twilio's queue beyond its validity period and was dropped; resend with a longer period or send more slowly.", permanent=False),
    ErrorCode("30500", "Twilio internal error", "Twilio failed while processing the message; resending usually works.", permanent=False),
]
# fmt: on

CATALOGUE: dict[str, ErrorCode] = {entry.code: entry for entry in _CODES}

# Codes Textcast's own providers make up for failures that have no provider
# code; all of them are transient (HTTP 408/429/5xx, timeouts, lost connections).
_TRANSIENT_SYNTHETIC = frozenset(
    {
        "timeout",
        "network",
        "unreachable",
        "unreadable_answer",
        "internal",
        "http_408",
        "http_429",
        "http_500",
        "http_502",
        "http_503",
        "http_504",
    }
)


def _key(code: str | int | None) -> str:
    return "" if code is None else str(code).strip()


def lookup(code: str | int | None) -> ErrorCode | None:
    """The catalogue entry for ``code`` (``30003`` or ``"30003"``), None when unknown."""
    return CATALOGUE.get(_key(code))


def describe(code: str | int | None) -> str | None:
    """``"Name: description"`` for a known code; None otherwise, so callers show it raw."""
    entry = lookup(code)
    return f"{entry.name}: {entry.description}" if entry else None


def is_permanent(code: str | int | None) -> bool:
    """Whether resending cannot help: the catalogue's answer, else see the module docstring."""
    entry = lookup(code)
    if entry is not None:
        return entry.permanent
    return _key(code) not in _TRANSIENT_SYNTHETIC
