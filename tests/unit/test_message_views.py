"""A message as the API, CLI and dashboard show it: the template ID it was
sent with, and delivery times that never precede the send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textcast.db.models import Message
from textcast.views.message_schema import MessageDetailOut, MessageOut
from textcast.views.messages import delivered_at, message_view

SENT = datetime(2026, 12, 1, 10, 15, 42, tzinfo=UTC)


def message(**values: object) -> Message:
    defaults: dict[str, object] = {
        "id": 7,
        "provider_id": 1,
        "sender_id": 2,
        "to": "+14155552671",
        "body": "Hi",
        "media_urls": [],
        "template_id": "1107161234567890123",
        "status": "delivered",
        "segments": 1,
        "encoding": "GSM-7",
        "attempts": 1,
        "possible_duplicate": False,
        "is_test": False,
        "created_at": SENT - timedelta(seconds=1),
        "sent_at": SENT,
    }
    return Message(**{**defaults, **values})


def test_a_carrier_time_read_to_the_minute_is_raised_to_the_send() -> None:
    # RawDlrDoneDate 2612011015: 10:15, before the 10:15:42 send.
    carrier = datetime(2026, 12, 1, 10, 15, tzinfo=UTC)
    view = message_view(message(delivered_at=carrier))
    assert view["carrier_done_at"] == carrier.isoformat()
    assert view["delivered_at"] == SENT.isoformat()


def test_a_later_carrier_time_is_shown_as_it_is() -> None:
    carrier = SENT + timedelta(minutes=2)
    assert delivered_at(message(delivered_at=carrier)) == carrier
    assert delivered_at(message(delivered_at=carrier, sent_at=None)) == carrier
    assert delivered_at(message(delivered_at=None)) is None


def test_the_template_id_is_shown() -> None:
    assert message_view(message())["template_id"] == "1107161234567890123"


def test_the_documented_schema_names_every_field_the_view_has() -> None:
    view = message_view(message(delivered_at=SENT))
    assert set(view) == set(MessageOut.model_fields)
    assert set(message_view(message(), [])) == set(MessageDetailOut.model_fields)
    MessageDetailOut.model_validate(message_view(message(), []))
    description = MessageOut.model_fields["delivered_at"].description or ""
    assert "never earlier than sent_at" in description
