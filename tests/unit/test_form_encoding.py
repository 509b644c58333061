"""The Twilio provider's fast form encoder writes exactly what urlencode() does."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from textcast.providers.twilio import encode_form

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(st.lists(st.tuples(text, text), max_size=8))
def test_encode_form_matches_urlencode(pairs: list[tuple[str, str]]) -> None:
    assert encode_form(pairs) == urlencode(pairs).encode()


def test_the_awkward_characters() -> None:
    pairs = [("Body", "a+b=c&d e/f?g#h%i~j 😀 ü\n"), ("To", "+14155552671")]
    assert encode_form(pairs) == urlencode(pairs).encode()
