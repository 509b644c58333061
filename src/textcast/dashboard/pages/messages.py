"""Messages: the outbox with a status filter, and one message with its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from textcast import status
from textcast.dashboard.auth import SignedIn
from textcast.dashboard.render import page
from textcast.services import messages as message_service
from textcast.views.messages import message_view
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)


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
        "messages/list.html",
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
    return page(
        request, "messages/detail.html", f"Message {message_id}", m=view, final=status.FINAL
    )
