"""Many contacts written in one statement: the import's batch upsert.

``INSERT … ON CONFLICT (phone) DO UPDATE … WHERE <something changed>
RETURNING``: new numbers are inserted, known ones get the batch's attributes
merged in (values replace values, other keys stay), its tags added, its
external ID and time zone, and only rows that really change are written.
The rows returned say which were created and which updated; the rest of the
batch was already as the file says (unchanged), which is what makes running
the same file twice change nothing.

A time zone set explicitly before stays unless the row sets one itself.
The rows go to the database as one parameter, a JSON array of rows
(``jsonb_array_elements`` on PostgreSQL, ``json_each`` on SQLite); the
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

from textcast.db.dialect import dialect_of
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
    clashes: list[ContactRow]  # known under another external ID: not applied


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
# The number is known under another external ID: the row is not applied.
_CLASH = (
    "(excluded.external_id IS NOT NULL AND contacts.external_id IS NOT NULL "
    "AND contacts.external_id <> excluded.external_id)"
)

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
_PG_CHANGED = (
    f"({', '.join(f'contacts.{name}' for name in _PG_NEW)}) IS DISTINCT FROM "
    f"({', '.join(_PG_NEW.values())})"
)
# json(): the same document in one spelling, whichever writer stored it.
_SQLITE_SAME = {
    **{name: f"contacts.{name} IS {value}" for name, value in _SQLITE_NEW.items()},
    "attributes": f"json(contacts.attributes) = json({_SQLITE_NEW['attributes']})",
    "tags": _SQLITE_NO_NEW_TAGS,
}
_SQLITE_CHANGED = f"NOT ({' AND '.join(_SQLITE_SAME.values())})"


def _update(new: dict[str, str], changed: str) -> str:
    """The DO UPDATE part: a clashing row is written back as it was (so that
    RETURNING shows it), any other one only when something changes."""
    kept = [
        f"{name} = CASE WHEN {_CLASH} THEN contacts.{name} ELSE {value} END"
        for name, value in new.items()
    ]
    kept.append(
        f"updated_at = CASE WHEN {_CLASH} THEN contacts.updated_at ELSE excluded.updated_at END"
    )
    return f"ON CONFLICT (phone) DO UPDATE SET {', '.join(kept)} WHERE {_CLASH} OR {changed} "


_INSERT = f"INSERT INTO contacts ({', '.join(_COLUMNS)}, created_at, updated_at) "
_PG_UPSERT = (
    _INSERT + "SELECT r->>0, r->>1, r->2, r->3, r->>4, r->>5, r->>6, r->>7, $2::timestamptz, "
    "$2::timestamptz FROM jsonb_array_elements($1::jsonb) AS r "
    + _update(_PG_NEW, _PG_CHANGED)
    + "RETURNING phone, external_id, xmax = 0"
)
_SQLITE_UPSERT = (
    _INSERT
    + "SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_COLUMNS)))
    + ", ?, ? FROM json_each(?) WHERE true "
    + _update(_SQLITE_NEW, _SQLITE_CHANGED)
    + "RETURNING phone, external_id, created_at = ?"
)


async def upsert(connection: AsyncConnection, rows: Sequence[ContactRow], now: datetime) -> Written:
    """Write ``rows`` (distinct numbers and external IDs) in one statement.

    A row whose number is known under another external ID is not applied and
    comes back in ``Written.clashes``; an external ID that another number
    has is refused by the unique index (IntegrityError: see :func:`taken`).
    """
    if not rows:
        return Written(0, 0, 0, [])
    # The batch is one JSON array of rows: one json.dumps in C, where arrays
    # per column cost the client twice as much to build and encode.
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
    at = dialect_of(connection).bind_time(now)
    if connection.dialect.name == "postgresql":
        result = await connection.exec_driver_sql(_PG_UPSERT, (payload, at))
    else:
        result = await connection.exec_driver_sql(_SQLITE_UPSERT, (at, at, payload, at))
    by_phone = {r.phone: r for r in rows}
    created = updated = 0
    clashes = []
    returned = result.all()
    for phone, external_id, was_created in (tuple(row) for row in returned):
        if was_created:
            created += 1
            continue
        row = by_phone[phone]
        if row.external_id is not None and external_id != row.external_id:
            clashes.append(row)
        else:
            updated += 1
    return Written(created, updated, len(rows) - len(returned), clashes)


async def taken(connection: AsyncConnection, rows: Sequence[ContactRow]) -> set[str]:
    """The external IDs of ``rows`` that belong to another number already."""
    wanted = {r.external_id: r.phone for r in rows if r.external_id is not None}
    if not wanted:
        return set()
    table = cast(Table, Contact.__table__)
    query = select(table.c.external_id, table.c.phone).where(
        dialect_of(connection).one_of(table.c.external_id, list(wanted))
    )
    return {
        external_id
        for external_id, phone in await connection.execute(query)
        if wanted[external_id] != phone
    }
