"""The outbox's database operations: claim with a lease, record outcomes in bulk.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so any number of workers
share the queue without waiting on each other; SQLite has one writer anyway
and runs one dispatcher per file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.db.models import Message, MessageEvent, SendAttempt, Suppression, utcnow
from textcast.services import suppressions


@dataclass(frozen=True)
class Claimed:
    id: int
    provider_id: int
    sender_id: int
    to: str
    body: str
    media_urls: tuple[str, ...]
    segments: int
    attempts: int
    created_at: datetime


@dataclass
class Outcome:
    """What happened to one claimed message; recorded in bulk by :func:`record`.

    ``kind`` is ``accepted``, ``retry``, ``failed`` or ``released`` (put back
    untried because its sender is at its rate limit).
    """

    message_id: int
    kind: str
    provider_message_id: str | None = None
    new_status: str = status.ACCEPTED
    error_code: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    latency_ms: float | None = None
    next_attempt_at: datetime | None = None
    suppress: tuple[int, str] | None = None  # (provider_id, phone)
    detail: str | None = None  # for the status history, when not an error message
    at: datetime = field(default_factory=utcnow)


async def claim(
    session: AsyncSession, *, worker: str, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Take up to ``limit`` due messages for ``worker`` (one more attempt each)."""
    due = (Message.status == status.QUEUED, Message.next_attempt_at <= utcnow())
    return await _take(session, due, worker, limit, lease_seconds, new_attempt=True)


