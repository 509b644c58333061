"""Signing in to the dashboard with an API key.

The key is kept in an HttpOnly, SameSite=Strict cookie, so other sites cannot
make the browser post forms here with it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from textcast.context import Context
from textcast.dashboard.render import templates
from textcast.errors import TextcastError
from textcast.services import apikeys
from textcast.web.deps import CtxDep

router = APIRouter(prefix="/dashboard", include_in_schema=False)
COOKIE = "textcast_key"


class SignInRequired(TextcastError):
    """Raised by :func:`signed_in`; answered with a redirect to the sign-in page."""


async def signed_in(request: Request, ctx: CtxDep) -> Context:
    key = request.cookies.get(COOKIE, "")
    async with ctx.sessions() as session:
        if not key or await apikeys.find_active(session, key) is None:
            raise SignInRequired
    return ctx


SignedIn = Annotated[Context, Depends(signed_in)]


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "auth/login.html", {"title": "Sign in", "signed_in": False}
    )


@router.post("/login")
async def login(request: Request, ctx: CtxDep, key: Annotated[str, Form()] = "") -> Response:
    async with ctx.sessions() as session:
        found = await apikeys.find_active(session, key.strip()) if key.strip() else None
    if found is None:
        return templates.TemplateResponse(
            request,
            "auth/login.html",
            {"title": "Sign in", "signed_in": False, "error": "That API key is not valid."},
            status_code=401,
        )
    response = RedirectResponse("/dashboard", status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE, key.strip(), httponly=True, samesite="strict", secure=secure, max_age=8 * 3600
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
