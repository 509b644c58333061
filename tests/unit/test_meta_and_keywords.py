"""The signed ``meta`` attribution parameter and whole-message keywords."""

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcast.audience.keywords import classify
from textcast.callback_meta import Meta, sign_meta, verify_meta, with_meta


def test_meta_round_trips_and_resists_tampering() -> None:
    token = sign_meta("secret", 42, 7, contact_id=9, campaign="spring.sale ✓", automation=None)
    assert verify_meta("secret", token) == Meta(42, 7, contact_id=9, campaign="spring.sale ✓")
    with_variant = sign_meta("secret", 42, 7, campaign="spring", variant="b")
    assert verify_meta("secret", with_variant) == Meta(42, 7, campaign="spring", variant="b")
    assert verify_meta("other-secret", token) is None
    version, _, signature = token.split(".")
    other = sign_meta("secret", 43, 7).split(".")[1]
    assert verify_meta("secret", f"{version}.{other}.{signature}") is None
    for junk in ("", "1.2", "a.b.c", "1.2.3.4", "v2.!!!.0000000000000000", None):
        assert verify_meta("secret", junk) is None


def test_the_first_meta_format_is_still_accepted() -> None:
    import hashlib
    import hmac

    sig = hmac.new(b"secret", b"42.7", hashlib.sha256).hexdigest()[:16]
    assert verify_meta("secret", f"42.7.{sig}") == Meta(42, 7)
    assert verify_meta("secret", f"43.7.{sig}") is None


@given(
    message_id=st.integers(1, 2**62),
    campaign=st.none() | st.text(max_size=100),
)
def test_any_meta_round_trips(message_id: int, campaign: str | None) -> None:
    token = sign_meta("k", message_id, 1, campaign=campaign)
    assert verify_meta("k", token) == Meta(message_id, 1, campaign=campaign)


@given(secret=st.text(max_size=200), payload=st.text(max_size=200))
def test_meta_signatures_are_hmac_sha256(secret: str, payload: str) -> None:
    import hashlib
    import hmac

    from textcast.callback_meta import _signature

    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:16]
    assert _signature(secret, payload) == expected


@given(
    message_id=st.integers(1, 2**62),
    sender_id=st.integers(1, 2**31),
    contact_id=st.none() | st.integers(1, 2**62),
)
def test_meta_without_labels_encodes_the_same_json(
    message_id: int, sender_id: int, contact_id: int | None
) -> None:
    import base64
    import json

    payload = sign_meta("k", message_id, sender_id, contact_id=contact_id).split(".")[1]
    fields = {"m": message_id, "s": sender_id, "c": contact_id}
    expected = json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))
    assert base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode() == expected


def test_with_meta_keeps_existing_query_parameters() -> None:
    url = with_meta("https://relay.example.com/cb?tenant=acme&meta=old", "1.2.abc")
    assert url == "https://relay.example.com/cb?tenant=acme&meta=1.2.abc"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", "opt_out"),
        ("  stop \n", "opt_out"),
        ("Unsubscribe", "opt_out"),
        ("STOPALL", "opt_out"),
        ("optout", "opt_out"),
        ("please stop texting me", None),
        ("stop!", None),
        ("START", "opt_in"),
        ("unstop", "opt_in"),
        ("yes", "opt_in"),
        ("HELP", "help"),
        ("info", "help"),
        ("Hello", None),
    ],
)
def test_keywords_match_the_whole_trimmed_case_folded_message(
    body: str, expected: str | None
) -> None:
    assert classify(body) == expected


@given(
    st.text(min_size=1).filter(
        lambda s: (
            s.strip().casefold()
            not in {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
        )
    )
)
def test_nothing_but_the_exact_keywords_opts_out(body: str) -> None:
    assert classify(body) != "opt_out"


def test_with_meta_on_a_plain_url_adds_the_only_parameter() -> None:
    assert with_meta("https://tc.example.com/webhooks/twilio/1/status", "5.1.ab") == (
        "https://tc.example.com/webhooks/twilio/1/status?meta=5.1.ab"
    )


@given(st.text(max_size=60))
def test_with_meta_encodes_the_value_like_urlencode(value: str) -> None:
    url = "https://example.com/webhooks/twilio/1/status"
    assert with_meta(url, value) == f"{url}?{urlencode([('meta', value)])}"
