"""The dashboard in a real browser (Debian's Chromium driven by Playwright):
sign in, read the numbers, send a test SMS and watch it reach delivered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, sqlite_template: object, tmp_path: object) -> str:
    """One database is enough here: the pages sit on services tested on both."""
    import shutil
    from pathlib import Path

    target = Path(str(tmp_path)) / "browser.db"
    shutil.copy(Path(str(sqlite_template)), target)
    return f"sqlite+aiosqlite:///{target}"


async def test_sign_in_send_a_test_sms_and_see_it_delivered(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    async with aiohttp.ClientSession() as http:
        status, _ = await api(
            http,
            "POST",
            f"{server.url}/api/v1/providers",
            server.headers,
            twilio_provider_payload(simulator),
        )
        assert status == 201
    page = await browser.new_page()
    await page.goto(f"{server.url}/")
    await expect(page).to_have_url(f"{server.url}/dashboard/login")

    await page.fill("#key", "tc_not-a-real-key")
    await page.click("main button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("not valid")

    await page.fill("#key", server.api_key)
    await page.click("main button[type=submit]")
    await expect(page).to_have_url(f"{server.url}/dashboard")
    await expect(page.locator("[data-stat=messages]")).to_have_text("0")

    await page.click("text=Send test SMS")
    await page.fill("#to", "not a number")
    await page.click("main button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("to:")

    await page.fill("#to", "+14155552671")
    await page.fill("#body", "Hello from the dashboard")
    await page.click("main button[type=submit]")
    await expect(page.locator("[data-status]")).to_have_text("delivered", timeout=15_000)
    await expect(page.locator("text=message.delivered")).to_be_visible()

    await page.click("text=Overview")
    await expect(page.locator("[data-stat=delivered]")).to_have_text("1")
    await expect(page.locator("[data-stat=delivery-rate]")).to_have_text("100.0%")
    await page.click("text=Providers")
    await expect(page.locator("code").first).to_contain_text("/webhooks/twilio/")

    await page.click("text=Sign out")
    await page.goto(f"{server.url}/dashboard/messages")
    await expect(page).to_have_url(f"{server.url}/dashboard/login")
