"""Redeliver from a webhook endpoint's attempts log: the event is POSTed
again (a second attempt in the log, a second request at the receiver); an
editor, who may not manage webhooks, is refused."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Browser, expect

from tests.browser.conftest import fits_and_passes, sign_in
from tests.browser.test_safety_and_settings import receiver
from tests.browser.test_sending_and_inbox import SUBSCRIBER, add_provider
from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, eventually

__all__ = ["receiver"]  # the fixture, shared


async def test_a_delivery_is_sent_again_from_the_attempts_log(
    server: RunningServer,
    simulator: Simulator,
    browser: Browser,
    receiver: tuple[str, list[bytes]],
) -> None:
    url, received = receiver
    await add_provider(server, simulator)
    async with aiohttp.ClientSession() as http:
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/webhooks",
            server.headers,
            {"url": url, "event_types": ["message.delivered"]},
        )
        assert status == 201, body
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/messages",
            server.headers,
            {"to": SUBSCRIBER, "body": "Hello"},
        )
        assert status == 202, body

    async def delivered(count: int) -> bool:
        return len(received) >= count

    await eventually(lambda: delivered(1))
    page = await sign_in(browser, server, "admin")
    await page.goto(f"{server.url}/dashboard/webhooks/1")
    row = page.locator("main tbody tr").first
    await expect(row).to_contain_text("delivered", timeout=10_000)
    await row.locator("a").first.click()
    delivery_url = page.url
    await page.get_by_role("button", name="Redeliver").click()
    await expect(page.get_by_role("status")).to_contain_text("sent again")
    await eventually(lambda: delivered(2))
    assert received[0] == received[1]  # the same event, byte for byte
    await page.goto(delivery_url)
    attempts = page.locator("main tbody tr")
    await expect(attempts).to_have_count(2, timeout=10_000)
    await expect(attempts.nth(1)).to_contain_text("200")
    await fits_and_passes(page, "webhook-delivery")

    editor = await sign_in(browser, server, "editor")
    await editor.goto(delivery_url)
    await expect(editor.get_by_role("button", name="Redeliver")).to_have_count(0)
    token = await editor.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = await editor.request.post(
        f"{delivery_url}/redeliver", form={"csrf_token": token or ""}
    )
    assert answer.status == 403
