"""The browser tests' shared pieces: Debian's Chromium through Playwright, one
SQLite database per test, dashboard users, sign-in, and the checks every page
must pass (no sideways scrolling at phone width, no serious axe-core finding),
with screenshots saved under tests/artifacts/ (not committed)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import RunningServer
from textcast.services import users

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# axe-core rules whose findings fail a test: what keeps a page usable with a
# keyboard, a screen reader or weaker eyesight.
SERIOUS = ("critical", "serious")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    """One database is enough here: the pages sit on services tested on both."""
    target = tmp_path / "browser.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


async def make_user(server: RunningServer, role: str) -> tuple[str, str]:
    """A dashboard user with ``role``: (username, password)."""
    username, password = f"{role}-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    async with server.ctx.session() as session:
        await users.create(session, username, password, role)
    return username, password


async def sign_in(
    browser: Browser,
    server: RunningServer,
    role: str = "admin",
    *,
    viewport: dict[str, int] = DESKTOP,
) -> Page:
    """A new page signed in as a fresh user with ``role``."""
    username, password = await make_user(server, role)
    page = await browser.new_page(viewport=viewport)
    await page.goto(f"{server.url}/dashboard/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("form.stack button[type=submit]")
    await expect(page).to_have_url(f"{server.url}/dashboard")
    return page


async def no_sideways_scroll(page: Page) -> None:
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


async def accessible(page: Page) -> None:
    """No critical or serious axe-core violation (labels, contrast, names, roles)."""
    results = await Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert serious == [], f"{page.url}: " + results.generate_report()


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def shown_well(page: Page, shot: str, *, axe: bool) -> None:
    """The page as it is now fits its width (and is axe-clean when ``axe``),
    kept as the screenshot ``shot``: one page of a tour at one viewport."""
    await no_sideways_scroll(page)
    if axe:
        await accessible(page)
    await screenshot(page, shot)


async def fits_and_passes(page: Page, name: str) -> None:
    """The page as it is now: axe-clean at desktop width, then at 390 px with
    nothing scrolling sideways (the same page resized: a form's answer cannot
    be fetched again); both kept as screenshots."""
    await no_sideways_scroll(page)
    await accessible(page)
    await screenshot(page, f"{name}-desktop")
    await page.set_viewport_size(PHONE)
    await no_sideways_scroll(page)
    await screenshot(page, f"{name}-phone")
    await page.set_viewport_size(DESKTOP)
