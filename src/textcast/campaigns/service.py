"""Campaigns as objects: create, change, read, delete (drafts), and the
operator's moves (launch, pause, resume, cancel). The fan-out itself is in
:mod:`textcast.campaigns.materialise` and :mod:`textcast.campaigns.fanout`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Table, func, literal, null, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone
from textcast.audience import contacts, rules, segments
from textcast.campaigns import lifecycle, policies
from textcast.campaigns.spec import CONTROL, CampaignChange, CampaignIn, Variant
from textcast.config import Settings
from textcast.content import templates
from textcast.content.render import compile_template
from textcast.db.models import (
    MAX_ID,
    RECIPIENT_PENDING,
    RECIPIENT_UNQUEUED,
    Campaign,
    CampaignRecipient,
    Message,
    Sender,
    TemplateVersion,
    recipients_in_status,
    utcnow,
)
from textcast.errors import Conflict, NotFound, ValidationFailed
from textcast.services import campaign_outbox
from textcast.services import senders as sender_service

RECIPIENTS = cast(Table, CampaignRecipient.__table__)


@dataclass(frozen=True)
class Arm:
    """One text the campaign sends: the whole campaign, or one A/B variant."""

    name: str | None  # None: no A/B test
    body: str
    percent: int
    template_version: TemplateVersion | None  # its options (utm, unsubscribe, provider ID)


def aware(moment: datetime | None) -> datetime | None:
    """A time given without an offset is read as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# --- reading --------------------------------------------------------------------------


async def get(session: AsyncSession, ref: str | int) -> Campaign:
    """By ID or by name."""
    if isinstance(ref, int) or ref.isdigit():
        number = int(ref)
        found = await session.get(Campaign, number) if 0 <= number <= MAX_ID else None
    else:
        found = await session.scalar(select(Campaign).where(Campaign.name == ref))
    if found is None:
        raise NotFound(f"no campaign {ref!r}")
    return found


async def list_campaigns(
    session: AsyncSession,
    *,
    status_filter: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Campaign]:
    """Newest first; ``before_id`` (the last ID seen) pages on."""
    if status_filter is not None and status_filter not in lifecycle.STATUSES:
        raise ValidationFailed("status", f"one of {', '.join(lifecycle.STATUSES)}")
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    if status_filter:
        query = query.where(Campaign.status == status_filter)
    if before_id is not None:
        query = query.where(Campaign.id < before_id)
    return list(await session.scalars(query))


