"""Contacts: everyone Textcast messages or hears from, keyed by E.164 number.

A contact is created the first time a number is messaged or writes in, so
events, opt-outs and conversation threads always have someone to belong to,
or on purpose through the API, the CLI or an import, with the customer's own
``external_id``, attributes, tags and a time zone.

Tags are free-form labels; a STOP reply adds its provider's opt-out tag
(``opted-out`` unless the provider names another) and START removes it.
Whether a contact is opted out is read from the suppression list, not the tags.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone as phone_numbers
from textcast.audience import attributes, numbers, rules, time_zones
from textcast.audience.rules import Rule
from textcast.audience.segment_sql import SegmentCompiler
from textcast.db.dialect import dialect_of
from textcast.db.models import Contact, InboundMessage, Message, utcnow
from textcast.errors import Conflict, NotFound, ValidationFailed

OPTED_OUT_TAG = "opted-out"
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
EXTERNAL_REF = "external_id:"
CONTACTS = cast(Table, Contact.__table__)
_NEW_CONTACT = (
    "phone",
    "tags",
    "attributes",
    "country",
    "phone_type",
    "time_zone",
    "time_zone_source",
    "created_at",
    "updated_at",
)


class ContactIn(BaseModel):
    """Create a contact, or update the one with this ``external_id`` or phone."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(None, max_length=64)
    external_id: str | None = Field(None, min_length=1, max_length=200)
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Merged into the contact's; null deletes a key."
    )
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS, description="Added.")
    time_zone: str | None = Field(None, description="IANA zone; null: from the number.")


class ContactChange(BaseModel):
    """A PATCH: only what is given changes."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(None, max_length=64)
    external_id: str | None = Field(None, min_length=1, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)
    add_tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    remove_tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    time_zone: str | None = None


async def ensure_many(
    session: AsyncSession, phones: Iterable[str], *, ids: bool = True
) -> dict[str, int]:
    """Create the contacts that do not exist yet; every number's contact ID
    (skipped with ``ids=False``, as bulk intake does not need them)."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    connection = await session.connection()
    found = await _ids_of(session, wanted)
    missing = [phone for phone in wanted if phone not in found]
    if missing:
        dialect = dialect_of(connection)
        now = dialect.bind_time(utcnow())
        # Plain values to the driver: bulk intake creates up to 10,000 at a time.
        rows = []
        for phone in missing:
            facts = numbers.of_stored(phone)
            rows.append(
                (
                    phone,
                    "[]",
                    "{}",
                    facts.country,
                    facts.phone_type,
                    facts.time_zone,
                    facts.time_zone_source,
                    now,
                    now,
                )
            )
        await dialect.insert_rows(connection, CONTACTS, _NEW_CONTACT, rows, skip_conflicts=True)
        if ids:
            found.update(await _ids_of(session, missing))
    return found if ids else {}


async def _ids_of(session: AsyncSession, phones: list[str]) -> dict[str, int]:
    dialect = dialect_of(session)
    found: dict[str, int] = {}
    for start in range(0, len(phones), 5000):
        chunk = phones[start : start + 5000]
        query = select(CONTACTS.c.phone, CONTACTS.c.id).where(
            dialect.one_of(CONTACTS.c.phone, chunk)
        )
        found.update({row.phone: row.id for row in await session.execute(query)})
    return found


async def ensure(session: AsyncSession, phone: str) -> Contact:
    contact_id = (await ensure_many(session, [phone]))[phone]
    contact = await session.get(Contact, contact_id)
    assert contact is not None  # just created or found
    return contact