async def take_expired(
    session: AsyncSession, *, worker: str, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Take over messages whose worker vanished mid-send, so exactly one worker
    decides what happened to each."""
    expired = (Message.status == status.DISPATCHING, Message.lease_expires_at < utcnow())
    return await _take(session, expired, worker, limit, lease_seconds, new_attempt=False)


async def _take(
    session: AsyncSession,
    where: tuple[Any, ...],
    worker: str,
    limit: int,
    lease_seconds: float,
    *,
    new_attempt: bool,
) -> list[Claimed]:
    now = utcnow()
    chosen = (
        select(Message.id).where(*where).order_by(Message.next_attempt_at, Message.id).limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    stmt = (
        update(Message)
        .where(Message.id.in_(chosen.scalar_subquery()))
        .values(
            status=status.DISPATCHING,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=Message.attempts + (1 if new_attempt else 0),
            updated_at=now,
        )
        .returning(
            Message.id,
            Message.provider_id,
            Message.sender_id,
            Message.to,
            Message.body,
            Message.media_urls,
            Message.segments,
            Message.attempts,
            Message.created_at,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    taken = [
        Claimed(
            r.id,
            r.provider_id,
            r.sender_id,
            r.to,
            r.body,
            tuple(r.media_urls or ()),
            r.segments,
            r.attempts,
            r.created_at,
        )
        for r in rows
    ]
    taken.sort(key=lambda c: c.id)
    return taken


async def suppressed_numbers(
    session: AsyncSession, batch: Sequence[Claimed]
) -> set[tuple[int, str]]:
    if not batch:
        return set()
    query = select(Suppression.provider_id, Suppression.phone).where(
        Suppression.phone.in_({c.to for c in batch})
    )
    return {(row.provider_id, row.phone) for row in await session.execute(query)}


async def requeue(
    session: AsyncSession, owner: str, items: Sequence[tuple[int, bool, str]]
) -> None:
    """Put ``(message id, possible duplicate?, why)`` back in the queue, due now."""
    if not items:
        return
    now = utcnow()
    await session.execute(
        _REQUEUE,
        [{"mid": mid, "dup": dup, "at": now, "owner": owner} for mid, dup, _ in items],
    )
    await session.execute(
        insert(EVENTS),
        [
            {
                "message_id": mid,
                "status": status.QUEUED,
                "source": "dispatcher",
                "detail": why,
                "created_at": now,
            }
            for mid, _, why in items
        ],
    )


# Core (not ORM) statements: executemany over plain rows, no per-row ORM bookkeeping.
MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
# Only the worker holding a message's lease may decide its outcome.
HELD_BY_OWNER = and_(
    MESSAGES.c.status == status.DISPATCHING, MESSAGES.c.lease_owner == bindparam("owner")
)
ATTEMPTS = cast(Table, SendAttempt.__table__)
_ACCEPT = (
    update(MESSAGES)
    # A callback may already have moved the message on (and cleared the lease):
    # the provider's ID is still recorded. A lease taken over by another worker is not.
    .where(
        MESSAGES.c.id == bindparam("mid"),
        or_(HELD_BY_OWNER, MESSAGES.c.status != status.DISPATCHING),
    )
    .values(
        provider_message_id=bindparam("pmid"),
        status=case(
            (MESSAGES.c.status == status.DISPATCHING, bindparam("new_status")),
            else_=MESSAGES.c.status,
        ),
        sent_at=bindparam("at"),
        updated_at=bindparam("at"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
_RETRY = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("mid"), HELD_BY_OWNER)
    .values(
        status=status.QUEUED,
        next_attempt_at=bindparam("next_at"),
        error_code=bindparam("code"),
        error_message=bindparam("error"),
        updated_at=bindparam("at"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
_RELEASE = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("mid"), HELD_BY_OWNER)
    .values(
        status=status.QUEUED,
        next_attempt_at=bindparam("next_at"),
        attempts=MESSAGES.c.attempts - 1,  # it was never tried
        updated_at=bindparam("at"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
_REQUEUE = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("mid"), HELD_BY_OWNER)
    .values(
        status=status.QUEUED,
        possible_duplicate=MESSAGES.c.possible_duplicate | bindparam("dup"),
        next_attempt_at=bindparam("at"),
        updated_at=bindparam("at"),
        lease_owner=None,
        lease_expires_at=None,
    )
)
_FAIL = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("mid"), HELD_BY_OWNER)
    .values(
        status=status.FAILED,
        error_code=bindparam("code"),
        error_message=bindparam("error"),
        final_at=bindparam("at"),
        updated_at=bindparam("at"),
        lease_owner=None,
        lease_expires_at=None,
    )
)


async def record(session: AsyncSession, owner: str, outcomes: Sequence[Outcome]) -> None:
    """Write a batch of outcomes with one statement per kind (executemany)."""
    by_kind: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_kind.setdefault(outcome.kind, []).append(outcome)
    statements = {"accepted": _ACCEPT, "retry": _RETRY, "failed": _FAIL, "released": _RELEASE}
    for kind, items in by_kind.items():
        await session.execute(statements[kind], [{**_params(o), "owner": owner} for o in items])
    events = [_event(o) for o in outcomes if o.kind != "released"]
    if events:
        await session.execute(insert(EVENTS), events)
    attempts = [_attempt(o) for o in outcomes if o.latency_ms is not None]  # provider was called
    if attempts:
        await session.execute(insert(ATTEMPTS), attempts)
    for outcome in outcomes:
        if outcome.suppress is not None:
            provider_id, phone = outcome.suppress
            await suppressions.add(
                session, provider_id, phone, f"provider error {outcome.error_code}"
            )


def _params(o: Outcome) -> dict[str, Any]:
    return {
        "mid": o.message_id,
        "pmid": o.provider_message_id,
        "new_status": o.new_status,
        "code": o.error_code,
        "error": o.error_message,
        "next_at": o.next_attempt_at,
        "at": o.at,
    }


def _event(o: Outcome) -> dict[str, Any]:
    event_status = {"accepted": o.new_status, "retry": status.QUEUED, "failed": status.FAILED}[
        o.kind
    ]
    detail = (
        f"retry scheduled: {o.error_message}" if o.kind == "retry" else o.detail or o.error_message
    )
    return {
        "message_id": o.message_id,
        "status": event_status,
        "source": "dispatcher",
        "error_code": o.error_code,
        "detail": detail,
        "created_at": o.at,
    }


def _attempt(o: Outcome) -> dict[str, Any]:
    return {
        "message_id": o.message_id,
        "started_at": o.at,
        "latency_ms": o.latency_ms,
        "outcome": o.kind,
        "http_status": o.http_status,
        "provider_code": o.error_code,
        "detail": o.error_message,
    }
