"""Segment counting per GSM 03.38 and UCS-2, split exactly as carriers do."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcast.segments import analyze, is_gsm7, split


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("{" * 80, "GSM-7", 1),
        ("{" * 81, "GSM-7", 2),
        ("€" * 80, "GSM-7", 1),
        ("\f" * 81, "GSM-7", 2),
        ("ж" * 70, "UCS-2", 1),
        ("ж" * 71, "UCS-2", 2),
        ("ж" * 134, "UCS-2", 2),
        ("ж" * 135, "UCS-2", 3),
        ("😀" * 35, "UCS-2", 1),
        ("😀" * 36, "UCS-2", 2),
        ("a" * 159 + "ж", "UCS-2", 3),
        ("Ça coûte 5€ — merci", "UCS-2", 1),
        ("Hello @ £5 ¥ è é ù Ä Ö Ñ Ü § ¿ à", "GSM-7", 1),
    ],
)
def test_encoding_and_segment_count(body: str, encoding: str, segments: int) -> None:
    info = analyze(body)
    assert (info.encoding, info.segments) == (encoding, segments)
    assert len(split(body)) == segments


def test_extension_characters_count_two_septets() -> None:
    assert analyze("[]{}~^|\\€").units == 18
    assert analyze("abc").remaining == 157


def test_split_never_cuts_an_escape_pair() -> None:
    body = "a" * 152 + "€" + "b" * 10
    parts = split(body)
    assert parts[0] == "a" * 152
    assert parts[1].startswith("€")


def test_split_never_cuts_a_surrogate_pair() -> None:
    body = "x" * 66 + "😀" + "y" * 10  # 66 + 2 + 10 units > 70, so it splits at 67
    parts = split(body)
    assert parts[0] == "x" * 66
    assert parts[1].startswith("😀")


def test_one_non_gsm_character_switches_the_whole_message() -> None:
    assert is_gsm7("plain text")
    assert not is_gsm7("plain text ✓")
    assert analyze("a" * 100 + "✓").per_segment == 67


def units_in(part: str, encoding: str) -> int:
    if encoding == "GSM-7":
        return analyze(part).units
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in part)


@given(st.text(max_size=800))
def test_parts_join_back_and_each_fits_its_segment(body: str) -> None:
    parts = split(body)
    info = analyze(body)
    assert "".join(parts) == body
    assert len(parts) == info.segments
    for part in parts:
        assert units_in(part, info.encoding) <= info.per_segment
