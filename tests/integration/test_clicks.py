"""Recording clicks on both databases: people counted once per message and
every time, bots stored but not counted, unknown and expired codes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from tests.conftest import Simulator, twilio_provider_payload
from textcast.context import Context
from textcast.db.models import LinkClick, Message, MessageEvent, ShortLink, utcnow
from textcast.services import messages as message_service
from textcast.services.providers import create_provider
from textcast.tracking import clicks, link_store, links

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148"
PREVIEW_UA = "facebookexternalhit/1.1 Facebot Twitterbot/1.0"


async def delivered_message_with_link(ctx: Context, simulator: Simulator) -> tuple[int, str]:
    async with ctx.session() as session:
        await create_provider(ctx, session, twilio_provider_payload(simulator))
    minted = links.mint("Your order: https://shop.example.com/o/17", "https://go.example.com")
    async with ctx.session() as session:
        request = message_service.SendRequest(to="+14155552671", body=minted.text)
        message = (await message_service.submit(ctx.settings, session, request)).message
        delivered_at = utcnow() - timedelta(minutes=5)
        await session.execute(
            update(Message)
            .where(Message.id == message.id)
            .values(status="delivered", sent_at=delivered_at, final_at=delivered_at)
        )
        connection = await session.connection()
        await link_store.save(
            connection,
            [link_store.MessageLinks(message.id, None, "spring", minted.links)],
        )
        return message.id, minted.links[0][0]


def request(code: str, agent: str | None = PHONE_UA, method: str = "GET") -> clicks.LinkRequest:
    return clicks.LinkRequest(code, method, agent, utcnow())


async def test_people_count_once_per_message_and_every_time_bots_not_at_all(
    ctx: Context, simulator: Simulator
) -> None:
    message_id, code = await delivered_message_with_link(ctx, simulator)
    async with ctx.engine.begin() as connection:
        found = await clicks.record(
            connection,
            [request(code, PREVIEW_UA), request(code), request(code), request(code, method="HEAD")],
        )
    assert [f.url for f in found] == ["https://shop.example.com/o/17"] * 4
    async with ctx.engine.begin() as connection:
        await clicks.record(connection, [request(code)])  # a later batch: not first any more
    async with ctx.sessions() as session:
        stored = (await session.scalars(select(LinkClick).order_by(LinkClick.id))).all()
        events = (
            await session.scalars(
                select(MessageEvent).where(MessageEvent.type == "message.clicked")
            )
        ).all()
    assert [(c.is_bot, c.bot_reason, c.first) for c in stored] == [
        (True, "bot_user_agent", False),
        (False, None, True),
        (False, None, False),
        (True, "head_request", False),
        (False, None, False),
    ]
    assert {c.campaign for c in stored} == {"spring"}
    assert [(e.message_id, e.data["first"] if e.data else None) for e in events] == [
        (message_id, True),
        (message_id, False),
        (message_id, False),
    ]


async def test_a_first_click_in_a_batch_still_in_flight_is_not_first_again(
    ctx: Context, simulator: Simulator
) -> None:
    """Two batches of one process may be in their transactions at once: the
    second must not give a message a first click the first batch already gave."""
    message_id, code = await delivered_message_with_link(ctx, simulator)
    in_flight: set[int] = set()
    first_batch: set[int] = set()
    async with ctx.engine.connect() as one, ctx.engine.connect() as other, one.begin():
        await clicks.record(one, [request(code)], in_flight, first_batch)
        assert in_flight == first_batch == {message_id}
        if ctx.engine.dialect.name == "postgresql":  # SQLite has one writer at a time
            second_batch: set[int] = set()
            async with other.begin():
                await clicks.record(other, [request(code)], in_flight, second_batch)
            assert second_batch == set()
    in_flight -= first_batch
    async with ctx.sessions() as session:
        firsts = (await session.scalars(select(LinkClick.first).order_by(LinkClick.id))).all()
    assert firsts[0] is True and not any(firsts[1:])


async def test_unknown_and_expired_codes_go_nowhere(ctx: Context, simulator: Simulator) -> None:
    _, code = await delivered_message_with_link(ctx, simulator)
    async with ctx.session() as session:
        await session.execute(
            update(ShortLink).where(ShortLink.code == code).values(expires_at=utcnow())
        )
    async with ctx.engine.begin() as connection:
        found = await clicks.record(connection, [request("NoSuch12"), request(code)])
    assert found == [clicks.NOT_FOUND, clicks.GONE]
