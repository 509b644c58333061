"""Where SQLite and PostgreSQL differ, behind one small interface.

Code that needs something database-specific asks :func:`dialect_of` (a
session, connection, engine or SQLAlchemy dialect) for the database's
:class:`DatabaseDialect` and calls it, instead of testing the dialect's name.
Each difference is one member, implemented once per database:

=======================  ==============================  ===============================
difference               PostgreSQL                      SQLite
=======================  ==============================  ===============================
claiming rows            ``FOR UPDATE SKIP LOCKED``      nothing: one writer at a time
one of a kind at a time  ``pg_try_advisory_xact_lock``   the one write lock, by writing
a read-only snapshot     ``REPEATABLE READ, READ ONLY``  nothing: each read its own
write transactions       side by side (row locks)        take turns within a process
insert-or-skip           ``ON CONFLICT DO NOTHING``      the same, SQLite's construct
a set as one value       ``= ANY(array)``                ``IN (SELECT ... json_each())``
a batch as a table       ``unnest(arrays) AS v``         ``json_each(rows) AS v``
bulk INSERT              ``INSERT ... SELECT unnest()``  an executemany of plain tuples
IDs of a bulk INSERT     drawn from the sequence first   the block ending at ``max(id)``
many new rows            ``COPY … FROM STDIN`` binary    the bulk INSERT
a datetime to the driver the aware datetime              naive UTC text
planner nudges           ``SET LOCAL enable_seqscan``    unary ``+`` hides an index
joins by key look-ups    ``SET LOCAL enable_hashjoin``   nothing: SQLite only loops
seconds between times    ``extract(epoch from b - a)``   ``julianday`` difference, to the ms
a time's minute          ``date_trunc('minute', t)``     ``strftime('%Y-%m-%d %H:%M:00', t)``
the later of two values  ``greatest(a, b)``              two-argument ``max(a, b)``
percentiles              ``percentile_cont`` per group   ordered ``LIMIT 2 OFFSET`` reads
a transaction in one hop not needed                      a SQLite thread of its own
=======================  ==============================  ===============================

Nothing in Textcast reads JSON columns in SQL or asks the database for the
time (times come from Python, :func:`~textcast.db.models.utcnow`), so neither
is here; either would be a new member of both implementations.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import asyncpg
from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    Select,
    String,
    Subquery,
    Table,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.types import TypeEngine

from textcast.db.models import Base, UTCDateTime
from textcast.db.sqlite_thread import SqliteThread, sqlite_path
from textcast.errors import TextcastError

Convert = Callable[[datetime | None], Any]
Query = TypeVar("Query", bound=Select[Any])


@dataclass(frozen=True)
class BatchRows:
    """A batch of rows bound as one statement parameter (one per value on
    PostgreSQL) and read in SQL as a table named ``v``.

    ``columns`` are the table's columns by value name, for the statement;
    ``bind`` turns the batch (tuples in the values' order) into the
    statement's parameters, as the driver takes them.
    """

    columns: Mapping[str, ColumnElement[Any]]
    bind: Callable[[Sequence[Sequence[Any]]], dict[str, Any]]


class DatabaseDialect(ABC):
    """One database's way of doing what Textcast asks of every database."""

    name: ClassVar[str]
    # A process's write transactions take turns (see Context.write_session):
    # the database has one writer.
    write_turns: ClassVar[bool]
    # :meth:`skip_locked` passes over rows other transactions hold, so a row a
    # claim did not get may still be there.
    skips_locked: ClassVar[bool]

    @abstractmethod
    def skip_locked(self, query: Query) -> Query:
        """``query`` locking the rows it selects until commit and passing over
        rows another transaction holds, so workers claim side by side."""

    @abstractmethod
    async def try_lock(self, connection: AsyncConnection, key: int) -> bool:
        """Until commit, hold the lock ``key`` (one work that must not run in
        two transactions at once, in any process), unless another transaction
        holds it: whether this one does. Call it first in the transaction,
        and write before reading: on SQLite the lock is the database's one
        write lock, which a transaction takes with its first write."""

    @abstractmethod
    async def read_only(self, connection: AsyncConnection) -> None:
        """Before its first statement: the transaction only reads, and every
        statement sees one snapshot where the database can keep one."""

    @abstractmethod
    def insert_unless_exists(
        self,
        table: Table | type[Base],
        *,
        key: Sequence[Any],
        where: ColumnElement[bool] | None = None,
    ) -> Insert:
        """``INSERT ... ON CONFLICT (key) DO NOTHING`` into ``table`` (a Table or
        a mapped class): the transaction stays usable when the row exists.
        ``where`` is the condition of a partial unique index on ``key``."""

    @abstractmethod
    def one_of(self, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
        """``column IN values`` with ``values`` bound as one parameter.

        ``IN`` with a parameter per value costs SQLAlchemy a bind per value on
        every run (about 7 µs a value at a thousand, measured on a claim's
        contact look-up) and gives PostgreSQL a new statement for every length.
        """

    @abstractmethod
    def batch_rows(self, values: Mapping[str, TypeEngine[Any]]) -> BatchRows:
        """A batch of rows with ``values`` (name → type, in row order) as one
        table, for an ``UPDATE ... FROM`` that takes a whole batch in one
        statement. Built once, at import: the statement using it is compiled
        once and cached (see :mod:`textcast.db.bulk`)."""

    @abstractmethod
    async def insert_rows(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        skip_conflicts: bool = False,
    ) -> None:
        """INSERT ``rows``, plain tuples of values for ``columns`` as the driver
        takes them (see :meth:`driver_rows`). ``skip_conflicts`` adds ``ON
        CONFLICT DO NOTHING``."""

    async def insert_returning_ids(
        self, session: AsyncSession, table: Table, rows: list[dict[str, object]]
    ) -> list[int]:
        """Insert ``rows`` (one dict of Python values each, all with the same
        keys) in bulk; their IDs in row order."""
        columns = tuple(rows[0])
        driver_rows = self.driver_rows(table, columns, rows)
        return await self.insert_ids_of(session, table, columns, driver_rows)

    async def copy_rows(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """Like :meth:`insert_rows` (no conflicts skipped), by the database's
        fastest bulk path for many new rows."""
        await self.insert_rows(connection, table, columns, rows)

    @abstractmethod
    async def insert_ids_of(
        self,
        session: AsyncSession,
        table: Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> list[int]:
        """Insert ``rows``, tuples of values for ``columns`` as the driver takes
        them (see :meth:`driver_rows`), in bulk; their IDs in row order. For a
        caller that builds the tuples itself (a campaign's messages)."""

    @staticmethod
    @abstractmethod
    def bind_time(value: datetime | None) -> Any:
        """``value`` as :class:`~textcast.db.models.UTCDateTime` binds it, for
        rows that go to the driver past SQLAlchemy's type processing."""

    @abstractmethod
    def unindexed(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """``column`` where the planner must not drive a statement through its index."""

    @abstractmethod
    async def prefer_index_scans(self, connection: AsyncConnection) -> None:
        """Until commit, plan look-ups by indexed keys as index scans even on a
        table the statistics still call small."""

    @abstractmethod
    async def prefer_nested_loops(self, connection: AsyncConnection) -> None:
        """Until commit, join a few rows to a large table by looking each up
        in its index, rather than hashing the large table's matching rows,
        and in this process alone."""

    @abstractmethod
    def transaction_thread(self, database_url: str) -> SqliteThread | None:
        """A thread that runs a whole transaction in one hop, where the async
        driver makes every statement a hop of its own; None where it does not."""

    @abstractmethod
    def seconds_between(
        self, start: ColumnElement[Any], end: ColumnElement[Any]
    ) -> ColumnElement[float]:
        """``end - start`` in seconds (a float) for two datetime columns."""

    @abstractmethod
    def minute_of(self, moment: ColumnElement[Any]) -> ColumnElement[datetime]:
        """A datetime column cut to its minute, read back as a UTC datetime."""

    @abstractmethod
    def later_of(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        """The larger of two non-null values of one type."""

    @abstractmethod
    async def percentiles(
        self, session: AsyncSession, values: Subquery, fractions: Sequence[float]
    ) -> dict[Hashable, list[float]]:
        """Continuous percentiles (linear interpolation between the two nearest
        ranks, PostgreSQL's ``percentile_cont``) of ``values.c.v`` for each
        ``values.c.key``: key → one value per fraction. Keys without values
        are absent."""

    def driver_rows(
        self, table: Table, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Rows of Python values in ``columns`` order as the driver takes them:
        datetimes as :meth:`bind_time` converts them, JSON columns as JSON text,
        the rest as they are. That is what SQLAlchemy's type processing does for
        Textcast's columns, at a fraction of its cost per row (a 10,000-message
        batch spent most of its time there)."""
        plan: list[tuple[str, Callable[[Any], Any] | None]] = []
        for name in columns:
            column_type = table.c[name].type
            if isinstance(column_type, UTCDateTime):
                plan.append((name, self.bind_time))
            elif isinstance(column_type, JSON):
                plan.append((name, json.dumps))
            else:
                plan.append((name, None))
        return [
            tuple(row[name] if convert is None else convert(row[name]) for name, convert in plan)
            for row in rows
        ]


class PostgresDialect(DatabaseDialect):
    name = "postgresql"
    write_turns = False
    skips_locked = True

    def skip_locked(self, query: Query) -> Query:
        return query.with_for_update(skip_locked=True)

    async def try_lock(self, connection: AsyncConnection, key: int) -> bool:
        taken = await connection.scalar(select(func.pg_try_advisory_xact_lock(key)))
        return bool(taken)

    async def read_only(self, connection: AsyncConnection) -> None:
        # A write in it is an error; every statement sees the first one's snapshot.
        await connection.exec_driver_sql(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        )

    def insert_unless_exists(
        self,
        table: Table | type[Base],
        *,
        key: Sequence[Any],
        where: ColumnElement[bool] | None = None,
    ) -> Insert:
        return postgresql.insert(table).on_conflict_do_nothing(
            index_elements=key, index_where=where
        )

    def one_of(self, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
        return column == func.any(bindparam(None, list(values), type_=ARRAY(column.type)))

    def batch_rows(self, values: Mapping[str, TypeEngine[Any]]) -> BatchRows:
        names = tuple(values)
        table = (
            func.unnest(*(bindparam(name, type_=ARRAY(type_)) for name, type_ in values.items()))
            .table_valued(*names)
            .render_derived(name="v")
        )

        def bind(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
            # One array per value. As the driver takes them: SQLAlchemy would
            # convert each datetime in the arrays once more, one by one.
            arrays = (list(column) for column in zip(*rows, strict=True))
            return dict(zip(names, arrays, strict=True))

        return BatchRows({name: table.c[name] for name in names}, bind)

    async def insert_rows(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        skip_conflicts: bool = False,
    ) -> None:
        """Every row in one ``INSERT ... SELECT FROM unnest(one array per
        column)``: an executemany is one Bind/Execute per row on the server;
        this cut the server's CPU per recorded send from about 64 to 47 µs."""
        if not rows:
            return
        arrays = [list(column) for column in zip(*rows, strict=True)]
        dialect = connection.dialect
        quote = dialect.identifier_preparer.quote
        casts = ", ".join(
            f"${i}::{_array_element(table.c[name].type).compile(dialect=dialect)}[]"
            for i, name in enumerate(columns, start=1)
        )
        sql = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(name) for name in columns)}) SELECT * FROM unnest({casts})"
        )
        if skip_conflicts:
            sql += " ON CONFLICT DO NOTHING"
        await connection.exec_driver_sql(sql, tuple(arrays))

    async def insert_ids_of(
        self,
        session: AsyncSession,
        table: Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> list[int]:
        """The IDs drawn from the table's sequence first, then every row in one
        :meth:`insert_rows` with its ID given: SQLAlchemy's ordered ``INSERT …
        RETURNING`` binds and converts each row's values one by one, which cost
        a campaign's fan-out about a third of its CPU per message."""
        connection = await session.connection()
        # One array, not a row per ID: the driver reads it in one piece.
        drawn = await connection.exec_driver_sql(
            "SELECT array_agg(nextval(pg_get_serial_sequence($1, 'id'))) "
            "FROM generate_series(1, $2)",
            (table.name, len(rows)),
        )
        ids: list[int] = drawn.scalar_one()
        # Concatenated, not unpacked: unpacking builds a list per row first.
        values = [(mid,) + row for mid, row in zip(ids, rows, strict=True)]  # noqa: RUF005
        await self.copy_rows(connection, table, ("id", *columns), values)
        return ids

    async def copy_rows(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """``COPY … FROM STDIN`` (binary): the server writes the rows a page at
        a time (one WAL record per page, not per row) and skips the executor;
        a campaign's fan-out wrote its messages ~7 % faster end to end, with
        less CPU on both sides. asyncpg's errors come back as SQLAlchemy's
        (a unique clash is an :class:`~sqlalchemy.exc.IntegrityError`), as an
        INSERT's would."""
        if not rows:
            return
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        if not driver.is_in_transaction():
            # SQLAlchemy begins on its first statement: the rows go in with
            # the caller's others, not committed on their own.
            await connection.exec_driver_sql("SELECT 1")
        try:
            await driver.copy_records_to_table(table.name, records=rows, columns=columns)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(f"COPY {table.name}", None, exc) from exc
        except asyncpg.PostgresError as exc:
            raise DBAPIError(f"COPY {table.name}", None, exc) from exc

    @staticmethod
    def bind_time(value: datetime | None) -> datetime | None:
        return value

    def unindexed(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column  # the planner weighs the index against the statement's other paths

    async def prefer_index_scans(self, connection: AsyncConnection) -> None:
        # Until autovacuum has analysed a table that is filling up, the planner
        # prices a sequential scan below the index and rescans the whole table.
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")

    async def prefer_nested_loops(self, connection: AsyncConnection) -> None:
        # A campaign's replies (thousands) joined to its messages (a million):
        # the planner prices hashing the million below the look-ups, and reads
        # them all (350 ms against 40 for the look-ups, measured at 1M).
        await connection.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        await connection.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        # Nor with parallel workers: the planner takes a partial index of rows
        # not yet counted (campaign stats) to hold thousands when it holds a
        # few, and starting the workers cost 15 to 20 ms of a 1 ms read.
        await connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")

    def transaction_thread(self, database_url: str) -> SqliteThread | None:
        return None  # asyncpg runs on the event loop: no thread hop per statement to save

    def seconds_between(
        self, start: ColumnElement[Any], end: ColumnElement[Any]
    ) -> ColumnElement[float]:
        return cast(func.extract("epoch", end - start), Float)  # numeric since PostgreSQL 14

    def minute_of(self, moment: ColumnElement[Any]) -> ColumnElement[datetime]:
        return func.date_trunc("minute", moment, type_=UTCDateTime())

    def later_of(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.greatest(a, b)

    async def percentiles(
        self, session: AsyncSession, values: Subquery, fractions: Sequence[float]
    ) -> dict[Hashable, list[float]]:
        # One pass: the server sorts each group once for all the fractions.
        query = select(
            values.c.key,
            *(func.percentile_cont(f).within_group(values.c.v) for f in fractions),
        ).group_by(values.c.key)
        return {row[0]: [float(x) for x in row[1:]] for row in await session.execute(query)}


def _array_element(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type an array of a column's values is cast to: a string without
    its length, so a value too long for the column is refused by the column
    (an explicit cast to ``VARCHAR(n)`` would cut it short without a word)."""
    if isinstance(column_type, String) and column_type.length is not None:
        return Text()
    return column_type


class SqliteDialect(DatabaseDialect):
    name = "sqlite"
    write_turns = True
    skips_locked = False

    def skip_locked(self, query: Query) -> Query:
        return query  # the transaction holds the database's one write lock

    async def try_lock(self, connection: AsyncConnection, key: int) -> bool:
        # The caller's first write takes the database's one write lock, which
        # keeps every other writer, in this process or another, out until commit.
        return True

    async def read_only(self, connection: AsyncConnection) -> None:
        # Reads outside a write transaction: each statement is a snapshot of its
        # own, so a number that must agree with another is read in one statement.
        return None

    def insert_unless_exists(
        self,
        table: Table | type[Base],
        *,
        key: Sequence[Any],
        where: ColumnElement[bool] | None = None,
    ) -> Insert:
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=key, index_where=where)

    def one_of(self, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
        items: Select[Any] = select(literal_column("value")).select_from(
            func.json_each(bindparam(None, json.dumps(list(values)), type_=Text()))
        )
        return column.in_(items.scalar_subquery())

    def batch_rows(self, values: Mapping[str, TypeEngine[Any]]) -> BatchRows:
        # One JSON array of rows, each an array in the values' order.
        names = tuple(values)
        table = (
            select(
                *(
                    func.json_extract(literal_column("value"), literal_column(f"'$[{i}]'")).label(
                        name
                    )
                    for i, name in enumerate(names)
                )
            )
            .select_from(func.json_each(bindparam("rows", type_=Text())))
            .subquery("v")
        )
        return BatchRows({name: table.c[name] for name in names}, _json_rows)

    async def insert_rows(
        self,
        connection: AsyncConnection,
        table: Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        skip_conflicts: bool = False,
    ) -> None:
        if not rows:
            return
        key = (table.name, columns, skip_conflicts)
        sql = _INSERT_SQL.get(key)
        if sql is None:
            preparer = connection.dialect.identifier_preparer
            names = ", ".join(preparer.quote(name) for name in columns)
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ({marks})"
            sql += " ON CONFLICT DO NOTHING" if skip_conflicts else ""
            _INSERT_SQL[key] = sql
        await connection.exec_driver_sql(sql, rows)

    async def insert_ids_of(
        self,
        session: AsyncSession,
        table: Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> list[int]:
        """SQLite would fall back to one statement per row for ordered
        RETURNING, so the rows go in as one executemany and the IDs are derived:
        the transaction holds SQLite's only write lock, so the new rowids are the
        contiguous block ending at ``max(id)``. The rows go to the driver as plain
        values (:meth:`driver_rows`): SQLAlchemy's conversion of every row's
        datetimes and media list took most of a 10,000-message batch's time."""
        connection = await session.connection()
        await self.insert_rows(connection, table, columns, rows)
        last = int(await session.scalar(select(func.max(table.c.id))) or 0)
        return list(range(last - len(rows) + 1, last + 1))

    @staticmethod
    def bind_time(value: datetime | None) -> str | None:
        """Naive UTC text in SQLAlchemy's format."""
        if value is None:
            return None
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"

    def unindexed(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        # Unary plus: SQLite's planner does not use an index on an expression.
        return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)

    async def prefer_index_scans(self, connection: AsyncConnection) -> None:
        # Without statistics (no ANALYZE) SQLite's planner takes every table to be
        # large, so it looks keys up through their index anyway.
        return None

    async def prefer_nested_loops(self, connection: AsyncConnection) -> None:
        return None  # SQLite joins by nested loops, through the index it finds

    def transaction_thread(self, database_url: str) -> SqliteThread | None:
        path = sqlite_path(database_url)
        return SqliteThread(path) if path else None

    def seconds_between(
        self, start: ColumnElement[Any], end: ColumnElement[Any]
    ) -> ColumnElement[float]:
        # SQLite's times count to the millisecond, and julian days as doubles
        # are off by microseconds: rounded, a minute is 60.0, not 59.99999.
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)

    def minute_of(self, moment: ColumnElement[Any]) -> ColumnElement[datetime]:
        return func.strftime("%Y-%m-%d %H:%M:00", moment, type_=UTCDateTime())

    def later_of(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.max(a, b, type_=a.type)  # max() with two arguments is scalar in SQLite

    async def percentiles(
        self, session: AsyncSession, values: Subquery, fractions: Sequence[float]
    ) -> dict[Hashable, list[float]]:
        """SQLite has no percentile function: count each group, then read the
        one or two rows around each rank in value order (``LIMIT 2 OFFSET``)
        and interpolate as ``percentile_cont`` does, so both databases give the
        same answer. Each read sorts the group; callers keep groups few."""
        counts = select(values.c.key, func.count()).group_by(values.c.key)
        found: dict[Hashable, list[float]] = {}
        for key, count in (await session.execute(counts)).all():
            ordered = (
                select(values.c.v)
                .where(values.c.key.is_not_distinct_from(key))
                .order_by(values.c.v)
                .limit(2)
            )
            found[key] = []
            for fraction in fractions:
                rank = fraction * (count - 1)
                low = math.floor(rank)
                pair = [float(v) for v in await session.scalars(ordered.offset(low))]
                high = pair[1] if len(pair) > 1 else pair[0]
                found[key].append(pair[0] + (high - pair[0]) * (rank - low))
        return found


def _json_rows(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    return {"rows": json.dumps(rows)}


_INSERT_SQL: dict[tuple[str, tuple[str, ...], bool], str] = {}

POSTGRESQL = PostgresDialect()
SQLITE = SqliteDialect()
DIALECTS: dict[str, DatabaseDialect] = {d.name: d for d in (POSTGRESQL, SQLITE)}


def dialect_of(bind: AsyncSession | AsyncConnection | AsyncEngine | Dialect) -> DatabaseDialect:
    """The database behind ``bind``."""
    if isinstance(bind, AsyncSession):
        name = bind.get_bind().dialect.name
    elif isinstance(bind, Dialect):
        name = bind.name
    else:
        name = bind.dialect.name
    found = DIALECTS.get(name)
    if found is None:
        raise TextcastError(f"Textcast runs on SQLite or PostgreSQL, not {name}")
    return found
