"""Every dashboard page at desktop width and at 390 px (a phone): nothing
scrolls sideways, axe-core finds nothing serious (labels, contrast, names),
and each is kept as a screenshot under tests/artifacts/."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Browser

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    shown_well,
    sign_in,
)
from tests.browser.test_sending_and_inbox import SUBSCRIBER, add_provider, write_in
from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, eventually

PAGES = [
    "/dashboard",
    "/dashboard/messages",
    "/dashboard/messages/1",
    "/dashboard/send-test",
    "/dashboard/inbox",
    "/dashboard/inbox/1",
    "/dashboard/keywords",
    "/dashboard/contacts",
    "/dashboard/contacts/1",
    "/dashboard/contacts/new",
    "/dashboard/contacts/import",
    "/dashboard/contacts/1/erase",
    "/dashboard/segments",
    "/dashboard/segments/new",
    "/dashboard/templates",
    "/dashboard/templates/new",
    "/dashboard/suppressions",
    "/dashboard/events",
    "/dashboard/providers",
    "/dashboard/providers/1",
    "/dashboard/senders/1",
    "/dashboard/providers/new/twilio",
    "/dashboard/providers/new/generic",
    "/dashboard/providers/new/generic?preset=exotel",
    "/dashboard/providers/1/senders/new",
    "/dashboard/webhooks",
    "/dashboard/webhooks/1",
    "/dashboard/settings",
    "/dashboard/settings/api-keys",
    "/dashboard/settings/users",
    "/dashboard/settings/audit",
    "/dashboard/no-such-page",
]


async def test_every_page_fits_a_phone_and_passes_axe(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    provider = await add_provider(server, simulator)
    async with aiohttp.ClientSession() as http:
        status, sent = await api(
            http,
            "POST",
            f"{server.url}/api/v1/messages",
            server.headers,
            {"to": SUBSCRIBER, "body": "Your order has shipped 📦", "campaign": "launch"},
        )
        assert status == 202, sent
        status, _ = await api(
            http,
            "POST",
            f"{server.url}/api/v1/webhooks",
            server.headers,
            {"url": "http://127.0.0.1:9/hooks", "description": "shop backend"},
        )
        assert status == 201

        async def delivered() -> bool:
            _, body = await api(http, "GET", f"{server.url}/api/v1/messages/1", server.headers)
            return bool(body["status"] == "delivered")

        await eventually(delivered)
    await write_in(simulator, provider["senders"][0], "Thanks! When does it arrive?")

    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = await sign_in(browser, server, "admin", viewport=viewport)
        for path in PAGES:
            await page.goto(f"{server.url}{path}")
            await page.wait_for_load_state("networkidle")
            slug = path.removeprefix("/dashboard").strip("/").replace("/", "-").replace("?", "-")
            await shown_well(page, f"{slug or 'overview'}-{name}", axe=name == "desktop")
        await page.close()

    page = await browser.new_page(viewport=PHONE)
    await page.goto(f"{server.url}/dashboard/login")
    await shown_well(page, "login-phone", axe=True)
