"""The event log: what happened to messages and contacts, for the Events API
and outgoing webhooks.

Event types:
  message.queued, message.requeued (a worker put it back: retry or recovery),
  message.<provider status> (accepted, scheduled, sending, sent, delivered,
  undelivered, failed, canceled, read, unknown), message.replied (a reply to
  a message Textcast sent) and message.received (an inbound message with no
  earlier message to that number), message.clicked (a person followed a
  tracked link; ``data.first`` marks the message's first), contact.opted_out,
  contact.opted_in, contact.erased (a privacy erasure; ``data`` names the
  contact ID and the keyed hash that replaced the number).

Message events name only their message; sender, contact, campaign and
automation are read through it, so writing an event stays one narrow row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import Contact, Message, MessageEvent, utcnow

TYPES = (
    "message.queued",
    "message.requeued",
    "message.dispatching",
    "message.accepted",
    "message.scheduled",
    "message.sending",
    "message.sent",
    "message.delivered",
    "message.undelivered",
    "message.failed",
    "message.canceled",
    "message.read",
    "message.unknown",
    "message.replied",
    "message.received",
    "message.clicked",
    "contact.opted_out",
    "contact.opted_in",
    "contact.erased",
)


def contact_event(
    session: AsyncSession,
    type_: str,
    *,
    contact_id: int,
    provider_id: int,
    sender_id: int | None,
    source: str,
    detail: str | None = None,
    message_id: int | None = None,
) -> None:
    session.add(
        MessageEvent(
            type=type_,
            contact_id=contact_id,
            provider_id=provider_id,
            sender_id=sender_id,
            message_id=message_id,
            source=source,
            detail=detail,
            created_at=utcnow(),
        )
    )


@dataclass(frozen=True)
class EventFilter:
    types: tuple[str, ...] = ()
    message_id: int | None = None
    contact_id: int | None = None
    sender_id: int | None = None
    provider_id: int | None = None
    campaign: str | None = None
    automation: str | None = None
    error_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _query() -> Any:  # a Select of the event and its joined columns
    """Events with what their message says about sender, contact and campaign."""
    return _joined(
        select(
            MessageEvent,
            func.coalesce(MessageEvent.sender_id, Message.sender_id).label("sender"),
            func.coalesce(MessageEvent.provider_id, Message.provider_id).label("provider"),
            Contact.id.label("contact"),
            Contact.phone.label("to"),
            Message.campaign,
            Message.campaign_id,
            Message.variant,
            Message.automation,
        )
    )


def _joined(query: Any) -> Any:
    """``query`` over events joined to their message and contact (what filters read)."""
    return (
        query.select_from(MessageEvent)
        .outerjoin(Message, Message.id == MessageEvent.message_id)
        .outerjoin(
            Contact,
            or_(
                Contact.id == MessageEvent.contact_id,
                and_(MessageEvent.contact_id.is_(None), Contact.phone == Message.to),
            ),
        )
    )


async def find(
    session: AsyncSession,
    where: EventFilter,
    *,
    after_id: int | None,
    limit: int,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """Events in ID order (the order they were recorded), ``after_id`` for paging;
    or the latest ``limit`` of them, newest first."""
    order = MessageEvent.id.desc() if newest_first else MessageEvent.id
    query = _query().order_by(order).limit(limit)
    query = query.where(*_conditions(where))
    if after_id is not None:
        query = query.where(MessageEvent.id > after_id)
    return [view(row) for row in await session.execute(query)]


async def by_ids(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = await session.execute(_query().where(MessageEvent.id.in_(ids)))
    return {row.MessageEvent.id: view(row) for row in rows}


def _conditions(where: EventFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.types:
        conditions.append(MessageEvent.type.in_(where.types))
    if where.message_id is not None:
        conditions.append(MessageEvent.message_id == where.message_id)
    if where.contact_id is not None:
        conditions.append(Contact.id == where.contact_id)
    if where.sender_id is not None:
        conditions.append(
            func.coalesce(MessageEvent.sender_id, Message.sender_id) == where.sender_id
        )
    if where.provider_id is not None:
        conditions.append(
            func.coalesce(MessageEvent.provider_id, Message.provider_id) == where.provider_id
        )
    if where.campaign is not None:
        conditions.append(Message.campaign == where.campaign)
    if where.automation is not None:
        conditions.append(Message.automation == where.automation)
    if where.error_code is not None:
        conditions.append(MessageEvent.error_code == where.error_code)
    if where.since is not None:
        conditions.append(MessageEvent.created_at >= where.since)
    if where.until is not None:
        conditions.append(MessageEvent.created_at < where.until)
    return conditions


def view(row: Any) -> dict[str, Any]:
    event: MessageEvent = row.MessageEvent
    return {
        "id": event.id,
        "type": event.type,
        "at": event.created_at.isoformat(),
        "message_id": event.message_id,
        "status": event.status,
        "contact_id": row.contact,
        "phone": row.to,
        "sender_id": row.sender,
        "provider_id": row.provider,
        "campaign": row.campaign,
        # A campaign's message: the campaign object and the A/B variant it got
        # (None for a single-text campaign and for labelled API messages).
        "campaign_id": row.campaign_id,
        "variant": row.variant,
        "automation": row.automation,
        "error_code": event.error_code,
        "detail": event.detail,
        "source": event.source,
        "data": event.data,
    }


async def counts_over_time(
    session: AsyncSession, where: EventFilter, bucket_seconds: int
) -> list[tuple[int, str, int]]:
    """(bucket start as Unix seconds, event type, count) for the events ``where``
    selects, counted in the database in buckets of ``bucket_seconds``."""
    if session.get_bind().dialect.name == "postgresql":
        epoch: Any = cast(func.extract("epoch", MessageEvent.created_at), BigInteger)
    else:  # SQLite keeps UTC times as text
        epoch = cast(func.strftime("%s", MessageEvent.created_at), Integer)
    bucket = (epoch - epoch % bucket_seconds).label("bucket")
    query = _joined(select(bucket, MessageEvent.type, func.count()))
    query = query.where(*_conditions(where)).group_by(bucket, MessageEvent.type).order_by(bucket)
    return [(int(row[0]), str(row[1]), int(row[2])) for row in await session.execute(query)]
