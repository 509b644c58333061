"""Preview requests: which template, for whom, and the answer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone as phone_numbers
from textcast.audience import contacts, rules, segments
from textcast.config import Settings
from textcast.content import templates
from textcast.content.preview import Preview, preview
from textcast.content.render import Record, compile_template, contact_scope
from textcast.db.models import Contact, Sender
from textcast.errors import ValidationFailed
from textcast.services import senders as sender_service
from textcast.tracking import links

# A segment preview renders for its first contacts by ID: enough to catch the
# long name or the curly quote that pushes a text into another segment, few
# enough to answer while the editor types.
SEGMENT_SAMPLE = 10
MAX_SEGMENT_SAMPLE = 50


class SampleContact(BaseModel):
    """A made-up recipient, to see a text before any contact has the data."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field("+14155550100", max_length=40)
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    time_zone: str | None = Field(None, max_length=64)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str | int | None = Field(None, description="a saved template (name or id)")
    version: int | None = Field(None, ge=1, description="that template's version; current if unset")
    draft: templates.TemplateFields | None = Field(
        None, description="an unsaved template (what the editor holds)"
    )
    contact: str | None = Field(None, description="a saved contact: id or phone number")
    sample_contact: SampleContact | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="values for data.…")
    segment: str | None = Field(
        None,
        max_length=100,
        description="a saved segment (name or id): preview for its first `sample_size` contacts",
    )
    sample_size: int = Field(
        SEGMENT_SAMPLE,
        ge=1,
        le=MAX_SEGMENT_SAMPLE,
        description="how many of the segment's contacts",
    )


async def run(session: AsyncSession, settings: Settings, request: PreviewRequest) -> list[Preview]:
    """The text for each recipient the request names."""
    fields = await _fields(session, request)
    compiled = compile_template(fields.body)
    unsubscribe = await _unsubscribe_text(session, fields)
    # Tracked links count at the length they will have, not the original's.
    base = links.link_base(settings)
    shorten = (lambda text: links.measure_shortened(text, base)) if fields.click_tracking else None

    def one(scope: Record, zone: ZoneInfo | None) -> Preview:
        return preview(
            compiled, scope, request.data, zone, unsubscribe_text=unsubscribe, shorten=shorten
        )

    if request.segment is not None:
        sample = await _segment_sample(session, settings, request)
        return [replace(one(scope, zone), recipient=phone) for phone, scope, zone in sample]
    return [one(*await _recipient(session, settings, request))]


async def _segment_sample(
    session: AsyncSession, settings: Settings, request: PreviewRequest
) -> list[tuple[str, Record, ZoneInfo | None]]:
    """Each of the segment's first contacts, as a template sees it."""
    if request.contact is not None or request.sample_contact is not None:
        raise ValidationFailed("segment", "give a segment, a contact or a sample contact, not two")
    assert request.segment is not None
    saved = await segments.find(session, request.segment)
    install_zone = settings.default_time_zone
    found = await segments.first_contacts(
        session, rules.parse(saved.rules), install_zone, request.sample_size
    )
    sample = []
    for contact in found:
        zone = contact.time_zone or install_zone
        sample.append((contact.phone, scope_of(contact, zone), _zone(zone)))
    return sample


async def _fields(session: AsyncSession, request: PreviewRequest) -> templates.TemplateFields:
    if (request.template is None) == (request.draft is None):
        raise ValidationFailed("template", "give either a saved template or a draft")
    if request.draft is not None:
        return request.draft
    assert request.template is not None
    template = await templates.get(session, request.template)
    wanted = request.version or template.version
    version = next((v for v in template.versions if v.version == wanted), None)
    if version is None:
        raise ValidationFailed("version", f"{template.name!r} has no version {wanted}")
    return templates.TemplateFields.model_validate(templates.fields_of(version))


async def _unsubscribe_text(session: AsyncSession, fields: templates.TemplateFields) -> str | None:
    if not fields.append_unsubscribe:
        return None
    if fields.sender is not None:
        sender = await sender_service.find_sender(session, fields.sender, missing_ok=True)
    else:
        sender = await sender_service.default_sender(session)
    return sender.unsubscribe_text if isinstance(sender, Sender) else None


async def _recipient(
    session: AsyncSession, settings: Settings, request: PreviewRequest
) -> tuple[Record, ZoneInfo | None]:
    if request.contact is not None:
        found = await contacts.find(session, request.contact, settings.default_region)
        zone = found.time_zone or settings.default_time_zone
        return scope_of(found, zone), _zone(zone)
    sample = request.sample_contact or SampleContact()
    number = phone_numbers.normalize(sample.phone, settings.default_region, field="sample_contact")
    scope = contact_scope(
        phone=number, attributes=sample.attributes, tags=sample.tags, time_zone=sample.time_zone
    )
    return scope, _zone(sample.time_zone)


def scope_of(contact: Contact, time_zone: str) -> Record:
    """What a template sees of a saved contact (``time_zone``: its own, or the
    install's default)."""
    return contact_scope(
        phone=contact.phone,
        attributes=contact.attributes,
        tags=contact.tags,
        country=contact.country,
        time_zone=time_zone,
        external_id=contact.external_id,
    )


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("time_zone", f"unknown time zone {name!r}") from None
