"""Statuses only move forward; finals stay final (except delivered → read)."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcast import status
from textcast.status import can_advance

REALISTIC = ["accepted", "sending", "sent", "delivered"]


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        ("queued", "dispatching", True),
        ("dispatching", "accepted", True),
        ("accepted", "sent", True),
        ("sent", "delivered", True),
        ("sent", "undelivered", True),
        ("dispatching", "sent", True),
        ("delivered", "sent", False),
        ("delivered", "failed", False),
        ("failed", "delivered", False),
        ("undelivered", "delivered", False),
        ("delivered", "read", True),
        ("sent", "accepted", False),
        ("sent", "sent", False),
        ("unknown", "delivered", True),
        ("unknown", "sent", False),
        ("sent", "bogus", False),
    ],
)
def test_transition_table(current: str, new: str, allowed: bool) -> None:
    assert can_advance(current, new) is allowed


def apply_all(sequence: list[str]) -> str:
    current = status.DISPATCHING
    for new in sequence:
        if can_advance(current, new):
            current = new
    return current


@pytest.mark.parametrize("order", list(itertools.permutations(REALISTIC)))
def test_every_arrival_order_ends_delivered(order: tuple[str, ...]) -> None:
    assert apply_all(list(order)) == "delivered"


@given(st.lists(st.sampled_from(sorted(status.ALL)), max_size=12))
def test_a_final_status_is_never_replaced_by_a_non_final_one(sequence: list[str]) -> None:
    current = status.DISPATCHING
    for new in sequence:
        before = current
        if can_advance(current, new):
            current = new
        if before in status.FINAL:
            assert current in status.FINAL
            assert status.RANK[current] >= status.RANK[before]
