"""Twilio signatures, with the `twilio` package's RequestValidator as the oracle."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from textcast.providers.twilio.signature import candidate_urls, compute_signature, verify

TOKEN = "12345678901234567890123456789012"
URL = "https://mycompany.example.com/webhooks/twilio/1/status?meta=5.1.0123456789abcdef"
PARAMS = {
    "MessageSid": "SM" + "a" * 32,
    "MessageStatus": "delivered",
    "To": "+14155552671",
    "Body": "héllo 😀 & + ünïcode 中文",
}
ORACLE = RequestValidator(TOKEN)


def test_signature_matches_the_twilio_library() -> None:
    expected = ORACLE.compute_signature(URL, PARAMS)
    assert compute_signature(TOKEN, URL, PARAMS) == expected
    assert compute_signature(TOKEN, URL, list(PARAMS.items())) == expected
    assert verify(TOKEN, expected, URL, PARAMS)
    assert ORACLE.validate(URL, PARAMS, compute_signature(TOKEN, URL, PARAMS))


def test_url_alone_is_signed_when_there_are_no_params() -> None:
    assert compute_signature(TOKEN, URL) == ORACLE.compute_signature(URL, {})
    assert verify(TOKEN, ORACLE.compute_signature(URL, {}), URL)


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        (URL.replace("status", "statuz"), PARAMS, TOKEN),
        (URL.replace("meta=5", "meta=6"), PARAMS, TOKEN),
        (URL.replace("https", "http"), PARAMS, TOKEN),
        (URL.replace("mycompany", "Mycompany"), PARAMS, TOKEN),
        (URL, {**PARAMS, "MessageStatus": "delivereD"}, TOKEN),
        (URL, {**PARAMS, "Body": PARAMS["Body"][:-1]}, TOKEN),
        (URL, {**PARAMS, "Extra": ""}, TOKEN),
        (URL, PARAMS, TOKEN[:-1] + "3"),
    ],
)
def test_a_one_character_change_is_rejected(url: str, params: dict[str, str], token: str) -> None:
    signature = ORACLE.compute_signature(URL, PARAMS)
    assert not verify(token, signature, url, params)


def test_a_changed_signature_is_rejected() -> None:
    signature = ORACLE.compute_signature(URL, PARAMS)
    tampered = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not verify(TOKEN, tampered, URL, PARAMS)


@pytest.mark.parametrize("signature", [None, "", "ünïcode", "\udcff", "x" * 1000])
def test_missing_or_garbage_signatures_are_rejected_without_raising(
    signature: str | None,
) -> None:
    assert not verify(TOKEN, signature, URL, PARAMS)


def test_an_unknown_algorithm_is_rejected() -> None:
    assert not verify(TOKEN, ORACLE.compute_signature(URL, PARAMS), URL, PARAMS, algorithm="MD5")


def test_twilio_may_sign_with_or_without_the_default_port() -> None:
    with_port = URL.replace(".com/", ".com:443/")
    assert verify(TOKEN, ORACLE.compute_signature(with_port, PARAMS), URL, PARAMS)
    assert verify(TOKEN, ORACLE.compute_signature(URL, PARAMS), with_port, PARAMS)
    assert ORACLE.validate(with_port, PARAMS, compute_signature(TOKEN, URL, PARAMS))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.example/x", ["http://a.example/x", "http://a.example:80/x"]),
        ("https://a.example:443/x?q=1", ["https://a.example:443/x?q=1", "https://a.example/x?q=1"]),
        ("http://a.example:8080/x", ["http://a.example:8080/x"]),
        ("https://Mixed.Example/x", ["https://Mixed.Example/x", "https://Mixed.Example:443/x"]),
        ("https://u:p@a.example:443/x", ["https://u:p@a.example:443/x", "https://u:p@a.example/x"]),
        ("http://[::1]/x", ["http://[::1]/x", "http://[::1]:80/x"]),
        ("https://a.example:port/x", ["https://a.example:port/x"]),
        ("ftp://a.example/x", ["ftp://a.example/x"]),
    ],
)
def test_candidate_urls_change_only_the_default_port(url: str, expected: list[str]) -> None:
    assert candidate_urls(url) == expected


def test_repeated_parameters_sign_like_the_library() -> None:
    pairs = [
        ("MediaUrl", "https://b.example/2"),
        ("MediaUrl", "https://a.example/1"),
        ("MediaUrl", "https://a.example/1"),  # the library signs each distinct value once
        ("Body", "x"),
    ]
    expected = ORACLE.compute_signature(URL, MultiDict(pairs))
    assert compute_signature(TOKEN, URL, pairs) == expected
    assert compute_signature(TOKEN, URL, MultiDict(pairs)) == expected
    grouped = {"Body": "x", "MediaUrl": ["https://a.example/1", "https://b.example/2"]}
    assert compute_signature(TOKEN, URL, grouped) == expected
    assert verify(TOKEN, expected, URL, pairs)
    assert ORACLE.validate(URL, MultiDict(pairs), compute_signature(TOKEN, URL, pairs))


def test_json_body_is_checked_through_body_sha256() -> None:
    body = '{"MessageSid": "SM1", "Body": "héllo"}'.encode()
    url = f"https://x.example/hook?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = ORACLE.compute_signature(url, {})
    assert verify(TOKEN, signature, url, body=body)
    assert ORACLE.validate(url, body.decode(), signature)
    # The form params do not take part; the body hash does.
    assert verify(TOKEN, signature, url, params={"Ignored": "1"}, body=body)
    assert not verify(TOKEN, signature, url, body=body + b" ")
    assert not verify(TOKEN, signature, url.replace("hook", "hooc"), body=body)


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=20)),
        max_size=8,
    )
)
def test_any_parameters_agree_with_the_oracle(pairs: list[tuple[str, str]]) -> None:
    expected = ORACLE.compute_signature(URL, MultiDict(pairs))
    assert compute_signature(TOKEN, URL, pairs) == expected
    assert verify(TOKEN, expected, URL, pairs)
