"""The fast form encoder and parser agree with the standard library's."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcast.providers.twilio.form import encode_form, parse_form

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(st.lists(st.tuples(text, text), max_size=8))
def test_encode_form_matches_urlencode(pairs: list[tuple[str, str]]) -> None:
    assert encode_form(pairs) == urlencode(pairs).encode()


def test_the_awkward_characters() -> None:
    pairs = [("Body", "a+b=c&d e/f?g#h%i~j 😀 ü\n"), ("To", "+14155552671")]
    assert encode_form(pairs) == urlencode(pairs).encode()


signed_meta = st.from_regex(r"v2\.[A-Za-z0-9_-]{0,40}\.[0-9a-f]{16}", fullmatch=True)


@given(base=text, meta=text | signed_meta)
def test_status_callbacks_encode_like_urlencode(base: str, meta: str) -> None:
    # The part before a callback's meta is escaped once per base URL (cached).
    for url in (f"https://tc.example.com/{base}?meta={meta}", f"{base}?meta={meta}"):
        pairs = [("StatusCallback", url), ("Body", f"x?meta={meta}")]
        assert encode_form(pairs) == urlencode(pairs).encode()


# Raw form bodies as providers send them: escapes, pluses, blanks, stray separators.
raw_form = st.lists(
    st.sampled_from(["a", "=", "&", "+", "%20", "%2B", "%F0%9F%98%80", "%C3%BC", "é", "x=y"]),
    max_size=20,
).map("".join)


@given(raw_form)
def test_parse_form_reads_what_parse_qsl_reads(body: str) -> None:
    assert parse_form(body.encode()) == parse_qsl(body, keep_blank_values=True)


@given(st.lists(st.tuples(text, text), max_size=8))
def test_parse_form_reads_back_what_was_encoded(pairs: list[tuple[str, str]]) -> None:
    assert parse_form(encode_form(pairs)) == pairs


@pytest.mark.parametrize("body", [b"Body=%FF", b"Body=\xff", b"%C3=x", b"Body=%ED%A0%80"])
def test_parse_form_refuses_what_is_not_utf8(body: bytes) -> None:
    with pytest.raises(UnicodeDecodeError):
        parse_form(body)
