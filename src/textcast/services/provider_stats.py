"""A provider's numbers over a time window (the provider's Stats tab): in
all, per sender and per destination country, with errors by code.

The window and the filters are :class:`~textcast.services.stats.Scope`'s
(messages created in ``[since, until)``). The words, for every group:

- ``sent``: messages the provider accepted (``sent_at`` is set), whatever
  happened to them after;
- ``delivered`` (delivered or read), ``undelivered`` (the carrier gave up),
  ``failed`` (never left: refused by the provider or by Textcast);
- ``delivery_rate``: delivered ÷ (delivered + undelivered + failed), the
  messages with a final outcome, as :func:`~textcast.services.stats.summary`
  counts it; None when nothing is final yet;
- ``delivery_seconds``: median and 95th percentile of the time from
  ``sent_at`` to the delivered time, over delivered messages. The delivered
  time is the one messages show (:func:`textcast.views.messages.delivered_at`):
  the carrier's own time (``carrier_done_at``) raised to ``sent_at`` when its
  minute resolution reads earlier; where no carrier time came (a provider
  without one), the time Textcast learned of the delivery (``final_at``).
  Computed in the database (see ``DatabaseDialect.percentiles``);
- ``country``: the recipient's ``contacts.country``. Every message submitted
  creates its contact, whose country libphonenumber derived once from the
  whole number, which a prefix cannot always tell (+1 is 25 countries).
  Messages to an erased contact keep only a hash of the number and count
  under ``ZZ`` (unknown), as do rows written without a contact.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.db.dialect import dialect_of
from textcast.db.models import Contact, Message, Sender
from textcast.db.models import Provider as ProviderRow
from textcast.errors import ValidationFailed
from textcast.services.providers import get_provider
from textcast.services.senders import get_sender
from textcast.services.stats import Scope, aware, errors_by_code

DELIVERED = (status.DELIVERED, status.READ)
UNKNOWN_COUNTRY = "ZZ"
PERCENTILES = {"median": 0.5, "p95": 0.95}
MESSAGES = cast(Table, Message.__table__)


def _counted(column: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((column.in_(values), 1), else_=0)), 0)


def outcome_columns(messages: Table = MESSAGES) -> list[ColumnElement[Any]]:
    """Aggregates over ``messages`` in :func:`outcomes`' order (one GROUP BY row)."""
    m = messages.c
    return [
        func.count().label("messages"),
        func.count(m.sent_at).label("sent"),
        _counted(m.status, DELIVERED).label("delivered"),
        _counted(m.status, (status.UNDELIVERED,)).label("undelivered"),
        _counted(m.status, (status.FAILED,)).label("failed"),
        func.coalesce(func.sum(case((m.sent_at.is_not(None), m.segments), else_=0)), 0).label(
            "segments"
        ),
    ]


def outcomes(row: Any) -> dict[str, Any]:
    """One group's counts from :func:`outcome_columns`, and its delivery rate."""
    counts: dict[str, Any] = {
        key: int(getattr(row, key))
        for key in ("messages", "sent", "delivered", "undelivered", "failed", "segments")
    }
    final = counts["delivered"] + counts["undelivered"] + counts["failed"]
    counts["delivery_rate"] = round(counts["delivered"] / final, 4) if final else None
    return counts


def delivered_time(session: AsyncSession, messages: Table = MESSAGES) -> ColumnElement[Any]:
    """When a delivered message arrived (see the module's docstring)."""
    m = messages.c
    return dialect_of(session).later_of(func.coalesce(m.delivered_at, m.final_at), m.sent_at)


def delivery_seconds(session: AsyncSession, messages: Table = MESSAGES) -> ColumnElement[float]:
    """Seconds from ``sent_at`` to the delivered time."""
    return dialect_of(session).seconds_between(
        messages.c.sent_at, delivered_time(session, messages)
    )


