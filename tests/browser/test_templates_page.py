"""Templates in the browser: the editor's live preview (segments, encoding,
the characters forcing UCS-2, missing variables, the unsubscribe text) for
sample data and for a saved contact, the service's refusals next to their
fields, a change kept as a new version, delete; a viewer is refused."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Browser, expect

from tests.browser.conftest import fits_and_passes, sign_in
from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api

SENDERS = [
    {"name": "main", "type": "long_code", "sender_id": "+15005550006", "mps": 500},
    {
        "name": "promo",
        "type": "long_code",
        "sender_id": "+15005550007",
        "unsubscribe_text": "Reply STOP to opt out",
    },
]


async def test_a_template_is_previewed_saved_versioned_and_deleted(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    async with aiohttp.ClientSession() as http:
        payload = twilio_provider_payload(simulator, senders=SENDERS)
        status, body = await api(
            http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
        )
        assert status == 201, body
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/contacts",
            server.headers,
            {"phone": "+14155550101", "attributes": {"first_name": "Zoë", "plan": "gold"}},
        )
        assert status == 201, body

    page = await sign_in(browser, server, "editor")
    await page.click("nav >> text=Templates")
    await page.click("text=New template")
    preview = page.locator("#preview")
    await page.fill("#f-body", "Hi {{ contact.first_name }}!")
    await expect(preview.locator("[data-preview-text]")).to_have_text("Hi Ada!")
    await expect(preview).to_have_attribute("data-encoding", "GSM-7")
    await page.fill("#f-body", "Hi {{ contact.first_name }}, your {{ contact.plan }} plan renews.")
    await expect(preview.locator("[data-missing]")).to_contain_text("contact.plan")
    await expect(preview.locator("[data-preview-error]")).to_be_visible()
    # A value the send gives (the API's "data"), typed for the preview.
    await page.fill("#f-body", "Order {{ data.order }} ships today.")
    await expect(preview.locator("[data-missing]")).to_contain_text("data.order")
    await page.fill("#f-sample_data", "order=A-1042")
    await expect(preview.locator("[data-preview-text]")).to_have_text("Order A-1042 ships today.")
    await page.fill("#f-sample_data", "")
    await page.fill("#f-body", "Hi {{ contact.first_name }}, your {{ contact.plan }} plan renews.")

    # For a saved contact: her name forces UCS-2 (ë), shown as the culprit.
    await page.fill("#f-preview_contact", "+14155550101")
    await expect(preview.locator("[data-preview-text]")).to_contain_text("Hi Zoë, your gold plan")
    await expect(preview).to_have_attribute("data-encoding", "UCS-2")
    await expect(preview.locator("[data-ucs2]")).to_contain_text("ë")
    await expect(preview.locator("[data-missing]")).to_have_count(0)

    # The unsubscribe text counts in the preview; the service's refusals by their fields.
    await page.select_option("#f-sender", label="promo (+15005550007)")
    await page.check("#f-append_unsubscribe")
    await expect(preview.locator("[data-preview-text]")).to_contain_text("Reply STOP to opt out")
    await page.fill("#f-name", "renewal")
    await page.fill("#f-template_id", "not valid!")
    await page.get_by_role("button", name="Save template").click()
    await expect(page.locator("#f-template_id-error")).to_contain_text("letters, digits")
    await page.fill("#f-template_id", "1107161234567890123")
    await page.select_option("#f-sender", label="main (+15005550006)")
    await page.get_by_role("button", name="Save template").click()
    await expect(page.locator("main .field-error")).to_contain_text("no unsubscribe text")
    await page.select_option("#f-sender", label="promo (+15005550007)")
    await fits_and_passes(page, "template-editor")
    await page.get_by_role("button", name="Save template").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved: version 1")

    # A change is a new version; the old one stays in the history.
    await page.fill("#f-body", "Hello {{ contact.first_name | default('there') }}, renew now.")
    await page.get_by_role("button", name="Save template").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved: version 2")
    await expect(page.locator("[data-version='1']")).to_contain_text("your {{ contact.plan }}")
    await expect(page.locator("[data-version='2']")).to_contain_text("current")

    # Twilio Content variables only with a Content SID; UTM parameters for links.
    await page.click("text=UTM parameters for tracked links")
    await page.fill("#f-utm_campaign", "renewal")
    await page.fill("#cv-name-0", "1")
    await page.fill("#cv-value-0", "{{ contact.first_name }}")
    await page.get_by_role("button", name="Save template").click()
    await expect(page.locator("#cv-error")).to_contain_text("only for a Twilio Content template")
    await page.fill("#f-template_id", "HX" + "0123456789abcdef" * 2)
    await page.get_by_role("button", name="Save template").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved: version 3")
    await expect(page.locator("#cv-value-0")).to_have_value("{{ contact.first_name }}")
    await expect(page.locator("#f-utm_campaign")).to_have_value("renewal")
    await fits_and_passes(page, "template-versions")
    await page.click("nav >> text=Templates")
    await expect(page.locator("main tbody")).to_contain_text("renewal")
    await fits_and_passes(page, "templates")

    viewer = await sign_in(browser, server, "viewer")
    await viewer.goto(f"{server.url}/dashboard/templates/1")
    await expect(viewer.get_by_role("button", name="Save template")).to_have_count(0)
    token = await viewer.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = await viewer.request.post(
        f"{server.url}/dashboard/templates/1",
        form={"csrf_token": token or "", "name": "renamed", "body": "x"},
    )
    assert answer.status == 403
    assert "text/html" in answer.headers["content-type"]

    await page.click("text=renewal")
    await page.get_by_role("button", name="Delete template").click()
    await expect(page.locator("main tbody")).to_contain_text("No templates yet")