async def recipient_counts(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    """Recipients by status, and skipped ones by reason (``skipped:<reason>``).

    The ones without a message from their index; the queued ones from the
    campaign's counter, which each batch moves with the rows it queues (a
    million of them were read one by one). One statement: one snapshot."""
    unqueued = (
        select(CampaignRecipient.status, CampaignRecipient.reason, func.count())
        .where(CampaignRecipient.campaign_id == campaign_id, RECIPIENT_UNQUEUED)
        .group_by(CampaignRecipient.status, CampaignRecipient.reason)
    )
    queued = select(literal("queued"), null(), Campaign.queued).where(
        Campaign.id == campaign_id, Campaign.queued > 0
    )
    rows: Any = await session.execute(union_all(unqueued, queued))
    counts: dict[str, int] = {}
    for state, reason, number in rows:
        counts[state] = counts.get(state, 0) + number
        if reason:
            counts[f"{state}:{reason}"] = number
    return counts


async def list_recipients(
    session: AsyncSession,
    campaign_id: int,
    *,
    status_filter: str | None = None,
    reason: str | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[CampaignRecipient]:
    query = (
        select(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign_id)
        .order_by(CampaignRecipient.id)
        .limit(limit)
    )
    if status_filter:
        query = query.where(*recipients_in_status(status_filter))
    if reason:
        query = query.where(CampaignRecipient.reason == reason)
    if after_id is not None:
        query = query.where(CampaignRecipient.id > after_id)
    return list(await session.scalars(query))


# --- writing --------------------------------------------------------------------------


async def create(settings: Settings, session: AsyncSession, data: CampaignIn) -> Campaign:
    now = utcnow()
    campaign = Campaign(
        name=data.name,
        status=lifecycle.DRAFT,
        category="promotional",
        variants=[],
        control_percent=0,
        audience={},
        click_tracking=False,
        labels=[],
        missed_local_time="next",
        created_at=now,
        updated_at=now,
        targeted=0,
        skipped=0,
        queued=0,
    )
    await _apply(settings, session, campaign, data, set(type(data).model_fields))
    session.add(campaign)
    await session.flush()
    return campaign


async def change(
    settings: Settings, session: AsyncSession, campaign: Campaign, data: CampaignChange
) -> Campaign:
    """Change a campaign that has not started; :class:`Conflict` with the reason otherwise."""
    lifecycle.editable(campaign.status, campaign.materialised_at is not None)
    await _apply(settings, session, campaign, data, set(data.model_fields_set))
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign


async def delete(session: AsyncSession, campaign: Campaign) -> None:
    if campaign.status != lifecycle.DRAFT:
        raise Conflict(
            f"only a draft can be deleted; this campaign is {campaign.status} (cancel it)"
        )
    await session.delete(campaign)


async def _apply(
    settings: Settings,
    session: AsyncSession,
    campaign: Campaign,
    data: BaseModel,
    given: set[str],
) -> None:
    values = {name: getattr(data, name) for name in given}
    if "name" in values and values["name"] is not None:
        same = await session.scalar(
            select(Campaign.id).where(Campaign.name == values["name"], Campaign.id != campaign.id)
        )
        if same is not None:
            raise Conflict(f"a campaign named {values['name']!r} already exists")
        campaign.name = values["name"]
    if "sender" in values:
        sender = values["sender"]
        campaign.sender_id = (
            None if sender is None else (await _sender(session, sender, "sender")).id
        )
    for plain in ("category", "click_tracking", "missed_local_time"):
        if plain in values and values[plain] is not None:
            setattr(campaign, plain, values[plain])
    for optional in ("local_time", "throttle_per_minute", "max_failure_rate"):
        if optional in values:
            setattr(campaign, optional, values[optional])
    for moment in ("send_at", "expires_at"):
        if moment in values:
            setattr(campaign, moment, aware(values[moment]))
    if "labels" in values:
        campaign.labels = _labels(values["labels"] or [])
    if "control_percent" in values and values["control_percent"] is not None:
        campaign.control_percent = values["control_percent"]
    if given & {"template", "template_version", "body"}:
        template = values.get("template", campaign.template_id if "body" not in values else None)
        body = values.get("body", campaign.body if "template" not in values else None)
        if template is not None and body is not None:
            raise ValidationFailed("body", "give either template or body, not both")
        version = values.get("template_version")
        campaign.template_id, campaign.template_version, campaign.body = await _content(
            session, template, version, body, "template"
        )
    if "variants" in values:
        campaign.variants = await _variants(session, values["variants"] or [])
    if "audience" in values and values["audience"] is not None:
        campaign.audience = await _audience(settings, session, values["audience"].stored())
    if "quiet_hours" in values:
        raw = values["quiet_hours"]
        campaign.quiet_hours = None if raw is None else policies.quiet_hours_json(raw)
    if "frequency_caps" in values:
        raw = values["frequency_caps"]
        campaign.frequency_caps = None if raw is None else policies.caps_json(raw)
    policies.campaign_caps(settings, campaign.frequency_caps, campaign.category)
    if campaign.expires_at is not None and campaign.expires_at <= (campaign.send_at or utcnow()):
        raise ValidationFailed("expires_at", "must be after the campaign starts")
    if not campaign.audience:
        raise ValidationFailed("audience", "give segment, rules, contacts or phones")
    if campaign.body is None and campaign.template_id is None and not campaign.variants:
        raise ValidationFailed("body", "give a body, a template, or variants")


async def _sender(session: AsyncSession, ref: str | int, field: str) -> Sender:
    found = await sender_service.find_sender(session, ref, missing_ok=True)
    if found is None:
        raise ValidationFailed(field, f"no sender {ref!r}")
    return found


async def _content(
    session: AsyncSession,
    template: str | int | None,
    version: int | None,
    body: str | None,
    field: str,
) -> tuple[int | None, int | None, str | None]:
    """(template id, pinned version, inline body), checked."""
    if body is not None:
        if version is not None:
            raise ValidationFailed(f"{field}_version", "only with a template")
        compile_template(body, "body" if field == "template" else f"{field[:-9]}.body")
        return None, None, body
    if template is None:
        return None, None, None
    try:
        found = await templates.get(session, template)
    except NotFound:
        raise ValidationFailed(field, f"no template {template!r}") from None
    number = version or found.version
    if not any(v.version == number for v in found.versions):
        raise ValidationFailed(
            f"{field}_version", f"template {found.name!r} has no version {number}"
        )
    return found.id, number, None


async def _variants(session: AsyncSession, given: list[Variant]) -> list[dict[str, Any]]:
    if not given:
        return []
    if len(given) < 2:
        raise ValidationFailed("variants", "an A/B test needs two variants or more")
    if len({v.name for v in given}) != len(given):
        raise ValidationFailed("variants", "variant names must differ")
    if sum(v.percent for v in given) != 100:
        raise ValidationFailed("variants", "the percents must add up to 100")
    stored = []
    for index, variant in enumerate(given):
        field = f"variants[{index}].template"
        template_id, version, body = await _content(
            session, variant.template, variant.template_version, variant.body, field
        )
        stored.append(
            {
                "name": variant.name,
                "template_id": template_id,
                "template_version": version,
                "body": body,
                "percent": variant.percent,
            }
        )
    return stored


async def _audience(
    settings: Settings, session: AsyncSession, raw: dict[str, Any]
) -> dict[str, Any]:
    if "segment" in raw:
        try:
            segment = await segments.find(session, str(raw["segment"]))
        except NotFound:
            raise ValidationFailed("audience.segment", f"no segment {raw['segment']!r}") from None
        return {"segment": segment.id}
    if "rules" in raw:
        rules.parse(raw["rules"])  # raises naming where (rules.all[1].value)
        return {"rules": raw["rules"]}
    if "contacts" in raw:
        return {"contacts": sorted(set(raw["contacts"]))}
    phones = []
    for index, number in enumerate(raw["phones"]):
        phones.append(
            phone.normalize(number, settings.default_region, field=f"audience.phones[{index}]")
        )
    return {"phones": sorted(set(phones))}


def _labels(labels: list[str]) -> list[str]:
    for index, label in enumerate(labels):
        if not label.strip() or len(label) > 50:
            raise ValidationFailed(f"labels[{index}]", "1 to 50 characters")
    return sorted({label.strip() for label in labels})


async def arms(session: AsyncSession, campaign: Campaign) -> list[Arm]:
    """What the campaign sends: its one text, or each variant's."""
    if campaign.variants:
        found = []
        for variant in campaign.variants:
            found.append(
                await _arm(
                    session,
                    variant["name"],
                    variant["percent"],
                    variant["template_id"],
                    variant["template_version"],
                    variant["body"],
                )
            )
        return found
    return [
        await _arm(
            session, None, 100, campaign.template_id, campaign.template_version, campaign.body
        )
    ]


async def _arm(
    session: AsyncSession,
    name: str | None,
    percent: int,
    template_id: int | None,
    version: int | None,
    body: str | None,
) -> Arm:
    if template_id is None:
        assert body is not None  # checked when saved
        return Arm(name, body, percent, None)
    row = await session.scalar(
        select(TemplateVersion).where(
            TemplateVersion.template_id == template_id, TemplateVersion.version == version
        )
    )
    if row is None:
        raise ValidationFailed("template", f"template {template_id} version {version} is gone")
    return Arm(name, row.body, percent, row)


# --- the operator's moves ---------------------------------------------------------------


async def launch(settings: Settings, session: AsyncSession, campaign: Campaign) -> Campaign:
    """Start the campaign now, or schedule it for ``send_at``. Its recipients
    are chosen when it starts, by the campaign runner."""
    lifecycle.require("launch", campaign.status)
    now = utcnow()
    if campaign.sender_id is None:
        default = await sender_service.default_sender(session)
        if default is None:
            raise ValidationFailed("sender", "there is no default sender: add a provider first")
        campaign.sender_id = default.id
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise ValidationFailed("expires_at", "has already passed")
    await arms(session, campaign)  # every pinned version still there
    if "phones" in campaign.audience:
        # Numbers become contacts now, so the fan-out selects contacts only.
        await contacts.ensure_many(session, campaign.audience["phones"], ids=False)
    starts_later = campaign.send_at is not None and campaign.send_at > now
    campaign.status = lifecycle.SCHEDULED if starts_later else lifecycle.SENDING
    campaign.launched_at = now
    campaign.status_reason = None
    campaign.updated_at = now
    await session.flush()
    return campaign


async def pause(session: AsyncSession, campaign: Campaign, reason: str | None = None) -> Campaign:
    """Stop sending: no more messages are made, and those waiting in the
    outbox are held there until a resume (see :func:`textcast.services.campaign_outbox.hold`)."""
    lifecycle.require("pause", campaign.status)
    campaign.status = lifecycle.PAUSED
    campaign.status_reason = reason or "paused by the operator"
    campaign.updated_at = utcnow()
    await session.flush()
    await campaign_outbox.hold(session, campaign.id)
    return campaign


async def resume(session: AsyncSession, campaign: Campaign) -> Campaign:
    lifecycle.require("resume", campaign.status)
    now = utcnow()
    not_yet = (
        campaign.materialised_at is None and campaign.send_at is not None and campaign.send_at > now
    )
    campaign.status = lifecycle.SCHEDULED if not_yet else lifecycle.SENDING
    campaign.status_reason = None
    campaign.next_batch_at = None
    if campaign.expires_at is None or campaign.expires_at > now:
        # Past its expiry the runner cancels them instead, before any can go late.
        await campaign_outbox.release_held(session, campaign.id, now)
    campaign.failures_counted_after = await session.scalar(
        select(func.max(Message.id)).where(Message.campaign_id == campaign.id)
    )
    campaign.updated_at = now
    await session.flush()
    return campaign


async def cancel(session: AsyncSession, campaign: Campaign) -> Campaign:
    """Stop for good: recipients not yet messaged are skipped (``cancelled``)
    and the campaign's messages still waiting in the outbox are cancelled."""
    lifecycle.require("cancel", campaign.status)
    now = utcnow()
    campaign.status = lifecycle.CANCELLED
    campaign.status_reason = "cancelled by the operator"
    campaign.completed_at = now
    campaign.updated_at = now
    await session.flush()
    skipped = await session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id, RECIPIENT_PENDING)
        .values(status="skipped", reason="cancelled")
        .execution_options(synchronize_session=False)
    )
    campaign.skipped += getattr(skipped, "rowcount", 0) or 0
    await campaign_outbox.cancel_waiting(session, campaign.id, "the campaign was cancelled")
    await session.flush()
    return campaign


__all__ = ["CONTROL", "Arm", "arms", "cancel", "change", "create", "delete", "get", "launch"]
