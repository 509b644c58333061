"""Status reports, stored and applied a batch at a time: the one rule for
what a provider says about a message, whether it came as a Twilio status
callback, a generic provider's delivery receipt, or the answer to a look-up
(reconciliation).

A batch is one transaction: a look-up of the messages it names and of the
idempotency tokens it carries, then one bulk write each for the messages that
moved, their status events and the receipts themselves. Statuses only move
forward (:func:`textcast.status.report_outcome`), in the order the reports
arrived, so a batch holding ``sent`` and ``delivered`` for one message ends
``delivered`` with both in its history.

What a batch does is decided by :func:`plan`, from what was read; the
database work around it is :class:`StatusReportStore`'s: on SQLite the
whole transaction runs on the :class:`~textcast.db.sqlite_thread.SqliteThread`
(one thread hop per batch), on PostgreSQL through SQLAlchemy with one
statement per kind of row. Every message write is a compare-and-set on the
status read, so a process that moved the message in between makes the batch
fail with :class:`ConcurrentUpdate` (the group committer then retries it)
instead of being overwritten; on SQLite the batch takes the write lock before
reading, so that cannot happen.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert, Update, UpdateBase
from sqlalchemy.types import TypeEngine

from textcast import status
from textcast.callback_meta import Meta
from textcast.context import Context
from textcast.db import bulk
from textcast.db.dialect import DIALECTS, SQLITE, BatchRows, Convert, DatabaseDialect, dialect_of
from textcast.db.models import (
    Message,
    MessageEvent,
    UTCDateTime,
    WebhookReceipt,
    event_type,
    utcnow,
)
from textcast.errors import ConcurrentUpdate
from textcast.providers.base import StatusUpdate
from textcast.retry import RetryStrategy

MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
RECEIPTS = cast(Table, WebhookReceipt.__table__)


@dataclass(frozen=True)
class StatusReport:
    """One status report as received: a Twilio callback (``kind`` ``status``),
    a generic receipt (``receipt``) or a look-up's answer (``lookup``)."""

    provider_id: int
    meta: Meta | None
    provider_message_id: str | None
    update: StatusUpdate | None  # None: not a status Textcast tracks
    params: Sequence[tuple[str, str]]
    idempotency_token: str | None = None
    kind: str = "status"
    source: str = "callback"
    # Whose error codes ``update`` carries: resends follow Twilio's codes only.
    provider_type: str = "twilio"


# --- deciding: what a batch does, from what was read --------------------------------


@dataclass(slots=True)
class _Message:
    """A message as the batch has it: what was read, and what it has become."""

    id: int
    provider_id: int
    read_status: str
    status: str
    provider_message_id: str | None
    attempts: int = 0
    new_provider_id: bool = False
    code: str | None = None
    error: str | None = None
    moved_at: datetime | None = None
    final_at: datetime | None = None
    delivered_at: datetime | None = None
    resend_at: datetime | None = None


@dataclass
class Found:
    """The messages a batch names, by ID and by (provider, provider message ID)."""

    by_id: dict[int, _Message] = field(default_factory=dict)
    by_sid: dict[tuple[int, str], _Message] = field(default_factory=dict)

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        """Rows of (id, provider_id, status, provider_message_id, attempts)."""
        for mid, provider_id, current, sid, attempts in rows:
            message = self.by_id.setdefault(
                mid, _Message(mid, provider_id, current, current, sid, attempts)
            )
            if sid:
                self.by_sid[(provider_id, sid)] = message

    def named(self, report: StatusReport) -> _Message | None:
        """By the signed ``meta`` (which works before the provider's ID is
        recorded), else by the provider's message ID."""
        message = self.by_id.get(report.meta.message_id) if report.meta else None
        if message is not None and message.provider_id == report.provider_id:
            return message
        return self.by_sid.get((report.provider_id, report.provider_message_id or ""))


