"""Send Test SMS: through the real sending path, then to the message's page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from textcast.context import Context
from textcast.dashboard.auth import SignedIn
from textcast.dashboard.render import page
from textcast.errors import TextcastError, ValidationFailed
from textcast.services import messages as message_service
from textcast.services import providers as provider_service
from textcast.views.providers import provider_view

router = APIRouter(prefix="/dashboard", include_in_schema=False)


async def _senders(ctx: Context) -> list[dict[str, Any]]:
    async with ctx.session() as session:
        found = [provider_view(ctx, p) for p in await provider_service.list_providers(session)]
    return [s for p in found for s in p["senders"]]


@router.get("/send-test")
async def send_test_form(request: Request, ctx: SignedIn) -> HTMLResponse:
    return page(request, "send_test/form.html", "Send test SMS", senders=await _senders(ctx))


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
            "send_test/form.html",
            "Send test SMS",
            senders=await _senders(ctx),
            error=error,
            to=to,
            body=body,
        )
    return RedirectResponse(f"/dashboard/messages/{submitted.message.id}", status_code=303)
