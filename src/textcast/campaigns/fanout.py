"""Turning a campaign's due recipients into messages, one batch per transaction.

A batch reads at most :data:`BATCH` pending recipients due now (with their
contacts), decides each one — quiet hours (defer or skip), expiry, frequency
caps, rendering — and writes the messages, their ``message.queued`` events,
their tracked links and the recipients' new states in the same transaction.
So a batch is all or nothing: a process killed mid-batch leaves the
recipients pending, and the next run makes them once.

Frequency caps are counted in that transaction with the contacts locked
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer, which the
batch takes with its first statement), so two campaigns fanning out on two
workers cannot both pass a cap for the same contact.

Memory is one batch's worth, whatever the campaign's size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.audience import time_zones
from textcast.audience.segment_sql import CONTACTS
from textcast.campaigns import lifecycle, policies
from textcast.campaigns.service import Arm, arms, cancel_waiting_messages
from textcast.config import Settings
from textcast.content.preview import finish
from textcast.content.render import Compiled, RenderError, compile_template, contact_scope
from textcast.db.dialect import dialect_of
from textcast.db.models import (
    Campaign,
    CampaignRecipient,
    Message,
    MessageEvent,
    Sender,
    event_type,
)
from textcast.errors import ValidationFailed
from textcast.policy import frequency
from textcast.policy.decision import SEND, Defer, Skip
from textcast.policy.frequency import FrequencyCap
from textcast.policy.quiet_hours import ALWAYS_OPEN, QuietHours
from textcast.services import senders as sender_service
from textcast.services.messages import validate_content
from textcast.tracking import link_store, links

BATCH = 1000
# Messages of one campaign waiting in the outbox before the fan-out waits for
# the dispatcher: a pause then holds back all but these, and the outbox stays short.
QUEUE_AHEAD = 10_000
FAILURE_WINDOW = 500
MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
RECIPIENTS = cast(Table, CampaignRecipient.__table__)
FAILED_STATUSES = (status.FAILED, status.UNDELIVERED)
WAITING_STATUSES = (status.QUEUED, status.DISPATCHING)
_CALENDAR_REACH = {"day": timedelta(days=2), "week": timedelta(days=8), "month": timedelta(days=32)}
_QUEUED_EVENT = ("message_id", "type", "status", "source", "created_at")


@dataclass
class Plan:
    """What every batch of one campaign needs, worked out once per run."""

    campaign_id: int
    name: str
    category: str
    sender: Sender
    provider_type: str
    arms: dict[str | None, tuple[Arm, Compiled]]
    quiet: QuietHours
    caps: list[FrequencyCap]
    link_base: str
    click_tracking: bool
    expires_at: datetime | None
    throttle: int | None
    install_zone: str
    settings: Settings

    @property
    def quiet_never(self) -> bool:
        """No window can close on this campaign's messages: skip the check."""
        bypass = self.category == "transactional" and self.quiet.bypass_transactional
        off = self.quiet.window == ALWAYS_OPEN and not self.quiet.follow_law
        return bypass or off


async def plan(settings: Settings, session: AsyncSession, campaign: Campaign) -> Plan:
    if campaign.sender_id is None:
        raise ValidationFailed("sender", "the campaign has no sender")
    sender = await session.get(Sender, campaign.sender_id)
    if sender is None or sender.deleted_at is not None:
        raise ValidationFailed("sender", "the campaign's sender was deleted")
    provider = await sender_service.provider_of(session, sender)
    found = {arm.name: (arm, compile_template(arm.body)) for arm in await arms(session, campaign)}
    tracking = campaign.click_tracking or any(
        a.template_version is not None and a.template_version.click_tracking
        for a, _ in found.values()
    )
    return Plan(
        campaign_id=campaign.id,
        name=campaign.name,
        category=campaign.category,
        sender=sender,
        provider_type=provider.type,
        arms=found,
        quiet=policies.quiet_hours(settings, campaign.quiet_hours),
        caps=policies.campaign_caps(
            settings, campaign.frequency_caps, campaign.category, refuse_looser=False
        ),
        link_base=links.link_base(settings),
        click_tracking=tracking,
        expires_at=campaign.expires_at,
        throttle=campaign.throttle_per_minute,
        install_zone=settings.default_time_zone,
        settings=settings,
    )


