"""Segment counting per GSM 03.38 and UCS-2, split exactly as carriers do."""

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcast.sms_segments import GSM7_BASIC, GSM7_EXTENSION, analyze, is_gsm7, split

EMOJI = "😀"  # U+1F600, outside the BMP: a surrogate pair in UTF-16


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def septets(text: str) -> int:
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "units"),
    [
        pytest.param("", "GSM-7", 1, 0, id="an empty body is billed as one segment"),
        pytest.param("a" * 160, "GSM-7", 1, 160, id="160 GSM characters fit one segment"),
        pytest.param("a" * 161, "GSM-7", 2, 161, id="161 GSM characters need two"),
        pytest.param("a" * 306, "GSM-7", 2, 306, id="306 GSM characters fill two parts of 153"),
        pytest.param("a" * 307, "GSM-7", 3, 307, id="307 GSM characters need a third part"),
        pytest.param("{" * 80, "GSM-7", 1, 160, id="80 extension characters fill one segment"),
        pytest.param("{" * 81, "GSM-7", 2, 162, id="81 extension characters need two"),
        pytest.param("€" * 80, "GSM-7", 1, 160, id="the euro sign counts two septets"),
        pytest.param("\f" * 80, "GSM-7", 1, 160, id="80 form feeds fill one segment"),
        pytest.param("\f" * 81, "GSM-7", 2, 162, id="81 form feeds need two"),
        pytest.param("ж" * 70, "UCS-2", 1, 70, id="70 UCS-2 characters fit one segment"),
        pytest.param("ж" * 71, "UCS-2", 2, 71, id="71 UCS-2 characters need two"),
        pytest.param("ж" * 134, "UCS-2", 2, 134, id="134 UCS-2 characters fill two parts of 67"),
        pytest.param("ж" * 135, "UCS-2", 3, 135, id="135 UCS-2 characters need a third part"),
        pytest.param(EMOJI * 35, "UCS-2", 1, 70, id="35 emoji are 70 units and fit one segment"),
        pytest.param(EMOJI * 36, "UCS-2", 2, 72, id="36 emoji need two segments"),
        pytest.param(
            "a" * 159 + "ж",
            "UCS-2",
            3,
            160,
            id="one non-GSM character makes 160 chars three UCS-2 parts",
        ),
        pytest.param("Ça coûte 5€ — merci", "UCS-2", 1, 19, id="French with a dash is UCS-2"),
        pytest.param(
            "Hello @ £5 ¥ è é ù Ä Ö Ñ Ü § ¿ à", "GSM-7", 1, 32, id="accented GSM letters stay GSM-7"
        ),
        pytest.param("line\r\nbreak", "GSM-7", 1, 11, id="CR and LF are GSM characters"),
    ],
)
def test_encoding_segments_and_units(body: str, encoding: str, segments: int, units: int) -> None:
    info = analyze(body)
    assert (info.encoding, info.segments, info.units) == (encoding, segments, units)
    assert info.characters == len(body)
    assert len(split(body)) == segments


@pytest.mark.parametrize(
    ("body", "per_segment", "remaining"),
    [
        pytest.param("abc", 160, 157, id="a short GSM text leaves the rest of 160 free"),
        pytest.param("a" * 161, 153, 145, id="a split GSM text counts parts of 153"),
        pytest.param("ж" * 3, 70, 67, id="a short UCS-2 text leaves the rest of 70 free"),
        pytest.param("ж" * 71, 67, 63, id="a split UCS-2 text counts parts of 67"),
        pytest.param(
            "a" * 152 + "€" + "b" * 10, 153, 141, id="remaining comes from the real last part"
        ),
    ],
)
def test_per_segment_and_remaining(body: str, per_segment: int, remaining: int) -> None:
    info = analyze(body)
    assert (info.per_segment, info.remaining) == (per_segment, remaining)


def test_every_extension_character_counts_two_septets() -> None:
    assert analyze("[]{}~^|\\€\f").units == 20


def test_a_split_at_152_septets_moves_the_euro_sign_to_the_next_part() -> None:
    body = "a" * 152 + "€" + "b" * 10
    parts = split(body)
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert analyze(body).segments == 2


def test_escape_pairs_at_both_boundaries_cost_an_extra_segment() -> None:
    # 306 septets: ceil(306 / 153) would say 2, but each part ends one septet short.
    body = "a" * 152 + "€" + "a" * 150 + "€"
    assert analyze(body).units == 306
    assert split(body) == ["a" * 152, "€" + "a" * 150, "€"]
    assert analyze(body).segments == 3


def test_a_split_never_cuts_a_surrogate_pair() -> None:
    body = "x" * 66 + EMOJI + "y" * 10  # 66 + 2 + 10 = 78 units, so it splits
    parts = split(body)
    assert parts == ["x" * 66, EMOJI + "y" * 10]
    assert all(utf16_units(part) <= 67 for part in parts)


def test_a_long_emoji_run_splits_between_whole_emoji() -> None:
    parts = split(EMOJI * 100)
    assert [len(part) for part in parts] == [33, 33, 33, 1]  # 33 emoji = 66 units of 67
    assert "".join(parts) == EMOJI * 100


def test_one_non_gsm_character_switches_the_whole_message_to_ucs2() -> None:
    assert is_gsm7("plain text")
    assert not is_gsm7("plain text ✓")
    info = analyze("a" * 100 + "✓")
    assert (info.encoding, info.per_segment, info.segments) == ("UCS-2", 67, 2)


def test_in_ucs2_an_extension_character_is_one_unit() -> None:
    assert analyze("€ж").units == 2


@pytest.mark.parametrize(
    "char",
    ["`", "ç", "á", "í", "ó", "ú", "ê", "â", "’", "“", "\t", "\u00a0"],
    ids=repr,
)
def test_lookalikes_outside_the_gsm_alphabet_force_ucs2(char: str) -> None:
    assert not is_gsm7("text " + char)
    assert analyze(char).encoding == "UCS-2"


def test_the_basic_alphabet_has_127_characters_and_the_extension_10() -> None:
    # 128 code points in the table minus the escape; the extension adds 9 plus form feed.
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


def test_a_body_that_fits_one_segment_is_returned_whole() -> None:
    assert split("") == [""]
    assert split("hello") == ["hello"]


mostly_gsm = st.text(
    alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)) | st.sampled_from("ж😀"),
    max_size=700,
)


@given(st.one_of(st.text(max_size=800), mostly_gsm))
def test_parts_join_back_to_the_body_and_each_fits_its_segment(body: str) -> None:
    info = analyze(body)
    parts = split(body)
    assert "".join(parts) == body
    assert len(parts) == info.segments
    measure = septets if info.encoding == "GSM-7" else utf16_units
    assert sum(measure(part) for part in parts) == info.units
    for part in parts:
        assert measure(part) <= info.per_segment
    assert info.remaining == info.per_segment - measure(parts[-1])
    if len(parts) > 1:
        # Greedy: a part is only closed early when the next character would not fit.
        for part, following in pairwise(parts):
            assert measure(part) + measure(following[0]) > info.per_segment
