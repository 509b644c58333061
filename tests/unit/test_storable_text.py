"""Text both databases store as it came: NUL and lone surrogates are named."""

from __future__ import annotations

import pytest

from textcast import storable_text
from textcast.errors import ValidationFailed


def test_plain_text_and_surrogate_pairs_pass() -> None:
    assert storable_text.problem("Hello ✓ 😀 नमस्ते") is None
    assert storable_text.first_unstorable({"a": ["x", {"b": "y"}], "n": 1, "z": None}) is None


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("a\x00b", "body"),
        ({"to": "+1", "body": "\ud800"}, "body"),
        ({"messages": [{"body": "ok"}, {"tags": ["x", "\udfff"]}]}, "messages.1.tags.1"),
        ({"ke\x00y": "value"}, "ke\x00y"),
    ],
)
def test_the_first_unstorable_string_is_named(value: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        storable_text.check(value)
    assert caught.value.field == field


def test_the_raw_json_pre_check_finds_escapes_only() -> None:
    assert storable_text.JSON_ESCAPES.search(b'{"a": "\\u0000"}')
    assert storable_text.JSON_ESCAPES.search(
        b'{"a": "\\uD83D\\uDE00"}'
    )  # a pair: parsed, then passes
    assert not storable_text.JSON_ESCAPES.search('{"a": "plain ✓ \\u00e9"}'.encode())
