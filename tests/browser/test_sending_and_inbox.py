"""Sending and conversations in the browser: Send Test SMS with its live
segment counter, a failure with its error description, Messages and
Analytics > Events with filters and the chart, the inbox (a reply through the
real send path, refused after STOP with the reason), keyword rules, contacts
and suppressions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import fits_and_passes, screenshot, sign_in
from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, eventually

SUBSCRIBER = "+14155552671"


async def add_provider(server: RunningServer, simulator: Simulator) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/providers",
            server.headers,
            twilio_provider_payload(simulator),
        )
    assert status == 201, body
    return dict(body)


async def write_in(simulator: Simulator, sender: dict[str, Any], body: str) -> str:
    """The subscriber texts the sender (through the simulator, signed like Twilio);
    Textcast's answer (TwiML, with any auto-reply)."""
    result = await simulator.control(
        "POST",
        "inbound",
        {
            "url": sender["inbound_url"],
            "account_sid": simulator.account_sid,
            "from": SUBSCRIBER,
            "to": sender["sender_id"],
            "body": body,
        },
    )
    assert result.get("status") == 200, result
    return str(result["body"])


async def test_send_test_sms_counts_segments_and_shows_a_failure_with_its_description(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await add_provider(server, simulator)
    page = await sign_in(browser, server, "editor")
    await page.click("nav >> text=Send Test SMS")
    counter = page.locator("#segments")
    await expect(counter).to_have_attribute("data-encoding", "GSM-7")
    await page.fill("#f-body", "Olá 👋 " * 12)
    await expect(counter).to_have_attribute("data-encoding", "UCS-2")
    await expect(counter).to_have_attribute("data-segments", "2")

    await page.select_option("#f-country", "US")
    await page.fill("#f-number", "5005550001")  # the simulator refuses it: 21211
    await page.fill("#f-body", "Hello")
    await page.click("main button[type=submit]")
    await expect(page.locator("[data-status]")).to_have_text("failed", timeout=15_000)
    await expect(page.locator("[data-error]")).to_contain_text("21211")
    await expect(page.locator("[data-error]")).to_contain_text("not a valid phone number")

    await page.goto(f"{server.url}/dashboard/send-test")
    await page.fill("#f-number", "4155552671")
    await page.click("main button[type=submit]")
    await expect(page.locator("[data-status]")).to_have_text("delivered", timeout=15_000)
    await expect(page.locator("#callback-url")).to_have_count(0)  # editors see no tokens

    # Messages, filtered; Analytics > Events with its chart.
    await page.goto(f"{server.url}/dashboard/messages?status=failed")
    rows = page.locator("main tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+15005550001")
    await page.select_option("#f-status", "delivered")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(SUBSCRIBER)
    await page.click("nav >> text=Analytics")
    await expect(page.locator(".uplot")).to_be_visible()
    await expect(page.locator("[data-totals]")).to_contain_text("message.delivered: 1")
    await page.select_option("#f-type", "message.failed")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("[data-totals]")).to_contain_text("message.failed: 1")
    await expect(page.locator("[data-totals]")).not_to_contain_text("delivered")
    # By error code, and one message's history.
    await page.select_option("#f-type", "")
    await page.fill("#f-error_code", "21211")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("[data-totals]")).to_contain_text("message.failed: 1")
    await expect(page.locator("[data-totals]")).not_to_contain_text("queued")
    await page.fill("#f-error_code", "")
    await page.fill("#f-message", "2")  # the delivered one
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("[data-totals]")).to_contain_text("message.delivered: 1")
    await expect(page.locator("[data-totals]")).not_to_contain_text("failed")
    await page.goto(f"{server.url}/dashboard/events?message=abc")  # typed into the URL
    await expect(page.locator("#f-message-error")).to_contain_text("message number")
    await expect(page.locator("[data-totals]")).not_to_contain_text("message.")
    await screenshot(page, "events-desktop")


async def message_shown(page: Page, server: RunningServer) -> dict[str, Any]:
    """The message whose page the browser landed on, as the API shows it."""
    await expect(page).to_have_url(re.compile(r"/dashboard/messages/\d+$"))
    message_id = page.url.rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as http:
        _, sent = await api(
            http, "GET", f"{server.url}/api/v1/messages/{message_id}", server.headers
        )
    return dict(sent)


