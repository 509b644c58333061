"""Segment rules compiled to one SQL condition over ``contacts`` (SQLAlchemy Core).

Every value from a rule is a bound parameter, JSON paths and keys included
(attribute names are also held to a plain-identifier pattern); nothing a user
wrote is spliced into the SQL text. The same rule selects the same contacts
on SQLite and PostgreSQL: a property test holds both to a Python reading of
the rules (``tests/integration/test_segment_rules.py``).

Each condition is exactly true or false for every contact, never NULL, so
``not`` inverts it exactly (a missing attribute is simply not equal).

Where PostgreSQL can use an index:
- ``eq`` / ``in`` on an attribute, and ``exists``: the GIN index on
  ``attributes`` (``attributes @> '{"plan": "gold"}'``, ``attributes ? 'plan'``);
- ``tags`` ``has``: the GIN index on ``tags`` (``tags @> '["vip"]'``);
- ``country`` and the dates: their b-tree indexes;
- activity: the indexes on ``messages (to, created_at)``,
  ``inbound_messages (from_number, received_at)`` and ``link_clicks (contact_id)``.
Other attribute conditions (ranges, text search, ``ne``) read every row.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB

from textcast import status
from textcast.audience import attributes
from textcast.audience.rules import (
    ACTIVITIES,
    Activity,
    All,
    AnyOf,
    Attribute,
    Field,
    Not,
    Rule,
    Scalar,
    Tag,
)
from textcast.db.models import Contact, InboundMessage, LinkClick, Message, Suppression

CONTACTS = cast(Table, Contact.__table__)
MESSAGES = cast(Table, Message.__table__)
INBOUND = cast(Table, InboundMessage.__table__)
CLICKS = cast(Table, LinkClick.__table__)
SUPPRESSIONS = cast(Table, Suppression.__table__)

# Message statuses behind each kind of activity.
DELIVERED = (status.DELIVERED, status.READ)
FAILED = (status.FAILED, status.UNDELIVERED)
# The stored date forms (see textcast.audience.attributes) as GLOB patterns.
_D = "[0-9]"
_SQLITE_DATE = f"{_D * 4}-{_D * 2}-{_D * 2}"
_SQLITE_DATETIME = f"{_SQLITE_DATE}T{_D * 2}:{_D * 2}:{_D * 2}Z"
_PG_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)?$"
_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def opted_out() -> ColumnElement[bool]:
    """The contact's number is on a suppression list (any provider or sender)."""
    return CONTACTS.c.phone.in_(select(SUPPRESSIONS.c.phone))


