"""Turning a campaign's due recipients into messages, one batch per transaction.

A batch is at most :data:`BATCH` pending recipients due now (with their
contacts), read by :func:`due`. :func:`prepare` decides what can be decided
without holding anything — the provider's countries (a list changed since
the recipients were chosen), quiet hours (defer or skip), expiry, rendering,
links, the content rule — and :func:`commit` finishes it in the writing
transaction: the frequency caps, then the messages, their ``message.queued``
events, their tracked links and the recipients' new states. So a batch is
all or nothing: a process killed mid-batch leaves the recipients pending,
and the next run makes them once. The runner reads and prepares the next
batch while one is written (:mod:`textcast.campaigns.read_ahead`).

Frequency caps are counted in the commit with the contacts locked
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer, which the
batch takes with its first statement), so two campaigns fanning out on two
workers cannot both pass a cap for the same contact.

Memory is two batches' worth, whatever the campaign's size, and the texts
already measured (:data:`MAX_SHAPES` at most).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, String, Table, Text, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.audience import time_zones
from textcast.audience.segment_sql import CONTACTS
from textcast.campaigns import lifecycle, policies
from textcast.campaigns.service import Arm, arms
from textcast.config import Settings
from textcast.content.preview import finish
from textcast.content.render import Compiled, RenderError, compile_template, contact_scope
from textcast.db import bulk
from textcast.db.dialect import DIALECTS, DatabaseDialect, dialect_of
from textcast.db.models import (
    RECIPIENT_PENDING,
    Campaign,
    CampaignRecipient,
    Message,
    MessageEvent,
    Sender,
    UTCDateTime,
    event_type,
)
from textcast.errors import ValidationFailed
from textcast.policy import frequency, geo
from textcast.policy.decision import SEND, Defer, Skip
from textcast.policy.frequency import FrequencyCap
from textcast.policy.quiet_hours import ALWAYS_OPEN, QuietHours
from textcast.services import campaign_outbox
from textcast.services import senders as sender_service
from textcast.services.message_content import is_content_sid
from textcast.services.messages import validate_content
from textcast.sms_segments import SegmentInfo
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


def _recipient_updates(dialect: DatabaseDialect) -> dict[str, tuple[Any, Any]]:
    """For each way a batch settles its recipients, the batch as one table and
    one UPDATE taking it whole (see :meth:`DatabaseDialect.batch_rows`): an
    executemany costs SQLAlchemy a bound row, and the server a statement, per
    recipient. Only a pending recipient is changed: the caller counts them."""
    r = RECIPIENTS.c
    shapes: dict[str, tuple[dict[str, Any], Any]] = {
        "queued": (
            {"rid": BigInteger(), "mid": BigInteger()},
            lambda v: {"status": "queued", "message_id": v["mid"]},
        ),
        "skipped": (
            {"rid": BigInteger(), "reason": String(), "detail": Text()},
            lambda v: {"status": "skipped", "reason": v["reason"], "detail": v["detail"]},
        ),
        "deferred": ({"rid": BigInteger(), "due": UTCDateTime()}, lambda v: {"due_at": v["due"]}),
    }
    made: dict[str, tuple[Any, Any]] = {}
    for kind, (values, writes) in shapes.items():
        batch = dialect.batch_rows(values)
        v = batch.columns
        made[kind] = (
            batch,
            update(RECIPIENTS)
            .where(and_(r.id == v["rid"], r.status == "pending"))
            .values(writes(v)),
        )
    return made


_RECIPIENT_UPDATES = {name: _recipient_updates(dialect) for name, dialect in DIALECTS.items()}


@dataclass
class Plan:
    """What every batch of one campaign needs, worked out once per run."""

    campaign_id: int
    name: str
    category: str
    sender: Sender
    provider_type: str
    provider_name: str
    allowed_countries: frozenset[str]
    arms: dict[str | None, tuple[Arm, Compiled]]
    # An arm whose template is a Twilio Content SID: each ContentVariables slot, compiled.
    content_slots: dict[str | None, dict[str, Compiled]]
    quiet: QuietHours
    caps: list[FrequencyCap]
    link_base: str
    click_tracking: bool
    expires_at: datetime | None
    throttle: int | None
    install_zone: str
    settings: Settings
    # Per arm and rendered text: what the message will be once its links are
    # minted, or why it cannot be sent (see _shape). Recipients share texts.
    shapes: dict[tuple[str | None, str], _Shape | str] = field(default_factory=dict)

    @cached_property
    def message_values(self) -> tuple[Any, ...]:
        """What every message of the campaign has in common, in
        :data:`_SHARED` order, as the driver takes it."""
        return (
            self.sender.provider_id,
            self.sender.id,
            self.name,
            self.campaign_id,
            self.category,
            None,  # automation
            status.QUEUED,
            0,  # attempts
            False,  # is_test
            False,  # possible_duplicate
            "[]",  # media_urls, as JSON
        )

    @cached_property
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
    slots = {name: _content_slots(arm) for name, (arm, _) in found.items()}
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
        provider_name=provider.name,
        allowed_countries=geo.allowed_of(provider.config),
        arms=found,
        content_slots={name: compiled for name, compiled in slots.items() if compiled},
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


@dataclass(slots=True)
class _Made:
    """A recipient's message, made and waiting for the caps at commit."""

    rid: int
    contact_id: int
    phone: str
    zone: ZoneInfo
    values: tuple[Any, ...]  # the message's own values, in _OWN order
    minted: list[tuple[str, str]]