async def test_send_test_and_inbox_reply_with_a_template_id_and_a_picture(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    """A sender that needs a template ID (India DLT, a Twilio Content
    template) can be tested and replied from in the dashboard, and a picture
    goes only from an MMS-capable sender, as through the API."""
    provider = await add_provider(server, simulator)
    async with aiohttp.ClientSession() as http:
        status, body = await api(
            http,
            "PATCH",
            f"{server.url}/api/v1/senders/main",
            server.headers,
            {"template_id_required": True},
        )
    assert status == 200, body
    page = await sign_in(browser, server, "editor")
    await page.goto(f"{server.url}/dashboard/send-test")
    await page.select_option("#f-country", "US")
    await page.fill("#f-number", "4155552671")
    await page.fill("#f-body", "Your code is 1234")
    await page.click("main button[type=submit]")
    await expect(page.locator("#f-template_id-error")).to_contain_text("requires a template ID")

    await page.fill("#f-media_url", "https://example.com/cat.jpg")
    await page.fill("#f-template_id", "HX" + "0" * 32)
    await page.click("main button[type=submit]")
    await expect(page.locator("#f-media_url-error")).to_contain_text("not MMS capable")
    await expect(page.locator("#f-template_id")).to_have_value("HX" + "0" * 32)

    await page.fill("#f-media_url", "")
    await page.click("main button[type=submit]")
    sent = await message_shown(page, server)
    assert (sent["template_id"], sent["is_test"]) == ("HX" + "0" * 32, True)

    # A reply from the inbox through the same sender needs one too.
    await write_in(simulator, provider["senders"][0], "Is my order on its way?")
    await page.goto(f"{server.url}/dashboard/inbox")
    await page.click(f"main >> text={SUBSCRIBER}")
    await page.fill("#reply-body", "It ships today.")
    await page.click("text=Send reply")
    await expect(page.locator("#reply-template-id-error")).to_contain_text("requires a template")
    await page.fill("#reply-template-id", "1107160000000012345")
    await page.click("text=Send reply")
    await expect(page).to_have_url(re.compile(r"\?sent=\d+$"))


async def test_send_test_sms_from_a_saved_template_with_its_data_and_a_label(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    """Every option of POST /api/v1/test-messages from the page: a saved
    template rendered with the message's data, a campaign label, the
    sender's unsubscribe text."""
    await add_provider(server, simulator)
    async with aiohttp.ClientSession() as http:
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/templates",
            server.headers,
            {"name": "order-ready", "body": "Order {{ data.order }} is ready."},
        )
        assert status == 201, body
    page = await sign_in(browser, server, "editor")
    await page.goto(f"{server.url}/dashboard/send-test")
    await page.select_option("#f-country", "US")
    await page.fill("#f-number", "4155552671")
    await page.click("summary >> text=A saved template instead")
    await page.select_option("#f-template", "order-ready")
    await page.fill("#f-data", "order A-1042")
    await page.click("main button[type=submit]")
    await expect(page.locator("#f-data-error")).to_contain_text("name=value")
    await page.fill("#f-data", "order=A-1042")
    await page.click("summary >> text=Unsubscribe text, tracked links, labels")
    await page.fill("#f-campaign", "pickup")
    await page.click("main button[type=submit]")
    sent = await message_shown(page, server)
    assert (sent["body"], sent["campaign"], sent["is_test"]) == (
        "Order A-1042 is ready.",
        "pickup",
        True,
    )


async def test_messages_and_events_are_filtered_by_sender_campaign_and_day(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    senders = [
        {"name": "main", "type": "long_code", "sender_id": "+15005550006", "mps": 500},
        {"name": "promo", "type": "long_code", "sender_id": "+15005550007", "mps": 500},
    ]
    async with aiohttp.ClientSession() as http:
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/providers",
            server.headers,
            twilio_provider_payload(simulator, senders=senders),
        )
        assert status == 201, body
        for message in (
            {"to": "+14155550101", "body": "Spring is here", "campaign": "spring"},
            {"to": "+14155550102", "body": "Promo", "sender": "promo"},
        ):
            status, body = await api(
                http, "POST", f"{server.url}/api/v1/messages", server.headers, message
            )
            assert status == 202, body
    today = datetime.now(UTC).date()
    page = await sign_in(browser, server, "viewer")
    await page.goto(f"{server.url}/dashboard/messages")
    rows = page.locator("main tbody tr")
    await expect(rows).to_have_count(2)
    await page.select_option("#f-sender", label="promo (+15005550007)")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+14155550102")
    await page.select_option("#f-sender", "")
    await page.fill("#f-campaign", "spring")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+14155550101")
    await page.fill("#f-campaign", "")
    await page.fill("#f-since", (today + timedelta(days=1)).isoformat())
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(rows.first).to_contain_text("No messages match")
    await page.fill("#f-since", today.isoformat())
    await page.fill("#f-until", today.isoformat())  # the "to" day is included
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(rows).to_have_count(2)
    # One recipient's messages, by the number as people write it.
    await page.fill("#f-to", "(415) 555-0102")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+14155550102")
    await page.fill("#f-to", "not a number")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("#f-to-error")).to_be_visible()

    await page.goto(f"{server.url}/dashboard/events?campaign=spring")
    events = page.locator("main .table-wrap tbody tr")
    await expect(events.first).to_contain_text("spring")
    for number in range(await events.count()):
        await expect(events.nth(number)).not_to_contain_text("+14155550102")
    await expect(page.locator("[data-totals]")).to_contain_text("message.queued: 1")


