"""Twilio signatures, with the `twilio` package's RequestValidator as the oracle."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from textcast.webhooks.signature import (
    candidate_urls,
    compute_signature,
    public_url,
    verify,
)

TOKEN = "12345678901234567890123456789012"
URL = "https://mycompany.example.com/webhooks/twilio/1/status?meta=5.1.0123456789abcdef"
PARAMS = {
    "MessageSid": "SM" + "a" * 32,
    "MessageStatus": "delivered",
    "To": "+14155552671",
    "Body": "héllo 😀 & +",
}


def test_signature_matches_the_twilio_library() -> None:
    oracle = RequestValidator(TOKEN)
    expected = oracle.compute_signature(URL, PARAMS)
    assert compute_signature(TOKEN, URL, PARAMS) == expected
    assert verify(TOKEN, expected, URL, PARAMS)
    assert oracle.validate(URL, PARAMS, compute_signature(TOKEN, URL, PARAMS))


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        (URL.replace("status", "statuz"), PARAMS, TOKEN),
        (URL, {**PARAMS, "MessageStatus": "failed"}, TOKEN),
        (URL, {**PARAMS, "Extra": "1"}, TOKEN),
        (URL, PARAMS, TOKEN[:-1] + "3"),
        (URL.replace("https", "http"), PARAMS, TOKEN),
    ],
)
def test_a_one_character_change_is_rejected(url: str, params: dict[str, str], token: str) -> None:
    signature = RequestValidator(TOKEN).compute_signature(URL, PARAMS)
    assert not verify(token, signature, url, params)


def test_missing_or_empty_signature_is_rejected() -> None:
    assert not verify(TOKEN, None, URL, PARAMS)
    assert not verify(TOKEN, "", URL, PARAMS)


def test_twilio_may_sign_with_or_without_the_default_port() -> None:
    with_port = URL.replace(".com/", ".com:443/")
    signature = RequestValidator(TOKEN).compute_signature(with_port, PARAMS)
    assert verify(TOKEN, signature, URL, PARAMS)
    assert verify(TOKEN, RequestValidator(TOKEN).compute_signature(URL, PARAMS), with_port, PARAMS)
    assert candidate_urls("http://a.example/x") == ["http://a.example/x", "http://a.example:80/x"]
    assert candidate_urls("http://a.example:8080/x") == ["http://a.example:8080/x"]


def test_repeated_parameters_sign_like_the_library() -> None:
    pairs = [
        ("MediaUrl", "https://b.example/2"),
        ("MediaUrl", "https://a.example/1"),
        ("Body", "x"),
    ]

    class Multi(dict[str, str]):
        def getall(self, name: str) -> list[str]:
            return [v for k, v in pairs if k == name]

    expected = RequestValidator(TOKEN).compute_signature(URL, Multi(pairs))
    assert compute_signature(TOKEN, URL, pairs) == expected


def test_json_body_is_checked_through_body_sha256() -> None:
    body = b'{"MessageSid": "SM1", "MessageStatus": "delivered"}'
    url = f"https://x.example/hook?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    assert verify(TOKEN, signature, url, body=body)
    assert not verify(TOKEN, signature, url, body=body + b" ")


def test_public_url_is_rebuilt_behind_a_proxy() -> None:
    headers = {"x-forwarded-proto": "https", "x-forwarded-host": "sms.example.com, proxy.internal"}
    assert (
        public_url("http", "10.0.0.5:8000", "/cb?a=1", headers) == "https://sms.example.com/cb?a=1"
    )
    assert (
        public_url("http", "10.0.0.5:8000", "/cb", headers, trust_forwarded=False)
        == "http://10.0.0.5:8000/cb"
    )


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=30), max_size=6))
def test_any_parameters_agree_with_the_oracle(params: dict[str, str]) -> None:
    assert compute_signature(TOKEN, URL, params) == RequestValidator(TOKEN).compute_signature(
        URL, params
    )
