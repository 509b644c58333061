"""Contacts: everyone Textcast has messaged or heard from, keyed by E.164 number.

A contact is created the first time a number is messaged or writes in, so
events, opt-outs and conversation threads always have someone to belong to.
Tags are free-form labels; a STOP reply adds its provider's opt-out tag
(``opted-out`` unless the provider names another) and START removes it.
Whether a contact is opted out is read from the suppression list, not the tags.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone as phone_numbers
from textcast.db.dialect import dialect_of
from textcast.db.models import Contact, InboundMessage, Message, utcnow
from textcast.errors import NotFound, ValidationFailed

OPTED_OUT_TAG = "opted-out"
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
CONTACTS = cast(Table, Contact.__table__)
_NEW_CONTACT = ("phone", "tags", "created_at", "updated_at")


async def ensure_many(
    session: AsyncSession, phones: Iterable[str], *, ids: bool = True
) -> dict[str, int]:
    """Create the contacts that do not exist yet; every number's contact ID
    (skipped with ``ids=False``, as bulk intake does not need them)."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    connection = await session.connection()
    dialect = dialect_of(connection)
    now = dialect.bind_time(utcnow())
    # Plain values to the driver: bulk intake creates up to 10,000 at a time.
    rows = [(phone, "[]", now, now) for phone in wanted]
    await dialect.insert_rows(connection, CONTACTS, _NEW_CONTACT, rows, skip_conflicts=True)
    if not ids:
        return {}
    found: dict[str, int] = {}
    for chunk in _chunks(wanted, 5000):
        query = select(CONTACTS.c.phone, CONTACTS.c.id).where(CONTACTS.c.phone.in_(chunk))
        found.update({row.phone: row.id for row in await session.execute(query)})
    return found


async def ensure(session: AsyncSession, phone: str) -> Contact:
    contact_id = (await ensure_many(session, [phone]))[phone]
    contact = await session.get(Contact, contact_id)
    assert contact is not None  # just created or found
    return contact


async def find(session: AsyncSession, ref: str, region: str) -> Contact:
    """By ID (digits only) or by phone number in any format the number parser takes."""
    if ref.isdigit() and len(ref) < 10:
        contact = await session.get(Contact, int(ref))
    else:
        number = phone_numbers.normalize(ref, region, field="contact")
        contact = await session.scalar(select(Contact).where(Contact.phone == number))
    if contact is None:
        raise NotFound(f"no contact {ref!r}")
    return contact


async def list_contacts(
    session: AsyncSession, *, tag: str | None, after_id: int | None, limit: int
) -> list[Contact]:
    query = select(Contact).order_by(Contact.id).limit(limit)
    if after_id is not None:
        query = query.where(Contact.id > after_id)
    if tag is None:
        return list(await session.scalars(query))
    # JSON containment differs per database; tag filters are for operators
    # browsing, so filter in Python over bounded pages instead.
    found: list[Contact] = []
    cursor = after_id
    while len(found) < limit:
        page_query = select(Contact).order_by(Contact.id).limit(500)
        if cursor is not None:
            page_query = page_query.where(Contact.id > cursor)
        page = list(await session.scalars(page_query))
        if not page:
            break
        found.extend(c for c in page if tag in c.tags)
        cursor = page[-1].id
    return found[:limit]


def clean_tags(tags: Iterable[object]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValidationFailed("tags", "each tag must be a non-empty string")
        text = tag.strip()
        if len(text) > MAX_TAG_LENGTH:
            raise ValidationFailed("tags", f"a tag is at most {MAX_TAG_LENGTH} characters")
        if text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_TAGS:
        raise ValidationFailed("tags", f"at most {MAX_TAGS} tags per contact")
    return cleaned


def set_tags(contact: Contact, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
    removed = set(remove)
    tags = [t for t in contact.tags if t not in removed]
    tags.extend(t for t in add if t not in tags)
    if tags != contact.tags:
        contact.tags = clean_tags(tags)  # a new list, so the JSON column is seen as changed
        contact.updated_at = utcnow()


async def conversation(
    session: AsyncSession, contact: Contact, *, limit: int = 100
) -> list[dict[str, Any]]:
    """Messages to and replies from the contact, newest first, as one thread."""
    sent = await session.scalars(
        select(Message).where(Message.to == contact.phone).order_by(Message.id.desc()).limit(limit)
    )
    received = await session.scalars(
        select(InboundMessage)
        .where(InboundMessage.from_number == contact.phone)
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    thread: list[dict[str, Any]] = [
        {
            "direction": "outbound",
            "message_id": m.id,
            "sender_id": m.sender_id,
            "body": m.body,
            "status": m.status,
            "at": m.created_at,
        }
        for m in sent
    ]
    thread.extend(
        {
            "direction": "inbound",
            "inbound_id": i.id,
            "sender_id": i.sender_id,
            "body": i.body,
            "media_urls": i.media_urls,
            "in_reply_to": i.in_reply_to,
            "at": i.received_at,
        }
        for i in received
    )
    thread.sort(key=lambda item: item["at"], reverse=True)
    for item in thread:
        item["at"] = item["at"].isoformat()
    return thread[:limit]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