@dataclass(frozen=True)
class SegmentCompiler:
    """Compiles rules for one database, at one moment (``now``, for relative
    dates), with the install's default zone standing in for unset ones."""

    dialect: str
    now: datetime
    install_zone: str

    def where(self, rule: Rule) -> ColumnElement[bool]:
        if isinstance(rule, All):
            return and_(true(), *(self.where(r) for r in rule.rules))
        if isinstance(rule, AnyOf):
            return or_(*(self.where(r) for r in rule.rules))
        if isinstance(rule, Not):
            return not_(self.where(rule.rule))
        if isinstance(rule, Attribute):
            return self._attribute(rule)
        if isinstance(rule, Tag):
            has = self._has_tag(rule.tag)
            return has if rule.present else not_(has)
        if isinstance(rule, Field):
            return self._field(rule)
        return self._activity(rule)

    @property
    def _pg(self) -> bool:
        return self.dialect == "postgresql"

    # Attributes ------------------------------------------------------------

    def _attribute(self, rule: Attribute) -> ColumnElement[bool]:
        op, value = rule.op, rule.value
        if op in ("eq", "ne"):
            found = self._equals(rule.name, value)
            return found if op == "eq" else not_(found)
        if op in ("in", "not_in"):
            found = or_(*(self._equals(rule.name, v) for v in value))
            return found if op == "in" else not_(found)
        if op == "exists":
            there = self._has_key(rule.name)
            return there if value else not_(there)
        if op == "contains":
            text = self._text(rule.name)
            position = func.strpos(text, value) if self._pg else func.instr(text, value)
            return _definite(and_(self._is(rule.name, "string"), position > 0))
        if op == "starts_with":
            text = self._text(rule.name)
            head = func.substr(text, 1, len(value)) == bindparam(None, value, String())
            return _definite(and_(self._is(rule.name, "string"), head))
        if op in ("within_last", "within_next"):
            today = self.now.date()
            if op == "within_last":
                low, high = today - value.delta, today
            else:
                low, high = today, today + value.delta
            day = self._day(rule.name)
            return _definite(
                and_(self._is_date(rule.name), day >= low.isoformat(), day <= high.isoformat())
            )
        compare = _OPERATORS[op]
        if isinstance(value, str):  # a date or date-time
            if attributes.STORED_DATE.fullmatch(value):
                found = compare(self._day(rule.name), value)
            else:
                found = compare(self._instant(rule.name), value)
            return _definite(and_(self._is_date(rule.name), found))
        number = case((self._is(rule.name, "number"), self._number(rule.name)), else_=None)
        return _definite(compare(number, bindparam(None, float(value), Float())))

    def _equals(self, name: str, value: Scalar) -> ColumnElement[bool]:
        if self._pg:  # containment: served by the GIN index
            return type_coerce(CONTACTS.c.attributes, JSONB()).contains({name: value})
        if isinstance(value, bool):
            return _definite(
                func.json_type(CONTACTS.c.attributes, _path(name)) == str(value).lower()
            )
        kind = "string" if isinstance(value, str) else "number"
        return _definite(and_(self._is(name, kind), self._sqlite_value(name) == value))

    def _has_key(self, name: str) -> ColumnElement[bool]:
        if self._pg:
            return cast(
                ColumnElement[bool], type_coerce(CONTACTS.c.attributes, JSONB()).has_key(name)
            )
        return func.json_type(CONTACTS.c.attributes, _path(name)).is_not(None)

    def _is(self, name: str, kind: str) -> ColumnElement[bool]:
        """The attribute holds a JSON ``kind`` (string or number)."""
        if self._pg:
            value = type_coerce(CONTACTS.c.attributes, JSONB())[name]
            return func.jsonb_typeof(value) == kind
        found = func.json_type(CONTACTS.c.attributes, _path(name))
        return found == "text" if kind == "string" else found.in_(("integer", "real"))

    def _text(self, name: str) -> ColumnElement[str]:
        if self._pg:
            text = type_coerce(CONTACTS.c.attributes, JSONB())[name].astext
            return cast(ColumnElement[str], text.collate("C"))
        return cast(ColumnElement[str], self._sqlite_value(name))

    def _number(self, name: str) -> ColumnElement[float]:
        if self._pg:
            text = type_coerce(CONTACTS.c.attributes, JSONB())[name].astext
            return cast(ColumnElement[float], text.cast(Float()))
        return cast(ColumnElement[float], self._sqlite_value(name))

    def _sqlite_value(self, name: str) -> ColumnElement[Any]:
        return func.json_extract(CONTACTS.c.attributes, _path(name))

    def _is_date(self, name: str) -> ColumnElement[bool]:
        """The attribute is a string in a stored date or date-time form."""
        text = self._text(name)
        if self._pg:
            shaped = text.regexp_match(_PG_DATE)
        else:
            shaped = or_(text.op("GLOB")(_SQLITE_DATE), text.op("GLOB")(_SQLITE_DATETIME))
        return and_(self._is(name, "string"), shaped)

    def _day(self, name: str) -> ColumnElement[str]:
        return func.substr(self._text(name), 1, 10)

    def _instant(self, name: str) -> ColumnElement[str]:
        """A stored date reads as its midnight UTC, comparable with date-times."""
        text = self._text(name)
        return case((func.length(text) == 10, text + "T00:00:00Z"), else_=text)

    # Tags and fields ---------------------------------------------------------

    def _has_tag(self, tag: str) -> ColumnElement[bool]:
        if self._pg:  # containment: served by the GIN index
            return type_coerce(CONTACTS.c.tags, JSONB()).contains([tag])
        each = func.json_each(CONTACTS.c.tags).table_valued("value")
        return exists().where(each.c.value == tag)

    def _field(self, rule: Field) -> ColumnElement[bool]:
        field, op, value = rule.field, rule.op, rule.value
        if field == "opted_out":
            return opted_out() if value else not_(opted_out())
        if field in ("created_at", "updated_at", "last_inbound_at"):
            return self._timestamp(CONTACTS.c[field], op, value)
        if field == "external_id":
            if op == "exists":
                there = CONTACTS.c.external_id.is_not(None)
                return there if value else not_(there)
            return _definite(CONTACTS.c.external_id == value)
        column: ColumnElement[Any] = CONTACTS.c[field]
        if field == "time_zone":
            column = func.coalesce(CONTACTS.c.time_zone, literal(self.install_zone))
        if op == "starts_with":  # a phone prefix: + and digits, nothing LIKE reads specially
            return CONTACTS.c.phone.startswith(value)
        found: ColumnElement[bool] = column == value if op in ("eq", "ne") else column.in_(value)
        return found if op in ("eq", "in") else not_(found)

    def _timestamp(
        self, column: ColumnElement[datetime], op: str, value: Any
    ) -> ColumnElement[bool]:
        if op == "exists":
            return column.is_not(None) if value else column.is_(None)
        if op == "within_last":
            return _definite(and_(column >= self.now - value.delta, column <= self.now))
        if attributes.STORED_DATE.fullmatch(value):
            # A date is a whole day: after 1 March starts on 2 March.
            day = date.fromisoformat(value)
            start, next_start = _midnight(day), _midnight(day + timedelta(days=1))
            bounds = {
                "gt": column >= next_start,
                "gte": column >= start,
                "lt": column < start,
                "lte": column < next_start,
            }
            return _definite(bounds[op])
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return _definite(_OPERATORS[op](column, moment))

    # Activity ----------------------------------------------------------------

    def _activity(self, rule: Activity) -> ColumnElement[bool]:
        since = None if rule.within is None else self.now - rule.within.delta
        if rule.kind == "replied":
            query = select(INBOUND.c.from_number)
            if since is not None:
                query = query.where(INBOUND.c.received_at >= since)
            if rule.campaign is not None:
                query = query.where(INBOUND.c.in_reply_to.in_(self._campaign(rule.campaign)))
            return CONTACTS.c.phone.in_(query)
        if rule.kind == "clicked":
            query = select(CLICKS.c.contact_id).where(
                CLICKS.c.contact_id.is_not(None), CLICKS.c.is_bot.is_(false())
            )
            if since is not None:
                query = query.where(CLICKS.c.clicked_at >= since)
            if rule.campaign is not None:
                query = query.where(CLICKS.c.campaign == rule.campaign)
            return CONTACTS.c.id.in_(query)
        assert rule.kind in ACTIVITIES
        sent = select(MESSAGES.c.to)
        if rule.kind == "received":
            sent = sent.where(MESSAGES.c.sent_at.is_not(None))
        else:
            sent = sent.where(
                MESSAGES.c.status.in_(DELIVERED if rule.kind == "delivered" else FAILED)
            )
        if since is not None:
            sent = sent.where(MESSAGES.c.created_at >= since)
        if rule.campaign is not None:
            sent = sent.where(MESSAGES.c.campaign == rule.campaign)
        return CONTACTS.c.phone.in_(sent)

    def _campaign(self, campaign: str) -> Any:
        return select(MESSAGES.c.id).where(MESSAGES.c.campaign == campaign)


def _path(name: str) -> Any:
    """The JSON path of an attribute, bound (names are plain identifiers)."""
    return bindparam(None, f"$.{name}", String())


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _definite(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """``condition``, with NULL (a missing value) read as false."""
    return func.coalesce(condition, false())
