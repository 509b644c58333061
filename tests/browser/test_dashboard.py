"""The dashboard in a real browser (Debian's Chromium driven by Playwright):
sign in with an API key, read the numbers, send a test SMS and watch it reach
delivered, sign out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from playwright.async_api import Browser, expect

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api


async def test_sign_in_with_a_key_send_a_test_sms_and_see_it_delivered(
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
    await expect(page).to_have_url(f"{server.url}/dashboard/login?next=/dashboard")

    await page.click("text=Sign in with an API key instead")
    await page.fill("#key", "tc_not-a-real-key")
    await page.click("text=Sign in with the key")
    await expect(page.get_by_role("alert")).to_contain_text("not valid")

    await page.click("text=Sign in with an API key instead")
    await page.fill("#key", server.api_key)
    await page.click("text=Sign in with the key")
    await expect(page).to_have_url(f"{server.url}/dashboard")
    await expect(page.locator("[data-stat=messages]")).to_have_text("0")

    await page.click("nav >> text=Send Test SMS")
    await page.fill("#f-number", "not a number")
    await page.click("main button[type=submit]")
    await expect(page.locator(".field-error")).to_contain_text("not a phone number")

    await page.select_option("#f-country", "US")
    await page.fill("#f-number", "4155552671")
    await page.fill("#f-body", "Hello from the dashboard")
    await page.click("main button[type=submit]")
    await expect(page.locator("[data-status]")).to_have_text("delivered", timeout=15_000)
    await expect(page.locator("#live >> text=message.delivered")).to_be_visible()

    await page.click("nav >> text=Overview")
    await expect(page.locator("[data-stat=delivered]")).to_have_text("1")
    await expect(page.locator("[data-stat=delivery-rate]")).to_have_text("100.0%")
    # The numbers for chosen days, as GET /api/v1/stats?since= gives them.
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    await page.fill("#f-since", tomorrow)
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("[data-stat=delivered]")).to_have_text("0")
    await expect(page.locator("#f-since")).to_have_value(tomorrow)
    await page.click("main >> text=Clear")
    await expect(page.locator("[data-stat=delivered]")).to_have_text("1")
    await page.click("nav >> text=Providers")
    await expect(page.locator("code").first).to_contain_text("/webhooks/twilio/")

    await page.click("text=Sign out")
    await page.goto(f"{server.url}/dashboard/messages")
    await expect(page).to_have_url(f"{server.url}/dashboard/login?next=/dashboard/messages")
