"""Segment rules select the same contacts in SQL as in plain Python, on SQLite
and on PostgreSQL: random contacts, random rule trees, the compiled query
against the oracle in segment_oracle.py."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from tests.conftest import _truncate
from tests.integration.segment_oracle import Click, Person, Reply, SentMessage, matches
from textcast.audience import attributes, rules
from textcast.audience.segment_sql import SegmentCompiler
from textcast.config import Settings
from textcast.context import Context
from textcast.db.models import (
    Contact,
    InboundMessage,
    LinkClick,
    Message,
    Provider,
    Sender,
    ShortLink,
    Suppression,
)

NOW = datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)
INSTALL_ZONE = "UTC"
KEYS = ["plan", "age", "city", "renewal", "seen"]
PHONES = [f"+1415555{i:04d}" for i in range(2670, 2680)] + ["+442079460001", "+442079460002"]
CAMPAIGNS = [None, "spring", "fall"]
STATUSES = ["queued", "sent", "delivered", "read", "failed", "undelivered", "canceled"]
TEXT = "abgoldé%_ 0-"


def moments() -> st.SearchStrategy[datetime]:
    """Around NOW, mostly in the past; often on a whole day or hour."""
    seconds = st.integers(-2 * 86400, 40 * 86400) | st.integers(-2, 40).map(lambda d: d * 86400)
    return (seconds | st.integers(-48, 48).map(lambda h: h * 3600)).map(
        lambda s: NOW - timedelta(seconds=s)
    )


def days_around() -> st.SearchStrategy[date]:
    return st.integers(-12, 4).map(lambda d: (NOW - timedelta(days=d)).date())


# Small pools, so that rules often meet the very values contacts hold (the
# boundaries are where readings differ).
NUMBERS = st.integers(-2, 5) | st.sampled_from([0.5, 2.0, 2.5, -1.5])
DAYS = days_around().map(date.isoformat)
TIMES = st.builds(
    lambda day, hour: f"{day.isoformat()}T{hour:02d}:00:00Z",
    days_around(),
    st.sampled_from([0, 12]),
)
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(["gold", "Gold", "silver", "", "gö ld", "x%_", "gold "]),
    st.text(alphabet=TEXT, max_size=4),
    NUMBERS,
    st.booleans(),
    DAYS,
    TIMES,
)
ORDERED: st.SearchStrategy[Any] = st.one_of(NUMBERS, DAYS, TIMES)


@st.composite
def people(draw: st.DrawFn) -> list[Person]:
    phones = draw(st.lists(st.sampled_from(PHONES), min_size=1, max_size=12, unique=True))
    found = []
    for index, phone in enumerate(phones):
        values = draw(st.dictionaries(st.sampled_from(KEYS), SCALARS, max_size=4))
        found.append(
            Person(
                phone=phone,
                country=draw(st.sampled_from(["US", "GB", "FR"])),
                phone_type=draw(st.sampled_from(["mobile", "fixed_line", "invalid"])),
                time_zone=draw(st.sampled_from([None, "UTC", "Europe/Paris"])),
                external_id=draw(st.sampled_from([None, f"u{index}"])),
                attributes={k: attributes.value(v, k) for k, v in values.items()},
                tags=draw(st.lists(st.sampled_from(["vip", "Vip", "new", "a b"]), unique=True)),
                created_at=draw(moments()),
                updated_at=draw(moments()),
                last_inbound_at=draw(st.none() | moments()),
                opted_out=draw(st.booleans()),
                messages=draw(
                    st.lists(
                        st.builds(
                            SentMessage,
                            st.sampled_from(STATUSES),
                            st.booleans(),
                            st.sampled_from(CAMPAIGNS),
                            moments(),
                        ),
                        max_size=3,
                    )
                ),
                replies=draw(
                    st.lists(st.builds(Reply, moments(), st.sampled_from(CAMPAIGNS)), max_size=2)
                ),
                clicks=draw(
                    st.lists(
                        st.builds(Click, moments(), st.booleans(), st.sampled_from(CAMPAIGNS)),
                        max_size=2,
                    )
                ),
            )
        )
    return found


def _attribute_leaf() -> st.SearchStrategy[dict[str, Any]]:
    field = st.sampled_from([*KEYS, "missing"]).map(lambda k: f"attributes.{k}")
    texts = st.text(alphabet=TEXT, min_size=1, max_size=3) | st.sampled_from(["2026-0", "gold"])
    by_op: dict[str, st.SearchStrategy[Any]] = {
        "eq": SCALARS,
        "ne": SCALARS,
        "in": st.lists(SCALARS, min_size=1, max_size=3),
        "not_in": st.lists(SCALARS, min_size=1, max_size=3),
        "contains": texts,
        "starts_with": texts,
        "exists": st.booleans(),
        "within_last": st.integers(1, 14).map(lambda n: f"{n}d"),
        "within_next": st.integers(1, 14).map(lambda n: f"{n}d"),
        **dict.fromkeys(rules.COMPARISONS, ORDERED),
    }
    return st.one_of(
        *(
            st.fixed_dictionaries({"field": field, "op": st.just(op), "value": value})
            for op, value in by_op.items()
        )
    )


def _field_leaf() -> st.SearchStrategy[dict[str, Any]]:
    def pick(field: str, op: str, value: st.SearchStrategy[Any]) -> Any:
        return st.fixed_dictionaries({"field": st.just(field), "op": st.just(op), "value": value})

    moments_or_days = DAYS | TIMES | moments().map(datetime.isoformat)
    choices = [
        pick("tags", "has", st.sampled_from(["vip", "new", "a b", "x"])),
        pick("tags", "has_not", st.sampled_from(["vip", "Vip"])),
        pick("opted_out", "eq", st.booleans()),
        pick("external_id", "eq", st.sampled_from(["u0", "u1", "u2"])),
        pick("external_id", "exists", st.booleans()),
        pick("phone", "starts_with", st.sampled_from(["+1", "+1415", "+44", "+14155552672"])),
        pick("phone", "eq", st.sampled_from(PHONES)),
        pick("last_inbound_at", "exists", st.booleans()),
    ]
    for name, values in (
        ("country", ["US", "GB", "DE"]),
        ("phone_type", ["mobile", "invalid"]),
        ("time_zone", ["UTC", "Europe/Paris", "Asia/Tokyo"]),
    ):
        for op in ("eq", "ne"):
            choices.append(pick(name, op, st.sampled_from(values)))
        for op in ("in", "not_in"):
            choices.append(pick(name, op, st.lists(st.sampled_from(values), min_size=1)))
    for name in rules.TIMESTAMPS:
        for op in rules.COMPARISONS:
            choices.append(pick(name, op, moments_or_days))
        periods = st.integers(1, 14).map(lambda n: f"{n}d") | st.integers(1, 48).map(
            lambda n: f"{n}h"
        )
        choices.append(pick(name, "within_last", periods))
    return st.one_of(*choices)


def _activity_leaf() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda kind, campaign, within: {
            "activity": kind,
            **({"campaign": campaign} if campaign else {}),
            **({"within_last": within} if within else {}),
        },
        st.sampled_from(rules.ACTIVITIES),
        st.sampled_from(CAMPAIGNS),
        st.none() | st.integers(1, 14).map(lambda n: f"{n}d"),
    )


RULES = st.recursive(
    st.one_of(_attribute_leaf(), _field_leaf(), _activity_leaf()),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda r: {"all": r}),
        st.lists(children, min_size=1, max_size=3).map(lambda r: {"any": r}),
        children.map(lambda r: {"not": r}),
    ),
    max_leaves=6,
)


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as run:
        yield run


@pytest.fixture
def context(runner: asyncio.Runner, settings: Settings) -> Iterator[tuple[Context, int, int]]:
    ctx = Context.create(settings)

    async def start() -> tuple[int, int]:
        await _truncate(ctx)
        async with ctx.session() as session:
            provider = Provider(
                name="rules", type="twilio", secrets_encrypted="-", webhook_secret_encrypted="-"
            )
            session.add(provider)
            await session.flush()
            sender = Sender(
                provider_id=provider.id, name="rules", type="long_code", sender_id="+1", mps=1
            )
            session.add(sender)
            await session.flush()
            return provider.id, sender.id

    provider_id, sender_id = runner.run(start())
    yield ctx, provider_id, sender_id
    runner.run(ctx.close())


async def _store(ctx: Context, provider_id: int, sender_id: int, persons: list[Person]) -> None:
    async with ctx.session() as session:
        for table in (LinkClick, ShortLink, InboundMessage, Message, Suppression, Contact):
            await session.execute(delete(table))
        for person in persons:
            contact = Contact(
                phone=person.phone,
                country=person.country,
                phone_type=person.phone_type,
                time_zone=person.time_zone,
                time_zone_source="explicit" if person.time_zone else "install_default",
                external_id=person.external_id,
                attributes=person.attributes,
                tags=person.tags,
                created_at=person.created_at,
                updated_at=person.updated_at,
                last_inbound_at=person.last_inbound_at,
            )
            session.add(contact)
            await session.flush()
            if person.opted_out:
                session.add(
                    Suppression(
                        provider_id=provider_id, phone=person.phone, reason="t", source="operator"
                    )
                )

            def message(to: str, campaign: str | None, at: datetime, **extra: Any) -> Message:
                row = Message(
                    provider_id=provider_id,
                    sender_id=sender_id,
                    to=to,
                    body="x",
                    segments=1,
                    encoding="GSM-7",
                    campaign=campaign,
                    created_at=at,
                    **extra,
                )
                session.add(row)
                return row

            for sent in person.messages:
                message(
                    person.phone,
                    sent.campaign,
                    sent.at,
                    status=sent.status,
                    sent_at=sent.at if sent.accepted else None,
                )
            for answer in person.replies:
                original = message("+15550000000", answer.to_campaign, answer.at)
                await session.flush()
                session.add(
                    InboundMessage(
                        provider_id=provider_id,
                        from_number=person.phone,
                        to_number="+1",
                        in_reply_to=original.id,
                        received_at=answer.at,
                    )
                )
            for click in person.clicks:
                link = ShortLink(
                    code=secrets.token_hex(4), url="https://example.com", campaign=click.campaign
                )
                session.add(link)
                await session.flush()
                session.add(
                    LinkClick(
                        link_id=link.id,
                        contact_id=contact.id,
                        campaign=click.campaign,
                        clicked_at=click.at,
                        is_bot=click.is_bot,
                    )
                )


async def _selected(ctx: Context, rule: rules.Rule) -> set[str]:
    compiler = SegmentCompiler(ctx.engine.dialect.name, NOW, INSTALL_ZONE)
    async with ctx.session() as session:
        query = select(Contact.phone).where(compiler.where(rule))
        return set(await session.scalars(query))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(persons=people(), raw_rules=st.lists(RULES, min_size=5, max_size=20))
def test_compiled_rules_select_what_the_python_reading_selects(
    runner: asyncio.Runner,
    context: tuple[Context, int, int],
    persons: list[Person],
    raw_rules: list[dict[str, Any]],
) -> None:
    ctx, provider_id, sender_id = context
    runner.run(_store(ctx, provider_id, sender_id, persons))
    for raw in raw_rules:
        rule = rules.parse(raw)
        expected = {p.phone for p in persons if matches(rule, p, NOW, INSTALL_ZONE)}
        assert runner.run(_selected(ctx, rule)) == expected, raw