@dataclass
class Outcome:
    """What a batch did."""

    queued: int = 0
    skipped: int = 0
    deferred: int = 0

    @property
    def touched(self) -> int:
        return self.queued + self.skipped + self.deferred


@dataclass
class _Batch:
    messages: list[dict[str, Any]] = field(default_factory=list)
    queued_recipients: list[int] = field(default_factory=list)
    minted: list[tuple[int | None, list[tuple[str, str]]]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[dict[str, Any]] = field(default_factory=list)


async def run_batch(session: AsyncSession, p: Plan, now: datetime) -> Outcome:
    """Make messages for up to one batch of due recipients. The caller holds
    the campaign (its lease, and on PostgreSQL its row lock)."""
    size = BATCH if p.throttle is None else min(BATCH, p.throttle)
    # The outbox and the recipients grow during a fan-out faster than the
    # statistics follow: look up by index, never by scanning them per batch.
    await dialect_of(session).prefer_index_scans(await session.connection())
    rows = (
        await session.execute(
            select(
                RECIPIENTS.c.id,
                RECIPIENTS.c.contact_id,
                RECIPIENTS.c.phone,
                RECIPIENTS.c.variant,
                CONTACTS.c.id.label("contact"),
                CONTACTS.c.attributes,
                CONTACTS.c.tags,
                CONTACTS.c.country,
                CONTACTS.c.time_zone,
                CONTACTS.c.time_zone_source,
                CONTACTS.c.external_id,
            )
            .select_from(RECIPIENTS.outerjoin(CONTACTS, CONTACTS.c.id == RECIPIENTS.c.contact_id))
            .where(
                RECIPIENTS.c.campaign_id == p.campaign_id,
                RECIPIENTS.c.status == "pending",
                RECIPIENTS.c.due_at <= now,
            )
            # due_at alone: the index (campaign_id, status, due_at) gives that
            # order, where a second key would sort every pending row per batch.
            .order_by(RECIPIENTS.c.due_at)
            .limit(size)
        )
    ).all()
    if not rows:
        return Outcome()
    dialect = dialect_of(session)
    if dialect.name == "postgresql":
        # The caps' count and the new messages are one decision per contact:
        # hold the contacts until commit, in ID order (no deadlock between
        # two campaigns locking overlapping batches).
        ids = sorted({row.contact_id for row in rows})
        await session.execute(
            select(CONTACTS.c.id)
            .where(dialect.one_of(CONTACTS.c.id, ids))
            .order_by(CONTACTS.c.id)
            .with_for_update()
        )
    sent_before = await _recent_messages(session, p, [row.phone for row in rows], now)
    batch = _Batch()
    for row in rows:
        _decide(p, row, now, sent_before, batch)
    await _write(session, p, batch, now)
    return Outcome(len(batch.queued_recipients), len(batch.skipped), len(batch.deferred))


async def _recent_messages(
    session: AsyncSession, p: Plan, phones: Sequence[str], now: datetime
) -> dict[str, list[datetime]]:
    """When each number was sent messages the caps count, as far back as the longest cap looks."""
    binding = [cap for cap in p.caps if cap.binds(p.category)]
    if not binding:
        return {}
    # A calendar period starts at local midnight, up to a day either side of UTC's.
    spans = [cap.rolling or _CALENDAR_REACH[cap.calendar or "month"] for cap in binding]
    furthest = now - max(spans)
    categories = sorted(set().union(*(cap.categories for cap in binding)))
    found: dict[str, list[datetime]] = defaultdict(list)
    rows = await session.execute(
        select(Message.to, Message.created_at).where(
            dialect_of(session).one_of(MESSAGES.c.to, phones),
            Message.created_at >= furthest,
            Message.category.in_(categories),
            Message.status != status.CANCELED,
            Message.is_test.is_(False),
        )
    )
    for to, at in rows:
        found[to].append(at)
    return found


def _decide(
    p: Plan, row: Any, now: datetime, sent_before: dict[str, list[datetime]], batch: _Batch
) -> None:
    def skip(reason: str, detail: str | None = None) -> None:
        batch.skipped.append({"rid": row.id, "reason": reason, "detail": detail})

    if row.contact is None:
        skip("contact_removed", "the contact was erased after the campaign started")
        return
    zone_names = time_zones.candidates(
        row.phone, row.time_zone, row.time_zone_source, p.install_zone
    )
    zones = [ZoneInfo(name) for name in zone_names]
    decision = (
        SEND
        if p.quiet_never
        else p.quiet.check(
            now, zones=zones, category=p.category, country=row.country, phone=row.phone
        )
    )
    if isinstance(decision, Skip):
        skip(decision.reason, decision.detail)
        return
    if isinstance(decision, Defer):
        if p.expires_at is not None and decision.until >= p.expires_at:
            skip("quiet_hours_expired", f"{decision.reason} last past the campaign's expiry")
        else:
            batch.deferred.append({"rid": row.id, "due": decision.until})
        return
    zone = zones[0]
    if p.caps:
        times = sent_before.get(row.phone, [])
        counted = {cap: sum(1 for t in times if t >= cap.since(now, zone)) for cap in p.caps}
        capped = frequency.check(p.caps, p.category, counted)
        if isinstance(capped, Skip):
            skip(capped.reason, capped.detail)
            return
    arm, compiled = p.arms[row.variant if row.variant in p.arms else next(iter(p.arms))]
    scope = contact_scope(
        phone=row.phone,
        attributes=row.attributes or {},
        tags=row.tags or [],
        country=row.country,
        time_zone=row.time_zone,
        external_id=row.external_id,
    )
    try:
        text = compiled.render(scope, {}, zone)
    except RenderError as exc:
        skip("render_error", exc.variable or str(exc))
        return
    version = arm.template_version
    unsubscribe = (
        p.sender.unsubscribe_text if version is not None and version.append_unsubscribe else None
    )
    minted: list[tuple[str, str]] = []
    if p.click_tracking:
        made = links.mint(text, p.link_base, version.utm if version is not None else None)
        text, minted = made.text, made.links
    text = finish(text, unsubscribe)
    if not text.strip():
        skip("render_error", "the text came out empty")
        return
    template_id = version.provider_template_id if version is not None else None
    try:
        # The rule every message is held to: the segment limit, Twilio's 1,600
        # characters, a sender that needs a template ID.
        info = validate_content(p.settings, p.sender, p.provider_type, text, [], template_id)
    except ValidationFailed as exc:
        skip("render_error", exc.message)
        return
    batch.queued_recipients.append(row.id)
    batch.minted.append((row.contact_id, minted))
    batch.messages.append(
        {
            "provider_id": p.sender.provider_id,
            "sender_id": p.sender.id,
            "to": row.phone,
            "body": text,
            "media_urls": [],
            "template_id": template_id,
            "campaign": p.name,
            "campaign_id": p.campaign_id,
            "variant": row.variant,
            "category": p.category,
            "automation": None,
            "status": status.QUEUED,
            "segments": info.segments,
            "encoding": info.encoding,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
            "attempts": 0,
            "is_test": False,
            "possible_duplicate": False,
        }
    )
    # Counted at once: the same number later in this batch (it cannot be, numbers
    # are unique among contacts) or the next cap check sees it.
    sent_before.setdefault(row.phone, []).append(now)


async def _write(session: AsyncSession, p: Plan, batch: _Batch, now: datetime) -> None:
    dialect = dialect_of(session)
    if batch.messages:
        ids = await dialect.insert_returning_ids(session, MESSAGES, batch.messages)
        connection = await session.connection()
        # Accepted into the outbox like an API message (event_type would read
        # a queued status from anything but the API as a requeue).
        kind = event_type(status.QUEUED, "api")
        at = dialect.bind_time(now)
        events = [(mid, kind, status.QUEUED, "campaign", at) for mid in ids]
        await dialect.insert_rows(connection, EVENTS, _QUEUED_EVENT, events)
        tracked = [
            link_store.MessageLinks(mid, contact_id, p.name, minted)
            for mid, (contact_id, minted) in zip(ids, batch.minted, strict=True)
            if minted
        ]
        if tracked:
            await link_store.save(connection, tracked)
        await session.execute(
            update(RECIPIENTS)
            .where(RECIPIENTS.c.id == bindparam("rid"))
            .values(status="queued", message_id=bindparam("mid")),
            [
                {"rid": rid, "mid": mid}
                for rid, mid in zip(batch.queued_recipients, ids, strict=True)
            ],
        )
    if batch.skipped:
        await session.execute(
            update(RECIPIENTS)
            .where(RECIPIENTS.c.id == bindparam("rid"))
            .values(status="skipped", reason=bindparam("reason"), detail=bindparam("detail")),
            batch.skipped,
        )
    if batch.deferred:
        await session.execute(
            update(RECIPIENTS)
            .where(RECIPIENTS.c.id == bindparam("rid"))
            .values(due_at=bindparam("due")),
            batch.deferred,
        )
    values: dict[str, Any] = {
        "queued": Campaign.queued + len(batch.messages),
        "skipped": Campaign.skipped + len(batch.skipped),
    }
    if p.throttle is not None and batch.messages:
        values["next_batch_at"] = now + timedelta(minutes=len(batch.messages) / p.throttle)
    await session.execute(
        update(Campaign)
        .where(Campaign.id == p.campaign_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def expire(session: AsyncSession, campaign_id: int) -> int:
    """Past the campaign's expiry: every recipient still pending is skipped
    (``campaign_expired``) and its messages not yet handed to a worker are
    cancelled — late is worse than never for an offer that has ended."""
    result = await session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "pending")
        .values(status="skipped", reason="campaign_expired")
        .execution_options(synchronize_session=False)
    )
    count = getattr(result, "rowcount", 0) or 0
    await cancel_waiting_messages(session, campaign_id, "the campaign expired")
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(skipped=Campaign.skipped + count)
        .execution_options(synchronize_session=False)
    )
    return count