async def find(session: AsyncSession, ref: str, region: str) -> Contact:
    """By ID (digits only, fewer than 10), phone number in any format the
    number parser takes, or external ID (``external_id:<id>`` to say so when
    the ID could be read as a number)."""
    external_id = ref.removeprefix(EXTERNAL_REF) if ref.startswith(EXTERNAL_REF) else None
    contact = None
    if external_id is None and ref.isdigit() and len(ref) < 10:
        contact = await session.get(Contact, int(ref))
    elif external_id is None:
        try:
            number = phone_numbers.normalize(ref, region, field="contact")
        except ValidationFailed:
            external_id = ref  # not a number: the customer's own ID
        else:
            contact = await session.scalar(select(Contact).where(Contact.phone == number))
    if external_id is not None:
        contact = await session.scalar(select(Contact).where(Contact.external_id == external_id))
    if contact is None:
        raise NotFound(f"no contact {ref!r}")
    return contact


async def upsert(session: AsyncSession, data: ContactIn, region: str) -> tuple[Contact, bool]:
    """Create the contact, or update the one with ``data.external_id`` (its
    number may change) or else with ``data.phone``; True when created."""
    if data.phone is None and data.external_id is None:
        raise ValidationFailed("phone", "a phone number or an external_id is required")
    facts = numbers.read(data.phone, region, "phone") if data.phone is not None else None
    by_external = None
    if data.external_id is not None:
        query = select(Contact).where(Contact.external_id == data.external_id)
        by_external = await session.scalar(query)
    by_phone = None
    if facts is not None:
        by_phone = await session.scalar(select(Contact).where(Contact.phone == facts.phone))
    if by_phone is not None and by_external is not None and by_phone.id != by_external.id:
        raise Conflict(
            f"{by_phone.phone} is contact {by_phone.id}, but external_id "
            f"{data.external_id!r} is contact {by_external.id}"
        )
    contact = by_external or by_phone
    created = contact is None
    if contact is None:
        if facts is None:
            raise ValidationFailed(
                "phone", f"no contact has external_id {data.external_id!r}: a phone is required"
            )
        now = utcnow()
        contact = Contact(phone=facts.phone, attributes={}, tags=[], created_at=now)
        _set_number(contact, facts)
        contact.updated_at = now
        session.add(contact)
    elif facts is not None and facts.phone != contact.phone:
        _set_number(contact, facts)
    if data.external_id is not None and contact.external_id != data.external_id:
        if contact.external_id is not None:
            raise Conflict(
                f"{contact.phone} is contact {contact.id} with external_id "
                f"{contact.external_id!r}, not {data.external_id!r}"
            )
        contact.external_id = data.external_id
    _apply(
        contact,
        attribute_changes=data.attributes,
        add_tags=data.tags,
        time_zone=data.time_zone,
        zone_given="time_zone" in data.model_fields_set,
    )
    await session.flush()
    return contact, created


async def change(
    session: AsyncSession, contact: Contact, data: ContactChange, region: str
) -> Contact:
    """Apply a PATCH: attributes merged (null deletes a key), tags added and
    removed, a new number, external_id or time zone (null: from the number)."""
    given = data.model_fields_set
    if data.phone is not None:
        facts = numbers.read(data.phone, region, "phone")
        if facts.phone != contact.phone:
            if await session.scalar(select(Contact.id).where(Contact.phone == facts.phone)):
                raise Conflict(f"{facts.phone} is another contact's number")
            _set_number(contact, facts)
    if "external_id" in given and data.external_id != contact.external_id:
        if data.external_id is not None and await session.scalar(
            select(Contact.id).where(Contact.external_id == data.external_id)
        ):
            raise Conflict(f"external_id {data.external_id!r} is another contact's")
        contact.external_id = data.external_id
        contact.updated_at = utcnow()
    _apply(
        contact,
        attribute_changes=data.attributes,
        add_tags=data.add_tags,
        remove_tags=data.remove_tags,
        time_zone=data.time_zone,
        zone_given="time_zone" in given,
    )
    await session.flush()
    return contact


def _set_number(contact: Contact, facts: numbers.NumberFacts) -> None:
    contact.phone = facts.phone
    contact.country = facts.country
    contact.phone_type = facts.phone_type
    if contact.time_zone_source != time_zones.EXPLICIT:
        contact.time_zone = facts.time_zone
        contact.time_zone_source = facts.time_zone_source
    contact.updated_at = utcnow()


