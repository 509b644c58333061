"""The segment builder in the browser: nested groups of conditions edited as
a form with the live count redrawn while typing (opted out, per country, a
sample), a refusal next to its input, save, edit without JavaScript (the
server applies "+ Condition" and the JSON box), delete; a viewer is refused."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import fits_and_passes, make_user, sign_in
from tests.browser.test_sending_and_inbox import add_provider
from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api

PEOPLE = [
    {"phone": "+14155550101", "tags": ["vip"], "attributes": {"age": 40}},
    {"phone": "+14155550102", "tags": ["vip"], "attributes": {"age": 20}},
    {"phone": "+33612345678", "tags": ["vip"], "attributes": {"age": 50}},
    {"phone": "+14155550104", "tags": ["vip"], "attributes": {"age": 60}},
    {"phone": "+14155550105", "tags": [], "attributes": {"age": 70}},
]


async def _people(server: RunningServer, simulator: Simulator) -> None:
    await add_provider(server, simulator)
    async with aiohttp.ClientSession() as http:
        for person in PEOPLE:
            status, body = await api(
                http, "POST", f"{server.url}/api/v1/contacts", server.headers, person
            )
            assert status == 201, body
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/suppressions",
            server.headers,
            {"provider": 1, "phone": "+14155550104", "reason": "asked by phone"},
        )
        assert status == 201, body


def by_id(page: Page, element_id: str) -> Any:
    return page.locator(f"[id='{element_id}']")


async def test_a_segment_is_built_counted_saved_edited_without_js_and_deleted(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await _people(server, simulator)
    page = await sign_in(browser, server, "editor")
    await page.click("nav >> text=Segments")
    await page.click("text=New segment")
    count = page.locator("#count")
    await expect(count).to_have_attribute("data-count", "5")

    await page.get_by_role("button", name="+ Condition").click()
    await by_id(page, "value-n.0").fill("vip")
    await expect(count).to_have_attribute("data-count", "4")  # live, while typing
    await expect(page.locator("[data-stat=opted-out]")).to_have_text("1")
    await expect(page.locator("[data-by-country]")).to_contain_text("US 3, FR 1")

    await page.locator("[data-group='n'] > .actions").get_by_role("button", name="+ Group").click()
    await by_id(page, "field-n.1.0").select_option("attribute")
    await by_id(page, "name-n.1.0").fill("age")
    await by_id(page, "op-n.1.0").select_option("gt")
    await by_id(page, "value-n.1.0").fill("old")
    await expect(count.locator("[data-count-error]")).to_contain_text("cannot be ordered")
    await page.fill("#f-name", "Young VIPs")
    await page.get_by_role("button", name="Save segment").click()
    await expect(by_id(page, "value-n.1.0-error".replace(".", "_"))).to_contain_text(
        "cannot be ordered"
    )
    await by_id(page, "value-n.1.0").fill("30")
    await expect(count).to_have_attribute("data-count", "3")
    await by_id(page, "kind-n.1").select_option("not")
    await expect(count).to_have_attribute("data-count", "1")
    await expect(count.locator("[data-sample]")).to_have_text("+14155550102")
    await fits_and_passes(page, "segment-builder")
    await page.get_by_role("button", name="Save segment").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved")
    await expect(page.locator("h1")).to_have_text("Young VIPs")
    await expect(count).to_have_attribute("data-count", "1")
    segment_url = page.url.split("?")[0]

    # The same builder with JavaScript off: every change is a form post.
    username, password = await make_user(server, "editor")
    context = await browser.new_context(java_script_enabled=False)
    plain = await context.new_page()
    await plain.goto(f"{server.url}/dashboard/login")
    await plain.fill("#username", username)
    await plain.fill("#password", password)
    await plain.click("form.stack button[type=submit]")
    await plain.goto(segment_url)
    await expect(plain.locator("#count")).to_have_attribute("data-count", "1")
    await (
        plain.locator("[data-group='n'] > .actions")
        .get_by_role("button", name="+ Condition")
        .click()
    )
    await by_id(plain, "field-n.2").select_option("country")
    await by_id(plain, "op-n.2").select_option("eq")
    await by_id(plain, "value-n.2").fill("FR")
    await plain.get_by_role("button", name="Count again").click()
    await expect(plain.locator("#count")).to_have_attribute("data-count", "0")
    await plain.click("text=Edit as JSON")
    await plain.fill("#f-rules_json", '{"any": [{"field": "country", "op": "eq", "value": "FR"}]}')
    await plain.get_by_role("button", name="Use this JSON").click()
    await expect(by_id(plain, "kind-n")).to_have_value("any")
    await expect(by_id(plain, "value-n.0")).to_have_value("FR")
    await expect(plain.locator("#count")).to_have_attribute("data-count", "1")
    await plain.get_by_role("button", name="Save segment").click()
    await expect(plain.get_by_role("status")).to_contain_text("Saved")
    await context.close()

    await page.reload()
    await expect(count).to_have_attribute("data-count", "1")
    await expect(count.locator("[data-sample]")).to_have_text("+33612345678")
    await page.click("nav >> text=Segments")
    await expect(page.locator("main tbody")).to_contain_text("Young VIPs")
    await fits_and_passes(page, "segments")
    await page.click("text=Young VIPs")
    await page.get_by_role("button", name="Delete segment").click()
    await expect(page.locator("main tbody")).to_contain_text("No segments yet")

    # Without the form's CSRF token nothing is saved, even by an editor.
    forged = await page.request.post(
        f"{server.url}/dashboard/segments/new",
        form={"name": "forged", "edit": "save", "node": "n", "type-n": "group"},
    )
    assert forged.status == 403
    assert "security token" in await forged.text()

    viewer = await sign_in(browser, server, "viewer")
    answer = await viewer.goto(f"{server.url}/dashboard/segments/new")
    assert answer is not None and answer.status == 403
    await expect(viewer.locator("h1")).to_have_text("Not allowed")
    await page.goto(f"{server.url}/dashboard/segments")
    await expect(page.locator("main tbody")).not_to_contain_text("forged")