# A campaign message's columns: those every message of the campaign shares
# (Plan.message_values), its own (_Made.values), and its times. Written as
# tuples straight to the driver: building a dict per message and converting it
# back was a tenth of the CPU per recipient on SQLite.
_SHARED = (
    "provider_id", "sender_id", "campaign", "campaign_id", "category", "automation", "status",
    "attempts", "is_test", "possible_duplicate", "media_urls",
)  # fmt: skip
_OWN = ("to", "body", "template_id", "content_variables", "variant", "segments", "encoding")
_TIMES = ("created_at", "updated_at", "next_attempt_at")
_MESSAGE_COLUMNS = _SHARED + _OWN + _TIMES


@dataclass
class Prepared:
    """A batch decided as far as it can be without holding its contacts:
    quiet hours, expiry, rendering, links and the content rule. The caps wait
    for :func:`commit`, which counts them with the contacts locked."""

    decided_at: datetime
    recipient_ids: list[int] = field(default_factory=list)
    made: list[_Made] = field(default_factory=list)
    skipped: list[tuple[int, str, str | None]] = field(default_factory=list)
    deferred: list[tuple[int, datetime]] = field(default_factory=list)


class Due(NamedTuple):
    """A pending recipient due now, with its contact, as :func:`due` reads it.
    ``contact`` is None when the contact was erased: then every field after
    it is None too, and none is read (typed as a live contact's are).

    A tuple, not SQLAlchemy's Row: reading a field of a Row by name cost
    ~0.4 µs, and deciding a recipient reads fifteen."""

    id: int
    contact_id: int
    phone: str
    variant: str | None
    contact: int | None
    attributes: dict[str, Any]
    tags: list[str]
    country: str
    time_zone: str | None
    time_zone_source: str
    external_id: str | None


async def due(
    session: AsyncSession, p: Plan, now: datetime, passing_over: Collection[int] = ()
) -> list[Due]:
    """Up to one batch of the campaign's pending recipients due by ``now``,
    with their contacts; none of ``passing_over``, batches read earlier and
    being written now.

    Those batches were the head of the same order, so as many of them as are
    still pending to this statement (their commits may come before or after)
    are skipped by position (``OFFSET``) — an exclusion by ID cost PostgreSQL
    a search of the batches' IDs for every row it passed — and any ID of
    them still met is dropped here. A recipient passed over by mistake stays
    pending for a later batch; one met twice fails that batch's commit
    (:class:`RecipientsMoved`)."""
    size = BATCH if p.throttle is None else min(BATCH, p.throttle)
    dialect = dialect_of(session)
    # The outbox and the recipients grow during a fan-out faster than the
    # statistics follow: look up by index, never by scanning them per batch.
    await dialect.prefer_index_scans(await session.connection())
    chosen = (
        select(
            RECIPIENTS.c.id,
            RECIPIENTS.c.contact_id,
            RECIPIENTS.c.phone,
            RECIPIENTS.c.variant,
            RECIPIENTS.c.due_at,
        )
        .where(
            RECIPIENTS.c.campaign_id == p.campaign_id,
            RECIPIENT_PENDING,
            RECIPIENTS.c.due_at <= now,
        )
        # due_at alone: the index of pending recipients (campaign_id, due_at)
        # gives that order, where a second key would sort every one per batch.
        .order_by(RECIPIENTS.c.due_at)
        .offset(_still_pending(dialect, passing_over) if passing_over else 0)
        .limit(size)
        .subquery("r")
    )
    query = (
        select(
            chosen.c.id,
            chosen.c.contact_id,
            chosen.c.phone,
            chosen.c.variant,
            CONTACTS.c.id.label("contact"),
            CONTACTS.c.attributes,
            CONTACTS.c.tags,
            CONTACTS.c.country,
            CONTACTS.c.time_zone,
            CONTACTS.c.time_zone_source,
            CONTACTS.c.external_id,
        )
        .select_from(chosen.outerjoin(CONTACTS, CONTACTS.c.id == chosen.c.contact_id))
        .order_by(chosen.c.due_at)
    )
    rows = [Due._make(row) for row in await session.execute(query)]
    if passing_over:
        rows = [row for row in rows if row.id not in passing_over]
    return rows


