"""Users, roles and safety in the browser: what a viewer and an editor may not
do, the CSRF token, the HTML error pages, sign-in rate limiting, API keys and
users under Settings, the audit log; and outgoing webhooks with their signing
secret and attempts log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from tests.browser.conftest import fits_and_passes, make_user, sign_in
from tests.browser.test_sending_and_inbox import add_provider
from tests.conftest import RunningServer, Simulator, free_port
from tests.integration.helpers import api, eventually
from textcast.dashboard.pages import webhooks as webhooks_page
from textcast.services import stats


async def test_a_viewer_reads_but_changes_nothing(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await add_provider(server, simulator)
    page = await sign_in(browser, server, "viewer")
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav).not_to_contain_text("Send Test SMS")
    await page.click("nav >> text=Providers")
    await expect(page.locator("main")).not_to_contain_text("Add Provider")
    await page.click("text=twilio-sim")
    await expect(page.locator("[data-secret]")).to_have_count(0)
    await expect(page.locator("text=Re-authenticate")).to_have_count(0)

    response = await page.goto(f"{server.url}/dashboard/send-test")
    assert response is not None and response.status == 403
    await expect(page.locator("h1")).to_have_text("Not allowed")
    # Even with its own valid CSRF token, a viewer's change is refused.
    await page.goto(f"{server.url}/dashboard/suppressions")
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = await page.request.post(
        f"{server.url}/dashboard/suppressions",
        form={"csrf_token": token or "", "provider": "1", "phone": "+14155550100"},
    )
    assert answer.status == 403
    assert "text/html" in answer.headers["content-type"]


async def test_an_editor_sees_no_secrets_keys_or_users(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    await add_provider(server, simulator)
    page = await sign_in(browser, server, "editor")
    await page.goto(f"{server.url}/dashboard/providers/1")
    await expect(page.locator("h1")).to_contain_text("twilio-sim")
    await expect(page.locator("[data-secret]")).to_have_count(0)
    await expect(page.locator("main")).not_to_contain_text("auth token")
    for path in (
        "/dashboard/settings/api-keys",
        "/dashboard/settings/users",
        "/dashboard/settings/audit",
        "/dashboard/providers/new/twilio",
    ):
        response = await page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 403, path
    await page.goto(f"{server.url}/dashboard/settings")
    await expect(page.locator("main")).not_to_contain_text("API keys")


async def test_forms_without_the_csrf_token_are_refused_and_errors_are_pages(
    server: RunningServer, browser: Browser
) -> None:
    page = await sign_in(browser, server, "admin")
    answer = await page.request.post(
        f"{server.url}/dashboard/settings/api-keys", form={"name": "sneaky", "role": "admin"}
    )
    assert answer.status == 403
    assert "security token" in await answer.text()
    forged = await page.request.post(
        f"{server.url}/dashboard/settings/api-keys",
        form={"name": "sneaky", "role": "admin", "csrf_token": "forged"},
    )
    assert forged.status == 403
    await page.goto(f"{server.url}/dashboard/settings/api-keys")
    await expect(page.locator("main tbody")).not_to_contain_text("sneaky")

    response = await page.goto(f"{server.url}/dashboard/no-such-page")
    assert response is not None and response.status == 404
    assert "text/html" in response.headers["content-type"]
    await expect(page.locator("h1")).to_have_text("Page not found")
    response = await page.goto(f"{server.url}/dashboard/messages/424242")
    assert response is not None and response.status == 404
    await expect(page.locator("main")).to_contain_text("no message 424242")
    async with aiohttp.ClientSession() as http:
        status, body = await api(http, "GET", f"{server.url}/api/v1/nope", server.headers)
    assert status == 404 and body["error"] == "http_error"  # the API keeps its JSON


async def test_an_unexpected_failure_is_a_page_on_the_dashboard_and_json_on_the_api(
    server: RunningServer, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = await sign_in(browser, server, "viewer")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals of the failure")

    monkeypatch.setattr(stats, "summary", broken)  # the overview's and GET /api/v1/stats's
    response = await page.goto(f"{server.url}/dashboard")
    assert response is not None and response.status == 500
    assert "text/html" in response.headers["content-type"]
    await expect(page.locator("h1")).to_have_text("Something went wrong")
    await expect(page.locator("main")).to_contain_text("server log")
    await expect(page.locator("main")).not_to_contain_text("secret internals")
    async with aiohttp.ClientSession() as http:
        status, body = await api(http, "GET", f"{server.url}/api/v1/stats", server.headers)
    assert status == 500 and body["error"] == "internal_error", body
    assert "secret internals" not in str(body)


async def test_the_session_cookie_is_http_only_and_same_site(
    server: RunningServer, browser: Browser
) -> None:
    page = await sign_in(browser, server, "viewer")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["textcast_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert "textcast_signin" not in cookies  # the sign-in form's own token is spent
    assert "textcast_session" not in await page.evaluate("document.cookie")  # no script reads it


async def test_sign_in_is_rate_limited_and_every_change_is_audited(
    server: RunningServer, browser: Browser
) -> None:
    username, password = await make_user(server, "editor")
    page = await browser.new_page()
    await page.goto(f"{server.url}/dashboard/login")
    for _ in range(5):
        await page.fill("#username", username)
        await page.fill("#password", "wrong password")
        await page.click("form.stack button[type=submit]")
        await expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    await page.fill("#username", username)
    await page.fill("#password", password)  # right, but too late
    await page.click("form.stack button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("too many failed sign-ins")

    admin = await sign_in(browser, server, "admin")
    await admin.goto(f"{server.url}/dashboard/settings/api-keys")
    await admin.fill("#f-name", "reporting")
    await admin.select_option("#f-role", "viewer")
    await admin.get_by_role("button", name="Create key").click()
    key = (await admin.locator("#new-key").inner_text()).strip()
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {key}"}
        status, _ = await api(http, "GET", f"{server.url}/api/v1/providers", headers)
        assert status == 200
        status, body = await api(
            http, "POST", f"{server.url}/api/v1/keywords", headers, {"keyword": "x", "provider": 1}
        )
        assert status == 403, body
        await admin.locator("tr", has_text="reporting").locator("text=Revoke").click()
        status, _ = await api(http, "GET", f"{server.url}/api/v1/providers", headers)
        assert status == 401

    await admin.goto(f"{server.url}/dashboard/settings/users")
    await admin.fill("#f-username", "Dana@Example.com")
    await admin.fill("#f-password", "short")
    await admin.get_by_role("button", name="Add user").click()
    await expect(admin.locator("#f-password-error")).to_contain_text("at least 10")
    await admin.fill("#f-password", "a long enough password")
    await admin.get_by_role("button", name="Add user").click()
    await expect(admin.get_by_role("status")).to_contain_text("dana@example.com added")

    await admin.goto(f"{server.url}/dashboard/settings/audit")
    actions = admin.locator("[data-action]")
    await expect(actions.first).to_have_text("user.created")
    for action in ("api_key.created", "api_key.revoked", "auth.signed_in", "auth.sign_in_failed"):
        await expect(admin.locator(f"[data-action]:text-is('{action}')").first).to_be_visible()


async def test_an_admin_changes_a_users_role_password_and_state(
    server: RunningServer, browser: Browser
) -> None:
    admin = await sign_in(browser, server, "admin")
    await admin.goto(f"{server.url}/dashboard/settings/users")
    await expect(admin.locator("#f-role-hint")).to_contain_text("editor: send and reply")
    # Alone, the admin may not demote itself: the service's reason beside that user.
    me = admin.locator("tbody tr").first
    await me.locator("select").select_option("viewer")
    await me.get_by_role("button", name="Set role").click()
    await expect(admin.locator("tbody [role=alert]")).to_contain_text("last active admin")

    username, password = await make_user(server, "editor")
    await admin.reload()
    row = admin.locator("tr", has_text=username)
    await row.locator("select").select_option("viewer")
    await row.get_by_role("button", name="Set role").click()
    await expect(admin.get_by_role("status")).to_contain_text(f"{username}: done")
    await expect(row.locator("td").nth(1)).to_have_text("viewer")
    await row.locator("input[type=password]").fill("short")
    await row.get_by_role("button", name="Reset password").click()
    await expect(row.locator("[role=alert]")).to_contain_text("at least 10 characters")
    await row.get_by_role("button", name="Disable").click()
    await expect(row.locator("td").nth(3)).to_have_text("disabled")

    # A disabled user cannot sign in; enabled again, it can, as a viewer now.
    page = await browser.new_page()
    await page.goto(f"{server.url}/dashboard/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("form.stack button[type=submit]")
    await expect(page.get_by_role("alert")).to_be_visible()
    await row.get_by_role("button", name="Enable").click()
    await expect(row.locator("td").nth(3)).to_have_text("active")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("form.stack button[type=submit]")
    await expect(page.locator(".who")).to_contain_text("(viewer)")

    admin.on("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Remove").click()
    await expect(admin.get_by_role("status")).to_contain_text(f"{username}: done")
    await expect(admin.locator("main tbody")).not_to_contain_text(username)
    await fits_and_passes(admin, "settings-users")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hooks", received
    await runner.cleanup()


async def test_a_webhook_endpoint_shows_its_secret_once_and_logs_every_delivery(
    server: RunningServer,
    simulator: Simulator,
    browser: Browser,
    receiver: tuple[str, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = receiver
    monkeypatch.setattr(webhooks_page, "DELIVERIES_PAGE", 1)  # two messages: two pages
    await add_provider(server, simulator)
    page = await sign_in(browser, server, "admin")
    await page.goto(f"{server.url}/dashboard/webhooks")
    await page.fill("#f-url", url)
    await page.check("text=message.delivered")
    await page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#signing-secret")
    await expect(secret).to_contain_text("whsec_")

    for number in ("4155552671", "4155552672"):
        await page.goto(f"{server.url}/dashboard/send-test")
        await page.fill("#f-number", number)
        await page.click("main button[type=submit]")
        await expect(page.locator("[data-status]")).to_have_text("delivered", timeout=15_000)
    await eventually(lambda: _true(len(received) >= 2))

    await page.goto(f"{server.url}/dashboard/webhooks/1")
    await expect(page.locator("#signing-secret")).to_have_count(0)  # shown once only
    row = page.locator("main tbody tr").first
    await expect(row).to_contain_text("delivered", timeout=10_000)
    newest = await row.locator("a").first.inner_text()
    await page.click("text=Older deliveries")  # one a page here: the first delivery
    await expect(page.locator("main tbody tr")).to_have_count(1)
    await expect(row.locator("a").first).not_to_have_text(newest)
    await row.locator("a").first.click()
    await expect(page.locator("main tbody tr").first).to_contain_text("200")


async def test_a_private_webhook_target_is_refused_next_to_the_field_with_the_way_out(
    server: RunningServer, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a server started without TEXTCAST_ALLOW_PRIVATE_TARGETS would be.
    monkeypatch.setattr(server.ctx.guard, "allow_private", False)
    monkeypatch.setattr(server.ctx.settings, "allow_private_targets", False)
    page = await sign_in(browser, server, "admin")
    await page.goto(f"{server.url}/dashboard/webhooks")
    await expect(page.locator("#f-url-hint")).to_contain_text("TEXTCAST_ALLOW_PRIVATE_TARGETS")
    await page.fill("#f-url", "http://127.0.0.1:9/hooks")
    await page.get_by_role("button", name="Add endpoint").click()
    error = page.locator("#f-url-error")
    await expect(error).to_contain_text("internal address 127.0.0.1")
    await expect(error).to_contain_text("TEXTCAST_ALLOW_PRIVATE_TARGETS=true")
    await expect(page.locator("#f-url")).to_have_value("http://127.0.0.1:9/hooks")
    await expect(page.locator("main tbody")).to_contain_text("No endpoints yet")


async def _true(value: bool) -> bool:
    return value
