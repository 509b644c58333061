"""A campaign's numbers (its Stats tab): in all, per variant and for the
control group, with errors by code and a time series.

Exact at any moment of the send, and cheap at a million recipients: rows
that can no longer change (settled messages, clicks, replies) are counted
once, in the background, by the roll-up's passes
(:mod:`textcast.services.campaign_rollups`); a call only reads: the kept
groups plus the rows not yet counted (a few seconds' worth, and the messages
not yet final), each kind in one statement, so a pass committing meanwhile
is seen whole or not at all, and on PostgreSQL all in one read-only
snapshot. Messages are grouped by variant, status, error, provider and the
minutes of sending and of settling; the counts, the errors, the cost and the
time series are all folded from those groups.

The words:

- recipients: ``targeted`` (every materialised recipient), ``skipped`` by
  reason, ``control`` (held out, never messaged), ``pending`` (no message
  yet), ``queued`` (its message was made: counted as the campaign's messages,
  test sends excepted, one per queued recipient);
- messages: ``sent`` (the provider accepted it), ``delivered`` (delivered or
  read), ``undelivered``, ``failed``, ``in_flight`` (made, not yet with the
  provider), ``canceled`` (withdrawn before sending: the campaign was
  cancelled or expired), ``segments`` (of sent messages) and ``delivery_rate`` =
  delivered ÷ (delivered + undelivered + failed), as the provider stats
  count them (:mod:`textcast.services.provider_stats`);
- ``replied``: recipients whose first answer to the campaign's message came
  within :data:`REPLY_WINDOW` of its sending. A reply is tied to the last message
  sent to the number (the ``message.replied`` event names it, see
  :func:`textcast.services.replies.receive_inbound`), so an answer to a later
  message never counts here, and the window keeps a conversation weeks later
  from counting as a response;
- ``opted_out``: recipients who sent STOP to the campaign's message (the
  ``contact.opted_out`` event names it), with no time limit: no message came
  after it;
- ``clicks`` (every human click) and ``unique_clicks`` (recipients who
  clicked: a message's first human click is flagged ``first``); link-preview
  bots and scanners are flagged at the redirect and never counted. ``ctr`` =
  unique clicks ÷ delivered;
- ``estimated_cost``: segments sent × the per-segment price of
  ``TEXTCAST_SEGMENT_PRICES`` (see :func:`price_of`), None when no price
  applies. Twilio's own price is not stored (it comes later, on a look-up),
  so this is an estimate by design;
- ``rolled_until``: when a roll-up pass last counted rows of the campaign
  (None before the first); the numbers are exact either way;
- ``series``: sent, delivered, failed (undelivered included) and clicked per
  minute for :data:`FINE_SPAN` from the hour of launch, per hour after; a
  delivery at its delivered time (:func:`~textcast.services.provider_stats.
  delivered_time`), a failure when Textcast learned of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.context import Context
from textcast.db.dialect import dialect_of
from textcast.db.models import (
    RECIPIENT_UNQUEUED,
    Campaign,
    CampaignRecipient,
    Contact,
    LinkClick,
    Message,
    MessageEvent,
)
from textcast.db.models import Provider as ProviderRow
from textcast.errors import NotFound
from textcast.services import campaign_rollups
from textcast.services.campaign_rollups import answer_groups, click_groups, message_groups
from textcast.services.provider_stats import DELIVERED
from textcast.services.stats import error_list

REPLY_WINDOW = campaign_rollups.REPLY_WINDOW
FINE_SPAN = timedelta(hours=6)
CONTROL = "control"
NOT_QUEUED = ("pending", "skipped", "control")
FAILED = (status.FAILED, status.UNDELIVERED)
SERIES = ("sent", "delivered", "failed", "clicked")
ANY = "*"
RECIPIENTS = cast(Table, CampaignRecipient.__table__)
MESSAGES = cast(Table, Message.__table__)
EVENTS = cast(Table, MessageEvent.__table__)
CLICKS = cast(Table, LinkClick.__table__)
ROLLUPS = campaign_rollups.ROLLUPS
COUNTS = (
    "targeted",
    "control",
    "pending",
    "queued",
    "in_flight",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "canceled",
    "segments",
    "replied",
    "opted_out",
    "clicks",
    "unique_clicks",
)


@dataclass
class Tally:
    """What the queries found, folded as their rows come in."""

    groups: dict[str | None, dict[str, Any]] = field(default_factory=dict)
    errors: dict[tuple[str | None, int], int] = field(default_factory=dict)
    # (variant, provider ID) → segments sent
    segments: dict[tuple[str | None, int], int] = field(default_factory=dict)
    points: dict[datetime, dict[str, int]] = field(default_factory=dict)

    def group(self, variant: str | None) -> dict[str, Any]:
        found = self.groups.get(variant)
        if found is None:
            found = self.groups[variant] = {"variant": variant, **dict.fromkeys(COUNTS, 0)}
            found["skipped"] = {}
        return found

    def point(self, minute: datetime | None, kind: str, count: int) -> None:
        if minute is not None:
            counts = self.points.setdefault(minute, dict.fromkeys(SERIES, 0))
            counts[kind] += count


async def campaign_stats(
    ctx: Context,
    campaign_id: int,
    prices: Mapping[str, float] | None = None,
    currency: str = "USD",
    *,
    kept: bool = True,
) -> dict[str, Any]:
    """The campaign's numbers; ``prices`` per segment as :func:`price_of`
    reads them. One read-only transaction: nothing is written. ``kept=False``
    counts every row instead of reading the roll-up's counts (what they
    must always equal; seconds at a million recipients)."""
    async with ctx.session() as session:
        await dialect_of(session).read_only(await session.connection())
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id}")
        return await _read(session, campaign, prices or {}, currency, kept)


async def _read(
    session: AsyncSession,
    campaign: Campaign,
    prices: Mapping[str, float],
    currency: str,
    kept: bool,
) -> dict[str, Any]:
    campaign_id = campaign.id
    until = await campaign_rollups.rolled_until(session, campaign_id)
    tally = Tally()
    await _recipients(session, campaign_id, tally)
    await _messages(session, campaign_id, kept, tally)
    providers = {
        row.id: (row.name, row.type)
        for row in await session.execute(select(ProviderRow.id, ProviderRow.name, ProviderRow.type))
    }
    costs = await _costs(session, campaign_id, tally, providers, prices)
    # Replies and recent clicks are few beside the campaign's messages: each
    # is joined to its message by ID (the last queries of the transaction).
    await dialect_of(session).prefer_nested_loops(await session.connection())
    await _replies(session, campaign_id, kept, tally)
    await _clicks(session, campaign, kept, tally)
    for variant, entry in tally.groups.items():
        _rates(entry)
        entry["estimated_cost"] = costs.get(variant)
    control = tally.groups.pop(CONTROL, None)
    if control is None:
        control = tally.group(CONTROL)
        tally.groups.pop(CONTROL)
        _rates(control)
        control["estimated_cost"] = None
    variants = sorted(tally.groups.values(), key=lambda g: str(g["variant"] or ""))
    start = (campaign.launched_at or campaign.created_at).replace(minute=0, second=0, microsecond=0)
    return {
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "status": campaign.status,
            "launched_at": campaign.launched_at.isoformat() if campaign.launched_at else None,
        },
        **_sum([*variants, control]),
        "currency": currency if prices else None,
        "rolled_until": until.isoformat() if until else None,
        "errors": _errors(tally, providers),
        "variants": variants,
        "control_group": control,
        "series": _series(tally, start),
    }


def _rates(entry: dict[str, Any]) -> None:
    """Delivery rate, CTR and the skipped total of a group whose counts are in."""
    entry["skipped"] = dict(sorted(entry["skipped"].items()))
    entry["skipped_total"] = sum(entry["skipped"].values())
    entry["targeted"] = (
        entry["skipped_total"] + entry["control"] + entry["pending"] + entry["queued"]
    )
    final = entry["delivered"] + entry["undelivered"] + entry["failed"]
    entry["delivery_rate"] = round(entry["delivered"] / final, 4) if final else None
    delivered = entry["delivered"]
    entry["ctr"] = round(entry["unique_clicks"] / delivered, 4) if delivered else None


def _sum(groups: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {key: sum(g[key] for g in groups) for key in COUNTS}
    skipped: dict[str, int] = {}
    for entry in groups:
        for reason, n in entry["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + n
    total["skipped"] = skipped
    _rates(total)
    costs = [g["estimated_cost"] for g in groups if g["estimated_cost"] is not None]
    total["estimated_cost"] = round(sum(costs), 4) if costs else None
    return total


async def _recipients(session: AsyncSession, campaign_id: int, tally: Tally) -> None:
    """Recipients without a message (skipped, control, pending): the queued
    ones, most of a campaign, are counted by their messages instead."""
    r = RECIPIENTS.c
    rows = await session.execute(
        select(r.variant, r.status, r.reason, func.count())
        .where(r.campaign_id == campaign_id, RECIPIENT_UNQUEUED, r.status.in_(NOT_QUEUED))
        .group_by(r.variant, r.status, r.reason)
    )
    for variant, state, reason, count in rows:
        entry = tally.group(variant)
        if state == "skipped":
            key = reason or "unknown"
            entry["skipped"][key] = entry["skipped"].get(key, 0) + count
        else:
            entry[state] += count


async def _messages(session: AsyncSession, campaign_id: int, kept: bool, tally: Tally) -> None:
    """The kept groups of counted messages and the groups of the rest (not
    final, or final and not yet counted), in one statement."""
    if not kept:
        query: Any = message_groups(session, campaign_id)
    else:
        r = ROLLUPS.c
        keys = (r.variant, r.status, r.error_code, r.provider_id, r.sent_minute, r.settled_minute)
        counted = (
            select(*keys, func.sum(r.count).label("n"), func.sum(r.segments).label("segments"))
            .where(r.campaign_id == campaign_id, r.kind == "messages")
            .group_by(*keys)
        )
        rest = [
            message_groups(session, campaign_id, *part)
            for part in campaign_rollups.uncounted_messages(session)
        ]
        query = union_all(counted, *rest)
    for row in await session.execute(query):
        _fold_messages(tally, row)


def _fold_messages(tally: Tally, row: Any) -> None:
    entry = tally.group(row.variant)
    n = int(row.n)
    entry["queued"] += n
    if row.sent_minute is not None:
        entry["sent"] += n
        entry["segments"] += int(row.segments)
        key = (row.variant, row.provider_id)
        tally.segments[key] = tally.segments.get(key, 0) + int(row.segments)
        tally.point(row.sent_minute, "sent", n)
    elif row.status in (status.QUEUED, status.DISPATCHING):
        entry["in_flight"] += n
    if row.status in DELIVERED:
        entry["delivered"] += n
        tally.point(row.settled_minute, "delivered", n)
    elif row.status == status.CANCELED:
        entry["canceled"] += n
    elif row.status in FAILED:
        entry[row.status] += n
        tally.point(row.settled_minute, "failed", n)
        code = (row.error_code, row.provider_id)
        tally.errors[code] = tally.errors.get(code, 0) + n


async def _replies(session: AsyncSession, campaign_id: int, kept: bool, tally: Tally) -> None:
    """Recipients who replied and who opted out: those counted and those not
    yet (see :func:`~textcast.services.campaign_rollups.answer_groups`), in
    one statement."""
    query: Any
    if not kept:
        query = answer_groups(session, campaign_id)
    else:
        r = ROLLUPS.c
        counted = (
            select(r.variant, r.status.label("kind"), func.sum(r.count).label("n"))
            .where(r.campaign_id == campaign_id, r.kind == "replies")
            .group_by(r.variant, r.status)
        )
        rest = campaign_rollups.uncounted_answer_groups(session, campaign_id)
        query = union_all(counted, rest)
    for variant, kind, count in await session.execute(query):
        tally.group(variant)[str(kind)] += int(count)


async def _clicks(session: AsyncSession, campaign: Campaign, kept: bool, tally: Tally) -> None:
    """Human clicks: those counted and those not yet, in one statement."""
    query: Any
    if not kept:
        query = click_groups(session, campaign)
    else:
        r = ROLLUPS.c
        counted = (
            select(r.variant, r.first, r.settled_minute.label("minute"), func.sum(r.count))
            .where(r.campaign_id == campaign.id, r.kind == "clicks")
            .group_by(r.variant, r.first, r.settled_minute)
        )
        rest = click_groups(session, campaign, *campaign_rollups.uncounted_clicks())
        query = union_all(counted, rest)
    for variant, first, at, count in await session.execute(query):
        entry = tally.group(variant)
        entry["clicks"] += int(count)
        if first:
            entry["unique_clicks"] += int(count)
        tally.point(at, "clicked", int(count))


def price_of(prices: Mapping[str, float], provider: str, country: str) -> float | None:
    """The per-segment price for a provider (by name) and destination
    country: the most specific of ``"name:CC"``, ``"name"``, ``"*:CC"``, ``"*"``."""
    for key in (f"{provider}:{country}", provider, f"{ANY}:{country}", ANY):
        if key in prices:
            return float(prices[key])
    return None


async def _costs(
    session: AsyncSession,
    campaign_id: int,
    tally: Tally,
    providers: Mapping[int, tuple[str, str]],
    prices: Mapping[str, float],
) -> dict[str | None, float]:
    """Estimated cost per variant. Segments are split by destination country
    (the recipient's contact) only when a price names a country: that join
    is the one costly read, made only then."""
    if not prices:
        return {}
    found: list[tuple[str | None, int, str, int]]
    if any(":" in key for key in prices):
        m = MESSAGES.c
        country = func.coalesce(Contact.country, "ZZ")
        rows = await session.execute(
            select(m.variant, m.provider_id, country, func.sum(m.segments))
            .select_from(MESSAGES.outerjoin(Contact, Contact.phone == m.to))
            .where(m.campaign_id == campaign_id, m.is_test.is_(False), m.sent_at.is_not(None))
            .group_by(m.variant, m.provider_id, country)
        )
        found = [(v, p, c, int(n)) for v, p, c, n in rows]
    else:
        found = [(v, p, "ZZ", n) for (v, p), n in tally.segments.items()]
    costs: dict[str | None, float] = {}
    for variant, provider_id, destination, segments in found:
        price = price_of(prices, providers[provider_id][0], destination)
        if price is not None:
            costs[variant] = round(costs.get(variant, 0.0) + price * segments, 4)
    return costs


def _errors(tally: Tally, providers: Mapping[int, tuple[str, str]]) -> list[dict[str, Any]]:
    return error_list(
        (code, providers[provider_id][1], count)
        for (code, provider_id), count in tally.errors.items()
    )


def _series(tally: Tally, start: datetime) -> dict[str, Any]:
    """Minutes folded into points: a minute each for FINE_SPAN, then hours."""
    fine_until = start + FINE_SPAN
    points: dict[datetime, dict[str, int]] = {}
    for minute, counts in tally.points.items():
        at = minute
        if minute >= fine_until:
            at = start + timedelta(hours=(minute - start) // timedelta(hours=1))
        point = points.setdefault(at, dict.fromkeys(SERIES, 0))
        for kind in SERIES:
            point[kind] += counts[kind]
    return {
        "start": start.isoformat(),
        "per_minute_until": fine_until.isoformat(),
        "points": [{"at": at.isoformat(), **points[at]} for at in sorted(points)],
    }
