"""A test send: the campaign's text, rendered for each test number, sent now
through the ordinary message path and marked as a test (``is_test``), so
it is seen on a phone exactly as recipients will see it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone
from textcast.campaigns.service import arms
from textcast.config import Settings
from textcast.content.preview import finish
from textcast.content.render import RenderError, compile_template, contact_scope
from textcast.db.models import Campaign, Contact, Message, Sender
from textcast.errors import ValidationFailed
from textcast.services import messages
from textcast.services import senders as sender_service


async def send_test(
    settings: Settings,
    session: AsyncSession,
    campaign: Campaign,
    numbers: list[str],
    variant: str | None = None,
) -> list[Message]:
    """Queue one test message per number; a number that is a contact gets its
    own personalisation, any other one renders with no attributes (a
    variable without a default is then a 422 naming it)."""
    found = await arms(session, campaign)
    chosen = next((a for a in found if a.name == variant), None) if variant else found[0]
    if chosen is None:
        raise ValidationFailed("variant", f"no variant {variant!r}")
    sender = await _sender(session, campaign)
    compiled = compile_template(chosen.body)
    version = chosen.template_version
    unsubscribe = (
        sender.unsubscribe_text if version is not None and version.append_unsubscribe else None
    )
    sent = []
    for index, raw in enumerate(numbers):
        field = f"phones[{index}]"
        to = phone.normalize(raw, settings.default_region, field=field)
        contact = await session.scalar(select(Contact).where(Contact.phone == to))
        scope = contact_scope(
            phone=to,
            attributes=contact.attributes if contact else {},
            tags=contact.tags if contact else [],
            country=contact.country if contact else None,
            time_zone=contact.time_zone if contact else None,
            external_id=contact.external_id if contact else None,
        )
        try:
            text = compiled.render(scope, {}, None)
        except RenderError as exc:
            raise ValidationFailed(field, f"cannot render for {to}: {exc}") from None
        request = messages.SendRequest(
            to=to,
            body=finish(text, unsubscribe),
            sender=sender.name,
            template_id=version.provider_template_id if version is not None else None,
            campaign=campaign.name,
        )
        try:
            # The single-message rules (the provider's countries among them),
            # answered for the test number that broke one.
            submitted = await messages.submit(settings, session, request, is_test=True)
        except ValidationFailed as exc:
            if exc.field != "to":
                raise
            raise ValidationFailed(field, exc.message) from None
        message = submitted.message
        message.campaign_id = campaign.id
        message.variant = chosen.name
        message.category = campaign.category
        sent.append(message)
    await session.flush()
    return sent


async def _sender(session: AsyncSession, campaign: Campaign) -> Sender:
    if campaign.sender_id is not None:
        found = await session.get(Sender, campaign.sender_id)
        if found is not None and found.deleted_at is None:
            return found
    default = await sender_service.default_sender(session)
    if default is None:
        raise ValidationFailed("sender", "there is no default sender: add a provider first")
    return default
