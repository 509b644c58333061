"""Every status Twilio reports on a message is understood: outbound ones move
the message, inbound ones (receiving, received) are known and change nothing."""

from __future__ import annotations

import pytest

from textcast.providers.twilio.statuses import KNOWN_STATUSES, parse_status_callback

SID = "SM" + "a" * 32

# Twilio's message statuses, and what a status callback naming each one does.
EVERY_STATUS = [
    ("queued", "accepted"),
    ("accepted", "accepted"),
    ("scheduled", "scheduled"),
    ("sending", "sending"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("undelivered", "undelivered"),
    ("failed", "failed"),
    ("canceled", "canceled"),
    ("read", "read"),
    ("receiving", None),  # inbound: says nothing about an outbound message
    ("received", None),
]


@pytest.mark.parametrize(("twilio_status", "textcast_status"), EVERY_STATUS)
def test_every_twilio_status_is_understood(twilio_status: str, textcast_status: str | None) -> None:
    assert twilio_status in KNOWN_STATUSES
    update = parse_status_callback({"MessageSid": SID, "MessageStatus": twilio_status})
    assert (update.status if update else None) == textcast_status


def test_inbound_statuses_are_recognised_in_either_field_and_any_case() -> None:
    assert parse_status_callback({"SmsSid": SID, "SmsStatus": "RECEIVED"}) is None
    assert "received" in KNOWN_STATUSES


def test_a_status_twilio_does_not_define_is_not_known() -> None:
    assert "teleported" not in KNOWN_STATUSES
    assert parse_status_callback({"MessageSid": SID, "MessageStatus": "teleported"}) is None
