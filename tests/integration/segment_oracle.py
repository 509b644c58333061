"""The segment rules read in plain Python, contact by contact: the oracle the
compiled SQL is held to (see test_segment_rules.py).

Written from the rule language's documentation (textcast.audience.rules), not
from the SQL compiler, so the two readings are independent.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from textcast.audience.attributes import STORED_DATE, is_stored_date
from textcast.audience.rules import Activity, All, AnyOf, Attribute, Field, Not, Rule, Tag

COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


@dataclass
class SentMessage:
    status: str
    accepted: bool  # the provider took it (sent_at set)
    campaign: str | None
    at: datetime


@dataclass
class Reply:
    at: datetime
    to_campaign: str | None  # campaign of the message replied to (None: none or no label)


@dataclass
class Click:
    at: datetime
    is_bot: bool
    campaign: str | None


@dataclass
class Person:
    phone: str
    country: str = "US"
    phone_type: str = "mobile"
    time_zone: str | None = None
    external_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    created_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    updated_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    last_inbound_at: datetime | None = None
    opted_out: bool = False
    messages: list[SentMessage] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)


def matches(rule: Rule, person: Person, now: datetime, install_zone: str) -> bool:
    if isinstance(rule, All):
        return all(matches(r, person, now, install_zone) for r in rule.rules)
    if isinstance(rule, AnyOf):
        return any(matches(r, person, now, install_zone) for r in rule.rules)
    if isinstance(rule, Not):
        return not matches(rule.rule, person, now, install_zone)
    if isinstance(rule, Tag):
        return (rule.tag in person.tags) == rule.present
    if isinstance(rule, Attribute):
        return _attribute(rule, person.attributes, now)
    if isinstance(rule, Field):
        return _field(rule, person, now, install_zone)
    return _activity(rule, person, now)


def _same(stored: Any, wanted: Any) -> bool:
    """JSON equality: a boolean is no number, 1 and 1.0 are one number."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(stored, str) or isinstance(wanted, str):
        return isinstance(stored, str) and isinstance(wanted, str) and stored == wanted
    return bool(stored == wanted)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _attribute(rule: Attribute, values: dict[str, Any], now: datetime) -> bool:
    there = rule.name in values
    stored = values.get(rule.name)
    op, wanted = rule.op, rule.value
    if op == "eq":
        return there and _same(stored, wanted)
    if op == "ne":
        return not (there and _same(stored, wanted))
    if op == "in":
        return there and any(_same(stored, w) for w in wanted)
    if op == "not_in":
        return not (there and any(_same(stored, w) for w in wanted))
    if op == "exists":
        return there == wanted
    if op == "contains":
        return isinstance(stored, str) and wanted in stored
    if op == "starts_with":
        return isinstance(stored, str) and stored.startswith(wanted)
    if op in ("within_last", "within_next"):
        if not is_stored_date(stored):
            return False
        today = now.date()
        span = timedelta(days=wanted.amount)
        low, high = (today - span, today) if op == "within_last" else (today, today + span)
        return low.isoformat() <= stored[:10] <= high.isoformat()
    compare = COMPARE[op]
    if isinstance(wanted, str):
        if not is_stored_date(stored):
            return False
        if STORED_DATE.fullmatch(wanted):
            return bool(compare(stored[:10], wanted))
        instant = stored + "T00:00:00Z" if len(stored) == 10 else stored
        return bool(compare(instant, wanted))
    return _is_number(stored) and bool(compare(float(stored), float(wanted)))


def _field(rule: Field, person: Person, now: datetime, install_zone: str) -> bool:
    name, op, wanted = rule.field, rule.op, rule.value
    if name == "opted_out":
        return person.opted_out == wanted
    if name in ("created_at", "updated_at", "last_inbound_at"):
        return _moment(getattr(person, name), op, wanted, now)
    if name == "external_id":
        if op == "exists":
            return (person.external_id is not None) == wanted
        return person.external_id == wanted
    if name == "phone" and op == "starts_with":
        return person.phone.startswith(wanted)
    value = {
        "country": person.country,
        "phone_type": person.phone_type,
        "time_zone": person.time_zone or install_zone,
        "phone": person.phone,
    }[name]
    return {
        "eq": value == wanted,
        "ne": value != wanted,
        "in": value in wanted,
        "not_in": value not in wanted,
    }[op]


def _moment(value: datetime | None, op: str, wanted: Any, now: datetime) -> bool:
    if op == "exists":
        return (value is not None) == wanted
    if value is None:
        return False
    if op == "within_last":
        return now - wanted.delta <= value <= now
    if STORED_DATE.fullmatch(wanted):
        day = value.astimezone(UTC).date()
        return bool(COMPARE[op](day, date.fromisoformat(wanted)))
    return bool(COMPARE[op](value, datetime.fromisoformat(wanted.replace("Z", "+00:00"))))


def _activity(rule: Activity, person: Person, now: datetime) -> bool:
    since = None if rule.within is None else now - rule.within.delta

    def in_window(at: datetime) -> bool:
        return since is None or at >= since

    if rule.kind == "replied":
        return any(
            in_window(r.at) and (rule.campaign is None or r.to_campaign == rule.campaign)
            for r in person.replies
        )
    if rule.kind == "clicked":
        return any(
            not c.is_bot
            and in_window(c.at)
            and (rule.campaign is None or c.campaign == rule.campaign)
            for c in person.clicks
        )
    wanted = {
        "received": None,
        "delivered": ("delivered", "read"),
        "failed": ("failed", "undelivered"),
    }[rule.kind]
    return any(
        (m.accepted if wanted is None else m.status in wanted)
        and in_window(m.at)
        and (rule.campaign is None or m.campaign == rule.campaign)
        for m in person.messages
    )
