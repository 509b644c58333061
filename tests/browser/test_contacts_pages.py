"""Contacts in the browser: create one, edit its attributes, tags, time zone
and external ID, find it with the list's filters, read its timeline, erase it
after the confirm step; import a CSV with its columns mapped and follow the
job to its counts and rejected rows; export. A viewer is refused."""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import anyio
import pytest
from playwright.async_api import Browser, Download, expect

from tests.browser.conftest import fits_and_passes, sign_in
from tests.browser.test_sending_and_inbox import SUBSCRIBER, add_provider, write_in
from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, eventually
from textcast.dashboard.pages import contacts as contacts_page
from textcast.db.models import Message, ShortLink
from textcast.tracking.links import new_code


async def click_a_link_in(
    server: RunningServer, http: aiohttp.ClientSession, *, message_id: int, url: str
) -> None:
    """The recipient opens a tracked link of the delivered message through the
    front door, and a link preview fetches it too. (Links are minted by sends
    with click tracking; here the link row is written directly, and the
    delivery moved an hour back so the click is no link preview's.)"""

    async def delivered() -> bool:
        _, body = await api(
            http, "GET", f"{server.url}/api/v1/messages/{message_id}", server.headers
        )
        return bool(body["status"] == "delivered")

    await eventually(delivered)
    async with server.ctx.session() as session:
        message = await session.get(Message, message_id)
        assert message is not None and message.final_at is not None
        message.final_at -= timedelta(hours=1)
        code = new_code()
        session.add(ShortLink(code=code, url=url, message_id=message_id))
    browser_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    async with http.get(
        f"{server.url}/s/{code}", headers={"User-Agent": browser_agent}, allow_redirects=False
    ) as answer:
        assert answer.status == 302
        assert answer.headers["Location"] == url
    preview_agent = "facebookexternalhit/1.1 Facebot Twitterbot/1.0"  # a handset's link preview
    async with http.get(
        f"{server.url}/s/{code}", headers={"User-Agent": preview_agent}, allow_redirects=False
    ) as answer:
        assert answer.status == 302