def first_keys(reports: Sequence[StatusReport]) -> tuple[set[int], set[str]]:
    """What to look up first: message IDs from ``meta``, provider IDs otherwise."""
    ids = {r.meta.message_id for r in reports if r.meta}
    sids = {r.provider_message_id for r in reports if r.provider_message_id and not r.meta}
    return ids, sids


def unresolved(reports: Sequence[StatusReport], found: Found) -> set[str]:
    """Provider IDs to look up because a ``meta`` named no message of its provider."""
    return {
        r.provider_message_id
        for r in reports
        if r.meta and r.provider_message_id and found.named(r) is None
    }


# Delivery failures a resend can fix: the message never left Twilio (its queue
# overflowed, the validity period ran out, an internal error) or the carrier
# throttled the sender. A handset that was off (30003) or an unknown error
# (30008) is reported, not resent: the person may since have had it another way.
RESEND_CODES = frozenset({"30001", "30022", "30036", "30500"})


@dataclass(frozen=True)
class ResendPolicy:
    """When a failure the provider reports after accepting a message is sent
    again: its code is one of ``codes`` and it has had fewer than
    ``max_attempts`` tries; ``delay(attempts)`` is the wait in seconds."""

    max_attempts: int
    delay: Callable[[int], float]
    codes: frozenset[str] = RESEND_CODES

    def resends(self, message: _Message, report: StatusReport) -> bool:
        update = report.update
        return (
            report.provider_type == "twilio"  # Twilio's codes; a generic provider's differ
            and update is not None
            and update.status in (status.FAILED, status.UNDELIVERED)
            and update.error_code in self.codes
            and message.attempts < self.max_attempts
        )


NO_RESENDS = ResendPolicy(max_attempts=0, delay=lambda _: 0.0)


@dataclass
class Plan:
    outcomes: list[str]
    write_backs: list[dict[str, Any]]
    events: list[dict[str, Any]]
    receipts: list[dict[str, Any]]


def plan(
    reports: Sequence[StatusReport],
    found: Found,
    seen_tokens: set[tuple[int, str]],
    db_time: Convert,
    resend: ResendPolicy = NO_RESENDS,
) -> Plan:
    """Each report's outcome, in order: ``applied``, ``requeued`` (a failure
    worth sending again: see :class:`ResendPolicy`), ``duplicate`` (the same
    status again, or a retried request), ``stale`` (out of order, or about an
    earlier attempt), ``unmatched`` (no such message) or ``ignored`` (not a
    status Textcast tracks), and the rows that record them."""
    now = utcnow()
    at = db_time(now)
    result = Plan([], [], [], [])
    for report in reports:
        message = found.named(report)
        token_key = (report.provider_id, report.idempotency_token or "")
        if report.idempotency_token and token_key in seen_tokens:
            outcome = "duplicate"  # the provider retried a request already stored and applied
        elif message is None:
            outcome = "unmatched"
        elif report.update is None:
            outcome = "ignored"
        else:
            outcome = _apply(message, report.update, now)
            if outcome == "applied" and resend.resends(message, report):
                outcome = "requeued"
                _requeue(message, now + timedelta(seconds=resend.delay(message.attempts)))
                result.events.append(_requeued_event(message, report, at))
            elif outcome == "applied":
                result.events.append(_event(message.id, report, at))
            if message.provider_message_id:
                found.by_sid[(message.provider_id, message.provider_message_id)] = message
        if report.idempotency_token:
            seen_tokens.add(token_key)
        result.outcomes.append(outcome)
        result.receipts.append(_receipt(report, message, outcome, at))

    def stored(value: datetime | None) -> Any:
        return at if value is now else db_time(value)  # most are this batch's time

    result.write_backs = [
        _write_back(m, stored)
        for m in found.by_id.values()
        if m.moved_at is not None or m.new_provider_id
    ]
    return result