async def delivery_percentiles(
    session: AsyncSession, key: Any, where: Sequence[Any]
) -> dict[Hashable, dict[str, Any]]:
    """Median and p95 delivery seconds (rounded to the millisecond) and how
    many deliveries they are over, per ``key``."""
    values = (
        select(key.label("key"), delivery_seconds(session).label("v"))
        .where(
            *where,
            Message.status.in_(DELIVERED),
            Message.sent_at.is_not(None),
            func.coalesce(Message.delivered_at, Message.final_at).is_not(None),
        )
        .subquery()
    )
    dialect = dialect_of(session)
    found = await dialect.percentiles(session, values, list(PERCENTILES.values()))
    measured = select(values.c.key, func.count()).group_by(values.c.key)
    counts: dict[Hashable, int] = {key: int(n) for key, n in await session.execute(measured)}
    return {
        group: {
            **{
                name: round(value, 3) for name, value in zip(PERCENTILES, found[group], strict=True)
            },
            "measured": counts[group],
        }
        for group in found
    }


NO_DELIVERIES = {"median": None, "p95": None, "measured": 0}


async def _grouped(session: AsyncSession, query: Select[Any]) -> list[Any]:
    return list((await session.execute(query)).all())


async def for_provider(
    session: AsyncSession,
    ref: str | int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """:func:`provider_stats` of provider ``ref`` (name or ID), optionally for
    one of its senders; what the API and the CLI ask for."""
    provider = await get_provider(session, ref)
    sender_id = None
    if sender is not None:
        row = await get_sender(session, sender)
        if row.provider_id != provider.id:
            raise ValidationFailed("sender", f"{sender!r} is not a sender of {provider.name!r}")
        sender_id = row.id
    window = Scope(since=aware(since, "since"), until=aware(until, "until"), sender_id=sender_id)
    if window.since and window.until and window.until <= window.since:
        raise ValidationFailed("until", "must be later than since")
    return await provider_stats(session, provider, window)


async def provider_stats(
    session: AsyncSession, provider: ProviderRow, scope: Scope
) -> dict[str, Any]:
    """The provider's numbers in ``scope`` (its ``provider_id`` is set here)."""
    scope = Scope(
        since=scope.since, until=scope.until, sender_id=scope.sender_id, provider_id=provider.id
    )
    where = scope.conditions()
    (total,) = await _grouped(session, select(*outcome_columns()).where(*where))
    by_sender = await _grouped(
        session,
        select(Message.sender_id, *outcome_columns())
        .where(*where)
        .group_by(Message.sender_id)
        .order_by(Message.sender_id),
    )
    country = func.coalesce(Contact.country, UNKNOWN_COUNTRY)
    by_country = await _grouped(
        session,
        select(country.label("country"), *outcome_columns())
        .select_from(Message)
        .outerjoin(Contact, Contact.phone == Message.to)
        .where(*where)
        .group_by(country),
    )
    timing = await delivery_percentiles(session, literal_column("0"), where)
    sender_timing = await delivery_percentiles(session, Message.sender_id, where)
    names = await _sender_names(session, [row.sender_id for row in by_sender])
    return {
        "provider": {"id": provider.id, "name": provider.name, "type": provider.type},
        "since": scope.since.isoformat() if scope.since else None,
        "until": scope.until.isoformat() if scope.until else None,
        "sender_id": scope.sender_id,
        **outcomes(total),
        "delivery_seconds": timing.get(0, NO_DELIVERIES),
        "errors": await errors_by_code(session, where),
        "senders": [
            {
                "id": row.sender_id,
                **names.get(row.sender_id, {"name": None, "sender_id": None}),
                **outcomes(row),
                "delivery_seconds": sender_timing.get(row.sender_id, NO_DELIVERIES),
            }
            for row in by_sender
        ],
        "countries": sorted(
            ({"country": row.country, **outcomes(row)} for row in by_country),
            key=lambda c: (-c["messages"], c["country"]),
        ),
    }


async def _sender_names(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Sender.id, Sender.name, Sender.sender_id).where(Sender.id.in_(ids))
    )
    return {row.id: {"name": row.name, "sender_id": row.sender_id} for row in rows}
