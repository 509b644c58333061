"""Saved templates: a name, a versioned text and how it is sent.

Every change writes a new version and the template points at it; versions are
never edited, so a campaign that pinned version 3 shows and sends exactly
version 3 whatever happens to the template later. Deleting a template hides
it from lists and new sends; its versions stay for the campaigns that used them.

The provider's own template ID travels with the text: an India DLT template
ID (the text must match what was registered, with ``{#var#}`` slots filled by
the personalisation), or a Twilio Content SID (``HX`` + 32 hex), which Twilio
sends instead of a body, filling its ``{{1}}``-style slots from
``content_variables`` rendered for each contact.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from textcast.content.render import compile_template
from textcast.db.models import MessageTemplate, Sender, TemplateVersion, utcnow
from textcast.db.refs import RefName, live
from textcast.errors import Conflict, NotFound, ValidationFailed
from textcast.providers.twilio.form import CONTENT_SID as TWILIO_CONTENT_SID

Category = Literal["promotional", "transactional"]
PROVIDER_TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


class TemplateFields(BaseModel):
    """What a version holds (every field of a new version; a change names only
    what it changes)."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=5000)
    template_id: str | None = Field(
        None, description="the provider's template ID: DLT template ID, or Twilio HX Content SID"
    )
    content_variables: dict[str, str] = Field(
        default_factory=dict,
        description="Twilio Content variables ({'1': '{{ contact.first_name }}'}), "
        "each rendered per contact; only with an HX template_id",
    )
    sender: str | int | None = Field(None, description="send from this sender (name or id)")
    category: Category = "promotional"
    append_unsubscribe: bool = Field(
        False, description="add the sender's unsubscribe text at the end"
    )
    click_tracking: bool = False
    utm: dict[str, str] = Field(default_factory=dict, description="UTM parameters for links")

    @field_validator("template_id")
    @classmethod
    def _template_id(cls, value: str | None) -> str | None:
        if value is not None and not PROVIDER_TEMPLATE_ID.match(value):
            raise ValueError("letters, digits and _ . : - only, at most 100")
        return value

    @field_validator("utm")
    @classmethod
    def _utm(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(UTM_KEYS)
        if unknown:
            raise ValueError(f"unknown UTM parameter(s) {sorted(unknown)}; use {UTM_KEYS}")
        return value


class TemplateIn(TemplateFields):
    name: RefName
    description: str | None = Field(None, max_length=500)


class TemplateChange(BaseModel):
    """A new version from the current one with these fields changed."""

    model_config = ConfigDict(extra="forbid")

    name: RefName | None = None
    description: str | None = Field(None, max_length=500)
    body: str | None = Field(None, min_length=1, max_length=5000)
    template_id: str | None = None
    content_variables: dict[str, str] | None = None
    sender: str | int | None = None
    category: Category | None = None
    append_unsubscribe: bool | None = None
    click_tracking: bool | None = None
    utm: dict[str, str] | None = None


async def create(session: AsyncSession, data: TemplateIn) -> MessageTemplate:
    if await _named(session, data.name) is not None:
        raise Conflict(f"a template named {data.name!r} exists")
    template = MessageTemplate(name=data.name, description=data.description, version=1)
    session.add(template)
    await session.flush()
    session.add(await _version(session, template.id, 1, data))
    await session.flush()
    return await get(session, template.id)


async def change(session: AsyncSession, ref: str | int, data: TemplateChange) -> MessageTemplate:
    """A new version with the fields ``data`` names; the name and description
    are the template's own and change in place."""
    template = await get(session, ref)
    given = data.model_dump(exclude_unset=True)
    if "name" in given and given["name"] != template.name:
        if await _named(session, given["name"]) is not None:
            raise Conflict(f"a template named {given['name']!r} exists")
        template.name = given["name"]
    if "description" in given:
        template.description = given["description"]
    version_fields = {k: v for k, v in given.items() if k in TemplateFields.model_fields}
    if version_fields:
        current = current_version(template)
        merged = TemplateFields.model_validate({**fields_of(current), **version_fields})
        template.version += 1
        session.add(await _version(session, template.id, template.version, merged))
    template.updated_at = utcnow()
    await session.flush()
    return await get(session, template.id)


async def delete(session: AsyncSession, ref: str | int) -> None:
    template = await get(session, ref)
    template.deleted_at = utcnow()
    # Free the name for a new template; the old one stays reachable by ID.
    template.name = f"{template.name[:80]}~deleted-{template.id}"


async def get(session: AsyncSession, ref: str | int) -> MessageTemplate:
    query = select(MessageTemplate).options(selectinload(MessageTemplate.versions))
    query = query.where(live(MessageTemplate, ref))
    found = await session.scalar(query.execution_options(populate_existing=True))
    if found is None:
        raise NotFound(f"no template {ref!r}")
    return found


async def list_templates(
    session: AsyncSession, *, after_id: int | None = None, limit: int = 100
) -> list[MessageTemplate]:
    query = (
        select(MessageTemplate)
        .options(selectinload(MessageTemplate.versions))
        .where(MessageTemplate.deleted_at.is_(None))
        .order_by(MessageTemplate.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(MessageTemplate.id > after_id)
    return list(await session.scalars(query))


async def get_version(session: AsyncSession, version_id: int) -> TemplateVersion:
    """A version by its own ID, deleted template or not (what campaigns pin)."""
    found = await session.get(TemplateVersion, version_id)
    if found is None:
        raise NotFound(f"no template version {version_id}")
    return found


def current_version(template: MessageTemplate) -> TemplateVersion:
    return next(v for v in template.versions if v.version == template.version)


def fields_of(version: TemplateVersion) -> dict[str, Any]:
    return {
        "body": version.body,
        "template_id": version.provider_template_id,
        "content_variables": dict(version.content_variables),
        "sender": version.sender_id,
        "category": version.category,
        "append_unsubscribe": version.append_unsubscribe,
        "click_tracking": version.click_tracking,
        "utm": dict(version.utm),
    }


async def _named(session: AsyncSession, name: str) -> MessageTemplate | None:
    return await session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.name == name, MessageTemplate.deleted_at.is_(None)
        )
    )


async def _version(
    session: AsyncSession, template_id: int, number: int, data: TemplateFields
) -> TemplateVersion:
    """A checked version: the body and every content variable compile, a
    Content SID comes with its variables' shape, the sender exists."""
    compile_template(data.body, "body")
    for slot, source in data.content_variables.items():
        compile_template(source, f"content_variables.{slot}")
    is_content = data.template_id is not None and TWILIO_CONTENT_SID.match(data.template_id)
    if data.content_variables and not is_content:
        raise ValidationFailed(
            "content_variables", "only for a Twilio Content template (template_id HX…)"
        )
    sender_id = None
    if data.sender is not None:
        sender = await session.scalar(select(Sender).where(live(Sender, data.sender)))
        if sender is None:
            raise ValidationFailed("sender", f"no sender {data.sender!r}")
        if data.append_unsubscribe and not sender.unsubscribe_text:
            raise ValidationFailed(
                "append_unsubscribe", f"sender {sender.name!r} has no unsubscribe text set"
            )
        sender_id = sender.id
    return TemplateVersion(
        template_id=template_id,
        version=number,
        body=data.body,
        provider_template_id=data.template_id,
        content_variables=data.content_variables,
        sender_id=sender_id,
        category=data.category,
        append_unsubscribe=data.append_unsubscribe,
        click_tracking=data.click_tracking,
        utm=data.utm,
    )
