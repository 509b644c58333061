"""The URL a provider called, rebuilt behind a proxy: what a callback's signature covers."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from textcast.callbacks.generic_routes import public_url
from textcast.providers.twilio.signature import verify

TOKEN = "12345678901234567890123456789012"
PARAMS = {
    "MessageSid": "SM" + "a" * 32,
    "MessageStatus": "delivered",
    "To": "+14155552671",
    "Body": "héllo 😀 & + ünïcode 中文",
}
ORACLE = RequestValidator(TOKEN)


def test_public_url_is_rebuilt_behind_a_proxy() -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com, proxy.internal"}
    rebuilt = public_url("http", "10.0.0.5:8000", "/cb?a=1", headers)
    assert rebuilt == "https://sms.example.com/cb?a=1"
    assert public_url("http", "10.0.0.5:8000", "/cb", {"x-forwarded-proto": "https"}) == (
        "https://10.0.0.5:8000/cb"
    )
    untrusted = public_url("http", "10.0.0.5:8000", "/cb", headers, trust_forwarded=False)
    assert untrusted == "http://10.0.0.5:8000/cb"
    # Twilio signed the public URL; the rebuilt one verifies, the internal one does not.
    signature = ORACLE.compute_signature("https://sms.example.com/cb?a=1", PARAMS)
    assert verify(TOKEN, signature, rebuilt, PARAMS)
    assert not verify(TOKEN, signature, "http://10.0.0.5:8000/cb?a=1", PARAMS)