async def test_reply_from_the_inbox_until_the_contact_opts_out(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    provider = await add_provider(server, simulator)
    sender = provider["senders"][0]
    await write_in(simulator, sender, "Is my order on its way?")
    page = await sign_in(browser, server, "editor")
    await page.click("nav >> text=Inbox")
    await expect(page.locator("main tbody")).to_contain_text("Is my order on its way?")
    await page.click(f"text={SUBSCRIBER}")
    await page.fill("#reply-body", "Yes, it ships today.")
    await page.get_by_role("button", name="Send reply", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Reply queued")
    thread = page.locator(".thread")
    await expect(thread.locator(".inbound")).to_contain_text("Is my order on its way?")
    await expect(thread.locator(".outbound")).to_contain_text("Yes, it ships today.")
    await page.click("text=Reply queued >> a")
    await expect(page.locator("[data-status]")).to_have_text("delivered", timeout=15_000)
    await page.go_back()
    await screenshot(page, "inbox-desktop")

    await write_in(simulator, sender, "STOP")
    await page.reload()
    await page.fill("#reply-body", "Are you sure?")
    await page.get_by_role("button", name="Send reply", exact=True).click()
    await expect(page.locator("[data-refused]")).to_contain_text("opted out")
    await expect(page.locator("[data-refused]")).to_contain_text("replied STOP")

    # The suppression list shows the reason; lifting it lets replies through again.
    await page.goto(f"{server.url}/dashboard/suppressions")
    row = page.locator("tr", has_text=SUBSCRIBER)
    await expect(row.locator("[data-reason]")).to_have_text("replied STOP")
    await row.locator("text=Remove").click()
    await expect(page.locator("main tbody")).to_contain_text("Nobody is suppressed")
    await page.fill("#f-phone", "+14155550199")
    await page.fill("#f-reason", "asked by phone")
    await page.get_by_role("button", name="Suppress", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("+14155550199 suppressed")
    # Found by number as people write it; another number finds nothing.
    await page.fill("#l-phone", "(415) 555-0199")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("main tbody tr")).to_have_count(1)
    await expect(page.locator("main tbody")).to_contain_text("asked by phone")
    await page.fill("#l-phone", "+14155550198")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("main tbody")).to_contain_text("Nobody is suppressed")
    await page.fill("#l-phone", "not a number")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("#l-phone-error")).to_be_visible()

    # The contact: opt-out state, tags, the timeline.
    await page.goto(f"{server.url}/dashboard/contacts?q={SUBSCRIBER}")
    await page.click(f"main >> text={SUBSCRIBER}")
    await expect(page.locator("[data-opted-out]")).to_have_text("subscribed")
    await page.fill("#f-add", "vip, order-123")
    await page.get_by_role("button", name="Add tags", exact=True).click()
    await expect(page.locator("main")).to_contain_text("order-123")
    await expect(page.locator(".thread")).to_contain_text("STOP")


