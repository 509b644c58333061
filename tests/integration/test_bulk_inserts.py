"""The dialects' bulk inserts keep the columns' rules: a value too long for
its column is refused, not cut short (PostgreSQL's unnest INSERT casts each
array, and a cast to VARCHAR(n) would truncate without a word), and the IDs
come back in the rows' order."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.integration.test_campaign_fanout import add_provider
from textcast.context import Context
from textcast.db.dialect import dialect_of
from textcast.db.models import Message, Provider, Sender, utcnow

MESSAGES = cast(Table, Message.__table__)


async def rows(ctx: Context, count: int, **changes: Any) -> list[dict[str, object]]:
    await add_provider(ctx)
    async with ctx.session() as session:
        provider_id = await session.scalar(select(Provider.id))
        sender_id = await session.scalar(select(Sender.id))
    now = utcnow()
    base = {
        "provider_id": provider_id, "sender_id": sender_id, "body": "hi", "media_urls": [],
        "status": "queued", "segments": 1, "encoding": "GSM-7", "next_attempt_at": now,
        "created_at": now, "updated_at": now, "attempts": 0, "is_test": False,
        "possible_duplicate": False,
    }  # fmt: skip
    return [{**base, "to": f"+1415555{i:04d}", **changes} for i in range(count)]


async def test_ids_come_back_in_the_rows_order(ctx: Context) -> None:
    made = await rows(ctx, 50)
    async with ctx.session() as session:
        ids = await dialect_of(session).insert_returning_ids(session, MESSAGES, made)
    async with ctx.session() as session:
        stored = dict((await session.execute(select(Message.id, Message.to))).all())
    assert [stored[i] for i in ids] == [row["to"] for row in made]


async def test_a_value_too_long_for_its_column_is_never_cut_short(ctx: Context) -> None:
    """PostgreSQL refuses it; SQLite, which has no lengths, keeps it whole."""
    made = await rows(ctx, 1, variant="v" * 40)  # variant is VARCHAR(32)
    if ctx.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="too long"):
            async with ctx.session() as session:
                await dialect_of(session).insert_returning_ids(session, MESSAGES, made)
        return
    async with ctx.session() as session:
        (mid,) = await dialect_of(session).insert_returning_ids(session, MESSAGES, made)
    async with ctx.session() as session:
        assert await session.scalar(select(Message.variant).where(Message.id == mid)) == "v" * 40


async def test_copied_rows_keep_the_columns_rules_and_the_transaction(ctx: Context) -> None:
    """The fan-out's bulk path (COPY on PostgreSQL): the IDs in the rows'
    order, a value too long refused, a unique clash an IntegrityError as an
    INSERT's is, and rows that go in with the transaction or not at all."""
    made = await rows(ctx, 20)
    dialect = ctx.dialect
    columns = tuple(made[0])
    async with ctx.session() as session:
        driver_rows = dialect.driver_rows(MESSAGES, columns, made)
        ids = await dialect.insert_ids_of(session, MESSAGES, columns, driver_rows)
    async with ctx.session() as session:
        stored = dict((await session.execute(select(Message.id, Message.to))).all())
    assert [stored[i] for i in ids] == [row["to"] for row in made]

    keyed = dialect.driver_rows(
        MESSAGES, (*columns, "idempotency_key"), [{**made[0], "idempotency_key": "k"}]
    )
    async with ctx.session() as session:
        await dialect.insert_ids_of(session, MESSAGES, (*columns, "idempotency_key"), keyed)
    with pytest.raises(IntegrityError):
        async with ctx.session() as session:
            await dialect.insert_ids_of(session, MESSAGES, (*columns, "idempotency_key"), keyed)

    async with ctx.session() as session:
        connection = await session.connection()
        await dialect.copy_rows(connection, MESSAGES, columns, driver_rows[:5])
        await session.rollback()
    async with ctx.session() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 21

    if ctx.dialect.name == "postgresql":
        too_long = dialect.driver_rows(
            MESSAGES, (*columns, "variant"), [{**made[0], "variant": "v" * 40}]
        )
        with pytest.raises(DBAPIError, match="too long"):
            async with ctx.session() as session:
                await dialect.insert_ids_of(session, MESSAGES, (*columns, "variant"), too_long)
