"""Migration 0008 gives the contacts that exist their country, number type and
time zone, on SQLite and PostgreSQL (whose tags become JSONB)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy import text

from tests.conftest import PG_ADMIN_DSN
from textcast.db.engine import make_engine
from textcast.db.migrate import alembic_config, upgrade

BEFORE = "0010"  # the revision 0008 follows


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"textcast_migration_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield (
        PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
        + f"/{name}"
    )
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_existing_contacts_get_their_number_facts(empty_url: str) -> None:
    command.upgrade(alembic_config(empty_url), BEFORE)
    asyncio.run(
        _execute(
            empty_url,
            "INSERT INTO contacts (phone, tags, created_at, updated_at) VALUES "
            "('+14155552671', '[\"vip\"]', '2026-01-01', '2026-01-01'), "
            "('+19075551234', '[]', '2026-01-01', '2026-01-01'), "
            "('Textcast', '[]', '2026-01-01', '2026-01-01')",
        )
    )
    upgrade(empty_url)
    rows = asyncio.run(
        _execute(
            empty_url,
            "SELECT phone, country, phone_type, time_zone, time_zone_source, tags, attributes "
            "FROM contacts ORDER BY id",
        )
    )
    assert [tuple(row)[:5] for row in rows] == [
        ("+14155552671", "US", "fixed_line_or_mobile", "America/Los_Angeles", "phone"),
        ("+19075551234", "US", "fixed_line_or_mobile", "America/New_York", "country_default"),
        ("Textcast", "ZZ", "invalid", None, "install_default"),
    ]
    tags = rows[0][5]  # JSON text on SQLite, decoded JSONB on PostgreSQL
    assert (json.loads(tags) if isinstance(tags, str) else tags) == ["vip"]
    command.check(alembic_config(empty_url))


async def _execute(url: str, sql: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(sql))
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()
