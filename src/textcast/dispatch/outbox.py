"""Recording what happened to claimed messages (see :mod:`textcast.dispatch.claims`),
a batch of outcomes at a time.

Outcomes are written one statement per kind per batch, the batch's rows
passed as one value (unnest() of arrays on PostgreSQL, json_each() of a JSON
array on SQLite: see :meth:`~textcast.db.dialect.DatabaseDialect.batch_rows`),
so the rows cost neither SQLAlchemy's per-row processing nor a server round of
parse/bind/execute each, and each statement says (RETURNING) which messages it
changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    or_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from textcast import status
from textcast.audience import suppressions
from textcast.db import bulk
from textcast.db.dialect import DIALECTS, Convert, dialect_of
from textcast.db.models import (
    Message,
    MessageEvent,
    SendAttempt,
    UTCDateTime,
    event_type,
    utcnow,
)

# Core (not ORM) statements: no per-row ORM bookkeeping.
MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
ATTEMPTS = cast(Table, SendAttempt.__table__)


@dataclass(slots=True)
class Outcome:
    """What happened to one claimed message; recorded in bulk by :func:`record`.

    ``kind`` is one of:

    - ``accepted``: the provider has it (``new_status`` is what it said);
    - ``retry``: back to the queue, due at ``next_attempt_at``;
    - ``failed``: final;
    - ``released``: back to the queue untried (its sender is at its rate
      limit, or the worker is stopping), due at ``next_attempt_at``;
    - ``requeued``: back to the queue due now, after recovery found that the
      provider never got it (or could not tell, then ``possible_duplicate``);
    - ``unsure``: the provider may or may not have it (a send without an
      answer, a look-up that failed). The message stays ``dispatching`` with
      nobody's lease, expiring at ``next_attempt_at``, when recovery asks the
      provider about it (again) before anything is resent.
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
    possible_duplicate: bool = False  # retry, requeued: the provider may already have it
    at: datetime = field(default_factory=utcnow)


# --- recording outcomes --------------------------------------------------------------


# What each outcome's row supplies to the UPDATEs below, with its type.
_ROW_VALUES: dict[str, TypeEngine[Any]] = {
    "mid": BigInteger(),
    "pmid": String(),
    "new_status": String(),
    "code": String(),
    "error": Text(),
    "next_at": UTCDateTime(),
    "at": UTCDateTime(),
    "dup": Boolean(),
}


