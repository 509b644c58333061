"""The dashboard mounted on the app: every area's pages, sign-in, the static
files (vendored, nothing from a CDN), HTML error pages, and ``/``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textcast.dashboard import auth, errors
from textcast.dashboard.pages import campaign_wizard as wizard
from textcast.dashboard.pages import campaigns as campaign_pages
from textcast.dashboard.pages import (
    contact_edit,
    contact_files,
    contacts,
    events,
    inbox,
    message_templates,
    messages,
    overview,
    providers,
    segments,
    send_test,
    senders,
    settings,
    webhooks,
)
from textcast.dashboard.pages import provider_health as provider_health_page
from textcast.dashboard.pages import provider_stats as provider_stats_page

AREAS = (
    overview,
    messages,
    send_test,
    inbox,
    contact_edit,  # before contacts: /contacts/new, /contacts/import … are no contact IDs
    contact_files,
    contacts,
    segments,
    message_templates,
    events,
    providers,
    senders,
    webhooks,
    settings,
    wizard,  # before campaign_pages: /campaigns/new is no campaign ID
    campaign_pages,
    provider_stats_page,
    provider_health_page,
)
STATIC = Path(__file__).parent / "static"

# Scripts and styles from this site only; no framing (clickjacking), no referrer
# leaving the site (message pages carry IDs in their URLs).
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]


class DashboardHeaders:
    """Adds :data:`SECURITY_HEADERS` to dashboard answers; other paths pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/dashboard"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Mount the pages; ``/`` leads to them, and a missing sign-in to the form."""

    async def home() -> Response:
        return RedirectResponse("/dashboard", status_code=307)

    async def favicon() -> Response:
        return RedirectResponse("/dashboard/static/favicon.svg", status_code=301)

    errors.install(app)
    app.add_middleware(DashboardHeaders)
    app.add_api_route("/", home, include_in_schema=False)
    app.add_api_route("/favicon.ico", favicon, include_in_schema=False)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.include_router(auth.router)
    for area in AREAS:
        app.include_router(area.router)
