"""A provider's Health page in the browser: the verdict on the Providers list,
a working account healthy, one whose token Twilio refuses failing with the
code named, an unused one idle; at desktop width and 390 px, through axe."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Browser, expect

from tests.browser.conftest import PHONE, fits_and_passes, no_sideways_scroll, sign_in
from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, eventually

WORKING = {"name": "main", "type": "long_code", "sender_id": "+15005550006", "mps": 500}
REFUSED = {"name": "stale", "type": "long_code", "sender_id": "+15005550007", "mps": 500}
UNUSED = {"name": "spare", "type": "long_code", "sender_id": "+15005550008", "mps": 500}


async def test_the_health_of_each_provider_with_its_reasons(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    async with aiohttp.ClientSession() as http:
        for payload in (
            twilio_provider_payload(simulator, senders=[WORKING]),
            # A token rotated in Twilio's console and not here: every send refused (20003).
            twilio_provider_payload(
                simulator,
                name="twilio-stale",
                senders=[REFUSED],
                auth_token="rotated-since",
                verify=False,
            ),
            twilio_provider_payload(simulator, name="twilio-spare", senders=[UNUSED]),
        ):
            status, body = await api(
                http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
            )
            assert status == 201, body
        sent = []
        for sender, to in [("main", "+14155552671")] + [("stale", "+14155552672")] * 3:
            status, body = await api(
                http,
                "POST",
                f"{server.url}/api/v1/messages",
                server.headers,
                {"to": to, "body": "Hello", "sender": sender},
            )
            assert status == 202, body
            sent.append(body["id"])

        async def all_final() -> bool:
            for message_id in sent:
                url = f"{server.url}/api/v1/messages/{message_id}"
                _, found = await api(http, "GET", url, server.headers)
                if found["status"] not in ("delivered", "failed"):
                    return False
            return True

        await eventually(all_final)

    page = await sign_in(browser, server, "viewer")
    await page.click("nav >> text=Providers")
    for name, verdict in (
        ("twilio-sim", "healthy"),
        ("twilio-stale", "failing"),
        ("twilio-spare", "idle"),
    ):
        section = page.locator("section", has_text=name).first
        await expect(section.locator("[data-health]")).to_have_text(verdict)
    await fits_and_passes(page, "providers-health")

    await page.locator("section", has_text="twilio-stale").locator("[data-health]").click()
    await expect(page.locator("h1")).to_have_text("twilio-stale: Health")
    await expect(page.locator("[data-verdict]")).to_have_text("failing")
    await expect(page.locator("[data-reasons]")).to_contain_text("refused all 3 attempts")
    await expect(page.locator("[data-reasons]")).to_contain_text("20003")
    await expect(page.locator("[data-errors] [data-error-code='20003']")).to_contain_text(
        "Authentication failed"
    )
    await expect(page.locator("[data-last-refusal]")).to_contain_text("20003")
    await expect(page.locator("[data-stat=refused_attempts]")).to_have_text("3")
    await fits_and_passes(page, "provider-health-failing")

    await page.goto(f"{server.url}/dashboard/providers/1")
    await page.click("main >> text=Health")
    await expect(page.locator("[data-verdict]")).to_have_text("healthy")
    await expect(page.locator("[data-stat=delivered]")).to_have_text("1")
    await expect(page.locator("[data-stat=unreported]")).to_have_text("0")
    await page.set_viewport_size(PHONE)
    await no_sideways_scroll(page)
