"""A campaign's states and the moves between them.

    draft ──launch──▶ scheduled ──(its time)──▶ sending ──▶ completed
      │                  │    ▲                  │   ▲
      │                  ▼    │                  ▼   │
      └──────cancel──▶ cancelled ◀── paused ◀─pause──┘ resume

``failed`` is the fan-out's: something it cannot get past (no sender left,
say), with the reason in ``status_reason``. A draft, and a scheduled campaign
whose recipients are not materialised yet, may be edited; nothing else may.
"""

from __future__ import annotations

from textcast.errors import Conflict

DRAFT = "draft"
SCHEDULED = "scheduled"
SENDING = "sending"
PAUSED = "paused"
COMPLETED = "completed"
CANCELLED = "cancelled"
FAILED = "failed"
STATUSES = (DRAFT, SCHEDULED, SENDING, PAUSED, COMPLETED, CANCELLED, FAILED)
FINISHED = frozenset({COMPLETED, CANCELLED, FAILED})

# action: (states it starts from, what it says when refused)
MOVES: dict[str, frozenset[str]] = {
    "launch": frozenset({DRAFT}),
    "pause": frozenset({SCHEDULED, SENDING}),
    "resume": frozenset({PAUSED}),
    "cancel": frozenset({DRAFT, SCHEDULED, SENDING, PAUSED}),
}


def require(action: str, status: str) -> None:
    """Raise :class:`Conflict` (409) with the reason when ``action`` cannot
    start from ``status``."""
    if status in MOVES[action]:
        return
    allowed = ", ".join(sorted(MOVES[action]))
    if status in FINISHED:
        raise Conflict(f"cannot {action}: the campaign is {status} (finished)")
    raise Conflict(f"cannot {action} a {status} campaign (only from: {allowed})")


def editable(status: str, materialised: bool) -> None:
    """Raise :class:`Conflict` unless the campaign has not started yet."""
    if status == DRAFT or (status == SCHEDULED and not materialised):
        return
    if status == SCHEDULED:
        raise Conflict("the campaign has started (its recipients are chosen): it cannot be edited")
    raise Conflict(
        f"a {status} campaign cannot be edited: only a draft or a scheduled campaign "
        "that has not started can"
    )
