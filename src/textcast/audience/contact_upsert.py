"""Many contacts written in one statement: the import's batch upsert.

``INSERT … ON CONFLICT (phone) DO UPDATE … WHERE <something changed>
RETURNING``: new numbers are inserted, known ones get the batch's attributes
merged in (values replace values, other keys stay), its tags added, its
external ID and time zone, and only rows that really change are written.
The rows returned say which were created and which updated; the rest of the
batch was already as the file says (unchanged), which is what makes running
the same file twice change nothing.

A time zone set explicitly before stays unless the row sets one itself.
Values go to the driver as one parameter per column (PostgreSQL: arrays
through ``unnest``; SQLite: one JSON array of rows through ``json_each``); the
statement text holds only Textcast's own names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from textcast.db import bulk
from textcast.db.models import Contact


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One contact as an import row has it, checked and ready to write."""

    line: int
    phone: str
    external_id: str | None
    attributes: dict[str, object]
    tags: list[str]
    time_zone: str | None
    time_zone_source: str
    country: str
    phone_type: str


@dataclass(frozen=True)
class Written:
    created: int
    updated: int
    unchanged: int


_COLUMNS = (
    "phone",
    "external_id",
    "attributes",
    "tags",
    "time_zone",
    "time_zone_source",
    "country",
    "phone_type",
)
_ZONE_KEPT = "excluded.time_zone_source <> 'explicit' AND contacts.time_zone_source = 'explicit'"

_PG_TAGS = (
    "CASE WHEN contacts.tags @> excluded.tags THEN contacts.tags ELSE contacts.tags || "
    "(SELECT jsonb_agg(n.tag ORDER BY n.position) FROM jsonb_array_elements(excluded.tags) "
    "WITH ORDINALITY AS n(tag, position) WHERE NOT contacts.tags @> jsonb_build_array(n.tag)) END"
)
_PG_NEW = {
    "external_id": "coalesce(excluded.external_id, contacts.external_id)",
    "attributes": "contacts.attributes || excluded.attributes",
    "tags": _PG_TAGS,
    "time_zone": f"CASE WHEN {_ZONE_KEPT} THEN contacts.time_zone ELSE excluded.time_zone END",
    "time_zone_source": (
        f"CASE WHEN {_ZONE_KEPT} THEN contacts.time_zone_source ELSE excluded.time_zone_source END"
    ),
    "country": "excluded.country",
    "phone_type": "excluded.phone_type",
}
_PG_UPSERT = (
    f"INSERT INTO contacts ({', '.join(_COLUMNS)}, created_at, updated_at) "
    "SELECT u.*, $9::timestamptz, $9::timestamptz FROM unnest($1::varchar[], $2::varchar[], "
    "$3::jsonb[], $4::jsonb[], $5::varchar[], $6::varchar[], $7::varchar[], $8::varchar[]) AS u "
    "ON CONFLICT (phone) DO UPDATE SET "
    + ", ".join(f"{name} = {value}" for name, value in _PG_NEW.items())
    + ", updated_at = excluded.updated_at "
    f"WHERE ({', '.join(f'contacts.{name}' for name in _PG_NEW)}) IS DISTINCT FROM "
    f"({', '.join(_PG_NEW.values())}) "
    "RETURNING xmax = 0"
)

_SQLITE_NO_NEW_TAGS = (
    "NOT EXISTS (SELECT 1 FROM json_each(excluded.tags) AS n "
    "WHERE n.value NOT IN (SELECT value FROM json_each(contacts.tags)))"
)
_SQLITE_TAGS = (
    f"CASE WHEN {_SQLITE_NO_NEW_TAGS} THEN contacts.tags ELSE "
    "(SELECT json_group_array(value) FROM ("
    "SELECT value, 0 AS part, key AS position FROM json_each(contacts.tags) UNION ALL "
    "SELECT n.value, 1, n.key FROM json_each(excluded.tags) AS n "
    "WHERE n.value NOT IN (SELECT value FROM json_each(contacts.tags)) "
    "ORDER BY part, position)) END"
)
_SQLITE_NEW = {
    **_PG_NEW,
    "attributes": "json_patch(contacts.attributes, excluded.attributes)",
    "tags": _SQLITE_TAGS,
}
# json(): the same document in one spelling, whichever writer stored it.
_SQLITE_SAME = {
    **{name: f"contacts.{name} IS {value}" for name, value in _SQLITE_NEW.items()},
    "attributes": f"json(contacts.attributes) = json({_SQLITE_NEW['attributes']})",
    "tags": f"{_SQLITE_NO_NEW_TAGS}",
}
_SQLITE_UPSERT = (
    f"INSERT INTO contacts ({', '.join(_COLUMNS)}, created_at, updated_at) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_COLUMNS)))
    + ", ?, ? FROM json_each(?) WHERE true "
    "ON CONFLICT (phone) DO UPDATE SET "
    + ", ".join(f"{name} = {value}" for name, value in _SQLITE_NEW.items())
    + ", updated_at = excluded.updated_at "
    f"WHERE NOT ({' AND '.join(_SQLITE_SAME.values())}) "
    "RETURNING created_at = ?"
)


async def upsert(connection: AsyncConnection, rows: Sequence[ContactRow], now: datetime) -> Written:
    """Write ``rows`` (distinct numbers and external IDs) in one statement."""
    if not rows:
        return Written(0, 0, 0)
    to_db = bulk.db_time(connection.dialect)
    if connection.dialect.name == "postgresql":
        columns = [
            [r.phone for r in rows],
            [r.external_id for r in rows],
            [json.dumps(r.attributes) for r in rows],
            [json.dumps(r.tags) for r in rows],
            [r.time_zone for r in rows],
            [r.time_zone_source for r in rows],
            [r.country for r in rows],
            [r.phone_type for r in rows],
        ]
        result = await connection.exec_driver_sql(_PG_UPSERT, (*columns, to_db(now)))
    else:
        payload = json.dumps(
            [
                [
                    r.phone,
                    r.external_id,
                    r.attributes,
                    r.tags,
                    r.time_zone,
                    r.time_zone_source,
                    r.country,
                    r.phone_type,
                ]
                for r in rows
            ]
        )
        at = to_db(now)
        result = await connection.exec_driver_sql(_SQLITE_UPSERT, (at, at, payload, at))
    returned = [bool(flag) for (flag,) in result.all()]
    created = sum(returned)
    updated = len(returned) - created
    return Written(created, updated, len(rows) - created - updated)


async def owners(
    connection: AsyncConnection, rows: Sequence[ContactRow]
) -> tuple[dict[str, str | None], dict[str, str]]:
    """For rows with an external ID: the external ID each of their numbers
    already has, and the number each of their external IDs already belongs to."""
    with_id = [r for r in rows if r.external_id is not None]
    if not with_id:
        return {}, {}
    table = cast(Table, Contact.__table__)
    phones = [r.phone for r in with_id]
    external_ids = [r.external_id for r in with_id if r.external_id is not None]
    dialect = connection.dialect
    query = select(table.c.phone, table.c.external_id).where(
        bulk.one_of(table.c.phone, phones, dialect)
        | bulk.one_of(table.c.external_id, external_ids, dialect)
    )
    by_phone: dict[str, str | None] = {}
    by_external: dict[str, str] = {}
    for phone, external_id in await connection.execute(query):
        by_phone[phone] = external_id
        if external_id is not None:
            by_external[external_id] = phone
    return by_phone, by_external
