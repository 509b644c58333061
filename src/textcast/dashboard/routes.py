"""Dashboard pages: sign in with an API key, then the overview (the numbers,
errors, latest events), messages with their history, a test-SMS form,
providers with their callback URLs, and the event log.

The key is kept in an HttpOnly, SameSite=Strict cookie, so other sites cannot
make the browser post forms here with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from textcast import status
from textcast.context import Context
from textcast.errors import TextcastError, ValidationFailed
from textcast.services import apikeys, events, stats
from textcast.services import messages as message_service
from textcast.services import providers as provider_service
from textcast.views.messages import message_view
from textcast.views.providers import provider_view
from textcast.web.deps import IdPath, get_ctx

router = APIRouter(prefix="/dashboard", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
COOKIE = "textcast_key"
CtxDep = Annotated[Context, Depends(get_ctx)]


class SignInRequired(Exception):
    """Raised by :func:`signed_in`; answered with a redirect to the sign-in page."""


async def signed_in(request: Request, ctx: CtxDep) -> Context:
    key = request.cookies.get(COOKIE, "")
    async with ctx.sessions() as session:
        if not key or await apikeys.find_active(session, key) is None:
            raise SignInRequired
    return ctx


SignedIn = Annotated[Context, Depends(signed_in)]


def page(request: Request, template: str, title: str, **values: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"title": title, "page": request.url.path, "signed_in": True, **values},
    )


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "login.html", {"title": "Sign in", "signed_in": False}
    )


@router.post("/login")
async def login(request: Request, ctx: CtxDep, key: Annotated[str, Form()] = "") -> Response:
    async with ctx.sessions() as session:
        found = await apikeys.find_active(session, key.strip()) if key.strip() else None
    if found is None:
        return templates.TemplateResponse(
            request,
            "login.html",
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


@router.get("")
async def overview(request: Request, ctx: SignedIn) -> HTMLResponse:
    async with ctx.session() as session:
        numbers = await stats.summary(session, stats.Scope())
        latest = await events.find(
            session, events.EventFilter(), after_id=None, limit=20, newest_first=True
        )
    return page(request, "overview.html", "Overview", numbers=numbers, events=latest)


@router.get("/messages")
async def messages(
    request: Request, ctx: SignedIn, status_filter: Annotated[str, Query(alias="status")] = ""
) -> HTMLResponse:
    async with ctx.session() as session:
        rows = await message_service.list_messages(
            session, status_filter=status_filter or None, limit=100
        )
    return page(
        request,
        "messages.html",
        "Messages",
        messages=[message_view(m) for m in rows],
        statuses=sorted(status.ALL),
        chosen=status_filter,
    )


@router.get("/messages/{message_id}")
async def message(request: Request, message_id: IdPath, ctx: SignedIn) -> HTMLResponse:
    async with ctx.session() as session:
        row = await message_service.get_message(session, message_id)
        view = message_view(row, await message_service.history(session, message_id))
    return page(request, "message.html", f"Message {message_id}", m=view, final=status.FINAL)


async def _senders(ctx: Context) -> list[dict[str, Any]]:
    async with ctx.session() as session:
        found = [provider_view(ctx, p) for p in await provider_service.list_providers(session)]
    return [s for p in found for s in p["senders"]]


@router.get("/send-test")
async def send_test_form(request: Request, ctx: SignedIn) -> HTMLResponse:
    return page(request, "send_test.html", "Send test SMS", senders=await _senders(ctx))


@router.post("/send-test")
async def send_test(
    request: Request,
    ctx: SignedIn,
    to: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    sender: Annotated[str, Form()] = "",
) -> Response:
    try:
        send = message_service.SendRequest(to=to.strip() or "-", body=body, sender=sender or None)
        async with ctx.write_session() as session:
            submitted = await message_service.submit(ctx.settings, session, send, is_test=True)
    except (TextcastError, ValueError) as exc:
        error = f"{exc.field}: {exc.message}" if isinstance(exc, ValidationFailed) else str(exc)
        return page(
            request,
            "send_test.html",
            "Send test SMS",
            senders=await _senders(ctx),
            error=error,
            to=to,
            body=body,
        )
    return RedirectResponse(f"/dashboard/messages/{submitted.message.id}", status_code=303)


@router.get("/providers")
async def providers(request: Request, ctx: SignedIn) -> HTMLResponse:
    async with ctx.session() as session:
        found = [provider_view(ctx, p) for p in await provider_service.list_providers(session)]
    return page(request, "providers.html", "Providers", providers=found)


@router.get("/events")
async def event_log(request: Request, ctx: SignedIn, type: str = "") -> HTMLResponse:
    where = events.EventFilter(types=(type,) if type in events.TYPES else ())
    async with ctx.session() as session:
        found = await events.find(session, where, after_id=None, limit=200, newest_first=True)
    return page(
        request,
        "events.html",
        "Events",
        events=found,
        types=events.TYPES,
        chosen=type,
    )


def install(app: FastAPI) -> None:
    """Mount the pages; ``/`` leads to them, and a missing sign-in to the form."""

    async def to_login(_: Request, __: Exception) -> Response:
        return RedirectResponse("/dashboard/login", status_code=303)

    async def home() -> Response:
        return RedirectResponse("/dashboard", status_code=307)

    app.add_exception_handler(SignInRequired, to_login)
    app.add_api_route("/", home, include_in_schema=False)
    app.include_router(router)
