"""Saved segments, and counting who a segment selects right now.

A segment is a name, a description and a rule tree (:mod:`textcast.audience.rules`);
it is evaluated when asked, never stored as a list of contacts, so a count
is always the live one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import numbers, rules
from textcast.audience.segment_sql import CONTACTS, SegmentCompiler, opted_out
from textcast.db.models import MAX_ID, Contact, Segment, utcnow
from textcast.errors import Conflict, NotFound, ValidationFailed

MAX_SAMPLE = 100


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: dict[str, Any] = Field(description="The rule tree: all / any / not over conditions.")
    description: str | None = Field(None, max_length=2000)


class SegmentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    rules: dict[str, Any] | None = None
    description: str | None = Field(None, max_length=2000)


@dataclass(frozen=True)
class Count:
    """Who a segment selects: how many, how many cannot be messaged (opted
    out, or a number that is not valid), per country, and the first few."""

    total: int
    opted_out: int
    invalid: int
    sendable: int
    by_country: list[dict[str, Any]]
    sample: list[Contact]
    # Those who can be messaged, per country (None: the number's country is unknown).
    sendable_by_country: dict[str | None, int] = field(default_factory=dict)


def check_name(name: str) -> str:
    text = name.strip()
    if not text or len(text) > 100:
        raise ValidationFailed("name", "a segment name is 1 to 100 characters")
    if text.isdigit():
        raise ValidationFailed("name", "a segment name cannot be all digits (IDs are)")
    return text


async def find(session: AsyncSession, ref: str) -> Segment:
    """By ID or by name."""
    if ref.isdigit():
        number = int(ref)
        segment = await session.get(Segment, number) if number <= MAX_ID else None
    else:
        segment = await session.scalar(select(Segment).where(Segment.name == ref))
    if segment is None:
        raise NotFound(f"no segment {ref!r}")
    return segment


async def put(session: AsyncSession, name: str, data: SegmentIn) -> tuple[Segment, bool]:
    """Create or replace the segment called ``name``; True when created."""
    name = check_name(name)
    rules.parse(data.rules)
    segment = await session.scalar(select(Segment).where(Segment.name == name))
    now = utcnow()
    created = segment is None
    if segment is None:
        segment = Segment(name=name, created_at=now)
        session.add(segment)
    segment.rules = data.rules
    segment.description = data.description
    segment.updated_at = now
    await session.flush()
    return segment, created


async def change(session: AsyncSession, segment: Segment, data: SegmentChange) -> Segment:
    given = data.model_fields_set
    if data.name is not None and data.name != segment.name:
        name = check_name(data.name)
        if await session.scalar(select(Segment.id).where(Segment.name == name)):
            raise Conflict(f"a segment is already called {name!r}")
        segment.name = name
    if data.rules is not None:
        rules.parse(data.rules)
        segment.rules = data.rules
    if "description" in given:
        segment.description = data.description
    segment.updated_at = utcnow()
    await session.flush()
    return segment


async def list_all(session: AsyncSession) -> list[Segment]:
    return list(await session.scalars(select(Segment).order_by(Segment.name)))


async def delete(session: AsyncSession, segment: Segment) -> None:
    await session.delete(segment)


def compiler(
    session: AsyncSession, install_zone: str, now: datetime | None = None
) -> SegmentCompiler:
    return SegmentCompiler(session.get_bind().dialect.name, now or utcnow(), install_zone)


async def count(
    session: AsyncSession, rule: rules.Rule, install_zone: str, *, sample: int = 10
) -> Count:
    """The live count of ``rule``: one pass over the matching contacts grouped
    by country, and the first ``sample`` of them by ID."""
    where = compiler(session, install_zone).where(rule)
    blocked = opted_out()
    invalid = CONTACTS.c.phone_type == numbers.INVALID
    grouped = (
        select(
            CONTACTS.c.country,
            func.count().label("total"),
            func.sum(case((blocked, 1), else_=0)).label("opted_out"),
            func.sum(case((invalid, 1), else_=0)).label("invalid"),
            func.sum(case((blocked | invalid, 1), else_=0)).label("blocked"),
        )
        .where(where)
        .group_by(CONTACTS.c.country)
    )
    by_country = []
    sendable_by_country: dict[str | None, int] = {}
    total = opted = bad = unsendable = 0
    for row in await session.execute(grouped):
        by_country.append({"country": row.country, "count": int(row.total)})
        total += int(row.total)
        opted += int(row.opted_out or 0)
        bad += int(row.invalid or 0)
        unsendable += int(row.blocked or 0)
        sendable_by_country[row.country] = int(row.total) - int(row.blocked or 0)
    by_country.sort(key=lambda item: (-item["count"], item["country"]))
    first = await first_contacts(session, rule, install_zone, sample) if sample else []
    return Count(total, opted, bad, total - unsendable, by_country, first, sendable_by_country)


async def first_contacts(
    session: AsyncSession, rule: rules.Rule, install_zone: str, limit: int
) -> list[Contact]:
    """The first ``limit`` contacts ``rule`` selects, by ID (a stable sample:
    the same contacts each time while the audience does not change)."""
    where = compiler(session, install_zone).where(rule)
    query = select(Contact).where(where).order_by(Contact.id).limit(min(limit, MAX_SAMPLE))
    return list(await session.scalars(query))