async def test_a_contact_is_created_edited_found_and_erased(
    server: RunningServer, simulator: Simulator, browser: Browser
) -> None:
    provider = await add_provider(server, simulator)
    async with aiohttp.ClientSession() as http:
        status, _ = await api(
            http,
            "POST",
            f"{server.url}/api/v1/messages",
            server.headers,
            {"to": SUBSCRIBER, "body": "Your table is booked for Friday."},
        )
        assert status == 202
        await click_a_link_in(server, http, message_id=1, url="https://example.com/menu")
    await write_in(simulator, provider["senders"][0], "Can we make it Saturday?")

    page = await sign_in(browser, server, "editor")
    await page.click("nav >> text=Contacts")
    await page.click("text=New contact")
    await page.fill("#f-phone", "not a number")
    await page.get_by_role("button", name="Create contact").click()
    await expect(page.locator("#f-phone-error")).to_be_visible()
    await page.fill("#f-phone", "+33 6 12 34 56 78")
    await page.fill("#f-external_id", "crm-42")
    await page.fill("#f-tags", "vip, newsletter")
    await page.fill("#f-attributes", "plan=gold\nno equals sign")
    await page.get_by_role("button", name="Create contact").click()
    await expect(page.locator("#f-attributes-error")).to_contain_text("line 2")
    await page.fill("#f-attributes", "plan=gold")
    await page.get_by_role("button", name="Create contact").click()
    await expect(page.get_by_role("status")).to_contain_text("Contact created")
    await expect(page.locator("[data-attribute=plan]")).to_have_text("gold")
    await expect(page.locator("h1")).to_have_text("+33612345678")
    await expect(page.locator("[data-time-zone]")).to_contain_text("Europe/Paris")

    # Attributes: add, change (typed), a refused name next to its field, delete.
    await page.fill("#f-attr-name", "first_name")
    await page.fill("#f-attr-value", "Ada")
    await page.get_by_role("button", name="Save attribute").click()
    await page.fill("#f-attr-name", "age")
    await page.fill("#f-attr-value", "thirty")
    await page.select_option("#f-attr-kind", "number")
    await page.get_by_role("button", name="Save attribute").click()
    await expect(page.locator("#f-attr-value-error")).to_contain_text("not a number")
    await page.fill("#f-attr-value", "36")
    await page.get_by_role("button", name="Save attribute").click()
    await expect(page.locator("[data-attribute=age]")).to_have_text("36")
    await page.fill("#f-attr-name", "phone")
    await page.fill("#f-attr-value", "x")
    await page.get_by_role("button", name="Save attribute").click()
    await expect(page.locator("#f-attr-name-error")).to_contain_text("contact field")
    await page.get_by_role("button", name="Delete attribute first_name").click()
    await expect(page.locator("[data-attribute=first_name]")).to_have_count(0)
    await expect(page.locator("[data-attribute=age]")).to_have_text("36")

    # Tags, time zone, external ID.
    await page.get_by_role("button", name="Remove tag newsletter").click()
    await expect(page.locator("main")).not_to_contain_text("newsletter")
    await page.click("text=Change number, time zone or external ID")
    await page.fill("#f-time_zone", "Mars/Olympus")
    await page.get_by_role("button", name="Save details").click()
    await expect(page.locator("#f-time_zone-error")).to_be_visible()
    await page.fill("#f-time_zone", "Europe/Berlin")
    await page.get_by_role("button", name="Save details").click()
    await expect(page.locator("[data-time-zone]")).to_contain_text("Europe/Berlin")
    await expect(page.locator("[data-time-zone]")).to_contain_text("explicit")
    # A new number: another contact's is refused next to it; a free one taken.
    await page.click("text=Change number, time zone or external ID")
    await page.fill("#details-phone", SUBSCRIBER)
    await page.get_by_role("button", name="Save details").click()
    await expect(page.locator("#details-phone-error")).to_contain_text("another contact's number")
    await page.fill("#details-phone", "+33 6 12 34 56 79")
    await page.get_by_role("button", name="Save details").click()
    await expect(page.locator("h1")).to_have_text("+33612345679")
    await page.click("text=Change number, time zone or external ID")
    await page.fill("#details-phone", "+33612345678")
    await page.get_by_role("button", name="Save details").click()
    await expect(page.locator("h1")).to_have_text("+33612345678")
    await fits_and_passes(page, "contact-detail")

    # The list's filters (the API's), and the contact that wrote in.
    await page.click("nav >> text=Contacts")
    await page.fill("#f-tag", "vip")
    await page.click("form.filters button[type=submit]")
    rows = page.locator("main tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+33612345678")
    await page.fill("#f-tag", "")
    await page.fill("#f-country", "usa")
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("#f-country-error")).to_contain_text("country code")
    await page.fill("#f-country", "US")
    await page.click("form.filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(SUBSCRIBER)
    await fits_and_passes(page, "contacts")
    await rows.first.locator("a").click()
    timeline = page.locator(".thread")
    await expect(timeline.locator(".outbound")).to_contain_text("booked for Friday")
    await expect(timeline.locator(".inbound")).to_contain_text("Saturday?")
    await expect(timeline.locator("[data-click]")).to_contain_text("https://example.com/menu")
    await expect(timeline.locator("[data-click]")).to_have_count(1)  # the preview is no click

    # The message's page: its clicks, the preview's flagged with the reason.
    await timeline.locator("[data-click] a").click()
    clicks = page.locator("[data-clicks] tbody tr")
    await expect(clicks).to_have_count(2)
    await expect(page.locator("[data-counted=yes]")).to_contain_text("yes (first)")
    await expect(page.locator("[data-counted=yes]")).to_contain_text("https://example.com/menu")
    await expect(page.locator("[data-counted=no]")).to_contain_text("a bot's user agent")
    await expect(page.locator("#live")).to_contain_text("message.clicked")
    await fits_and_passes(page, "message-detail")
    await page.go_back()

    # Erasure: a confirm step that explains, then the real thing.
    await page.click("text=Erase this contact…")
    await expect(page.locator("main")).to_contain_text("cannot be undone")
    await page.fill("#f-confirm", "+1 nope")
    await page.get_by_role("button", name="Erase this contact").click()
    await expect(page.locator("#f-confirm-error")).to_contain_text(SUBSCRIBER)
    await fits_and_passes(page, "contact-erase")
    await page.fill("#f-confirm", SUBSCRIBER)
    await page.get_by_role("button", name="Erase this contact").click()
    await expect(page.locator("[data-erased]")).to_contain_text("1 sent message")
    await expect(page.locator("[data-erased]")).to_contain_text("1 reply")
    await page.goto(f"{server.url}/dashboard/contacts?q={SUBSCRIBER.replace('+', '%2B')}")
    await expect(rows.first).to_contain_text("No contacts match")

    viewer = await sign_in(browser, server, "viewer")
    answer = await viewer.goto(f"{server.url}/dashboard/contacts/new")
    assert answer is not None and answer.status == 403
    await expect(viewer.locator("h1")).to_have_text("Not allowed")
    await viewer.goto(f"{server.url}/dashboard/contacts/1")
    await expect(viewer.locator("#f-attr-name")).to_have_count(0)


async def _text(download: Download) -> str:
    return await anyio.Path(await download.path()).read_text()


CSV_FILE = """Mobile,Name,Age,Group,Notes
+14155550101,Ada,36,vip;fair,first
+14155550102,Grace,not-a-number,fair,second
12,Linus,50,,third
+14155550104,Ken,61,,fourth
"""


async def test_a_csv_is_imported_with_mapped_columns_and_exported(
    server: RunningServer, browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = tmp_path / "fair.csv"
    await anyio.Path(upload).write_text(CSV_FILE)
    # An upload left unmapped a day ago is swept away by the next upload.
    spool = anyio.Path(server.ctx.settings.data_dir / "imports")
    await spool.mkdir(parents=True, exist_ok=True)
    abandoned = spool / "0123456789abcdef.pending"
    await abandoned.write_text(CSV_FILE)
    two_days_ago = time.time() - 2 * 86400
    os.utime(abandoned, (two_days_ago, two_days_ago))

    page = await sign_in(browser, server, "editor")
    await page.goto(f"{server.url}/dashboard/contacts")
    await page.click("text=Import CSV")
    await page.set_input_files("#f-file", str(upload))
    await page.get_by_role("button", name="Upload and map columns").click()
    await expect(page.locator("[data-column]")).to_have_count(5)
    # Without a phone column the plan is refused, next to the form.
    await page.get_by_role("button", name="Start the import").click()
    await expect(page.get_by_role("alert")).to_contain_text("no phone column")
    await page.select_option("[aria-label='Read column Mobile as']", "phone")
    await page.select_option("[aria-label='Read column Name as']", "attribute")
    await page.fill("[aria-label='Attribute name for column Name']", "first_name")
    await page.select_option("[aria-label='Read column Age as']", "attribute")
    await page.fill("[aria-label='Attribute name for column Age']", "age")
    await page.select_option("[aria-label='Attribute type for column Age']", "number")
    await page.select_option("[aria-label='Read column Group as']", "tags")
    await page.select_option("[aria-label='Read column Notes as']", "-")
    await page.fill("#f-tags", "imported")
    await fits_and_passes(page, "contacts-import-map")
    await page.get_by_role("button", name="Start the import").click()

    await expect(page.locator("[data-import-status]")).to_have_attribute(
        "data-import-status", "done", timeout=15_000
    )
    await expect(page.locator("[data-count=created]")).to_have_text("2")

    async def spool_empty() -> bool:  # swept, and the job's file deleted once it is done
        return [p async for p in spool.iterdir()] == []

    await eventually(spool_empty)
    await expect(page.locator("[data-count=rejected]")).to_have_text("2")
    await expect(page.locator("[data-rejected-line='3']")).to_contain_text("not a number")
    await expect(page.locator("[data-rejected-line='4']")).to_contain_text("phone")
    await fits_and_passes(page, "contacts-import-job")
    async with page.expect_download() as rejected_download:
        await page.click("text=Download the rejected rows (CSV)")
    rejected = list(csv.reader(io.StringIO(await _text(await rejected_download.value))))
    assert rejected[0] == ["line", "field", "reason"]
    assert [row[0] for row in rejected[1:]] == ["3", "4"]

    await page.click("text=See the contacts")
    await page.fill("#f-tag", "vip")
    await page.click("form.filters button[type=submit]")
    rows = page.locator("main tbody tr")
    await expect(rows).to_have_count(1)
    await rows.first.locator("a").click()
    await expect(page.locator("[data-attribute=first_name]")).to_have_text("Ada")
    await expect(page.locator("[data-attribute=age]")).to_have_text("36")
    await expect(page.locator("main")).to_contain_text("imported")

    # Keyset paging keeps the filters (one contact a page here).
    monkeypatch.setattr(contacts_page, "PAGE_SIZE", 1)
    await page.goto(f"{server.url}/dashboard/contacts?tag=imported")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+14155550101")
    await page.click("text=More contacts")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+14155550104")
    await page.click("text=More contacts")
    await expect(rows.first).to_contain_text("No contacts match")
    await page.goto(f"{server.url}/dashboard/contacts?tag=imported")
    async with page.expect_download() as export_download:
        await page.click("text=Export CSV")
    exported = list(csv.DictReader(io.StringIO(await _text(await export_download.value))))
    assert sorted(row["phone"] for row in exported) == ["+14155550101", "+14155550104"]
    assert {row["first_name"] for row in exported} == {"Ada", "Ken"}

    viewer = await sign_in(browser, server, "viewer")
    await viewer.goto(f"{server.url}/dashboard/contacts/import")
    token = await viewer.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = await viewer.request.post(
        f"{server.url}/dashboard/contacts/import/start",
        form={"csrf_token": token or "", "upload": "0123456789abcdef"},
    )
    assert answer.status == 403
    assert "text/html" in answer.headers["content-type"]


async def test_json_lines_are_imported_with_the_tag_option(
    server: RunningServer, browser: Browser, tmp_path: Path
) -> None:
    upload = tmp_path / "people.jsonl"
    await anyio.Path(upload).write_text(
        '{"phone": "+14155550111", "attributes": {"first_name": "Edsger", "age": 72}}\n'
        '{"phone": "+14155550112", "colour": "blue"}\n'
    )
    page = await sign_in(browser, server, "editor")
    await page.goto(f"{server.url}/dashboard/contacts/import")
    await page.check("#f-format-jsonl")
    await page.set_input_files("#f-file", str(upload))
    await page.get_by_role("button", name="Upload and map columns").click()
    await expect(page.locator("[data-column]")).to_have_count(0)
    await page.fill("#f-tags", "jsonl")
    await page.get_by_role("button", name="Start the import").click()
    await expect(page.locator("[data-import-status]")).to_have_attribute(
        "data-import-status", "done", timeout=15_000
    )
    await expect(page.locator("[data-count=created]")).to_have_text("1")
    await expect(page.locator("[data-rejected-line='2']")).to_contain_text("unknown key")
    await page.goto(f"{server.url}/dashboard/contacts?tag=jsonl")
    await page.locator("main tbody a").first.click()
    await expect(page.locator("[data-attribute=age]")).to_have_text("72")
