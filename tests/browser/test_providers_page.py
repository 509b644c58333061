"""Providers in the browser: a Twilio account added through the form and
verified against the simulator, the countries it may send to (set when added,
changed in its settings), its senders (custom callback URL and Restore,
mark as default), balance, re-authentication and deletion; a generic HTTP
provider filled from a preset, its request shown with secrets masked, then
changed on its own page (a bad endpoint refused, the new request shown and
saved) and its opt-out tag changed; a copy button putting its URL on the
clipboard."""

from __future__ import annotations

import json

import aiohttp
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import fits_and_passes, make_user, screenshot, sign_in
from tests.browser.test_sending_and_inbox import add_provider
from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api


async def add_twilio_provider(page: Page, server: RunningServer, simulator: Simulator) -> None:
    await page.goto(f"{server.url}/dashboard/providers")
    await page.click("text=+ Add Provider: Twilio")
    await page.fill("#f-name", "twilio-main")
    await page.fill("#f-account_sid", simulator.account_sid)
    await page.fill("#f-auth_token", "not-the-token")
    await page.fill("#f-base_url", simulator.url)
    await page.fill("#f-sender_name", "us-number")
    await page.select_option("#f-sender_type", "long_code")
    await page.fill("#f-sender_id", "+15005550006")
    await page.fill("#f-allowed_countries", "us, ca")
    await page.click("text=Save provider")
    # Verified on save: the simulator refuses the token, nothing is stored.
    await expect(page.locator("#f-auth_token-error")).to_contain_text("refused")
    await expect(page.locator("#f-name")).to_have_value("twilio-main")
    await expect(page.locator("#f-allowed_countries")).to_have_value("us, ca")
    await page.fill("#f-auth_token", simulator.auth_token)
    await page.click("text=Save provider")
    await expect(page.get_by_role("status")).to_contain_text("Provider added")