def _still_pending(dialect: DatabaseDialect, ids: Collection[int]) -> Any:
    return (
        select(func.count())
        .where(dialect.one_of(RECIPIENTS.c.id, ids), RECIPIENTS.c.status == "pending")
        .scalar_subquery()
    )


def prepare(p: Plan, rows: Sequence[Due], now: datetime, into: Prepared | None = None) -> Prepared:
    """Decide ``rows`` (from :func:`due`) as far as can be done unlocked."""
    prepared = Prepared(now) if into is None else into
    for row in rows:
        prepared.recipient_ids.append(row.id)
        _decide(p, row, now, prepared)
    return prepared


async def run_batch(session: AsyncSession, p: Plan, now: datetime) -> Outcome:
    """Make messages for up to one batch of due recipients. The caller holds
    the campaign (its lease, and on PostgreSQL its row lock)."""
    rows = await due(session, p, now)
    if not rows:
        return Outcome()
    return await commit(session, p, prepare(p, rows, now), now)


async def commit(
    session: AsyncSession,
    p: Plan,
    batch: Prepared,
    now: datetime,
    lease: tuple[str, datetime] | None = None,
) -> Outcome:
    """Finish ``batch`` in the caller's transaction: the caps counted with its
    contacts held, then the messages, events, links and recipients written.
    The caller holds the campaign, as for :func:`run_batch`; or, with
    ``lease`` (owner, renewed until), the batch takes the campaign only with
    its last statement — the counts and the lease in one UPDATE that finds
    the campaign still sending and still the owner's, or raises
    :class:`CampaignMoved` — so batches on two connections hold the
    campaign's row only from there to their commits (see
    :mod:`textcast.campaigns.lanes`). A pause or cancel either waits for
    that commit, or makes the UPDATE find nothing.

    The contacts are held until commit (``FOR UPDATE``, in ID order so two
    campaigns locking overlapping batches cannot deadlock; SQLite's one writer
    needs no lock): the caps' count and the new messages are one decision per
    contact. A contact erased since the batch was read is skipped here."""
    dialect = dialect_of(session)
    await dialect.prefer_index_scans(await session.connection())
    ids = sorted({made.contact_id for made in batch.made})
    present = (
        set(
            await session.scalars(
                select(CONTACTS.c.id)
                .where(dialect.one_of(CONTACTS.c.id, ids))
                .order_by(CONTACTS.c.id)
                .with_for_update()
            )
        )
        if ids
        else set()
    )
    skipped = list(batch.skipped)
    kept: list[_Made] = []
    for made in batch.made:
        if made.contact_id in present:
            kept.append(made)
        else:
            skipped.append((made.rid, "contact_removed", _ERASED))
    if p.caps and kept:
        sent_before = await _recent_messages(session, p, [made.phone for made in kept], now)
        capped, kept = kept, []
        # Each cap's period starts at one moment per zone: worked out once a batch.
        starts: dict[tuple[FrequencyCap, ZoneInfo], datetime] = {}
        for made in capped:
            times = sent_before.get(made.phone, [])
            counted: dict[FrequencyCap, int] = {}  # none sent before: nothing counted
            for cap in p.caps if times else ():
                start = starts.get((cap, made.zone))
                if start is None:
                    start = starts[cap, made.zone] = cap.since(now, made.zone)
                counted[cap] = sum(1 for t in times if t >= start)
            verdict = frequency.check(p.caps, p.category, counted)
            if isinstance(verdict, Skip):
                skipped.append((made.rid, verdict.reason, verdict.detail))
            else:
                kept.append(made)
                # Counted at once, should the number come again in this batch.
                sent_before.setdefault(made.phone, []).append(now)
    await _write(session, p, kept, skipped, batch.deferred, now, lease)
    return Outcome(len(kept), len(skipped), len(batch.deferred))


