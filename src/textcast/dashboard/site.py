"""The dashboard mounted on the app: every area's pages, sign-in, and ``/``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from textcast.dashboard import auth
from textcast.dashboard.pages import events, messages, overview, providers, send_test

AREAS = (overview, messages, send_test, providers, events)


def install(app: FastAPI) -> None:
    """Mount the pages; ``/`` leads to them, and a missing sign-in to the form."""

    async def to_login(_: Request, __: Exception) -> Response:
        return RedirectResponse("/dashboard/login", status_code=303)

    async def home() -> Response:
        return RedirectResponse("/dashboard", status_code=307)

    app.add_exception_handler(auth.SignInRequired, to_login)
    app.add_api_route("/", home, include_in_schema=False)
    app.include_router(auth.router)
    for area in AREAS:
        app.include_router(area.router)
