"""What one message says: its own body, or a saved template's current version
rendered for its recipient, with tracked links minted when asked for.

A message names a template by name or ID; the version current at that moment
is pinned (its ID is stored on the message), so later edits never change what
was sent. The text is rendered with the recipient's contact (attributes, tags,
zone); a number with no contact yet renders with an empty contact, its zone
from the number or the install's default. A variable that is missing and has
no default refuses the message, naming the variable.

The template brings its provider template ID, its unsubscribe flag, its
sender (unless the request names one), its click tracking and UTM parameters,
and its category (recorded on the message's ``queued`` event).

A Twilio Content SID (``HX`` + 32 hex) as the template ID is sent instead of
the text, with ``ContentVariables``: the template's own variables rendered for
the recipient, or, for a message naming the SID itself, its ``data``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import numbers
from textcast.config import Settings
from textcast.content import templates
from textcast.content.render import Record, RenderError, compile_template, contact_scope
from textcast.db.models import Contact, MessageTemplate, TemplateVersion
from textcast.errors import NotFound, ValidationFailed
from textcast.providers.twilio.form import CONTENT_SID
from textcast.services.template_previews import scope_of
from textcast.tracking import links


class SendRequest(Protocol):
    """What :func:`compose` reads of a send request
    (:class:`textcast.services.messages.SendRequest`)."""

    @property
    def body(self) -> str: ...
    @property
    def template(self) -> str | int | None: ...
    @property
    def template_id(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def sender(self) -> str | None: ...
    @property
    def append_unsubscribe_text(self) -> bool: ...
    @property
    def click_tracking(self) -> bool: ...


@dataclass
class Content:
    """A message's text before the unsubscribe line, and what comes with it."""

    body: str
    template_id: str | None
    append_unsubscribe: bool
    sender: str | int | None  # the request's, else the template's (an ID)
    template: MessageTemplate | None = None
    version: TemplateVersion | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (code, destination)
    content_variables: str | None = None  # ContentVariables JSON, with a Content SID

    def event_data(self) -> dict[str, Any] | None:
        """What the ``queued`` event records about the template, if any."""
        if self.template is None or self.version is None:
            return None
        return {
            "template": self.template.name,
            "template_version": self.version.version,
            "template_version_id": self.version.id,
            "category": self.version.category,
        }


async def compose(
    settings: Settings, session: AsyncSession, request: SendRequest, to: str
) -> Content:
    """The text for ``to`` (E.164): the request's body, or its template
    rendered; URLs swapped for tracked short links when click tracking is on."""
    _check(request)
    if request.template is None:
        content = Content(
            request.body, request.template_id, request.append_unsubscribe_text, request.sender
        )
        content.content_variables = _as_variables(request.data)
        utm: dict[str, Any] = {}
        tracking = request.click_tracking
    else:
        template = await _template(session, request.template)
        version = templates.current_version(template)
        scope, zone = await recipient_scope(settings, session, to)
        content = Content(
            render(version.body, scope, request.data, zone),
            version.provider_template_id,
            version.append_unsubscribe or request.append_unsubscribe_text,
            request.sender if request.sender is not None else version.sender_id,
            template,
            version,
        )
        if is_content_sid(version.provider_template_id) and version.content_variables:
            slots = version.content_variables.items()
            rendered = {slot: render(source, scope, request.data, zone) for slot, source in slots}
            content.content_variables = json.dumps(rendered, ensure_ascii=False)
        utm = dict(version.utm)
        tracking = request.click_tracking or version.click_tracking
    if tracking:
        minted = links.mint(content.body, links.link_base(settings), utm)
        content.body, content.links = minted.text, minted.links
    return content


def is_content_sid(template_id: str | None) -> bool:
    """Whether ``template_id`` is a Twilio Content SID (sent instead of a body)."""
    return template_id is not None and CONTENT_SID.match(template_id) is not None


def _check(request: SendRequest) -> None:
    if request.template is None:
        if request.data and not is_content_sid(request.template_id):
            raise ValidationFailed(
                "data", "data is read by a template, or sent as a Twilio Content SID's variables"
            )
        return
    if request.body:
        raise ValidationFailed("body", "give body or template, not both")
    if request.template_id is not None:
        raise ValidationFailed(
            "template_id", "the template brings its own template ID; leave template_id out"
        )


def _as_variables(data: dict[str, Any]) -> str | None:
    """A Content SID's variables from a message's ``data``: text for each slot."""
    if not data:
        return None
    values: dict[str, str] = {}
    for slot, value in data.items():
        if isinstance(value, dict | list) or value is None:
            raise ValidationFailed(f"data.{slot}", "a Content variable is text or a number")
        values[str(slot)] = str(value).lower() if isinstance(value, bool) else str(value)
    return json.dumps(values, ensure_ascii=False)


async def _template(session: AsyncSession, ref: str | int) -> MessageTemplate:
    try:
        return await templates.get(session, ref)
    except NotFound:
        raise ValidationFailed("template", f"no template {ref!r}") from None


def render(source: str, scope: Record, data: dict[str, Any], zone: ZoneInfo | None) -> str:
    """``source`` for one recipient; a missing variable is named in the error
    (as the field when it is one of the request's ``data``)."""
    try:
        return compile_template(source).render(scope, data, zone)
    except RenderError as exc:
        variable = exc.variable or ""
        raise ValidationFailed(
            variable if variable.startswith("data.") else "template", str(exc)
        ) from None


async def recipient_scope(
    settings: Settings, session: AsyncSession, to: str
) -> tuple[Record, ZoneInfo | None]:
    """What a template sees of ``to``: its contact, or an empty one with the
    number's own facts (country, zone) when there is no contact yet."""
    contact = await session.scalar(select(Contact).where(Contact.phone == to))
    if contact is not None:
        zone_name = contact.time_zone or settings.default_time_zone
        return scope_of(contact, zone_name), _zone(zone_name)
    facts = numbers.of_stored(to)
    zone_name = facts.time_zone or settings.default_time_zone
    scope = contact_scope(phone=to, attributes={}, country=facts.country, time_zone=zone_name)
    return scope, _zone(zone_name)


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # dates then read in UTC: a bad stored zone must not stop a send
