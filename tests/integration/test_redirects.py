"""Short links over HTTP: redirect once recorded, HTML pages for the rest."""

from __future__ import annotations

import aiohttp
from sqlalchemy import func, select, update

from tests.conftest import RunningServer, Simulator
from tests.integration.test_clicks import PHONE_UA, delivered_message_with_link
from textcast.db.models import LinkClick, ShortLink, utcnow


async def test_a_short_link_redirects_and_is_counted(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    _, code = await delivered_message_with_link(server.ctx, simulator)
    url = f"{server.url}/s/{code}"
    headers = {"User-Agent": PHONE_UA}
    async with http.get(url, headers=headers, allow_redirects=False) as answer:
        assert answer.status == 302
        assert answer.headers["Location"] == "https://shop.example.com/o/17"
        assert answer.headers["Cache-Control"] == "no-store"
    async with http.head(url, headers=headers, allow_redirects=False) as answer:
        assert answer.status == 302
    async with server.ctx.sessions() as session:
        rows = (await session.execute(select(LinkClick.is_bot, LinkClick.first))).all()
    assert sorted(rows) == [(False, True), (True, False)]  # the HEAD is a bot's


async def test_unknown_malformed_and_expired_links_get_html_pages(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    _, code = await delivered_message_with_link(server.ctx, simulator)
    for path in ("/s/Zz9Zz9Zz9", "/s/no!such"):
        async with http.get(f"{server.url}{path}", allow_redirects=False) as answer:
            assert answer.status == 404
            assert answer.headers["Content-Type"].startswith("text/html")
            assert "Link not found" in await answer.text()
    async with server.ctx.session() as session:
        await session.execute(
            update(ShortLink).where(ShortLink.code == code).values(expires_at=utcnow())
        )
    async with http.get(f"{server.url}/s/{code}", allow_redirects=False) as answer:
        assert answer.status == 410
        assert "Link expired" in await answer.text()
    async with server.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LinkClick)) == 0


async def test_the_api_is_untouched_by_the_link_door(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    # /s/… is the links' own; every other path still reaches the app.
    async with http.get(f"{server.url}/livez") as answer:
        assert answer.status == 200
    async with http.get(f"{server.url}/dashboard", allow_redirects=False) as answer:
        assert answer.status in (200, 303)


async def test_on_the_short_domain_codes_sit_at_the_root(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    _, code = await delivered_message_with_link(server.ctx, simulator)
    assert server.app is not None
    server.app.redirects.short_host = "go.example.com"
    headers = {"Host": "go.example.com", "User-Agent": PHONE_UA}
    async with http.get(f"{server.url}/{code}", headers=headers, allow_redirects=False) as answer:
        assert (answer.status, answer.headers["Location"]) == (302, "https://shop.example.com/o/17")
    # Another host's root is the app's, as ever.
    async with http.get(f"{server.url}/{code}", allow_redirects=False) as answer:
        assert answer.status == 404
        assert answer.headers["Content-Type"].startswith("application/json")
