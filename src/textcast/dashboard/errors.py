"""Errors on dashboard pages as HTML pages; everywhere else the API's JSON.

The app's JSON handlers are installed first (textcast.web.errors); each one
is wrapped here so that a request under ``/dashboard`` gets a page instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from textcast.dashboard.auth import SignInRequired
from textcast.dashboard.render import templates
from textcast.errors import Conflict, NotFound, ProviderError, TextcastError, ValidationFailed
from textcast.netguard import TargetRefused
from textcast.services.roles import Forbidden
from textcast.services.signins import TooManyAttempts
from textcast.web.errors import error_body

log = logging.getLogger(__name__)
Handler = Callable[[Request, Exception], Awaitable[Response]]

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "Conflict",
    422: "Not valid",
    429: "Too many attempts",
    500: "Something went wrong",
    502: "The provider refused",
}


def _status_and_message(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail)
    if isinstance(exc, RequestValidationError):
        # A malformed ID or query in a dashboard URL: nothing by that name here.
        return 404, "There is nothing at this address."
    if isinstance(exc, NotFound):
        return 404, str(exc)
    if isinstance(exc, Forbidden):
        return 403, str(exc)
    if isinstance(exc, ValidationFailed):
        return 422, f"{exc.field}: {exc.message}"
    if isinstance(exc, TargetRefused):
        return 422, str(exc)
    if isinstance(exc, Conflict):
        return 409, str(exc)
    if isinstance(exc, TooManyAttempts):
        return 429, str(exc)
    if isinstance(exc, ProviderError):
        return 502, f"{exc.message} ({exc.code})"
    log.exception("dashboard page failed", exc_info=exc)
    return 500, "The error is in the server log. Try again, or go back."


def error_page(request: Request, exc: Exception) -> Response:
    status, message = _status_and_message(exc)
    if status == 404 and isinstance(exc, HTTPException):
        message = "There is no page at this address."
    return templates.TemplateResponse(
        request,
        "errors/page.html",
        {
            "title": TITLES.get(status, "Error"),
            "status": status,
            "message": message,
        },
        status_code=status,
    )


def install(app: FastAPI) -> None:
    async def to_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(
            f"/dashboard/login?next={quote(exc.next_path, safe='/')}", status_code=303
        )

    app.add_exception_handler(SignInRequired, to_sign_in)
    for kind in (
        HTTPException,
        RequestValidationError,
        NotFound,
        Conflict,
        ValidationFailed,
        TargetRefused,
        ProviderError,
        Forbidden,
        TooManyAttempts,
        TextcastError,
        Exception,
    ):
        json_handler = cast(Handler | None, app.exception_handlers.get(kind))
        app.add_exception_handler(kind, _page_or(json_handler))


def _page_or(json_handler: Handler | None) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/dashboard"):
            return error_page(request, exc)
        if json_handler is not None:
            return await json_handler(request, exc)
        status, message = _status_and_message(exc)  # errors only the dashboard raises
        return JSONResponse(error_body("error", message), status)

    return handle
