"""The core forms with JavaScript turned off (issue 16: htmx and uPlot only
enhance): a Twilio provider added and verified, a sender, a generic provider
from a preset, Send Test SMS followed to its final status by the page's own
refresh, a contact, a suppression, a keyword rule, a reply from the inbox, a
template previewed and saved, a campaign through the wizard's steps to a
draft, a webhook endpoint and an API key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import DESKTOP, make_user
from tests.browser.test_sending_and_inbox import SUBSCRIBER, add_provider, write_in
from tests.conftest import RunningServer, Simulator


@pytest.fixture
async def no_js(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    yield context
    await context.close()


async def sign_in_without_js(context: BrowserContext, server: RunningServer, role: str) -> Page:
    username, password = await make_user(server, role)
    page = await context.new_page()
    await page.goto(f"{server.url}/dashboard/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("form.stack button[type=submit]")
    await expect(page).to_have_url(f"{server.url}/dashboard")
    return page


async def test_providers_and_a_test_sms_without_javascript(
    server: RunningServer, simulator: Simulator, no_js: BrowserContext
) -> None:
    page = await sign_in_without_js(no_js, server, "admin")
    await page.goto(f"{server.url}/dashboard/providers/new/twilio")
    await page.fill("#f-name", "twilio-main")
    await page.fill("#f-account_sid", simulator.account_sid)
    await page.fill("#f-auth_token", simulator.auth_token)
    await page.fill("#f-base_url", simulator.url)
    await page.fill("#f-sender_name", "us-number")
    await page.fill("#f-sender_id", "+15005550006")
    await page.fill("#f-mps", "50")
    await page.click("text=Save provider")
    await expect(page.get_by_role("status")).to_contain_text("Provider added")
    await page.click("text=+ Add sender")
    await page.fill("#f-sender_name", "second")
    await page.fill("#f-sender_id", "+15005550007")
    await page.get_by_role("button", name="Add sender").click()
    await expect(page.get_by_role("status")).to_contain_text("Sender added")

    # The preset picker is a plain GET form ("Use this preset"), then "Fill the form".
    await page.goto(f"{server.url}/dashboard/providers/new/generic")
    await page.select_option("#preset-pick", "plivo")
    await page.click("text=Use this preset")
    await page.fill("#f-cred_auth_id", "MA1234")
    await page.fill("#f-cred_auth_token", "very-secret-token")
    await page.click("text=Fill the form")
    await expect(page.locator("#f-url")).to_have_value(
        "https://api.plivo.com/v1/Account/MA1234/Message/"
    )
    await page.fill("#f-sender_name", "plivo-number")
    await page.fill("#f-sender_id", "+14155550123")
    await page.click("text=Show the request")
    await expect(page.locator("[data-preview]")).to_contain_text("Basic ••••••••")

    # Send Test SMS: the message page reloads itself (<noscript> refresh) until final.
    await page.goto(f"{server.url}/dashboard/send-test")
    await expect(page.locator("#segments")).to_have_attribute("data-encoding", "GSM-7")
    await page.select_option("#f-country", "US")
    await page.fill("#f-number", "4155552671")
    await page.fill("#f-body", "Hello without scripts")
    await page.click("main button[type=submit]")
    await expect(page.locator("[data-status]")).to_have_text("delivered", timeout=20_000)


async def test_audience_content_and_settings_without_javascript(
    server: RunningServer, simulator: Simulator, no_js: BrowserContext
) -> None:
    provider = await add_provider(server, simulator)
    await write_in(simulator, provider["senders"][0], "Do you deliver on Sundays?")
    page = await sign_in_without_js(no_js, server, "admin")

    await page.goto(f"{server.url}/dashboard/contacts/new")
    await page.fill("#f-phone", "+14155550111")
    await page.fill("#f-tags", "vip")
    await page.get_by_role("button", name="Create contact").click()
    await expect(page.get_by_role("status")).to_contain_text("Contact created")

    await page.goto(f"{server.url}/dashboard/suppressions")
    await page.fill("#f-phone", "+14155550199")
    await page.fill("#f-reason", "asked by phone")
    await page.get_by_role("button", name="Suppress", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("+14155550199 suppressed")

    await page.goto(f"{server.url}/dashboard/keywords")
    await page.fill("#f-keyword", "hours")
    await page.fill("#f-reply", "Open 9 to 5.")
    await page.get_by_role("button", name="Add rule", exact=True).click()
    await expect(page.locator("main tbody")).to_contain_text("HOURS")

    await page.goto(f"{server.url}/dashboard/inbox")
    await page.click(f"text={SUBSCRIBER}")
    await page.fill("#reply-body", "Yes, on Sundays too.")
    await page.get_by_role("button", name="Send reply", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Reply queued")

    await page.goto(f"{server.url}/dashboard/templates/new")
    await page.fill("#f-name", "welcome")
    await page.fill("#f-body", "Hi {{ contact.first_name | default('there') }} 👋")
    await page.get_by_role("button", name="Preview", exact=True).click()
    sample_contact = "Hi Ada 👋"
    await expect(page.locator("[data-preview-text]")).to_have_text(sample_contact)
    await expect(page.locator("#preview")).to_have_attribute("data-encoding", "UCS-2")
    await page.get_by_role("button", name="Save template").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved: version 1")

    await page.goto(f"{server.url}/dashboard/campaigns/new")
    await page.fill("#f-name", "sunday")
    await page.select_option("#f-audience_kind", "phones")
    await page.fill("#f-phones", "+14155550111, +14155550199")
    await page.get_by_role("button", name="Next: Content", exact=True).click()
    await page.select_option("#f-content_kind", "template")
    await page.select_option("#f-template", "welcome")
    await page.get_by_role("button", name="Next: Schedule", exact=True).click()
    await page.get_by_role("button", name="Next: Review", exact=True).click()
    await expect(page.locator("[data-targeted]")).to_have_text("2")
    await expect(page.locator("[data-opted-out]")).to_have_text("1")
    await page.get_by_role("button", name="Save draft", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Campaign saved")

    await page.goto(f"{server.url}/dashboard/webhooks")
    await page.fill("#f-url", "http://127.0.0.1:9/hooks")
    await page.check("text=message.delivered")
    await page.get_by_role("button", name="Add endpoint").click()
    await expect(page.locator("#signing-secret")).to_contain_text("whsec_")

    await page.goto(f"{server.url}/dashboard/settings/api-keys")
    await page.fill("#f-name", "reporting")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("#new-key")).to_contain_text("tc_")