async def test_add_a_twilio_provider_and_manage_its_senders(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    page = await sign_in(browser, server, "admin")
    await add_twilio_provider(page, server, simulator)
    await expect(page.locator("#inbound-url")).to_contain_text("/webhooks/twilio/")
    await expect(page.locator("[data-secret]")).to_contain_text("••••")
    await expect(page.locator("[data-allowed-countries]")).to_have_text("CA, US")
    await screenshot(page, "provider-desktop")

    # The countries it may send to, changed in its settings: a bad code is
    # refused next to the field, a good list saved, an empty one allows all.
    countries = page.locator("#settings-allowed-countries")
    await expect(countries).to_have_value("CA, US")
    await countries.fill("GB, XX")
    await page.click("text=Save settings")
    await expect(page.locator("#settings-allowed-countries-error")).to_contain_text("'XX'")
    await expect(page.locator("[data-allowed-countries]")).to_have_text("CA, US")
    await countries.fill("gb")
    await page.click("text=Save settings")
    await expect(page.locator("[data-allowed-countries]")).to_have_text("GB")
    await countries.fill("")
    await page.click("text=Save settings")
    await expect(page.locator("[data-allowed-countries]")).to_have_text("every country")

    await page.click("text=Check balance")
    await expect(page.locator("[data-balance]")).to_contain_text("USD")
    # A Twilio account has no request of its own to edit: a page saying so.
    provider_url = page.url.split("/balance")[0]
    await expect(page.locator("text=Edit the request")).to_have_count(0)
    answer = await page.goto(f"{provider_url}/request")
    assert answer is not None and answer.status == 404
    await expect(page.locator("main")).to_contain_text("not a generic HTTP provider")
    await page.goto(provider_url)

    # Re-authenticate: a wrong token is refused by the provider, the right one saved.
    await page.fill("#reauth-token", "still-not-the-token")
    await page.click("text=Verify and save")
    await expect(page.locator("#reauth-token-error")).to_contain_text("refused")
    await page.fill("#reauth-token", simulator.auth_token)
    await page.click("text=Verify and save")
    await expect(page.locator("text=New credentials verified and saved")).to_be_visible()

    # A sender's status-callback URL: custom, then Restore.
    await page.click("text=us-number")
    default_url = await page.locator("#status-callback-url").inner_text()
    await page.check("#cb-custom")
    await page.fill("#f-custom_callback_url", "https://relay.example.com/twilio")
    await page.click("text=Save sender")
    await expect(page.locator("#status-callback-url")).to_have_text(
        "https://relay.example.com/twilio"
    )
    await page.click("button:has-text('Restore')")
    await expect(page.locator("#status-callback-url")).to_have_text(default_url)

    # A second sender, made the default.
    await page.click("text=← twilio-main")
    await page.click("text=+ Add sender")
    await page.fill("#f-sender_name", "brand")
    await page.select_option("#f-sender_type", "alphanumeric")
    await page.fill("#f-sender_id", "this is far too long")
    await page.get_by_role("button", name="Add sender").click()
    await expect(page.locator("#f-sender_id-error")).to_contain_text("alphanumeric")
    await page.fill("#f-sender_id", "Textcast")
    await page.get_by_role("button", name="Add sender").click()
    await expect(page.get_by_role("status")).to_contain_text("Sender added")
    await page.click("text=Mark as default")
    row = page.locator("tr", has_text="brand")
    await expect(row).to_contain_text("default")

    # A US long code registered for A2P 10DLC as it is added; on its page a
    # malformed ID is refused, and emptied it is unregistered (and warned of).
    await page.click("text=+ Add sender")
    await page.fill("#f-sender_name", "us-local")
    await page.select_option("#f-sender_type", "long_code")
    await page.fill("#f-sender_id", "+14155550123")
    await page.fill("#f-a2p_10dlc_campaign_id", "CX7QK2M")
    await page.uncheck("#f-keyword_responses")  # the provider answers keywords itself
    await page.check("#f-is_default")
    await page.get_by_role("button", name="Add sender").click()
    await expect(page.get_by_role("status")).to_contain_text("Sender added")
    await expect(page.locator("#f-keyword_responses")).not_to_be_checked()
    registration = page.locator("#f-a2p_10dlc_campaign_id")
    await expect(registration).to_have_value("CX7QK2M")
    warning = page.locator("main p.error", has_text="A2P 10DLC")
    await expect(warning).to_have_count(0)
    await registration.fill("CM-12")
    await page.click("text=Save sender")
    await expect(page.locator("#f-a2p_10dlc_campaign_id-error")).to_contain_text(
        "Campaign Registry"
    )
    await page.locator("#f-a2p_10dlc_campaign_id").fill("")
    await page.click("text=Save sender")
    await expect(warning).to_be_visible()
    await page.click("text=← twilio-main")
    # us-local was made the default as it was added; brand is no longer it.
    await expect(page.locator("tr", has_text="us-local")).not_to_contain_text("Mark as default")
    await expect(page.locator("tr", has_text="brand")).to_contain_text("Mark as default")

    await page.click("text=Delete provider")
    await expect(page).to_have_url(f"{server.url}/dashboard/providers")
    await expect(page.locator("main")).not_to_contain_text("twilio-main")


async def test_a_generic_provider_from_a_preset_shows_its_request_with_secrets_masked(
    server: RunningServer, browser: Browser
) -> None:
    page = await sign_in(browser, server, "admin")
    await page.goto(f"{server.url}/dashboard/providers/new/generic")
    await expect(page.get_by_text("$$Body", exact=True)).to_be_visible()
    await page.select_option("#preset-pick", "plivo")  # submits itself
    await expect(page.locator("#f-cred_auth_id")).to_be_visible()

    await page.fill("#f-cred_auth_id", "MA1234")
    await page.fill("#f-cred_auth_token", "very-secret-token")
    await page.fill("#f-base_url_override", "http://127.0.0.1:9")
    await page.click("text=Fill the form")
    await expect(page.locator("#f-url")).to_have_value(
        "http://127.0.0.1:9/v1/Account/MA1234/Message/"
    )
    await expect(page.locator("#f-basic_username")).to_have_value("MA1234")
    await expect(page.locator("input[name=param_name]").first).to_have_value("src")

    await page.fill("#f-sender_name", "plivo-number")
    await page.fill("#f-sender_id", "+14155550123")
    await page.fill("#f-allowed_countries", "US")
    await page.click("text=Show the request")
    preview = page.locator("[data-preview]")
    await expect(preview).to_contain_text("POST http://127.0.0.1:9/v1/Account/MA1234/Message/")
    await expect(preview).to_contain_text('"dst": "14155552671"')
    await expect(preview).to_contain_text("Basic ••••••••")
    assert "very-secret-token" not in await preview.inner_text()

    await page.click("text=Save provider")
    await expect(page.get_by_role("status")).to_contain_text("Provider added")
    await expect(page.locator("#receipt-url")).to_contain_text("/webhooks/generic/")
    await expect(page.locator("[data-allowed-countries]")).to_have_text("US")
    await expect(page.locator("tr", has_text="plivo-number")).to_contain_text("default")


async def test_a_generic_providers_request_is_changed_in_the_dashboard(
    server: RunningServer, browser: Browser
) -> None:
    """What the API's PATCH can change in a generic provider's request, its
    page can too: endpoint, headers, body, how the answer is read."""
    async with aiohttp.ClientSession() as http:
        status, made = await api(
            http,
            "POST",
            f"{server.url}/api/v1/providers",
            server.headers,
            {
                "name": "plivo-test",
                "type": "generic",
                "preset": "plivo",
                "base_url_override": "http://127.0.0.1:9",
                "credentials": {"auth_id": "MA1", "auth_token": "very-secret-token"},
                "senders": [{"name": "brand", "type": "long_code", "sender_id": "+14155550123"}],
            },
        )
    assert status == 201, made
    page = await sign_in(browser, server, "admin")
    await page.goto(f"{server.url}/dashboard/providers/{made['id']}")
    await page.click("text=Edit the request")
    await expect(page.locator("#f-url")).to_have_value("http://127.0.0.1:9/v1/Account/MA1/Message/")
    await expect(page.locator("#f-message_id_json_path")).not_to_have_value("")

    await page.fill("#f-url", "ftp://example.com/send")
    await page.click("text=Save the request")
    await expect(page.locator("#f-url-error")).to_contain_text("http")
    await expect(page.locator("#f-url")).to_have_value("ftp://example.com/send")
    # The preset's receipt mapping, shown and changed as JSON.
    receipt = page.locator("#f-receipt")
    await expect(receipt).to_contain_text('"message_id"')
    await receipt.fill("{not json")
    await page.click("text=Save the request")
    await expect(page.locator("#f-receipt-error")).to_contain_text("not valid JSON")
    mapping = {"message_id": "MessageUUID", "status": "Status", "status_map": {"sent": "sent"}}
    await receipt.fill(json.dumps(mapping))

    await page.fill("#f-url", "http://127.0.0.1:9/v2/send")
    await page.fill("input[name=header_name] >> nth=-1", "X-Campaign-Source")
    await page.fill("input[name=header_value] >> nth=-1", "textcast")
    await page.fill("#f-message_id_json_path", "")
    await page.fill("#f-message_id_regex", "")
    await page.fill("#f-default_template_id", "1107160000000012345")
    await page.click("text=Show the request")
    preview = page.locator("[data-preview]")
    await expect(preview).to_contain_text("POST http://127.0.0.1:9/v2/send")
    await expect(preview).to_contain_text("X-Campaign-Source: textcast")
    await expect(preview).to_contain_text("Basic ••••••••")
    assert "very-secret-token" not in await preview.inner_text()
    await fits_and_passes(page, "provider-request")

    await page.click("text=Save the request")
    await expect(page.get_by_role("status")).to_contain_text("Request saved")
    async with aiohttp.ClientSession() as http:
        _, stored = await api(
            http, "GET", f"{server.url}/api/v1/providers/{made['id']}", server.headers
        )
    config = stored["config"]
    assert config["url"] == "http://127.0.0.1:9/v2/send"
    assert config["headers"]["X-Campaign-Source"] == "textcast"
    assert config.get("message_id") is None
    assert config["default_template_id"] == "1107160000000012345"
    assert config["receipt"]["message_id"] == "MessageUUID"
    assert config["params"]["dst"] == "$$To"  # what was not changed stays

    # A secret of its own, added by re-authenticating, then used in the request.
    await page.fill("#reauth-secret-1", "very-secret-token")
    await page.fill("#reauth-new-secret-name", "source_key")
    await page.fill("#reauth-new-secret-value", "key-from-the-vault")
    await page.click("text=Verify and save")
    await expect(page.locator("text=New credentials verified and saved")).to_be_visible()
    await page.click("text=Edit the request")
    await page.fill("input[name=header_name] >> nth=-1", "X-Source-Key")
    await page.fill("input[name=header_value] >> nth=-1", "$$Secret.source_key")
    await page.click("text=Show the request")
    await expect(preview).to_contain_text("X-Source-Key: ")
    assert "key-from-the-vault" not in await preview.inner_text()
    await page.click("text=Save the request")
    await expect(page.get_by_role("status")).to_contain_text("Request saved")

    await page.fill("#settings-opt-out-tag", "plivo-stop")
    await page.click("text=Save settings")
    await expect(page.locator("[data-opt-out-tag]")).to_have_text("plivo-stop")


async def test_copy_buttons_put_the_url_on_the_clipboard(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    body = await add_provider(server, simulator)
    username, password = await make_user(server, "admin")
    context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    await page.goto(f"{server.url}/dashboard/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("form.stack button[type=submit]")
    await page.goto(f"{server.url}/dashboard/senders/{body['senders'][0]['id']}")
    button = page.locator("[data-copy='#inbound-url']")
    await button.click()
    await expect(button).to_have_text("Copied")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == body["senders"][0]["inbound_url"]

    # A browser that refuses the clipboard API: the text is selected and copied the old way.
    await page.add_init_script(
        "navigator.clipboard.writeText = () => Promise.reject(new Error('denied'))"
    )
    await page.reload()
    await button.click()
    await expect(button).to_have_text("Copied")
    selected = await page.evaluate("window.getSelection().toString()")
    assert selected.strip() == body["senders"][0]["inbound_url"]
    await context.close()
