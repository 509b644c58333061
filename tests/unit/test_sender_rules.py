"""Which senders A2P 10DLC applies to, and what a registration looks like."""

from __future__ import annotations

import pytest

from textcast.db.models import Sender
from textcast.errors import ValidationFailed
from textcast.services.senders import (
    check_10dlc_campaign,
    is_us_long_code,
    register_10dlc,
    sender_warnings,
)


@pytest.mark.parametrize(
    ("sender_type", "sender_id", "applies"),
    [
        ("long_code", "+14155550100", True),
        ("long_code", "+14165550100", False),  # Toronto: Canada has no 10DLC
        ("long_code", "+15005550006", False),  # Twilio's test range reaches no carrier
        ("long_code", "+447700900123", False),
        ("toll_free", "+18005550100", False),  # toll-free has its own verification
        ("short_code", "12345", False),
    ],
)
def test_10dlc_applies_to_us_long_codes_only(
    sender_type: str, sender_id: str, applies: bool
) -> None:
    assert is_us_long_code(sender_type, sender_id) is applies


@pytest.mark.parametrize("campaign", ["CX7QK2M", "QE" + "a1" * 16])
def test_campaign_registry_ids_and_twilio_campaign_sids_are_accepted(campaign: str) -> None:
    check_10dlc_campaign("long_code", "+14155550100", campaign)


@pytest.mark.parametrize(
    ("sender_id", "campaign", "says"),
    [
        ("+14155550100", "cx7qk2m", "neither"),
        ("+14155550100", "CX7QK2", "neither"),
        ("+14165550100", "CX7QK2M", "US long codes only"),
    ],
)
def test_a_bad_campaign_is_refused_naming_the_field(
    sender_id: str, campaign: str, says: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_10dlc_campaign("long_code", sender_id, campaign)
    assert caught.value.field == "a2p_10dlc_campaign_id" and says in caught.value.message


def test_an_unregistered_us_long_code_is_warned_about_until_registered() -> None:
    sender = Sender(type="long_code", sender_id="+14155550100", a2p_10dlc_campaign_id=None)
    assert [w["code"] for w in sender_warnings(sender)] == ["unregistered_10dlc"]
    register_10dlc(sender, "CX7QK2M")
    assert sender_warnings(sender) == [] and sender.a2p_10dlc_registered_at is not None
    registered_at = sender.a2p_10dlc_registered_at
    register_10dlc(sender, "CY8RL3N")  # another campaign: registered since the first
    assert sender.a2p_10dlc_registered_at == registered_at
    register_10dlc(sender, None)
    assert sender.a2p_10dlc_registered_at is None and sender_warnings(sender)