async def has_pending(session: AsyncSession, campaign_id: int) -> bool:
    query = select(
        exists().where(
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "pending"
        )
    )
    return bool(await session.scalar(query))


async def next_due(session: AsyncSession, campaign_id: int) -> datetime | None:
    return await session.scalar(
        select(func.min(CampaignRecipient.due_at)).where(
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "pending"
        )
    )


async def waiting_messages(session: AsyncSession, campaign_id: int, limit: int) -> int:
    """The campaign's messages not yet handed to the provider, counted up to ``limit``."""
    inner = (
        select(Message.id)
        .where(Message.campaign_id == campaign_id, Message.status.in_(WAITING_STATUSES))
        .limit(limit)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(inner)) or 0)


async def failure_rate(
    session: AsyncSession, campaign_id: int, after_message_id: int | None = None
) -> float | None:
    """The share (%) failed of the campaign's last :data:`FAILURE_WINDOW`
    finished messages (made after ``after_message_id``, when given); None
    until that many (or every such message) finished."""
    mine = [Message.campaign_id == campaign_id]
    if after_message_id is not None:
        mine.append(Message.id > after_message_id)
    rows = list(
        await session.scalars(
            select(Message.status)
            .where(*mine, Message.status.in_(status.FINAL))
            .order_by(Message.id.desc())
            .limit(FAILURE_WINDOW)
        )
    )
    made = select(Message.id).where(*mine).limit(FAILURE_WINDOW).subquery()
    counted = int(await session.scalar(select(func.count()).select_from(made)) or 0)
    if not rows or len(rows) < counted:
        return None
    return 100.0 * sum(1 for s in rows if s in FAILED_STATUSES) / len(rows)


__all__ = ["BATCH", "Outcome", "Plan", "expire", "lifecycle", "plan", "run_batch"]
