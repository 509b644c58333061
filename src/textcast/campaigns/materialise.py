"""Choosing a campaign's recipients: one ``INSERT … SELECT`` from ``contacts``.

The database does the whole choice, whatever the audience's size; Python
only builds the statement. Each targeted contact gets one row, decided in SQL:

- ``skipped`` / ``opted_out``: the number is suppressed for the campaign's
  provider (or its sender);
- ``skipped`` / ``invalid_number``: the number is not a valid one;
- ``skipped`` / ``geo_not_allowed``: the contact's country is not among the
  provider's ``allowed_countries`` (:mod:`textcast.policy.geo`), with a
  ``detail`` naming the country;
- ``control``: held out for the control group — a deterministic hash of the
  contact and campaign IDs, so the same contact stays in or out if the
  statement runs again, and the group is drawn from reachable contacts only
  (lift compares like with like);
- ``skipped`` / ``local_time_passed``: a local-time campaign told to skip
  recipients whose hour has gone by;
- otherwise ``pending``, due at the campaign's start or at the local hour in
  the recipient's zone (one ``CASE`` over the zones the audience has).

Phone numbers are unique among contacts, so an audience cannot hold one
number twice. The statement, the counters and ``materialised_at`` commit
together: a process killed half-way leaves nothing, and the campaign runner
does it again.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    case,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import numbers, rules, segments
from textcast.audience.segment_sql import CONTACTS, SUPPRESSIONS
from textcast.campaigns.spec import CONTROL
from textcast.db.dialect import dialect_of
from textcast.db.models import (
    RECIPIENT_UNQUEUED,
    Campaign,
    CampaignRecipient,
    Segment,
    Sender,
    UTCDateTime,
)
from textcast.errors import ValidationFailed
from textcast.policy import geo
from textcast.services import senders as sender_service

RECIPIENTS = cast(Table, CampaignRecipient.__table__)
# Knuth's multiplicative hash, kept inside 64 bits on both databases:
# (id mod a prime) × 2654435761 < 2^63, then the low 32 bits.
_HASH = "((((contacts.id + {salt}) % 1000000007) * 2654435761) % 4294967296)"


def bucket_of(contact_id: int, campaign_id: int) -> tuple[int, int]:
    """The (control, variant) buckets, 0-99, the statement gives a contact:
    the same arithmetic in Python, for tests and test sends."""
    value = (((contact_id + campaign_id * 7919) % 1000000007) * 2654435761) % 4294967296
    return value % 100, (value // 100) % 100


async def audience_condition(
    session: AsyncSession, audience: dict[str, Any], install_zone: str, now: datetime
) -> ColumnElement[bool]:
    """The campaign's audience as a condition over ``contacts``."""
    dialect = dialect_of(session)
    if "segment" in audience:
        segment = await session.get(Segment, audience["segment"])
        if segment is None:
            raise ValidationFailed("audience.segment", "the segment was deleted")
        rule = rules.parse(segment.rules)
    elif "rules" in audience:
        rule = rules.parse(audience["rules"])
    elif "contacts" in audience:
        return dialect.one_of(CONTACTS.c.id, audience["contacts"])
    elif "phones" in audience:
        return dialect.one_of(CONTACTS.c.phone, audience["phones"])
    else:
        raise ValidationFailed("audience", "give segment, rules, contacts or phones")
    return segments.compiler(session, install_zone, now).where(rule)


def local_due(
    zone_name: str, local_time: str, reference: datetime, now: datetime, missed: str
) -> datetime | None:
    """When ``local_time`` falls in ``zone_name`` on the reference moment's
    local day; the next day's when it has passed (``missed`` "next"), or None
    when it has passed and the campaign skips such recipients. zoneinfo does
    the DST arithmetic: 10:00 is 10:00 on either side of a change."""
    zone = ZoneInfo(zone_name)
    hour, minute = (int(part) for part in local_time.split(":"))
    day = reference.astimezone(zone).date()
    due = datetime.combine(day, time(hour, minute), zone)
    if due < now:
        if missed == "skip":
            return None
        due = datetime.combine(day + timedelta(days=1), time(hour, minute), zone)
    return due


