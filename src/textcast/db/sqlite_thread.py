"""One SQLite connection on a thread of its own, for write paths that run
several statements per transaction (callback batches).

Through aiosqlite every statement, cursor and fetch is a round trip to its
thread and back; a batch of status callbacks makes about twenty of them.
Here the whole transaction is one function run on the thread: measured on a
batch of 100 callbacks, 64 µs a callback instead of 198.

The connection uses Python's default (legacy) transaction handling: a write
statement opens the transaction, and :meth:`SqliteThread.run` commits it when
the function returns or rolls it back when it raises.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import make_url

Result = TypeVar("Result")
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
BUSY_TIMEOUT_SECONDS = 30


def apply_pragmas(connection: sqlite3.Connection) -> None:
    """WAL, a busy timeout and foreign keys: what every Textcast connection uses."""
    cursor = connection.cursor()
    for pragma in PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def sqlite_path(database_url: str) -> str | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


class SqliteThread:
    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textcast-sqlite")
        self._connection: sqlite3.Connection | None = None

    async def run(self, work: Callable[[sqlite3.Connection], Result]) -> Result:
        """``work(connection)`` on the thread, as one transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _transaction(self, work: Callable[[sqlite3.Connection], Result]) -> Result:
        connection = self._connect()
        try:
            result = work(connection)
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
        return result

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)
            apply_pragmas(connection)
            self._connection = connection
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