_ERASED = "the contact was erased after the campaign started"


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


def _decide(p: Plan, row: Due, now: datetime, batch: Prepared) -> None:
    def skip(reason: str, detail: str | None = None) -> None:
        batch.skipped.append((row.id, reason, detail))

    if row.contact is None:
        skip("contact_removed", _ERASED)
        return
    if p.allowed_countries and row.country not in p.allowed_countries:
        # Chosen before the provider's list left the country out (materialise
        # skips the others): Twilio would fail it with 21408.
        skip(geo.SKIP_REASON, geo.skip_detail_text(row.country, p.provider_name))
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
            batch.deferred.append((row.id, decision.until))
        return
    zone = zones[0]
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
    variables = None
    if arm.name in p.content_slots:
        try:
            rendered = {k: c.render(scope, {}, zone) for k, c in p.content_slots[arm.name].items()}
        except RenderError as exc:
            skip("render_error", exc.variable or str(exc))
            return
        variables = json.dumps(rendered, ensure_ascii=False)
    key = (row.variant, text)
    shape = p.shapes.get(key)
    if shape is None:
        shape = _shape(p, arm, text)
        if len(text) <= SHAPED_TEXT:
            if len(p.shapes) >= MAX_SHAPES:
                p.shapes.clear()
            p.shapes[key] = shape
    if isinstance(shape, str):
        skip("render_error", shape)
        return
    version = arm.template_version
    if shape.cut.has_links:
        made = shape.cut.mint(p.link_base, version.utm if version is not None else None)
        text, minted = made.text, made.links
    else:
        minted = []
    text = finish(text, shape.unsubscribe)
    own = (
        row.phone,
        text,
        shape.template_id,
        variables,
        row.variant,
        shape.info.segments,
        shape.info.encoding,
    )
    batch.made.append(_Made(row.id, row.contact_id, row.phone, zone, own, minted))


def _content_slots(arm: Arm) -> dict[str, Compiled]:
    """The arm's ContentVariables slots, compiled, when its template is a
    Twilio Content SID; Twilio fills the approved template with them."""
    version = arm.template_version
    if version is None or not is_content_sid(version.provider_template_id):
        return {}
    return {
        slot: compile_template(source, f"content_variables.{slot}")
        for slot, source in (version.content_variables or {}).items()
    }


@dataclass(frozen=True, slots=True)
class _Shape:
    """A rendered text as every recipient who gets it will be sent it."""

    cut: links.Cut
    unsubscribe: str | None
    template_id: str | None
    info: SegmentInfo


# Distinct texts kept per run (past that the cache starts again), and the
# longest kept: at most ~30 MB however personal the texts, where most
# campaigns' few texts take kilobytes.
MAX_SHAPES = 10_000
SHAPED_TEXT = 1_600


def _shape(p: Plan, arm: Arm, text: str) -> _Shape | str:
    """Cut ``text`` at its links and hold the result to the content rule every
    message is held to (the segment limit, Twilio's 1,600 characters, a sender
    that needs a template ID); the reason it cannot be sent, as a string.

    Measured with stand-in codes: a code is always :data:`links.CODE_LENGTH`
    characters of the GSM-7 alphabet, so any codes give the same length,
    encoding and segments."""
    version = arm.template_version
    unsubscribe = (
        p.sender.unsubscribe_text if version is not None and version.append_unsubscribe else None
    )
    measured = links.measure_shortened(text, p.link_base) if p.click_tracking else text
    measured = finish(measured, unsubscribe)
    template_id = version.provider_template_id if version is not None else None
    # A Twilio Content template carries its own text (the body is what Textcast shows).
    if not measured.strip() and not is_content_sid(template_id):
        return "the text came out empty"
    try:
        info = validate_content(p.settings, p.sender, p.provider_type, measured, [], template_id)
    except ValidationFailed as exc:
        return exc.message
    cut = links.cut(text) if p.click_tracking else links.Cut((text,))
    return _Shape(cut, unsubscribe, template_id, info)


