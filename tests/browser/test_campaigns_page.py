"""Campaigns in the browser: the wizard (audience with its live count →
content → schedule → review) saving a draft, the draft edited and launched
against the simulator, the campaign's live progress and its Stats tab
watched until the deliveries arrive, the Errors tab, a started campaign's
edit refused with the service's reason; the provider's Stats tab; recipients
in a country the provider may not send to shown skipped and why; the list
paged on to older campaigns; a viewer refused, a form without its CSRF token
refused; every new page at phone width and through axe."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    accessible,
    no_sideways_scroll,
    screenshot,
    shown_well,
    sign_in,
)
from tests.browser.test_sending_and_inbox import add_provider
from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api
from textcast.dashboard.pages import campaigns as campaigns_page

VIP = ("+14155552671", "+14155552672", "+15005550001")  # the last: the simulator refuses it (21211)
OPTED_OUT = "+14155552673"  # a VIP too, suppressed on the provider: skipped as opted out


async def vip_segment(server: RunningServer) -> None:
    """Four contacts tagged vip (one suppressed) and the saved segment selecting them."""
    async with aiohttp.ClientSession() as http:
        for number in (*VIP, OPTED_OUT):
            status, body = await api(
                http,
                "POST",
                f"{server.url}/api/v1/contacts",
                server.headers,
                {"phone": number, "tags": ["vip"]},
            )
            assert status in (200, 201), body
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/suppressions",
            server.headers,
            {"provider": "twilio-sim", "phone": OPTED_OUT},
        )
        assert status == 201, body
        status, body = await api(
            http,
            "PUT",
            f"{server.url}/api/v1/segments/vip",
            server.headers,
            {"rules": {"field": "tags", "op": "has", "value": "vip"}},
        )
        assert status in (200, 201), body


async def draft_for_2099(server: RunningServer, name: str) -> None:
    """A draft through the API, due far ahead (launched, it stays scheduled)."""
    async with aiohttp.ClientSession() as http:
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/campaigns",
            server.headers,
            {
                "name": name,
                "body": "Hello",
                "audience": {"segment": "vip"},
                "send_at": "2099-01-01T09:00:00Z",
            },
        )
    assert status == 201, body


async def next_step(page: Page, label: str) -> None:
    await page.get_by_role("button", name=f"Next: {label}", exact=True).click()
    await expect(page.locator("form[data-step]")).to_have_attribute("data-step", label.lower())


async def test_a_campaign_from_the_wizard_to_its_delivered_stats(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await add_provider(server, simulator)
    await vip_segment(server)
    # A price per segment (TEXTCAST_SEGMENT_PRICES), for the estimated costs.
    server.ctx.settings.segment_prices = {"*": 1.0}
    page = await sign_in(browser, server, "editor")
    await page.click("nav >> text=Campaigns")
    await expect(page.locator("main tbody")).to_contain_text("No campaigns yet")
    await page.click("text=+ New campaign")

    # Audience: the service's refusal next to the field; the live count.
    await page.fill("#f-name", "Spring sale!")
    await page.get_by_role("button", name="Next: Content", exact=True).click()
    await expect(page.locator("form[data-step]")).to_have_attribute("data-step", "audience")
    await expect(page.locator("#f-name-error")).to_be_visible()
    await page.fill("#f-name", "spring-sale")
    await page.select_option("#f-segment", "vip")
    await expect(page.locator("#audience-count")).to_have_attribute("data-total", "4")
    await expect(page.locator("#audience-count")).to_contain_text("3 can be messaged (1 opted out")
    await next_step(page, "Content")

    # Content: the segment counter; nothing written → refused at the review.
    await page.fill("#f-body", "Spring sale: 20% off today 🌷")
    await expect(page.locator("#segments")).to_have_attribute("data-encoding", "UCS-2")
    await page.fill("#f-body", "Spring sale: 20% off today")
    # Transactional: no quiet hours hold it back, whatever the time of the run.
    await page.select_option("#f-category", "transactional")
    await expect(page.locator("#segments")).to_have_attribute("data-encoding", "GSM-7")
    await next_step(page, "Schedule")
    await page.select_option("#f-when", "at")
    await page.fill("#f-send_at", "2099-01-02T09:00")
    await page.fill("#f-expires_at", "2099-01-01T09:00")
    await page.get_by_role("button", name="Next: Review", exact=True).click()
    # The service's refusal belongs to this step: shown here, next to its input.
    await expect(page.locator("form[data-step]")).to_have_attribute("data-step", "schedule")
    await expect(page.locator("#f-expires_at-error")).to_contain_text("after the campaign starts")
    await page.select_option("#f-when", "now")
    await page.fill("#f-expires_at", "")
    await page.fill("#f-throttle_per_minute", "600")
    await page.fill("#f-caps", "1/24h, 2/banana")
    await page.get_by_role("button", name="Next: Review", exact=True).click()
    await expect(page.locator("#f-caps-error")).to_contain_text("cannot read '2/banana'")
    await page.fill("#f-caps", "1/24h, 3/week")
    await next_step(page, "Review")
    await expect(page.locator("[data-targeted]")).to_have_text("4")
    await expect(page.locator("[data-opted-out]")).to_have_text("1")
    await expect(page.locator("[data-sendable]")).to_have_text("3")
    await expect(page.locator("[data-text-info]")).to_contain_text("GSM-7 · 1 segment")
    await expect(page.locator("[data-sample]")).to_contain_text(
        "Rendered for the segment's first 4 contacts: up to 1 segment, 0 in UCS-2"
    )
    await expect(page.locator("[data-cost]")).to_have_text("3.00 USD")  # 3 sendable × 1 segment
    await screenshot(page, "campaign-review-desktop")
    await page.get_by_role("button", name="Save draft", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Campaign saved")
    await expect(page.locator("[data-campaign-status]")).to_have_text("draft")

    # The draft edited (a second text, as an A/B test), then launched.
    await page.click("main >> text=Edit")
    await expect(page.locator("#f-name")).to_have_value("spring-sale")
    await next_step(page, "Content")
    await page.click("summary >> text=A/B test")
    await page.check("#f-ab")
    await page.fill("#f-v1_name", "short")
    await page.fill("#f-v1_percent", "50")
    await page.fill("#f-v1_body", "Spring sale today")
    await page.fill("#f-v2_name", "long")
    await page.fill("#f-v2_percent", "60")
    await page.fill("#f-v2_body", "Spring sale: 20% off everything today")
    await page.get_by_role("button", name="Next: Schedule", exact=True).click()
    await expect(page.locator("form[data-step]")).to_have_attribute("data-step", "content")
    await expect(page.locator("#variants-error")).to_contain_text("add up to 100")
    await page.fill("#f-v2_percent", "50")
    await next_step(page, "Schedule")
    await expect(page.locator("#f-caps")).to_have_value("1/24h, 3/week")  # as saved
    await next_step(page, "Review")
    await expect(page.locator("[data-review]")).to_contain_text("Variant long (50%)")
    await page.get_by_role("button", name="Launch", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Campaign launched")

    # Live progress, then the Stats tab watched until the deliveries are in.
    await expect(page.locator("[data-count=targeted]")).to_have_text("4", timeout=20_000)
    await expect(page.locator("[data-skipped=opted_out]")).to_contain_text("opted out: 1")
    await page.reload()
    skipped = page.locator("tr", has_text=OPTED_OUT)
    await expect(skipped.locator("[data-reason]")).to_contain_text("opted out")
    await page.select_option("#f-reason", "opted_out")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("[data-recipients] tbody tr")).to_have_count(1)
    await page.click("nav[aria-label='Campaign tabs'] >> text=Stats")
    delivered = page.locator("[data-stat=delivered]")
    await expect(delivered).to_have_text("2", timeout=30_000)  # risen by htmx polling
    await expect(page.locator("[data-stat=failed]")).to_have_text("1", timeout=30_000)
    await expect(page.locator("[data-stat=delivery_rate]")).to_have_text("66.7%")
    await expect(page.locator("[data-stat=cost]")).to_have_text("2.00 USD")  # 2 segments sent
    await expect(page.locator("[data-group=short]")).to_be_visible()
    await expect(page.locator("[data-group=control]")).to_be_visible()
    await expect(page.locator(".uplot")).to_have_count(1)  # redrawn with the figures, not added
    drawn = json.loads(await page.locator("#chart-data").text_content() or "{}")
    by_label = {s["label"]: sum(s["values"]) for s in drawn["series"]}
    assert (by_label["sent"], by_label["delivered"], by_label["failed"]) == (2, 2, 1)
    await expect(page.locator(".uplot")).to_be_visible()
    await accessible(page)
    await screenshot(page, "campaign-stats-desktop")
    await page.click("nav[aria-label='Campaign tabs'] >> text=Errors")
    await expect(page.locator("[data-error-code='21211']")).to_contain_text("1")
    await expect(page.locator("[data-error-code='21211']")).to_contain_text("not a valid")

    # A started campaign cannot be edited: the service's reason, as a 409 page.
    response = await page.goto(f"{server.url}/dashboard/campaigns/1/edit")
    assert response is not None and response.status == 409
    await expect(page.locator("main")).to_contain_text("cannot be edited")

    # The list's summary, and the provider's Stats tab.
    await page.goto(f"{server.url}/dashboard/campaigns")
    row = page.locator("tr[data-campaign=spring-sale]")
    await expect(row).to_contain_text("segment vip")
    await expect(row.locator("[data-delivered]")).to_contain_text("2")
    await page.goto(f"{server.url}/dashboard/providers/1")
    await page.click("main >> text=Stats")
    await expect(page.locator("[data-stat=delivered]")).to_have_text("2")
    await expect(page.locator("[data-errors] [data-error-code='21211']")).to_be_visible()
    await expect(page.locator("[data-countries]")).to_contain_text("US")
    await expect(page.locator("[data-stat=median]")).not_to_have_text("–")
    await page.select_option("#f-sender", "1")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(page.locator("[data-senders] tbody tr")).to_have_count(1)
    await expect(page.locator("[data-stat=delivered]")).to_have_text("2")
    await page.fill("#f-since", "2001-01-01")
    await page.fill("#f-until", "2001-01-02")
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(page.locator("[data-stat=messages]")).to_have_text("0")
    await screenshot(page, "provider-stats-desktop")


async def test_campaign_pages_fit_a_phone_and_pass_axe(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await add_provider(server, simulator)
    await vip_segment(server)
    await draft_for_2099(server, "next-century")
    paths = [
        "/dashboard/campaigns",
        "/dashboard/campaigns/new",
        "/dashboard/campaigns/1",
        "/dashboard/campaigns/1/stats",
        "/dashboard/campaigns/1/errors",
        "/dashboard/campaigns/1/edit",
        "/dashboard/providers/1/stats",
    ]
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = await sign_in(browser, server, "editor", viewport=viewport)
        for path in paths:
            await page.goto(f"{server.url}{path}")
            await page.wait_for_load_state("networkidle")
            slug = path.removeprefix("/dashboard/").replace("/", "-")
            await shown_well(page, f"{slug}-{name}", axe=name == "desktop")
        # The wizard's other steps too.
        await page.goto(f"{server.url}/dashboard/campaigns/1/edit")
        for label in ("Content", "Schedule", "Review"):
            await next_step(page, label)
            await shown_well(page, f"campaign-wizard-{label.lower()}-{name}", axe=name == "desktop")
        await page.close()


async def test_a_viewer_is_refused_and_a_form_without_its_token_too(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await add_provider(server, simulator)
    await vip_segment(server)
    await draft_for_2099(server, "later")
    async with aiohttp.ClientSession() as http:
        status, body = await api(
            http, "POST", f"{server.url}/api/v1/campaigns/later/launch", server.headers
        )
        assert status == 200 and body["status"] == "scheduled", body

    viewer = await sign_in(browser, server, "viewer")
    await viewer.click("nav >> text=Campaigns")
    await expect(viewer.locator("main")).not_to_contain_text("New campaign")
    await viewer.click("main >> text=later")
    await expect(viewer.locator("[data-campaign-status]")).to_have_text("scheduled")
    await expect(viewer.get_by_role("button", name="Pause")).to_have_count(0)
    response = await viewer.goto(f"{server.url}/dashboard/campaigns/new")
    assert response is not None and response.status == 403
    await expect(viewer.locator("h1")).to_have_text("Not allowed")
    await viewer.goto(f"{server.url}/dashboard/campaigns/1")
    token = await viewer.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = await viewer.request.post(
        f"{server.url}/dashboard/campaigns/1/pause", form={"csrf_token": token or ""}
    )
    assert answer.status == 403
    assert "text/html" in answer.headers["content-type"]

    # An editor's pause without the CSRF token is refused; with it, it pauses.
    editor = await sign_in(browser, server, "editor")
    answer = await editor.request.post(f"{server.url}/dashboard/campaigns/1/pause", form={})
    assert answer.status == 403
    await editor.goto(f"{server.url}/dashboard/campaigns/1")
    await expect(editor.locator("[data-campaign-status]")).to_have_text("scheduled")
    await editor.get_by_role("button", name="Pause", exact=True).click()
    await expect(editor.locator("[data-campaign-status]")).to_have_text("paused")
    await editor.get_by_role("button", name="Resume", exact=True).click()
    await expect(editor.locator("[data-campaign-status]")).to_have_text("scheduled")
    # A test send: a bad number refused next to the field, then sent and marked a test.
    await editor.fill("#f-phones", "+14155552699, 12")
    await editor.get_by_role("button", name="Send test", exact=True).click()
    await expect(editor.locator("#f-phones-error")).to_be_visible()
    await editor.fill("#f-phones", "+14155552699")
    await editor.get_by_role("button", name="Send test", exact=True).click()
    await editor.locator("[data-test-sent] a").first.click()
    await expect(editor.locator("[data-status]")).to_have_text("delivered", timeout=15_000)
    await editor.go_back()
    editor.on("dialog", lambda dialog: dialog.accept())
    await editor.get_by_role("button", name="Cancel campaign", exact=True).click()
    await expect(editor.locator("[data-campaign-status]")).to_have_text("cancelled")
    await expect(editor.get_by_role("button", name="Resume")).to_have_count(0)


async def test_recipients_the_provider_may_not_send_to_are_shown_skipped_and_why(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    us, uk = "+14155552671", "+442079460958"
    campaign = {
        "name": "us-only",
        "body": "Hello",
        "audience": {"phones": [us, uk]},
        "quiet_hours": {"off": True, "follow_law": False},
    }

    async def post(path: str, payload: dict[str, Any] | None = None) -> None:
        async with aiohttp.ClientSession() as http:
            url = f"{server.url}/api/v1/{path}"
            status, body = await api(http, "POST", url, server.headers, payload)
        assert status in (200, 201), body

    await post("providers", twilio_provider_payload(simulator, allowed_countries=["US"]))
    await post("campaigns", campaign)
    page = await sign_in(browser, server, "editor")
    # A test send to a country the provider may not send to: refused next to the field.
    await page.goto(f"{server.url}/dashboard/campaigns/1")
    await page.fill("#f-phones", uk)
    await page.get_by_role("button", name="Send test", exact=True).click()
    await expect(page.locator("#f-phones-error")).to_contain_text("exclude GB")

    await post("campaigns/us-only/launch")
    await page.goto(f"{server.url}/dashboard/campaigns/1")
    label = "country not allowed for the provider"
    tag = page.locator("[data-skipped=geo_not_allowed]")
    await expect(tag).to_have_text(f"{label}: 1", timeout=20_000)
    await page.reload()
    row = page.locator("[data-recipients] tr", has_text=uk)
    await expect(row.locator("[data-reason]")).to_contain_text(label)
    await expect(row.locator("[data-reason]")).to_contain_text("GB is not among")
    await page.select_option("#f-reason", label=label)
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("[data-recipients] tbody tr")).to_have_count(1)
    await accessible(page)
    await page.click("nav[aria-label='Campaign tabs'] >> text=Errors")
    await expect(page.locator("main")).to_contain_text(label)


async def test_the_list_pages_on_to_older_campaigns(
    server: RunningServer, simulator: Simulator, browser: Browser, monkeypatch: Any
) -> None:
    await add_provider(server, simulator)
    await vip_segment(server)
    for name in ("oldest", "middle", "newest"):
        await draft_for_2099(server, name)
    monkeypatch.setattr(campaigns_page, "PAGE_SIZE", 2)
    for viewport in (DESKTOP, PHONE):
        page = await sign_in(browser, server, "viewer", viewport=viewport)
        await page.goto(f"{server.url}/dashboard/campaigns?status=draft")
        rows = page.locator("tr[data-campaign]")
        await expect(rows).to_have_count(2)
        await expect(rows.first).to_have_attribute("data-campaign", "newest")
        await no_sideways_scroll(page)
        if viewport == DESKTOP:
            await accessible(page)
        await page.click("text=Older campaigns")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-campaign", "oldest")
        await expect(page.locator("#f-status")).to_have_value("draft")  # the filter kept
        await expect(page.locator("text=Older campaigns")).to_have_count(0)
        await page.close()


async def test_a_campaign_to_contact_ids_with_labels_from_the_wizard(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    """An audience of contact IDs and the campaign's labels, as the API takes
    them: a bad ID refused next to the field, the draft saved and read back."""
    await add_provider(server, simulator)
    await vip_segment(server)
    async with aiohttp.ClientSession() as http:
        _, listed = await api(http, "GET", f"{server.url}/api/v1/contacts?limit=2", server.headers)
    ids = [str(c["id"]) for c in listed["contacts"]]
    page = await sign_in(browser, server, "editor")
    await page.goto(f"{server.url}/dashboard/campaigns/new")
    await page.fill("#f-name", "by-ids")
    await page.fill("#f-labels", "spring, retention")
    await page.select_option("#f-audience_kind", "contacts")
    await page.fill("#f-contact_ids", f"{ids[0]}\nnine")
    await page.get_by_role("button", name="Next: Content", exact=True).click()
    await expect(page.locator("#f-contact_ids-error")).to_be_visible()
    await page.fill("#f-contact_ids", "\n".join(ids))
    await next_step(page, "Content")
    await page.fill("#f-body", "Hello")
    await next_step(page, "Schedule")
    await next_step(page, "Review")
    await expect(page.locator("[data-targeted]")).to_have_text("2")
    await page.get_by_role("button", name="Save draft", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Campaign saved")
    async with aiohttp.ClientSession() as http:
        _, saved = await api(http, "GET", f"{server.url}/api/v1/campaigns/by-ids", server.headers)
    assert saved["audience"] == {"contacts": [int(i) for i in ids]}
    assert saved["labels"] == ["retention", "spring"]  # kept sorted
    # Read back into the wizard as they were.
    await page.click("main >> text=Edit")
    await expect(page.locator("#f-audience_kind")).to_have_value("contacts")
    await expect(page.locator("#f-labels")).to_have_value("retention, spring")
