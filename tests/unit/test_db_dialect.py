"""The dialect seam: what each database is asked to do, as the SQL and values it produces.

The statements themselves run against both databases in tests/integration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Boolean, ClauseElement, Integer, String, Table, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from textcast.db.dialect import POSTGRESQL, SQLITE, DatabaseDialect, dialect_of
from textcast.db.models import Message, SenderPacing
from textcast.errors import TextcastError

MESSAGES = cast(Table, Message.__table__)
PACING = cast(Table, SenderPacing.__table__)
SQLALCHEMY = {"postgresql": postgresql.asyncpg.dialect(), "sqlite": sqlite.aiosqlite.dialect()}
BOTH = pytest.mark.parametrize("dialect", [POSTGRESQL, SQLITE], ids=["postgresql", "sqlite"])


def sql(dialect: DatabaseDialect, statement: ClauseElement) -> str:
    return str(statement.compile(dialect=SQLALCHEMY[dialect.name]))


def test_each_database_is_found_from_its_sqlalchemy_dialect() -> None:
    assert dialect_of(SQLALCHEMY["postgresql"]) is POSTGRESQL
    assert dialect_of(SQLALCHEMY["sqlite"]) is SQLITE


def test_a_database_textcast_does_not_run_on_is_refused_by_name() -> None:
    with pytest.raises(TextcastError, match="not mysql"):
        dialect_of(mysql.dialect())


def test_only_postgresql_claims_skip_rows_other_workers_hold() -> None:
    query = select(MESSAGES.c.id).limit(10)
    assert sql(POSTGRESQL, POSTGRESQL.skip_locked(query)).endswith("FOR UPDATE SKIP LOCKED")
    assert "FOR UPDATE" not in sql(SQLITE, SQLITE.skip_locked(query))
    assert (POSTGRESQL.skips_locked, SQLITE.skips_locked) == (True, False)


def test_only_sqlite_write_transactions_take_turns() -> None:
    assert (POSTGRESQL.write_turns, SQLITE.write_turns) == (False, True)


@BOTH
def test_an_insert_unless_it_exists_does_nothing_on_conflict(dialect: DatabaseDialect) -> None:
    insert = dialect.insert_unless_exists(PACING, key=["sender_id"]).values(sender_id=1, tat=0.0)
    assert sql(dialect, insert).endswith("ON CONFLICT (sender_id) DO NOTHING")


def test_a_set_is_bound_as_one_array_on_postgresql_and_one_json_array_on_sqlite() -> None:
    phones = ["+14155550100", "+14155550101"]
    on_postgres = POSTGRESQL.one_of(MESSAGES.c.to, phones).compile(dialect=SQLALCHEMY["postgresql"])
    assert str(on_postgres) == 'messages."to" = any($1::VARCHAR(20)[])'
    assert list(on_postgres.params.values()) == [phones]
    on_sqlite = SQLITE.one_of(MESSAGES.c.to, phones).compile(dialect=SQLALCHEMY["sqlite"])
    assert "IN (SELECT value" in str(on_sqlite) and "json_each(" in str(on_sqlite)
    assert [json.loads(value) for value in on_sqlite.params.values()] == [phones]


BATCH_VALUES: dict[str, TypeEngine[Any]] = {"mid": Integer(), "name": String(), "flag": Boolean()}
BATCH = [(1, "a", True), (2, None, False)]


@BOTH
def test_a_batch_of_rows_is_read_as_one_table_named_v(dialect: DatabaseDialect) -> None:
    batch = dialect.batch_rows(BATCH_VALUES)
    statement = (
        update(MESSAGES)
        .where(MESSAGES.c.id == batch.columns["mid"])
        .values(body=batch.columns["name"])
    )
    assert " AS v" in sql(dialect, statement)
    assert "messages.id = v.mid" in sql(dialect, statement)


def test_postgresql_binds_a_batch_as_one_array_per_value() -> None:
    batch = POSTGRESQL.batch_rows(BATCH_VALUES)
    assert batch.bind(BATCH) == {"mid": [1, 2], "name": ["a", None], "flag": [True, False]}


def test_sqlite_binds_a_batch_as_one_json_array_of_rows() -> None:
    batch = SQLITE.batch_rows(BATCH_VALUES)
    assert batch.bind(BATCH) == {"rows": '[[1, "a", true], [2, null, false]]'}


def test_datetimes_go_to_sqlite_as_naive_utc_text_and_to_postgresql_as_they_are() -> None:
    at = datetime(2026, 12, 6, 1, 2, 3, 4000, tzinfo=timezone(timedelta(hours=2)))
    assert SQLITE.bind_time(at) == "2026-12-05 23:02:03.004000"
    assert POSTGRESQL.bind_time(at) is at
    assert (SQLITE.bind_time(None), POSTGRESQL.bind_time(None)) == (None, None)


@BOTH
def test_driver_rows_convert_times_and_json_the_way_the_columns_would(
    dialect: DatabaseDialect,
) -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    rows = dialect.driver_rows(
        MESSAGES,
        ("to", "media_urls", "created_at"),
        [{"to": "+14155550100", "media_urls": ["https://x"], "created_at": at}],
    )
    assert rows == [("+14155550100", '["https://x"]', dialect.bind_time(at))]


def test_only_sqlite_hides_a_column_from_its_index_planner() -> None:
    current = MESSAGES.c.status
    assert sql(SQLITE, SQLITE.unindexed(current) == "queued") == "(+ messages.status) = ?"
    assert POSTGRESQL.unindexed(current) is current


class RecordingConnection:
    def __init__(self) -> None:
        self.executed: list[str] = []

    async def exec_driver_sql(self, statement: str, *_: Any) -> None:
        self.executed.append(statement)


@BOTH
async def test_only_postgresql_is_told_to_prefer_index_scans(dialect: DatabaseDialect) -> None:
    connection = RecordingConnection()
    await dialect.prefer_index_scans(cast(AsyncConnection, connection))
    expected = ["SET LOCAL enable_seqscan = off"] if dialect is POSTGRESQL else []
    assert connection.executed == expected


async def test_only_a_sqlite_file_gets_a_thread_for_one_hop_transactions(tmp_path: Path) -> None:
    file_url = f"sqlite+aiosqlite:///{tmp_path / 'textcast.db'}"
    thread = SQLITE.transaction_thread(file_url)
    assert thread is not None and thread.path == str(tmp_path / "textcast.db")
    await thread.close()
    assert SQLITE.transaction_thread("sqlite+aiosqlite:///:memory:") is None
    assert POSTGRESQL.transaction_thread("postgresql+asyncpg://postgres@localhost/test") is None
