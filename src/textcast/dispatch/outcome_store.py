"""Writing what happened to claimed messages (see :mod:`textcast.dispatch.claims`)
into the database, a batch of :class:`~textcast.dispatch.outcomes.Outcome`\\ s at
a time: each message's new state, its status history and its send attempt.

What each kind of outcome writes into its message is one table,
:func:`_writes`; the UPDATE statements are built from it once per database.
Each kind's UPDATE takes the whole batch's rows as one value (unnest() of
arrays on PostgreSQL, json_each() of a JSON array on SQLite: see
:meth:`~textcast.db.dialect.DatabaseDialect.batch_rows`), so the rows cost
neither SQLAlchemy's per-row processing nor a server round of
parse/bind/execute each, and says (RETURNING) which messages it changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
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
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.types import TypeEngine

from textcast import status
from textcast.audience import suppressions
from textcast.db import bulk
from textcast.db.dialect import DIALECTS, BatchRows, Convert, DatabaseDialect, dialect_of
from textcast.db.models import (
    Message,
    MessageEvent,
    SendAttempt,
    UTCDateTime,
    event_type,
)
from textcast.dispatch.outcomes import Outcome

# Core (not ORM) statements: no per-row ORM bookkeeping.
MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
ATTEMPTS = cast(Table, SendAttempt.__table__)


# --- what each kind of outcome writes ------------------------------------------------

# What each outcome's row supplies to the UPDATEs (see _row), with its type.
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


def _writes(v: Mapping[str, ColumnElement[Any]]) -> dict[str, dict[str, Any]]:
    """What each kind of outcome writes into its message, column by column. A
    value is a constant, one of the outcome's values ``v``, or an expression of
    those and of the message's columns as they were."""
    m = MESSAGES.c
    # The worker's lease ends, and the change is stamped.
    done = {"lease_owner": None, "lease_expires_at": None, "updated_at": v["at"]}
    error = {"error_code": v["code"], "error_message": v["error"]}
    # An outcome that brings an error says why; one that does not keeps the last.
    error_if_any = {
        "error_code": func.coalesce(v["code"], m.error_code),
        "error_message": case((v["code"].is_(None), m.error_message), else_=v["error"]),
    }
    flagged = {"possible_duplicate": or_(m.possible_duplicate, v["dup"])}
    now_final = or_(*(v["new_status"] == final for final in sorted(status.FINAL)))
    return {
        "accepted": {
            **done,
            "provider_message_id": v["pmid"],
            # Unless a callback moved it on first: its status stays then.
            "status": case((m.status == status.DISPATCHING, v["new_status"]), else_=m.status),
            # A provider that answers (or is found) with a final status says why.
            **error_if_any,
            "final_at": case(
                (and_(m.status == status.DISPATCHING, now_final), v["at"]), else_=m.final_at
            ),
            "sent_at": v["at"],
        },
        "retry": {
            **done,
            "status": status.QUEUED,
            "next_attempt_at": v["next_at"],
            **error,
            **flagged,
        },
        "failed": {**done, "status": status.FAILED, **error, "final_at": v["at"]},
        "released": {
            **done,
            "status": status.QUEUED,
            "next_attempt_at": v["next_at"],
            "attempts": m.attempts - 1,  # it was never tried
        },
        "requeued": {**done, "status": status.QUEUED, "next_attempt_at": v["at"], **flagged},
        # Still dispatching, held by nobody: recovery takes it when the lease expires.
        "unsure": {
            "lease_owner": None,
            "lease_expires_at": v["next_at"],
            "updated_at": v["at"],
            **error_if_any,
        },
    }


# Only the worker holding a message's lease may decide its outcome. A provider's
# answer is recorded too when a callback has moved the message on before it
# (and cleared the lease): the provider's ID is still recorded.
_ALSO_AFTER_A_CALLBACK = frozenset({"accepted"})


def _statements(dialect: DatabaseDialect) -> tuple[BatchRows, dict[str, ReturningUpdate[Any]]]:
    """The batch's rows as a table, and the UPDATE for each outcome kind taking
    a row's values from it and returning the IDs it changed."""
    batch = dialect.batch_rows(_ROW_VALUES)
    v = {**batch.columns, "owner": bindparam("owner")}
    # The status as the WHERE clauses read it. Not through its index on SQLite:
    # there the index would have the UPDATE walk every dispatching message and
    # scan the batch for each, instead of one primary-key look-up per row.
    current = dialect.unindexed(MESSAGES.c.status)
    held_by_owner = and_(current == status.DISPATCHING, MESSAGES.c.lease_owner == v["owner"])
    # A message back in the queue, or taken over by another worker, is not the
    # answer's to touch; nor is one a later attempt of which the provider has
    # under another ID.
    moved_on_by_callback = and_(
        current != status.QUEUED,
        current != status.DISPATCHING,
        or_(
            MESSAGES.c.provider_message_id.is_(None),
            MESSAGES.c.provider_message_id == v["pmid"],
        ),
    )
    statements = {}
    for kind, writes in _writes(v).items():
        whose = (
            or_(held_by_owner, moved_on_by_callback)
            if kind in _ALSO_AFTER_A_CALLBACK
            else held_by_owner
        )
        statements[kind] = (
            update(MESSAGES)
            .where(MESSAGES.c.id == v["mid"], whose)
            .values(writes)
            .returning(MESSAGES.c.id)
        )
    return batch, statements


_STATEMENTS = {name: _statements(dialect) for name, dialect in DIALECTS.items()}


# --- recording a batch ---------------------------------------------------------------


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
        changed[kind] = await _update(connection, dialect, kind, rows, owner)
    applied = [(o, at) for o, at in timed if o.message_id in changed[o.kind]]
    events = [_event(o, at) for o, at in applied if o.kind in _EVENT_STATUS]
    await dialect.insert_rows(connection, EVENTS, _EVENT_COLUMNS, events)
    attempts = [_attempt(o, at) for o, at in applied if o.latency_ms is not None]  # sent
    await dialect.insert_rows(connection, ATTEMPTS, _ATTEMPT_COLUMNS, attempts)
    for outcome, _ in applied:
        if outcome.suppress is not None:
            provider_id, phone = outcome.suppress
            await suppressions.add(
                session,
                provider_id,
                phone,
                f"provider error {outcome.error_code}",
                source=suppressions.Source.provider_error(outcome.error_code),
            )
    return {o.message_id for o, _ in applied}


async def _update(
    connection: AsyncConnection,
    dialect: DatabaseDialect,
    kind: str,
    rows: list[tuple[Any, ...]],
    owner: str,
) -> set[int]:
    batch, statements = _STATEMENTS[dialect.name]
    # Values go to the driver as they are: past SQLAlchemy's processing of each.
    result = await bulk.execute(connection, statements[kind], {**batch.bind(rows), "owner": owner})
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
