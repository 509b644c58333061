"""Contacts out as CSV, streamed page by page, in a form the importer reads
back as it is.

Columns: ``phone``, ``external_id``, ``time_zone`` (only an explicitly set
zone, so a re-import keeps derived ones derived), ``tags`` (joined by ``;``),
one column per attribute (``age:number`` when every value of it is a number,
likewise ``:boolean``; text and dates need no type), then what Textcast
knows about the contact and the importer skips: ``id``, ``country``,
``phone_type``, ``time_zone_source``, ``opted_out``, ``created_at``,
``updated_at``, ``last_inbound_at``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import time_zones
from textcast.audience.segment_sql import CONTACTS, opted_out
from textcast.context import Context
from textcast.db.models import Contact

FIXED = ("phone", "external_id", "time_zone", "tags")
INFO = (
    "id",
    "country",
    "phone_type",
    "time_zone_source",
    "opted_out",
    "created_at",
    "updated_at",
    "last_inbound_at",
)
PAGE = 5000
_TYPED = {"number": "number", "integer": "number", "real": "number", "boolean": "boolean"}


async def attribute_columns(session: AsyncSession, where: ColumnElement[bool]) -> list[str]:
    """The attribute columns of the contacts ``where`` selects, sorted by name."""
    kind: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        each = func.jsonb_each(CONTACTS.c.attributes).table_valued("key", "value")
        kind = func.jsonb_typeof(each.c.value)
    else:
        each = func.json_each(CONTACTS.c.attributes).table_valued("key", "type")
        kind = each.c.type
        kind = func.replace(func.replace(kind, "true", "boolean"), "false", "boolean")
    query = select(each.c.key, kind.label("kind")).select_from(CONTACTS.join(each, true()))
    query = query.where(where)
    kinds: dict[str, set[str]] = {}
    for key, found in await session.execute(query.distinct()):
        kinds.setdefault(key, set()).add(str(found))
    columns = []
    for key in sorted(kinds):
        typed = {_TYPED.get(k, "string") for k in kinds[key]}
        columns.append(f"{key}:{typed.pop()}" if len(typed) == 1 and "string" not in typed else key)
    return columns


async def count(ctx: Context, where: ColumnElement[bool]) -> int:
    async with ctx.session() as session:
        query = select(func.count()).select_from(CONTACTS).where(where)
        return int(await session.scalar(query) or 0)


async def stream(
    ctx: Context, where: ColumnElement[bool], written: Callable[[int], None] | None = None
) -> AsyncIterator[str]:
    """The CSV text: the header, then a block per page of :data:`PAGE` contacts
    (each page its own short read, so a long download holds no transaction);
    ``written`` hears how many contacts each block holds."""
    async with ctx.session() as session:
        attributes = await attribute_columns(session, where)
    names = [column.partition(":")[0] for column in attributes]
    yield _line([*FIXED, *attributes, *INFO])
    after = 0
    while True:
        async with ctx.session() as session:
            query = (
                select(Contact, opted_out().label("opted_out"))
                .where(where, Contact.id > after)
                .order_by(Contact.id)
                .limit(PAGE)
            )
            page = (await session.execute(query)).all()
        if not page:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for contact, blocked in page:
            writer.writerow(_cells(contact, bool(blocked), names))
        yield buffer.getvalue()
        if written is not None:
            written(len(page))
        after = page[-1][0].id


def _cells(contact: Contact, blocked: bool, names: list[str]) -> list[Any]:
    values = contact.attributes or {}
    explicit = contact.time_zone_source == time_zones.EXPLICIT
    return [
        contact.phone,
        contact.external_id or "",
        contact.time_zone if explicit else "",
        ";".join(contact.tags or []),
        *(_cell(values.get(name)) for name in names),
        contact.id,
        contact.country,
        contact.phone_type,
        contact.time_zone_source,
        "true" if blocked else "false",
        contact.created_at.isoformat(),
        contact.updated_at.isoformat(),
        contact.last_inbound_at.isoformat() if contact.last_inbound_at else "",
    ]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()