async def _settle(connection: Any, kind: str, rows: list[tuple[Any, ...]]) -> None:
    """Mark ``rows`` (recipient ID first) as ``kind``; every one must still be
    pending, or the batch was decided on recipients someone else changed."""
    if not rows:
        return
    batch, statement = _RECIPIENT_UPDATES[dialect_of(connection).name][kind]
    result = await bulk.execute(connection, statement, batch.bind(rows))
    if result.rowcount != len(rows):
        raise RecipientsMoved(f"{len(rows) - result.rowcount} of {len(rows)} no longer pending")


class RecipientsMoved(RuntimeError):
    """A batch's recipients changed under it: its transaction must not commit."""


class CampaignMoved(RuntimeError):
    """The campaign was paused, cancelled or taken over while a batch was
    written under ``lease`` (see :func:`commit`): the batch must not commit."""


async def _write(
    session: AsyncSession,
    p: Plan,
    made: list[_Made],
    skipped: list[tuple[int, str, str | None]],
    deferred: list[tuple[int, datetime]],
    now: datetime,
    lease: tuple[str, datetime] | None,
) -> None:
    dialect = dialect_of(session)
    connection = await session.connection()
    if made:
        # Stamped now, as the caps count it: decided a moment ago (read ahead),
        # a message stamped then could fall on the day before the one whose
        # cap it passed.
        at = dialect.bind_time(now)
        shared, times = p.message_values, (at, at, at)
        # Concatenated: unpacking builds a list per row first, at three times the cost.
        rows = [shared + m.values + times for m in made]
        ids = await dialect.insert_ids_of(session, MESSAGES, _MESSAGE_COLUMNS, rows)
        # Accepted into the outbox like an API message (event_type would read
        # a queued status from anything but the API as a requeue).
        kind = event_type(status.QUEUED, "api")
        events = [(mid, kind, status.QUEUED, "campaign", at) for mid in ids]
        await dialect.copy_rows(connection, EVENTS, _QUEUED_EVENT, events)
        tracked = [
            link_store.MessageLinks(mid, m.contact_id, p.name, m.minted)
            for mid, m in zip(ids, made, strict=True)
            if m.minted
        ]
        if tracked:
            await link_store.save(connection, tracked)
        await _settle(
            connection, "queued", [(m.rid, mid) for m, mid in zip(made, ids, strict=True)]
        )
    await _settle(connection, "skipped", skipped)
    await _settle(connection, "deferred", [(rid, dialect.bind_time(due)) for rid, due in deferred])
    values: dict[str, Any] = {
        "queued": Campaign.queued + len(made),
        "skipped": Campaign.skipped + len(skipped),
    }
    if p.throttle is not None and made:
        values["next_batch_at"] = now + timedelta(minutes=len(made) / p.throttle)
    mine = [Campaign.id == p.campaign_id]
    if lease is not None:
        owner, until = lease
        values["lease_expires_at"] = until
        mine += [Campaign.lease_owner == owner, Campaign.status == lifecycle.SENDING]
    result = await session.execute(
        update(Campaign).where(*mine).values(**values).execution_options(synchronize_session=False)
    )
    if lease is not None and getattr(result, "rowcount", 0) != 1:
        raise CampaignMoved(f"campaign {p.campaign_id} stopped sending or changed hands")


async def expire(session: AsyncSession, campaign_id: int) -> int:
    """Past the campaign's expiry: every recipient still pending is skipped
    (``campaign_expired``) and its messages not yet handed to a worker are
    cancelled — late is worse than never for an offer that has ended."""
    result = await session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign_id, RECIPIENT_PENDING)
        .values(status="skipped", reason="campaign_expired")
        .execution_options(synchronize_session=False)
    )
    count = getattr(result, "rowcount", 0) or 0
    await campaign_outbox.cancel_waiting(session, campaign_id, "the campaign expired")
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(skipped=Campaign.skipped + count)
        .execution_options(synchronize_session=False)
    )
    return count


async def has_pending(session: AsyncSession, campaign_id: int) -> bool:
    query = select(exists().where(CampaignRecipient.campaign_id == campaign_id, RECIPIENT_PENDING))
    return bool(await session.scalar(query))


async def next_due(session: AsyncSession, campaign_id: int) -> datetime | None:
    return await session.scalar(
        select(func.min(CampaignRecipient.due_at)).where(
            CampaignRecipient.campaign_id == campaign_id, RECIPIENT_PENDING
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


__all__ = [
    "BATCH",
    "Outcome",
    "Plan",
    "Prepared",
    "commit",
    "due",
    "expire",
    "lifecycle",
    "plan",
    "prepare",
    "run_batch",
]
