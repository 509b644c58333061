"""The outbox's database operations: claim with a lease, record outcomes in bulk.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so any number of workers
share the queue without waiting on each other; SQLite has one writer anyway
and runs one dispatcher per file. Outcomes are written one statement per kind
per batch: an executemany of plain tuples on SQLite, unnest() of arrays on
PostgreSQL, so the rows cost neither SQLAlchemy's per-row processing nor a
server round of parse/bind/execute each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update
from sqlalchemy.types import TypeEngine

from textcast import status
from textcast.db import bulk
from textcast.db.models import (
    Contact,
    Message,
    MessageEvent,
    SendAttempt,
    UTCDateTime,
    event_type,
    utcnow,
)
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
    # Attribution carried in the callback's meta.
    campaign: str | None = None
    automation: str | None = None
    contact_id: int | None = None


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
    # The table, not the ORM entity: the ORM's bulk-update path costs more
    # than the statement, and nothing here needs its bookkeeping.
    stmt = (
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(chosen.scalar_subquery()))
        .values(
            status=status.DISPATCHING,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=MESSAGES.c.attempts + (1 if new_attempt else 0),
            updated_at=now,
        )
        .returning(
            MESSAGES.c.id,
            MESSAGES.c.provider_id,
            MESSAGES.c.sender_id,
            MESSAGES.c.to,
            MESSAGES.c.body,
            MESSAGES.c.media_urls,
            MESSAGES.c.segments,
            MESSAGES.c.attempts,
            MESSAGES.c.created_at,
            MESSAGES.c.campaign,
            MESSAGES.c.automation,
        )
    )
    rows = (await session.execute(stmt)).all()
    contact_ids = await _contact_ids(session, {r.to for r in rows})
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
            r.campaign,
            r.automation,
            contact_ids.get(r.to),
        )
        for r in rows
    ]
    taken.sort(key=lambda c: c.id)
    return taken


async def _contact_ids(session: AsyncSession, phones: set[str]) -> dict[str, int]:
    if not phones:
        return {}
    query = select(CONTACTS.c.phone, CONTACTS.c.id).where(CONTACTS.c.phone.in_(phones))
    return {row.phone: row.id for row in await session.execute(query)}


async def suppressed(session: AsyncSession, batch: Sequence[Claimed]) -> set[int]:
    """The IDs of messages in ``batch`` whose number is suppressed for their
    provider account, or for their sender alone (sender-scoped opt-outs)."""
    blocked = await suppressions.blocked(
        session, ((c.provider_id, c.sender_id, c.to) for c in batch)
    )
    return {c.id for c in batch if (c.provider_id, c.sender_id, c.to) in blocked}


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
                "type": event_type(status.QUEUED, "dispatcher"),
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
CONTACTS = cast(Table, Contact.__table__)
# Only the worker holding a message's lease may decide its outcome.
HELD_BY_OWNER = and_(
    MESSAGES.c.status == status.DISPATCHING, MESSAGES.c.lease_owner == bindparam("owner")
)
ATTEMPTS = cast(Table, SendAttempt.__table__)
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

# What each outcome's row supplies to the UPDATEs below, with its type.
_ROW_VALUES: dict[str, TypeEngine[Any]] = {
    "mid": BigInteger(),
    "pmid": String(),
    "new_status": String(),
    "code": String(),
    "error": Text(),
    "next_at": UTCDateTime(),
    "at": UTCDateTime(),
}


def _outcome_updates(v: Mapping[str, Any]) -> dict[str, Update]:
    """The UPDATE for each outcome kind, taking a row's values from ``v``: bind
    parameters (one execution per row) or the columns of an unnest() of arrays."""
    # Only the worker holding a message's lease may decide its outcome.
    held_by_owner = and_(
        MESSAGES.c.status == status.DISPATCHING, MESSAGES.c.lease_owner == v["owner"]
    )
    released = {"lease_owner": None, "lease_expires_at": None}
    accept = (
        update(MESSAGES)
        # A callback may already have moved the message on (and cleared the lease):
        # the provider's ID is still recorded. A lease taken over by another worker is not.
        .where(
            MESSAGES.c.id == v["mid"],
            or_(held_by_owner, MESSAGES.c.status != status.DISPATCHING),
        )
        .values(
            provider_message_id=v["pmid"],
            status=case(
                (MESSAGES.c.status == status.DISPATCHING, v["new_status"]),
                else_=MESSAGES.c.status,
            ),
            # A provider that answers (or is found) with a final status says why.
            error_code=func.coalesce(v["code"], MESSAGES.c.error_code),
            error_message=case(
                (v["code"].is_(None), MESSAGES.c.error_message), else_=v["error"]
            ),
            final_at=case(
                (
                    and_(
                        MESSAGES.c.status == status.DISPATCHING,
                        # Equalities, not IN: an IN list would compile to an
                        # expanding parameter the driver-level executemany cannot take.
                        or_(*(v["new_status"] == final for final in sorted(status.FINAL))),
                    ),
                    v["at"],
                ),
                else_=MESSAGES.c.final_at,
            ),
            sent_at=v["at"],
            updated_at=v["at"],
            **released,
        )
    )
    retry = (
        update(MESSAGES)
        .where(MESSAGES.c.id == v["mid"], held_by_owner)
        .values(
            status=status.QUEUED,
            next_attempt_at=v["next_at"],
            error_code=v["code"],
            error_message=v["error"],
            updated_at=v["at"],
            **released,
        )
    )
    release = (
        update(MESSAGES)
        .where(MESSAGES.c.id == v["mid"], held_by_owner)
        .values(
            status=status.QUEUED,
            next_attempt_at=v["next_at"],
            attempts=MESSAGES.c.attempts - 1,  # it was never tried
            updated_at=v["at"],
            **released,
        )
    )
    fail = (
        update(MESSAGES)
        .where(MESSAGES.c.id == v["mid"], held_by_owner)
        .values(
            status=status.FAILED,
            error_code=v["code"],
            error_message=v["error"],
            final_at=v["at"],
            updated_at=v["at"],
            **released,
        )
    )
    return {"accepted": accept, "retry": retry, "failed": fail, "released": release}


# executemany, one row at a time (SQLite, where that runs in-process and is cheap).
_OUTCOME_STATEMENTS = _outcome_updates({name: bindparam(name) for name in [*_ROW_VALUES, "owner"]})
# PostgreSQL: the whole batch in one statement, each value an array of the rows' values.
_ROWS_UNNESTED = (
    func.unnest(*(bindparam(name, type_=ARRAY(type_)) for name, type_ in _ROW_VALUES.items()))
    .table_valued(*_ROW_VALUES)
    .render_derived(name="v")
)
_OUTCOME_STATEMENTS_UNNESTED = _outcome_updates(
    {**{name: _ROWS_UNNESTED.c[name] for name in _ROW_VALUES}, "owner": bindparam("owner")}
)
# Plain INSERTs: no RETURNING of the new IDs, which nothing reads.
_INSERT_EVENT = insert(EVENTS).inline()
_INSERT_ATTEMPT = insert(ATTEMPTS).inline()


async def record(session: AsyncSession, owner: str, outcomes: Sequence[Outcome]) -> None:
    """Write a batch of outcomes with one executemany per statement."""
    if not outcomes:
        return
    connection = await session.connection()
    db_time = bulk.db_time(connection.dialect)
    # Each outcome's time is written up to three times: converted once.
    timed = [(o, db_time(o.at)) for o in outcomes]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for o, at in timed:
        by_kind.setdefault(o.kind, []).append(_params(o, at, db_time, owner))
    for kind, rows in by_kind.items():
        if connection.dialect.name == "postgresql":
            # One statement per batch: an executemany is one Bind/Execute per row there.
            arrays = {name: [row[name] for row in rows] for name in _ROW_VALUES}
            await connection.execute(_OUTCOME_STATEMENTS_UNNESTED[kind], {**arrays, "owner": owner})
        else:
            await bulk.executemany(connection, _OUTCOME_STATEMENTS[kind], rows)
    events = [_event(o, at) for o, at in timed if o.kind != "released"]
    await bulk.executemany(connection, _INSERT_EVENT, events)
    attempts = [_attempt(o, at) for o, at in timed if o.latency_ms is not None]  # sent
    await bulk.executemany(connection, _INSERT_ATTEMPT, attempts)
    for outcome in outcomes:
        if outcome.suppress is not None:
            provider_id, phone = outcome.suppress
            await suppressions.add(
                session, provider_id, phone, f"provider error {outcome.error_code}"
            )


def _params(o: Outcome, at: Any, db_time: bulk.Convert, owner: str) -> dict[str, Any]:
    return {
        "mid": o.message_id,
        "pmid": o.provider_message_id,
        "new_status": o.new_status,
        "code": o.error_code,
        "error": o.error_message,
        "next_at": db_time(o.next_attempt_at),
        "at": at,
        "owner": owner,
    }


def _event(o: Outcome, at: Any) -> dict[str, Any]:
    event_status = {"accepted": o.new_status, "retry": status.QUEUED, "failed": status.FAILED}[
        o.kind
    ]
    detail = (
        f"retry scheduled: {o.error_message}" if o.kind == "retry" else o.detail or o.error_message
    )
    return {
        "message_id": o.message_id,
        # Set here: rows go to the driver directly, past the column's Python default.
        "type": event_type(event_status, "dispatcher"),
        "status": event_status,
        "source": "dispatcher",
        "error_code": o.error_code,
        "detail": detail,
        "created_at": at,
    }


def _attempt(o: Outcome, at: Any) -> dict[str, Any]:
    return {
        "message_id": o.message_id,
        "started_at": at,
        "latency_ms": o.latency_ms,
        "outcome": o.kind,
        "http_status": o.http_status,
        "provider_code": o.error_code,
        "detail": o.error_message,
    }