async def materialise(
    session: AsyncSession, campaign: Campaign, sender: Sender, install_zone: str, now: datetime
) -> None:
    """Insert the campaign's recipient rows and set its counters; the caller
    commits (with ``materialised_at``)."""
    where = await audience_condition(session, campaign.audience, install_zone, now)
    zone = func.coalesce(CONTACTS.c.time_zone, literal(install_zone))
    salt = campaign.id * 7919
    hashed = _HASH.format(salt=salt)
    control_bucket: ColumnElement[int] = literal_column(f"({hashed} % 100)")
    variant_bucket: ColumnElement[int] = literal_column(f"(({hashed} / 100) % 100)")

    blocked = CONTACTS.c.phone.in_(
        select(SUPPRESSIONS.c.phone).where(
            SUPPRESSIONS.c.provider_id == sender.provider_id,
            or_(SUPPRESSIONS.c.sender_id.is_(None), SUPPRESSIONS.c.sender_id == sender.id),
        )
    )
    invalid = CONTACTS.c.phone_type == numbers.INVALID
    provider = await sender_service.provider_of(session, sender)
    abroad = geo.excluded(CONTACTS.c.country, geo.allowed_of(provider.config))
    in_control = control_bucket < campaign.control_percent

    due: ColumnElement[Any] = bindparam("start", now, type_=UTCDateTime())
    if campaign.local_time is not None:
        reference = campaign.send_at or campaign.launched_at or now
        zones = await session.scalars(select(zone).where(where).distinct())
        whens = []
        for name in zones:
            moment = local_due(
                name, campaign.local_time, reference, now, campaign.missed_local_time
            )
            whens.append((zone == name, bindparam(None, moment, type_=UTCDateTime())))
        due = case(*whens, else_=null()) if whens else null()
    passed = due.is_(None) if campaign.local_time is not None else false()

    state = case(
        (blocked, "skipped"),
        (invalid, "skipped"),
        (abroad, "skipped"),
        (in_control, "control"),
        (passed, "skipped"),
        else_="pending",
    )
    reason = case(
        (blocked, "opted_out"),
        (invalid, "invalid_number"),
        (abroad, geo.SKIP_REASON),
        (in_control, None),
        (passed, "local_time_passed"),
        else_=None,
    )
    detail = case(
        (blocked | invalid, null()),
        (abroad, geo.skip_detail(CONTACTS.c.country, provider.name)),
        else_=null(),
    )
    reachable = ~blocked & ~invalid & ~abroad
    variant = case((in_control & reachable, CONTROL), else_=_variant(campaign, variant_bucket))
    chosen = select(
        literal(campaign.id),
        CONTACTS.c.id,
        CONTACTS.c.phone,
        variant,
        state,
        reason,
        detail,
        due,
    ).where(where)
    columns = [
        "campaign_id",
        "contact_id",
        "phone",
        "variant",
        "status",
        "reason",
        "detail",
        "due_at",
    ]
    # A plain INSERT: the campaign is held (its lease and row) and this
    # statement commits with materialised_at, so no row of the campaign can
    # exist yet; ON CONFLICT's speculative insertion cost a quarter of the
    # statement, and a clash stays an error (the unique key is kept).
    await session.execute(insert(RECIPIENTS).from_select(columns, chosen))
    grouped = await session.execute(
        select(RECIPIENTS.c.status, func.count())
        # None is queued yet: the condition lets the stats index answer alone.
        .where(RECIPIENTS.c.campaign_id == campaign.id, RECIPIENT_UNQUEUED)
        .group_by(RECIPIENTS.c.status)
    )
    counts: dict[str, int] = {state: number for state, number in grouped}
    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(
            targeted=sum(counts.values()),
            skipped=counts.get("skipped", 0),
            queued=0,  # none before the first batch
            materialised_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def _variant(campaign: Campaign, variant_bucket: ColumnElement[Any]) -> ColumnElement[Any]:
    if not campaign.variants:
        return null()
    whens = []
    upto = 0
    for arm in campaign.variants[:-1]:
        upto += arm["percent"]
        whens.append((variant_bucket < upto, literal(arm["name"])))
    return case(*whens, else_=literal(campaign.variants[-1]["name"]))
