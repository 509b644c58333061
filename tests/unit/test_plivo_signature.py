"""Plivo V3 signatures, checked against Plivo's own SDK as the oracle."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st
from plivo.utils.signature_v3 import validate_v3_signature

from textcast.providers.generic.presets import plivo_signature

TOKEN = "MzE2NTk0ZGNlZDYyYjRjOGZkMjYyZjc0NTFlOTFk"
NONCE = "05429567804466091622"

CASES = [
    (
        "POST",
        "https://tc.example.com/webhooks/generic/3/abc?meta=12.4.0f1e",
        [
            ("MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"),
            ("Status", "delivered"),
            ("ErrorCode", "000"),
            ("To", "919876543210"),
        ],
    ),
    ("POST", "https://tc.example.com/cb", [("Status", "failed"), ("ErrorCode", "200")]),
    ("POST", "http://127.0.0.1:8000/cb?b=2&a=1&a=0", []),
    ("GET", "https://tc.example.com/cb?Status=sent&MessageUUID=u1&x=%20y", []),
    ("POST", "https://tc.example.com/cb?x=%2F", [("Text", "héllo & = + ✓")]),
]


def sdk_accepts(method: str, url: str, params: list[tuple[str, str]], signature: str) -> bool:
    return bool(validate_v3_signature(method, url, NONCE, TOKEN, signature, dict(params)))


def test_signatures_match_the_sdk() -> None:
    for method, url, params in CASES:
        signature = plivo_signature.compute(TOKEN, method, url, params, NONCE)
        assert sdk_accepts(method, url, params, signature), (method, url)
        assert plivo_signature.verify(TOKEN, method, url, params, NONCE, f"x,{signature}")


def test_wrong_token_nonce_or_params_fail() -> None:
    method, url, params = CASES[0]
    good = plivo_signature.compute(TOKEN, method, url, params, NONCE)
    assert not plivo_signature.verify("other", method, url, params, NONCE, good)
    assert not plivo_signature.verify(TOKEN, method, url, params, "1", good)
    assert not plivo_signature.verify(TOKEN, method, url, [*params, ("x", "1")], NONCE, good)
    assert not plivo_signature.verify(TOKEN, method, url, params, None, good)
    assert not plivo_signature.verify(TOKEN, method, url, params, NONCE, None)


keys = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8
)
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
# The SDK itself cannot parse a URL with non-ASCII in its query, so the oracle
# only covers ASCII there (Plivo percent-encodes what it calls back anyway).
ascii_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)


@given(
    params=st.dictionaries(keys, values, max_size=6),
    query=st.dictionaries(keys, ascii_values, max_size=3),
)
def test_any_form_signs_like_the_sdk(params: dict[str, str], query: dict[str, str]) -> None:
    from urllib.parse import urlencode

    url = "https://tc.example.com/cb" + (f"?{urlencode(query)}" if query else "")
    pairs = list(params.items())
    signature = plivo_signature.compute(TOKEN, "POST", url, pairs, NONCE)
    assert sdk_accepts("POST", url, pairs, signature)
    assert dict(parse_qsl(url.partition("?")[2], keep_blank_values=True)) == query