async def test_a_number_twilio_refuses_with_21610_is_suppressed_with_that_reason(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await add_provider(server, simulator)
    unsubscribed = "+15005550004"  # the simulator answers 21610 for it
    async with aiohttp.ClientSession() as http:
        status, sent = await api(
            http,
            "POST",
            f"{server.url}/api/v1/messages",
            server.headers,
            {"to": unsubscribed, "body": "Hello"},
        )
        assert status == 202, sent

        async def failed() -> bool:
            _, body = await api(
                http, "GET", f"{server.url}/api/v1/messages/{sent['id']}", server.headers
            )
            return bool(body["status"] == "failed")

        await eventually(failed)
    page = await sign_in(browser, server, "viewer")
    await page.goto(f"{server.url}/dashboard/suppressions")
    row = page.locator("tr", has_text=unsubscribed)
    await expect(row.locator("[data-reason]")).to_have_text("provider error 21610")
    await expect(row).to_contain_text("provider_error (21610)")
    await expect(row).to_contain_text("whole account")
    await page.goto(f"{server.url}/dashboard/messages/{sent['id']}")
    await expect(page.locator("[data-error]")).to_contain_text("21610")
    await expect(page.locator("[data-error]")).to_contain_text("Unsubscribed recipient")


async def test_keyword_rules_are_added_changed_and_removed(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await add_provider(server, simulator)
    page = await sign_in(browser, server, "editor")
    await page.goto(f"{server.url}/dashboard/keywords")
    await page.fill("#f-keyword", "STOP")
    await page.select_option("#f-action", "reply")
    await page.fill("#f-reply", "You are unsubscribed.")
    await page.get_by_role("button", name="Add rule", exact=True).click()
    await page.fill("#f-keyword", "hours")
    await page.fill("#f-reply", "")
    await page.get_by_role("button", name="Add rule", exact=True).click()
    await expect(page.locator("#f-reply-error")).to_contain_text("reply text")
    await page.fill("#f-reply", "Open 9 to 5, Monday to Friday.")
    await page.get_by_role("button", name="Add rule", exact=True).click()
    table = page.locator("main tbody")
    await expect(table).to_contain_text("HOURS")
    await expect(table).to_contain_text("Open 9 to 5")
    # A rule is changed under the same checks, its refusals next to the field.
    await page.get_by_role("link", name="Edit HOURS").click()
    await expect(page.locator("#f-keyword")).to_have_value("HOURS")
    await fits_and_passes(page, "keyword-edit")
    await page.fill("#f-reply", "")
    await page.get_by_role("button", name="Save rule", exact=True).click()
    await expect(page.locator("#f-reply-error")).to_contain_text("reply text")
    await page.fill("#f-keyword", "stop")
    await page.fill("#f-reply", "Open 8 to 6")
    await page.get_by_role("button", name="Save rule", exact=True).click()
    await expect(page.locator("#f-action-error")).to_contain_text("built-in opt_out keyword")
    await page.fill("#f-keyword", "opening hours")
    await page.get_by_role("button", name="Save rule", exact=True).click()
    await expect(table).to_contain_text("OPENING HOURS")
    await expect(table).to_contain_text("Open 8 to 6")
    await page.locator("tr", has_text="OPENING HOURS").locator("text=Delete").click()
    await expect(table).not_to_contain_text("HOURS")


async def test_a_sender_can_leave_keyword_answers_to_the_provider(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    provider = await add_provider(server, simulator)
    sender = provider["senders"][0]
    page = await sign_in(browser, server, "admin")
    await page.goto(f"{server.url}/dashboard/keywords")
    await page.fill("#f-keyword", "hours")
    await page.fill("#f-reply", "Open 9 to 5.")
    await page.get_by_role("button", name="Add rule", exact=True).click()
    assert "<Message>Open 9 to 5.</Message>" in await write_in(simulator, sender, "hours")

    await page.goto(f"{server.url}/dashboard/senders/{sender['id']}")
    toggle = page.get_by_label("Manage keyword-based responses")
    await expect(toggle).to_be_checked()
    await toggle.uncheck()
    await page.get_by_role("button", name="Save sender").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(toggle).not_to_be_checked()
    await fits_and_passes(page, "sender")
    await page.goto(f"{server.url}/dashboard/keywords")
    await expect(page.locator("[data-unanswered]")).to_contain_text("main")
    assert "<Message>" not in await write_in(simulator, sender, "hours")
    # STOP is still an opt-out: the provider blocks the number either way.
    assert "<Message>" not in await write_in(simulator, sender, "STOP")
    await page.goto(f"{server.url}/dashboard/suppressions")
    row = page.locator("tr", has_text=SUBSCRIBER)
    await expect(row.locator("[data-reason]")).to_have_text("replied STOP")

    viewer = await sign_in(browser, server, "viewer")
    await viewer.goto(f"{server.url}/dashboard/senders/{sender['id']}")
    await expect(viewer.locator("[data-keyword-responses]")).to_have_text("left to the provider")
