"""The import's compact set of keys behaves as a set."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from textcast.audience.seen import KeySet


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1) | st.integers(0, 50)))
def test_a_key_set_answers_as_a_python_set(keys: list[int]) -> None:
    found, expected = KeySet(bits=2), set()
    for key in keys:
        assert found.add(key) == (key not in expected)
        expected.add(key)
    assert len(found) == len(expected)


def test_zero_and_one_are_two_keys() -> None:
    found = KeySet()
    assert found.add(0) and found.add(1) and not found.add(0) and len(found) == 2


def test_it_grows_past_its_first_size() -> None:
    found = KeySet(bits=4)
    assert all(found.add(14155550000 + i) for i in range(1000))
    assert not any(found.add(14155550000 + i) for i in range(1000))
