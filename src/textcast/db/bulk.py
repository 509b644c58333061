"""Bulk writes at the driver level, for the hot paths (send outcomes, callbacks).

SQLAlchemy's executemany builds a parameter dict and runs each value's type
processors for every row: about half the CPU of recording a send. Statements
here are compiled once per dialect instead, and rows go to the driver as plain
tuples whose only converted values are the timestamps (see
:meth:`~textcast.db.dialect.DatabaseDialect.bind_time`).
An INSERT goes through its dialect's bulk insert
(:meth:`~textcast.db.dialect.DatabaseDialect.insert_rows`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert, UpdateBase

from textcast.db.dialect import dialect_of


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
    the dialect's ``bind_time``. An INSERT (a plain one: no ON CONFLICT, no RETURNING)
    writes the columns of the first row, through the dialect's ``insert_rows``.
    """
    if not rows:
        return 0
    if isinstance(stmt, Insert):
        columns = tuple(rows[0])
        values = [tuple(row[name] for name in columns) for row in rows]
        await dialect_of(connection).insert_rows(
            connection, cast(Table, stmt.table), columns, values
        )
        return len(rows)
    statement = driver_statement(stmt, connection.dialect)
    constants, row = statement.constants, statement.row
    result = await connection.exec_driver_sql(
        statement.sql, [row({**constants, **r}) for r in rows]
    )
    return int(result.rowcount)