def _outcome_updates(
    v: Mapping[str, Any], current: ColumnElement[str] = MESSAGES.c.status
) -> dict[str, Update]:
    """The UPDATE for each outcome kind, taking a row's values from ``v`` (the
    columns of the batch's rows as a table) and returning the IDs it changed.
    ``current`` is the status column as the WHERE clauses read it."""
    # Only the worker holding a message's lease may decide its outcome.
    held_by_owner = and_(current == status.DISPATCHING, MESSAGES.c.lease_owner == v["owner"])
    released = {"lease_owner": None, "lease_expires_at": None}
    accept = (
        update(MESSAGES)
        .where(
            MESSAGES.c.id == v["mid"],
            or_(
                held_by_owner,
                # A callback may have moved the message on before this answer was
                # recorded (and cleared the lease): the provider's ID is still
                # recorded. A message back in the queue, or taken over by another
                # worker, is not this answer's to touch; nor is one a later
                # attempt of which the provider has under another ID.
                and_(
                    current != status.QUEUED,
                    current != status.DISPATCHING,
                    or_(
                        MESSAGES.c.provider_message_id.is_(None),
                        MESSAGES.c.provider_message_id == v["pmid"],
                    ),
                ),
            ),
        )
        .values(
            provider_message_id=v["pmid"],
            status=case(
                (MESSAGES.c.status == status.DISPATCHING, v["new_status"]),
                else_=MESSAGES.c.status,
            ),
            # A provider that answers (or is found) with a final status says why.
            error_code=func.coalesce(v["code"], MESSAGES.c.error_code),
            error_message=case((v["code"].is_(None), MESSAGES.c.error_message), else_=v["error"]),
            final_at=case(
                (
                    and_(
                        MESSAGES.c.status == status.DISPATCHING,
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
            possible_duplicate=or_(MESSAGES.c.possible_duplicate, v["dup"]),
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
    requeue = (
        update(MESSAGES)
        .where(MESSAGES.c.id == v["mid"], held_by_owner)
        .values(
            status=status.QUEUED,
            possible_duplicate=or_(MESSAGES.c.possible_duplicate, v["dup"]),
            next_attempt_at=v["at"],
            updated_at=v["at"],
            **released,
        )
    )
    unsure = (
        update(MESSAGES)
        .where(MESSAGES.c.id == v["mid"], held_by_owner)
        .values(
            # Still dispatching, held by nobody: recovery takes it when the lease expires.
            lease_owner=None,
            lease_expires_at=v["next_at"],
            error_code=func.coalesce(v["code"], MESSAGES.c.error_code),
            error_message=case((v["code"].is_(None), MESSAGES.c.error_message), else_=v["error"]),
            updated_at=v["at"],
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
    statements = {
        "accepted": accept,
        "retry": retry,
        "failed": fail,
        "released": release,
        "requeued": requeue,
        "unsure": unsure,
    }
    return {kind: stmt.returning(MESSAGES.c.id) for kind, stmt in statements.items()}


# The batch's rows as one table, per database (unnest() of one array per value
# on PostgreSQL, json_each() of one JSON array of rows on SQLite).
_BATCHES = {name: dialect.batch_rows(_ROW_VALUES) for name, dialect in DIALECTS.items()}
_OUTCOME_STATEMENTS = {
    name: _outcome_updates(
        {**_BATCHES[name].columns, "owner": bindparam("owner")},
        # On SQLite the status index is not to drive the UPDATE. With it SQLite
        # walks every dispatching message and scans the batch for each, instead
        # of one primary-key look-up per row of the batch.
        dialect.unindexed(MESSAGES.c.status),
    )
    for name, dialect in DIALECTS.items()
}


async def record(session: AsyncSession, owner: str, outcomes: Sequence[Outcome]) -> set[int]:
    """Write a batch of outcomes; the IDs of the messages they changed.

    An outcome whose UPDATE matched nothing (its lease was taken over, a
    callback or another worker moved the message on) changes nothing and
    leaves no event or attempt row. Each kind's UPDATE takes the whole batch
    in one statement and returns the IDs it changed (``UPDATE ... FROM
    unnest(...) RETURNING`` on PostgreSQL, ``UPDATE ... FROM json_each(...)
    RETURNING`` on SQLite 3.35+), which is exact per row on both: an
    executemany's rowcount is only the batch's total, and SQLite refuses
    RETURNING in an executemany.
    """
    if not outcomes:
        return set()
    connection = await session.connection()
    dialect = dialect_of(connection)
    db_time = dialect.bind_time
    # Each outcome's time is written up to three times: converted once. Rows
    # are plain tuples in the statements' order (no dict per row).
    timed = [(o, db_time(o.at)) for o in outcomes]
    by_kind: dict[str, list[tuple[Any, ...]]] = {}
    for o, at in timed:
        by_kind.setdefault(o.kind, []).append(_row(o, at, db_time))
    changed: dict[str, set[int]] = {}
    for kind, rows in by_kind.items():
        changed[kind] = await _update(connection, dialect.name, kind, rows, owner)
    applied = [(o, at) for o, at in timed if o.message_id in changed[o.kind]]
    events = [_event(o, at) for o, at in applied if o.kind in _EVENT_STATUS]
    await dialect.insert_rows(connection, EVENTS, _EVENT_COLUMNS, events)
    attempts = [_attempt(o, at) for o, at in applied if o.latency_ms is not None]  # sent
    await dialect.insert_rows(connection, ATTEMPTS, _ATTEMPT_COLUMNS, attempts)
    for outcome, _ in applied:
        if outcome.suppress is not None:
            provider_id, phone = outcome.suppress
            await suppressions.add(
                session, provider_id, phone, f"provider error {outcome.error_code}"
            )
    return {o.message_id for o, _ in applied}


async def _update(
    connection: AsyncConnection, dialect: str, kind: str, rows: list[tuple[Any, ...]], owner: str
) -> set[int]:
    values = _BATCHES[dialect].bind(rows)
    # Values go to the driver as they are: past SQLAlchemy's processing of each.
    stmt = _OUTCOME_STATEMENTS[dialect][kind]
    result = await bulk.execute(connection, stmt, {**values, "owner": owner})
    return set(result.scalars())


def _row(o: Outcome, at: Any, db_time: Convert) -> tuple[Any, ...]:
    """An outcome's values in :data:`_ROW_VALUES` order."""
    return (
        o.message_id,
        o.provider_message_id,
        o.new_status,
        o.error_code,
        o.error_message,
        db_time(o.next_attempt_at),
        at,
        o.possible_duplicate,
    )


# The status each kind of outcome records in the history; the others
# (released, unsure) change no status and leave no event.
_EVENT_STATUS = {
    "retry": status.QUEUED,
    "requeued": status.QUEUED,
    "failed": status.FAILED,
    "accepted": None,  # the provider's answer: the outcome's new_status
}


_EVENT_COLUMNS = ("message_id", "type", "status", "source", "error_code", "detail", "created_at")


def _event(o: Outcome, at: Any) -> tuple[Any, ...]:
    event_status = _EVENT_STATUS[o.kind] or o.new_status
    detail = o.detail or (
        f"retry scheduled: {o.error_message}" if o.kind == "retry" else o.error_message
    )
    # The type is set here: rows go to the driver directly, past the column's Python default.
    type_ = event_type(event_status, "dispatcher")
    return (o.message_id, type_, event_status, "dispatcher", o.error_code, detail, at)


_ATTEMPT_COLUMNS = (
    "message_id",
    "started_at",
    "latency_ms",
    "outcome",
    "http_status",
    "provider_code",
    "detail",
)


def _attempt(o: Outcome, at: Any) -> tuple[Any, ...]:
    return (o.message_id, at, o.latency_ms, o.kind, o.http_status, o.error_code, o.error_message)
