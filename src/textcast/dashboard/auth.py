"""Signing in to the dashboard, and what every page checks.

Two ways in, one kind of session: a username and password (dashboard users),
or an API key (kept for scripts and for installs that have only a key; the
session has the key's role and ends when the key is revoked). The cookie
holds only a random session token: HttpOnly, SameSite=Lax (a link from a
chat opens the page signed in; a form posted from another site arrives
without it), Secure over HTTPS.

Every request that changes something must carry the session's CSRF token,
as the ``csrf_token`` form field or the ``X-CSRF-Token`` header, whatever
the cookie says. The sign-in form, which has no session yet, uses a
double-submit cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from textcast.context import Context
from textcast.dashboard.render import templates
from textcast.errors import TextcastError
from textcast.services import audit, roles, signins
from textcast.services.roles import Actor, Forbidden
from textcast.services.signins import SignedIn, TooManyAttempts
from textcast.web.deps import CtxDep

router = APIRouter(prefix="/dashboard", include_in_schema=False)
COOKIE = "textcast_session"
SIGN_IN_COOKIE = "textcast_signin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(TextcastError):
    """No live session; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


class CsrfRefused(Forbidden):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True)
class Visitor:
    """A signed-in request: the shared context and who is behind it."""

    ctx: Context
    signed: SignedIn

    @property
    def actor(self) -> Actor:
        return self.signed.actor


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _sent_csrf(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    form = await request.form()  # Starlette keeps it: the handler's Form() fields read the same
    value = form.get("csrf_token")
    return value if isinstance(value, str) else ""


async def signed_in(request: Request, ctx: CtxDep) -> Visitor:
    async with ctx.sessions() as session:
        found = await signins.resolve(session, request.cookies.get(COOKIE, ""), client_ip(request))
    if found is None:
        raise SignInRequired(request.url.path if request.method in SAFE_METHODS else "/dashboard")
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
        (await _sent_csrf(request)).encode(), found.csrf_token.encode()
    ):
        raise CsrfRefused("the form's security token is missing or stale; reload the page")
    request.state.signed = found
    return Visitor(ctx, found)


def allowed(permission: str) -> Callable[..., Awaitable[Visitor]]:
    async def check(visitor: Annotated[Visitor, Depends(signed_in)]) -> Visitor:
        visitor.actor.require(permission)
        return visitor

    return check


CanRead = Annotated[Visitor, Depends(allowed(roles.READ))]
CanSend = Annotated[Visitor, Depends(allowed(roles.SEND))]
CanEditAudience = Annotated[Visitor, Depends(allowed(roles.AUDIENCE_WRITE))]
CanEditContent = Annotated[Visitor, Depends(allowed(roles.CONTENT_WRITE))]
CanManageProviders = Annotated[Visitor, Depends(allowed(roles.PROVIDERS_WRITE))]
CanManageWebhooks = Annotated[Visitor, Depends(allowed(roles.WEBHOOKS_WRITE))]
CanManageKeys = Annotated[Visitor, Depends(allowed(roles.KEYS_MANAGE))]
CanManageUsers = Annotated[Visitor, Depends(allowed(roles.USERS_MANAGE))]
CanChangeSettings = Annotated[Visitor, Depends(allowed(roles.SETTINGS_WRITE))]
CanReadAudit = Annotated[Visitor, Depends(allowed(roles.AUDIT_READ))]


def _safe_next(value: str) -> str:
    """Only a dashboard path: never another site (an open redirect)."""
    if value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


def _sign_in_page(
    request: Request, next_path: str, *, error: str | None = None, status: int = 200, **values: str
) -> HTMLResponse:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request,
        "auth/login.html",
        {"title": "Sign in", "next": next_path, "form_token": token, "error": error, **values},
        status_code=status,
    )
    response.set_cookie(
        SIGN_IN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


@router.get("/login")
async def login_form(request: Request, next: str = "/dashboard") -> HTMLResponse:
    return _sign_in_page(request, _safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    ctx: CtxDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    key: Annotated[str, Form(max_length=200)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/dashboard",
) -> Response:
    next_path = _safe_next(next)
    cookie_token = request.cookies.get(SIGN_IN_COOKIE, "")
    if not cookie_token or not hmac.compare_digest(cookie_token.encode(), form_token.encode()):
        return _sign_in_page(
            request, next_path, error="The form expired; please sign in again.", status=403
        )
    ip = client_ip(request)
    try:
        async with ctx.session() as session:
            if key.strip():
                started = await signins.with_api_key(session, key, ip)
            else:
                started = await signins.with_password(session, username, password, ip)
    except TooManyAttempts as exc:
        return _sign_in_page(request, next_path, error=str(exc), status=429, username=username)
    if started is None:
        wrong = "That API key is not valid." if key.strip() else "Wrong username or password."
        return _sign_in_page(request, next_path, error=wrong, status=401, username=username)
    token, _ = started
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=int(signins.SESSION_LIFETIME.total_seconds()),
    )
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, visitor: Annotated[Visitor, Depends(signed_in)]) -> Response:
    async with visitor.ctx.session() as session:
        await signins.end(session, request.cookies.get(COOKIE, ""))
        audit.record(session, visitor.actor, "auth.signed_out", visitor.actor.label)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