def _apply(
    contact: Contact,
    *,
    attribute_changes: dict[str, Any],
    add_tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
    time_zone: str | None,
    zone_given: bool,
) -> None:
    new_attributes = attributes.merged(contact.attributes or {}, attribute_changes)
    if new_attributes != contact.attributes:
        contact.attributes = new_attributes
        contact.updated_at = utcnow()
    set_tags(contact, add=clean_tags(add_tags), remove=remove_tags)
    if zone_given:
        zone: str | None
        if time_zone is not None:
            zone, source = time_zones.check_zone(time_zone), time_zones.EXPLICIT
        else:
            derived = numbers.of_stored(contact.phone)
            zone, source = derived.time_zone, derived.time_zone_source
        if (zone, source) != (contact.time_zone, contact.time_zone_source):
            contact.time_zone, contact.time_zone_source = zone, source
            contact.updated_at = utcnow()


# A contact list's filters, each one condition of the segment rule language.
LIST_FILTERS = (
    "tag",
    "country",
    "phone_type",
    "time_zone",
    "phone_prefix",
    "external_id",
    "opted_out",
    "created_after",
    "created_before",
    "rules",
)


def list_filter(
    filters: Mapping[str, Sequence[str]], saved: dict[str, Any] | None = None
) -> Rule | None:
    """The rule a contact list's filters make (all of them must hold), with a
    saved segment's rules when given; :class:`ValidationFailed` names the filter."""
    conditions: list[Any] = []
    for name, values in filters.items():
        if name not in LIST_FILTERS:
            raise ValidationFailed(name, f"unknown filter; one of {', '.join(LIST_FILTERS)}")
        for value in values:
            condition = _filter_condition(name, value)
            try:
                rules.parse(condition, name)
            except ValidationFailed as exc:  # a plain filter is named as it was given
                raise ValidationFailed(
                    exc.field if name == "rules" else name, exc.message
                ) from None
            conditions.append(condition)
    if saved is not None:
        conditions.append(saved)
    return rules.parse({"all": conditions}) if conditions else None


def _filter_condition(name: str, value: str) -> Any:
    if name == "rules":
        try:
            return json.loads(value)
        except ValueError:
            raise ValidationFailed("rules", "a JSON rule tree") from None
    if name == "tag":
        return {"field": "tags", "op": "has", "value": value}
    if name in ("country", "phone_type", "time_zone"):
        return {"field": name, "op": "in", "value": [v.strip() for v in value.split(",")]}
    if name == "phone_prefix":
        return {"field": "phone", "op": "starts_with", "value": value}
    if name == "opted_out":
        if value.lower() not in ("true", "false"):
            raise ValidationFailed("opted_out", "true or false")
        return {"field": "opted_out", "op": "eq", "value": value.lower() == "true"}
    if name == "created_after":
        return {"field": "created_at", "op": "gt", "value": value}
    if name == "created_before":
        return {"field": "created_at", "op": "lt", "value": value}
    return {"field": "external_id", "op": "eq", "value": value}


async def list_contacts(
    session: AsyncSession,
    compiler: SegmentCompiler,
    rule: Rule | None,
    *,
    after_id: int | None,
    limit: int,
) -> list[Contact]:
    """Contacts in ID order from ``after_id`` (keyset paging), those matching
    ``rule`` when given."""
    query = select(Contact).order_by(Contact.id).limit(limit)
    if after_id is not None:
        query = query.where(Contact.id > after_id)
    if rule is not None:
        query = query.where(compiler.where(rule))
    return list(await session.scalars(query))


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
    current = list(contact.tags or [])
    tags = [t for t in current if t not in removed]
    tags.extend(t for t in add if t not in tags)
    if tags != current:
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
    thread.sort(key=lambda item: cast(datetime, item["at"]), reverse=True)
    for item in thread:
        item["at"] = item["at"].isoformat()
    return thread[:limit]
