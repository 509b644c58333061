"""Bulk writes at the driver level, for the hot paths (send outcomes, callbacks).

SQLAlchemy's executemany builds a parameter dict and runs each value's type
processors for every row: about half the CPU of recording a send. Statements
here are compiled once per dialect instead, and rows go to the driver as plain
tuples whose only converted values are the timestamps (see :func:`db_time`).
On PostgreSQL an executemany is one Bind/Execute per row on the server, so
INSERTs become one ``INSERT ... SELECT FROM unnest()`` of one array per column.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert, UpdateBase

from textcast.db.models import UTCDateTime


@dataclass(frozen=True)
class _DriverStatement:
    sql: str
    constants: Mapping[str, Any]  # the statement's own literal values (status names, NULLs)
    row: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # named values in placeholder order


_COMPILED: dict[tuple[int, str, tuple[str, ...]], _DriverStatement] = {}


def driver_statement(
    stmt: UpdateBase, dialect: Dialect, columns: tuple[str, ...] = ()
) -> _DriverStatement:
    """``stmt`` compiled for ``dialect``; an INSERT writes only ``columns``."""
    key = (id(stmt), dialect.name, columns)
    compiled_statement = _COMPILED.get(key)
    if compiled_statement is None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns) or None)
        names = tuple(compiled.positiontup or ())
        getter = operator.itemgetter(*names)
        row: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            getter if len(names) > 1 else lambda values: (getter(values),)
        )
        constants = {}
        for name, value in compiled.params.items():
            bind = compiled.binds[name]
            if not bind.required:  # a value written into the statement, not a row's
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                constants[name] = process(value) if process else value
        compiled_statement = _DriverStatement(compiled.string, constants, row)
        _COMPILED[key] = compiled_statement
    return compiled_statement


async def execute(
    connection: AsyncConnection, stmt: UpdateBase, values: Mapping[str, Any]
) -> CursorResult[Any]:
    """Run ``stmt`` once with ``values`` passed to the driver as they are.

    For statements whose values SQLAlchemy would otherwise convert one by one
    (arrays of datetimes on PostgreSQL). ``stmt`` must be a module-level
    constant, as for :func:`executemany`.
    """
    statement = driver_statement(stmt, connection.dialect)
    return await connection.exec_driver_sql(
        statement.sql, statement.row({**statement.constants, **values})
    )


async def executemany(
    connection: AsyncConnection, stmt: UpdateBase, rows: list[dict[str, Any]]
) -> int:
    """Run ``stmt`` once per row; the number of rows it matched in all.

    Statements must be module-level constants: they are compiled once and
    cached by identity. Datetimes in ``rows`` must already be converted with
    :func:`db_time`. An INSERT (a plain one: no ON CONFLICT, no RETURNING)
    writes the columns of the first row, through :func:`insert_rows`.
    """
    if not rows:
        return 0
    if isinstance(stmt, Insert):
        columns = tuple(rows[0])
        values = [tuple(row[name] for name in columns) for row in rows]
        await insert_rows(connection, cast(Table, stmt.table), columns, values)
        return len(rows)
    statement = driver_statement(stmt, connection.dialect)
    constants, row = statement.constants, statement.row
    result = await connection.exec_driver_sql(
        statement.sql, [row({**constants, **r}) for r in rows]
    )
    return int(result.rowcount)


async def insert_rows(
    connection: AsyncConnection,
    table: Table,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    skip_conflicts: bool = False,
) -> None:
    """INSERT ``rows``, plain tuples of values for ``columns`` as the driver
    takes them (see :func:`driver_rows`): an executemany on SQLite, one
    statement of one array per column on PostgreSQL. ``skip_conflicts`` adds
    ``ON CONFLICT DO NOTHING``."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        arrays = [list(column) for column in zip(*rows, strict=True)]
        await _insert_unnest(connection, table, columns, arrays, skip_conflicts)
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


_INSERT_SQL: dict[tuple[str, tuple[str, ...], bool], str] = {}


def driver_rows(
    table: Table, columns: tuple[str, ...], rows: Iterable[Mapping[str, Any]], dialect: Dialect
) -> list[tuple[Any, ...]]:
    """Rows of Python values in ``columns`` order as the driver takes them:
    datetimes as :func:`db_time` converts them, JSON columns as JSON text, the
    rest as they are. That is what SQLAlchemy's type processing does for
    Textcast's columns, at a fraction of its cost per row (a 10,000-message
    batch spent most of its time there)."""
    to_time = db_time(dialect)
    plan: list[tuple[str, Callable[[Any], Any] | None]] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            plan.append((name, to_time))
        elif isinstance(column_type, JSON):
            plan.append((name, json.dumps))
        else:
            plan.append((name, None))
    return [
        tuple(row[name] if convert is None else convert(row[name]) for name, convert in plan)
        for row in rows
    ]


async def _insert_unnest(
    connection: AsyncConnection,
    table: Table,
    columns: tuple[str, ...],
    arrays: list[list[Any]],
    skip_conflicts: bool = False,
) -> None:
    """PostgreSQL: every row in one INSERT ... SELECT FROM unnest(one array per column).

    An executemany is one Bind/Execute per row on the server: this cut the
    server's CPU per recorded send from about 64 to 47 us.
    """
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    casts = ", ".join(
        f"${i}::{table.c[name].type.compile(dialect=dialect)}[]"
        for i, name in enumerate(columns, start=1)
    )
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(name) for name in columns)}) SELECT * FROM unnest({casts})"
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    await connection.exec_driver_sql(sql, tuple(arrays))


Convert = Callable[[datetime | None], Any]


def db_time(dialect: Dialect) -> Convert:
    """How :class:`~textcast.db.models.UTCDateTime` binds an aware datetime on
    ``dialect``: naive UTC text in SQLAlchemy's format on SQLite, the aware
    datetime as it is on PostgreSQL."""
    if dialect.name != "sqlite":
        return _as_is
    return _sqlite_time


def _as_is(value: datetime | None) -> datetime | None:
    return value


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def one_of(column: ColumnElement[Any], values: Collection[Any], dialect: Dialect) -> Any:
    """``column IN values`` with ``values`` bound as one parameter: one array on
    PostgreSQL (``= ANY``), one JSON array on SQLite (``IN json_each``).

    ``IN`` with a parameter per value costs SQLAlchemy a bind per value on
    every run (about 7 µs a value at a thousand, measured on a claim's contact
    look-up) and gives PostgreSQL a new statement for every length.
    """
    if dialect.name == "postgresql":
        return column == func.any(bindparam(None, list(values), type_=ARRAY(column.type)))
    items: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, json.dumps(list(values)), type_=Text()))
    )
    return column.in_(items.scalar_subquery())
