"""Alembic environment: runs migrations over the async engine Textcast uses."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from textcast.db.engine import make_engine
from textcast.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations rebuild a SQLite table by copying it and dropping the
        # original; with foreign keys enforced, that drop cascades and empties
        # every table referring to it (senders, suppressions, ...). Alembic's
        # advice: switch enforcement off meanwhile, and check nothing broke.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()  # the pragma is a no-op inside a transaction
        dangling_before = _dangling(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = _dangling(connection) - dangling_before
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
        if broken:
            raise RuntimeError(f"a migration left dangling foreign keys: {sorted(broken)[:5]}")


def _dangling(connection: Connection) -> set[tuple[object, ...]]:
    rows = {tuple(row) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")}
    connection.commit()
    return rows


async def _run_async() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
