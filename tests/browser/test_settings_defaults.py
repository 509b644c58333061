"""The installation's defaults on the Settings page: an admin saves them and
sees them (and where each comes from), a bad cap is refused with the message
next to its field, a saved value goes back to the environment's; an editor
reads them and may not change them. At desktop width and at 390 px, with axe."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    accessible,
    no_sideways_scroll,
    screenshot,
    sign_in,
)
from tests.conftest import RunningServer
from tests.integration.helpers import api

SETTINGS = "/dashboard/settings"


def source(page: Page, name: str) -> Locator:
    """Where the form says the default ``name`` comes from."""
    return page.locator(f"[data-source={name}]")


async def fits(page: Page, name: str) -> None:
    await no_sideways_scroll(page)
    await accessible(page)
    await screenshot(page, name)


async def test_an_admin_saves_defaults_sees_them_and_goes_back_to_the_environment(
    server: RunningServer, browser: Browser
) -> None:
    page = await sign_in(browser, server, "admin")
    await page.goto(f"{server.url}{SETTINGS}")
    await expect(source(page, "frequency_caps")).to_contain_text("From the environment")

    await page.fill("#f-default_region", "gb")
    await page.fill("#f-frequency_caps", "2/24h,2/banana")
    await page.get_by_role("button", name="Save defaults").click()
    error = page.locator("#f-frequency_caps-error")
    await expect(error).to_contain_text("cannot read '2/banana'")
    await expect(page.locator("#f-frequency_caps")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-default_region")).to_have_value("gb")  # kept, not saved
    await fits(page, "settings-defaults-error")

    await page.fill("#f-frequency_caps", "2/24h,5/week")
    await page.select_option("#f-quiet_hours_inside", "skip")
    await page.get_by_role("button", name="Save defaults").click()
    await expect(page.get_by_role("status")).to_have_text("Defaults saved.")
    await expect(page.locator("#f-default_region")).to_have_value("GB")
    await expect(page.locator("#f-frequency_caps")).to_have_value("2/24h,5/week")
    await expect(page.locator("#f-quiet_hours_inside")).to_have_value("skip")
    for name in ("default_region", "frequency_caps", "quiet_hours_inside"):
        await expect(source(page, name)).to_contain_text("Saved here")
    # Left as shown, quiet hours keep following the environment.
    await expect(source(page, "quiet_hours")).to_contain_text("From the environment")
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/v1/settings/defaults"
        status, shown = await api(http, "GET", url, server.headers)
    assert status == 200
    assert (shown["default_region"]["value"], shown["default_region"]["source"]) == ("GB", "saved")
    assert shown["quiet_hours"]["source"] == "environment"

    await page.get_by_role("button", name="Use the environment's region").click()
    await expect(page.get_by_role("status")).to_contain_text("environment")
    await expect(page.locator("#f-default_region")).to_have_value("US")
    await expect(source(page, "default_region")).to_contain_text("From the environment")
    assert server.ctx.settings.default_region == "US"
    assert server.ctx.settings.frequency_caps == "2/24h,5/week"

    phone = await sign_in(browser, server, "admin", viewport=PHONE)
    await phone.goto(f"{server.url}{SETTINGS}")
    await expect(phone.locator("#f-frequency_caps")).to_have_value("2/24h,5/week")
    await fits(phone, "settings-defaults-phone")

    await page.goto(f"{server.url}/dashboard/settings/audit")
    changes = page.locator("[data-action]:text-is('settings.defaults_changed')")
    await expect(changes).to_have_count(2)


async def test_an_editor_reads_the_defaults_and_may_not_change_them(
    server: RunningServer, browser: Browser
) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/v1/settings/defaults"
        status, _ = await api(http, "PATCH", url, server.headers, {"frequency_caps": "1/day"})
        assert status == 200
    for viewport in (DESKTOP, PHONE):
        page = await sign_in(browser, server, "editor", viewport=viewport)
        await page.goto(f"{server.url}{SETTINGS}")
        await expect(page.locator("[data-default=frequency_caps]")).to_have_text("1/day")
        await expect(page.locator("[data-default=quiet_hours]")).to_have_text("21:00-08:00")
        await expect(page.get_by_role("button", name="Save defaults")).to_have_count(0)
        await fits(page, f"settings-defaults-editor-{viewport['width']}")

    # Even with its own valid CSRF token, an editor's change is refused.
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    for path, form in (
        ("/defaults", {"frequency_caps": "9/day"}),
        ("/defaults/reset", {"reset": "frequency_caps"}),
    ):
        answer = await page.request.post(
            f"{server.url}{SETTINGS}{path}", form={"csrf_token": token or "", **form}
        )
        assert answer.status == 403, path
        assert "text/html" in answer.headers["content-type"]
    assert server.ctx.settings.frequency_caps == "1/day"