def _apply(message: _Message, update: StatusUpdate, now: datetime) -> str:
    """Move ``message`` forward if ``update`` is news (see :func:`status.report_outcome`)
    and about the message's current attempt."""
    sid, recorded = update.provider_message_id, message.provider_message_id
    in_flight = message.status in (status.QUEUED, status.DISPATCHING)
    if sid and recorded and (sid == recorded) == in_flight:
        # The recorded ID belongs to an attempt already given up on (the message
        # is waiting to be sent again), or this report belongs to another attempt.
        return "stale"
    if sid and sid != recorded:
        # First news of this attempt's ID: the callback beat the dispatcher's record.
        message.provider_message_id = sid
        message.new_provider_id = True
    outcome = status.report_outcome(message.status, update.status)
    if outcome != "applied":
        return outcome
    message.status = update.status
    message.moved_at = now
    if update.error_code:
        message.code, message.error = update.error_code, update.error_message
    if update.status in status.FINAL and message.final_at is None:
        message.final_at = now
    if update.done_at is not None and update.status in (status.DELIVERED, status.UNDELIVERED):
        message.delivered_at = update.done_at
    return outcome


def _requeue(message: _Message, resend_at: datetime) -> None:
    """Back to the queue to be sent again (its final time undone); the error and
    the attempt's ID stay until the next attempt replaces them."""
    message.status = status.QUEUED
    message.final_at = None
    message.resend_at = resend_at


def _write_back(message: _Message, db_time: Convert) -> dict[str, Any]:
    return {
        "mid": message.id,
        "was": message.read_status,
        "new_status": message.status,
        "pmid": message.provider_message_id,
        "new_pmid": message.new_provider_id,
        "resend_at": db_time(message.resend_at),
        "code": message.code,
        "error": message.error,
        "final_at": db_time(message.final_at),
        "delivered_at": db_time(message.delivered_at),
        "at": db_time(message.moved_at),
        "moved": message.moved_at is not None,
    }


def _event(message_id: int, report: StatusReport, at: Any) -> dict[str, Any]:
    assert report.update is not None
    return {
        "message_id": message_id,
        # Set here: rows go to the driver directly, past the column's Python default.
        "type": event_type(report.update.status, report.source),
        "status": report.update.status,
        "source": report.source,
        "error_code": report.update.error_code,
        "detail": report.update.error_message,
        "created_at": at,
    }


def _requeued_event(message: _Message, report: StatusReport, at: Any) -> dict[str, Any]:
    assert report.update is not None
    return {
        "message_id": message.id,
        "type": event_type(status.QUEUED, report.source),  # message.requeued
        "status": status.QUEUED,
        "source": report.source,
        "error_code": report.update.error_code,
        "detail": f"the provider reported {report.update.status} "
        f"({report.update.error_message or report.update.error_code}); sending again",
        "created_at": at,
    }


def _receipt(
    report: StatusReport, message: _Message | None, outcome: str, at: Any
) -> dict[str, Any]:
    return {
        "provider_id": report.provider_id,
        "kind": report.kind,
        "provider_message_id": report.provider_message_id,
        "message_id": message.id if message else None,
        "payload": json.dumps(first_values(report.params)),
        "outcome": outcome,
        "idempotency_token": report.idempotency_token,
        "received_at": at,
    }


