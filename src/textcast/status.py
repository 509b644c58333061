"""Message statuses and the one rule for moving between them.

Textcast's own states come first (``queued`` in the outbox, ``dispatching``
while a worker holds it), then the provider's. Callbacks arrive out of order
and more than once, so a status only ever moves to a higher rank, and a final
status is never replaced — except ``delivered`` by ``read``, which carriers
report after delivery.
"""

from __future__ import annotations

QUEUED = "queued"
DISPATCHING = "dispatching"
ACCEPTED = "accepted"
SCHEDULED = "scheduled"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"
CANCELED = "canceled"
READ = "read"
UNKNOWN = "unknown"

RANK: dict[str, int] = {
    QUEUED: 0,
    DISPATCHING: 1,
    ACCEPTED: 2,
    SCHEDULED: 2,
    SENDING: 3,
    SENT: 4,
    UNKNOWN: 5,
    DELIVERED: 6,
    UNDELIVERED: 6,
    FAILED: 6,
    CANCELED: 6,
    READ: 7,
}

FINAL = frozenset({DELIVERED, UNDELIVERED, FAILED, CANCELED, READ})
ALL = frozenset(RANK)


def report_outcome(current: str, reported: str) -> str:
    """What a provider's report of ``reported`` does to a message in ``current``:
    ``applied`` (it moves), ``duplicate`` (it repeats the current status) or
    ``stale`` (it arrived after a later status: out of order)."""
    if reported == current:
        return "duplicate"
    return "applied" if can_advance(current, reported) else "stale"


def can_advance(current: str, new: str) -> bool:
    """True when a message in ``current`` may move to ``new``.

    ``unknown`` (given up on reconciling) may still be corrected by any late
    provider report of a final state.
    """
    if new not in RANK or new == current:
        return False
    if current in FINAL:
        return current == DELIVERED and new == READ
    return RANK[new] > RANK[current] or (current == UNKNOWN and new in FINAL)
