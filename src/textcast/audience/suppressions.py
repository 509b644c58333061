"""The suppression list: numbers that must not be messaged.

A row with no sender blocks the number for the whole provider account; a row
with a sender blocks it only for that sender (providers whose ``opt_out_scope``
is ``sender``, for brands that share an account but not their audiences).
Every row records its :class:`Source`: who or what put the number there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import contacts
from textcast.db.dialect import dialect_of
from textcast.db.models import Contact, Provider, Suppression

# (provider id, sender id, phone)
Target = tuple[int, int, str]

SOURCES = ("operator", "reply", "provider_error", "import")
OPERATOR_FACES = ("api", "cli", "dashboard")


@dataclass(frozen=True)
class Source:
    """Who or what suppressed a number: an operator (``detail``: api, cli or
    dashboard), a reply (the keyword, e.g. STOP), a provider error (its code,
    e.g. 21610) or an import (the file or job)."""

    kind: str
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCES:
            raise ValueError(f"unknown suppression source {self.kind!r}")

    @classmethod
    def operator(cls, face: str) -> Source:
        assert face in OPERATOR_FACES, face
        return cls("operator", face)

    @classmethod
    def reply(cls, keyword: str) -> Source:
        return cls("reply", keyword.upper()[:100])

    @classmethod
    def provider_error(cls, code: str | None) -> Source:
        return cls("provider_error", code)


async def add(
    session: AsyncSession,
    provider_id: int,
    phone: str,
    reason: str,
    sender_id: int | None = None,
    *,
    source: Source,
) -> bool:
    """Suppress ``phone``; False when it already was (in this scope), in which
    case the first source stays on record."""
    exists = await session.scalar(
        select(Suppression.id).where(
            Suppression.provider_id == provider_id,
            Suppression.phone == phone,
            Suppression.sender_id.is_(None)
            if sender_id is None
            else Suppression.sender_id == sender_id,
        )
    )
    if exists is not None:
        return False
    session.add(
        Suppression(
            provider_id=provider_id,
            sender_id=sender_id,
            phone=phone,
            reason=reason,
            source=source.kind,
            source_detail=source.detail,
        )
    )
    await session.flush()
    return True


async def remove(
    session: AsyncSession, provider_id: int, phone: str, sender_id: int | None = None
) -> int:
    """Lift the account-wide suppression, and the sender's own when given; rows removed."""
    scope: ColumnElement[bool] = Suppression.sender_id.is_(None)
    if sender_id is not None:
        scope = or_(scope, Suppression.sender_id == sender_id)
    result = await session.execute(
        delete(Suppression).where(
            Suppression.provider_id == provider_id, Suppression.phone == phone, scope
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def blocked(session: AsyncSession, targets: Iterable[Target]) -> set[Target]:
    """Which of ``targets`` may not be messaged, in one query."""
    wanted = set(targets)
    if not wanted:
        return set()
    phones = {phone for _, _, phone in wanted}
    query = select(Suppression.provider_id, Suppression.sender_id, Suppression.phone).where(
        dialect_of(session).one_of(Suppression.__table__.c.phone, phones)
    )
    account: set[tuple[int, str]] = set()
    per_sender: set[Target] = set()
    for row in await session.execute(query):
        if row.sender_id is None:
            account.add((row.provider_id, row.phone))
        else:
            per_sender.add((row.provider_id, row.sender_id, row.phone))
    return {t for t in wanted if (t[0], t[2]) in account or t in per_sender}


def opt_out_tag(provider: Provider | None) -> str:
    """The tag opt-outs through ``provider`` put on the contact."""
    return provider.opt_out_tag if provider is not None else contacts.OPTED_OUT_TAG


async def suppress(
    session: AsyncSession,
    provider: Provider,
    phone: str,
    reason: str,
    sender_id: int | None = None,
    *,
    source: Source,
) -> bool:
    """:func:`add`, and tag the contact (created if new) with the provider's
    opt-out tag; False when the number already was suppressed in this scope."""
    added = await add(session, provider.id, phone, reason, sender_id, source=source)
    contact = await contacts.ensure(session, phone)
    contacts.set_tags(contact, add=[provider.opt_out_tag])
    return added


async def lift(
    session: AsyncSession, provider: Provider, phone: str, sender_id: int | None = None
) -> int:
    """:func:`remove`, and take the provider's opt-out tag off the contact once
    no provider using that tag suppresses the number any more; rows removed."""
    removed = await remove(session, provider.id, phone, sender_id)
    if removed and not await any_for(session, phone, opt_out_tag=provider.opt_out_tag):
        contact = await session.scalar(select(Contact).where(Contact.phone == phone))
        if contact is not None:
            contacts.set_tags(contact, remove=[provider.opt_out_tag])
    return removed


async def any_for(session: AsyncSession, phone: str, *, opt_out_tag: str | None = None) -> bool:
    """Whether ``phone`` is suppressed anywhere (with ``opt_out_tag``: by a
    provider tagging opt-outs so), which keeps the contact's tags honest."""
    query = select(Suppression.id).where(Suppression.phone == phone)
    if opt_out_tag is not None:
        query = query.join(Provider, Provider.id == Suppression.provider_id).where(
            Provider.opt_out_tag == opt_out_tag
        )
    return await session.scalar(query.limit(1)) is not None


@dataclass(frozen=True)
class ListFilter:
    provider_id: int | None = None
    sender_id: int | None = None
    phone: str | None = None


async def find(
    session: AsyncSession, where: ListFilter, *, before_id: int | None, limit: int
) -> list[Suppression]:
    """Suppressions newest first, ``limit`` at a time; page on with the last
    row's ID as ``before_id``."""
    query = select(Suppression).order_by(Suppression.id.desc()).limit(limit)
    if where.provider_id is not None:
        query = query.where(Suppression.provider_id == where.provider_id)
    if where.sender_id is not None:
        query = query.where(Suppression.sender_id == where.sender_id)
    if where.phone is not None:
        query = query.where(Suppression.phone == where.phone)
    if before_id is not None:
        query = query.where(Suppression.id < before_id)
    return list(await session.scalars(query))