def first_values(payload: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The payload as stored: each field's first value."""
    params: dict[str, Any] = {}
    for key, value in payload:
        params.setdefault(key, value)
    return params


# --- the statements ---------------------------------------------------------------

# What each write-back row supplies, with its type (for PostgreSQL's arrays).
_WRITE_BACK_VALUES: dict[str, TypeEngine[Any]] = {
    "mid": BigInteger(),
    "was": String(),
    "new_status": String(),
    "pmid": String(),
    "new_pmid": Boolean(),
    "resend_at": UTCDateTime(),
    "code": String(),
    "error": Text(),
    "final_at": UTCDateTime(),
    "delivered_at": UTCDateTime(),
    "at": UTCDateTime(),
    "moved": Boolean(),
}


def _write_back_statement(v: Mapping[str, Any]) -> Update:
    """The compare-and-set UPDATE, taking a row's values from ``v``: bind
    parameters, or the columns of an unnest() of arrays. Columns it does not
    change keep what is there, whoever wrote them last."""
    return (
        update(MESSAGES)
        .where(and_(MESSAGES.c.id == v["mid"], MESSAGES.c.status == v["was"]))
        .values(
            status=v["new_status"],
            provider_message_id=case(
                (v["new_pmid"], v["pmid"]), else_=MESSAGES.c.provider_message_id
            ),
            next_attempt_at=func.coalesce(v["resend_at"], MESSAGES.c.next_attempt_at),
            error_code=func.coalesce(v["code"], MESSAGES.c.error_code),
            error_message=case((v["code"].is_(None), MESSAGES.c.error_message), else_=v["error"]),
            # A requeued message is no longer final; otherwise the first final time stays.
            final_at=case(
                (v["new_status"] == status.QUEUED, None),
                else_=func.coalesce(MESSAGES.c.final_at, v["final_at"]),
            ),
            delivered_at=func.coalesce(v["delivered_at"], MESSAGES.c.delivered_at),
            updated_at=func.coalesce(v["at"], MESSAGES.c.updated_at),
            # A status the provider reports ends any worker's claim on the message.
            lease_owner=case((v["moved"], None), else_=MESSAGES.c.lease_owner),
            lease_expires_at=case((v["moved"], None), else_=MESSAGES.c.lease_expires_at),
        )
    )


_WRITE_BACK = _write_back_statement({name: bindparam(name) for name in _WRITE_BACK_VALUES})


def _batch_write_back(dialect: DatabaseDialect) -> tuple[BatchRows, Update]:
    """The write-backs of a whole batch as one UPDATE ... FROM the batch's rows."""
    batch = dialect.batch_rows(_WRITE_BACK_VALUES)
    return batch, _write_back_statement(batch.columns)


_BATCH_WRITE_BACKS = {name: _batch_write_back(dialect) for name, dialect in DIALECTS.items()}
_INSERT_EVENT = insert(EVENTS).inline()
_INSERT_RECEIPT = insert(RECEIPTS).inline()
_MESSAGE_STATE = (
    MESSAGES.c.id,
    MESSAGES.c.provider_id,
    MESSAGES.c.status,
    MESSAGES.c.provider_message_id,
    MESSAGES.c.attempts,
)


class StatusReportStore:
    """Records batches of reports in the process's database."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # SQLite: the whole batch in one hop to a thread of its own.
        dialect = dialect_of(ctx.engine)
        self._thread = dialect.transaction_thread(ctx.settings.effective_database_url)
        # Resent with the dispatcher's own backoff and attempt budget.
        backoff = RetryStrategy(
            max_attempts=ctx.settings.max_attempts, base_delay=ctx.settings.retry_base_delay
        )
        self.resend = ResendPolicy(backoff.max_attempts, backoff.delay)

    @property
    def on_sqlite(self) -> bool:
        return self._thread is not None

    async def record(self, reports: Sequence[StatusReport]) -> list[str]:
        """Store and apply ``reports`` in one transaction; each one's outcome."""
        if self._thread is not None:
            return await self._thread.run(
                lambda connection: _record_sqlite(connection, reports, self.resend)
            )
        async with self.ctx.engine.begin() as connection:  # Core only: no ORM session
            return await _record_async(connection, reports, self.resend)

    async def close(self) -> None:
        if self._thread is not None:
            await self._thread.close()


# --- SQLite: the whole batch on the database thread ----------------------------------

_SQLITE = sqlite_dialect.dialect()
_SQLITE_TIME = SQLITE.bind_time
_SELECT_STATE_SQL = (
    "SELECT id, provider_id, status, provider_message_id, attempts FROM messages WHERE "
)
# A write that changes nothing, to take the write lock before reading.
_TAKE_WRITE_LOCK = "UPDATE messages SET id = id WHERE 0"


def _record_sqlite(
    connection: sqlite3.Connection, reports: Sequence[StatusReport], resend: ResendPolicy
) -> list[str]:
    connection.execute(_TAKE_WRITE_LOCK)
    found = Found()

    def load(ids: set[int], sids: set[str]) -> None:
        conditions, values = [], [*ids, *sids]
        if ids:
            conditions.append(f"id IN ({', '.join('?' * len(ids))})")
        if sids:
            conditions.append(f"provider_message_id IN ({', '.join('?' * len(sids))})")
        if conditions:
            found.add(connection.execute(_SELECT_STATE_SQL + " OR ".join(conditions), values))

    load(*first_keys(reports))
    load(set(), unresolved(reports, found))
    tokens = [r.idempotency_token for r in reports if r.idempotency_token]
    seen: set[tuple[int, str]] = set()
    if tokens:
        rows = connection.execute(
            "SELECT provider_id, idempotency_token FROM webhook_receipts"
            f" WHERE idempotency_token IN ({', '.join('?' * len(tokens))})",
            tokens,
        )
        seen = {(int(provider_id or 0), str(token)) for provider_id, token in rows}
    decided = plan(reports, found, seen, _SQLITE_TIME, resend)
    written = _sqlite_executemany(connection, _WRITE_BACK, decided.write_backs)
    if written != len(decided.write_backs):
        raise ConcurrentUpdate("a message changed while its status reports were applied")
    _sqlite_executemany(connection, _INSERT_EVENT, decided.events)
    _sqlite_executemany(connection, _INSERT_RECEIPT, decided.receipts)
    return decided.outcomes


def _sqlite_executemany(
    connection: sqlite3.Connection, stmt: UpdateBase, rows: list[dict[str, Any]]
) -> int:
    if not rows:
        return 0
    columns = tuple(rows[0]) if isinstance(stmt, Insert) else ()
    statement = bulk.driver_statement(stmt, _SQLITE, columns)
    cursor = connection.executemany(
        statement.sql, [statement.row({**statement.constants, **r}) for r in rows]
    )
    return cursor.rowcount


# --- a database server (PostgreSQL): through SQLAlchemy, a statement a step ----------


async def _record_async(
    connection: AsyncConnection, reports: Sequence[StatusReport], resend: ResendPolicy
) -> list[str]:
    dialect = dialect_of(connection)
    # Every look-up here is by an indexed key: receipts' table fills up from empty.
    await dialect.prefer_index_scans(connection)
    found = Found()

    async def load(ids: set[int], sids: set[str]) -> None:
        conditions = []
        if ids:
            conditions.append(dialect.one_of(MESSAGES.c.id, ids))
        if sids:
            conditions.append(dialect.one_of(MESSAGES.c.provider_message_id, sids))
        if conditions:
            found.add(await connection.execute(select(*_MESSAGE_STATE).where(or_(*conditions))))

    await load(*first_keys(reports))
    await load(set(), unresolved(reports, found))
    tokens = {r.idempotency_token for r in reports if r.idempotency_token}
    seen: set[tuple[int, str]] = set()
    if tokens:
        rows = await connection.execute(
            select(RECEIPTS.c.provider_id, RECEIPTS.c.idempotency_token).where(
                dialect.one_of(RECEIPTS.c.idempotency_token, tokens)
            )
        )
        seen = {(int(provider_id or 0), str(token)) for provider_id, token in rows}
    decided = plan(reports, found, seen, dialect.bind_time, resend)
    if decided.write_backs:
        written = await _write_backs(connection, dialect, decided.write_backs)
        if written != len(decided.write_backs):
            raise ConcurrentUpdate("a message changed while its status reports were applied")
    await bulk.executemany(connection, _INSERT_EVENT, decided.events)
    await bulk.executemany(connection, _INSERT_RECEIPT, decided.receipts)
    return decided.outcomes


async def _write_backs(
    connection: AsyncConnection, dialect: DatabaseDialect, rows: list[dict[str, Any]]
) -> int:
    # One statement for the batch: an executemany is one Bind/Execute per row there.
    batch, statement = _BATCH_WRITE_BACKS[dialect.name]
    values = batch.bind([tuple(row[name] for name in _WRITE_BACK_VALUES) for row in rows])
    result = await connection.execute(statement, values)
    return int(result.rowcount)
