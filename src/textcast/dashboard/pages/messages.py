"""Messages: the outbox with filters, and one message with its full history,
the callbacks it got, the attribution (``meta``) they carry and its clicks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from textcast import phone, status
from textcast.callback_meta import sign_meta, with_meta
from textcast.callback_urls import callback_base
from textcast.dashboard.auth import CanRead
from textcast.dashboard.pages.filters import Chosen, choices
from textcast.dashboard.render import page
from textcast.db.models import Contact, Message, Sender, WebhookReceipt
from textcast.db.models import Provider as ProviderRow
from textcast.errors import ValidationFailed
from textcast.services import message_search
from textcast.services import messages as message_service
from textcast.services import providers as provider_service
from textcast.tracking import click_log
from textcast.views.messages import message_view, outcome_view
from textcast.web.deps import IdPath, IdQuery

router = APIRouter(prefix="/dashboard", include_in_schema=False)
PAGE_SIZE = 100
Text = Annotated[str, Query(max_length=100)]


@router.get("/messages")
async def messages(
    request: Request,
    me: CanRead,
    status_filter: Annotated[str, Query(alias="status", max_length=20)] = "",
    sender: Text = "",
    campaign: Text = "",
    since: Text = "",
    until: Text = "",
    to: Annotated[str, Query(max_length=40)] = "",
    before_id: IdQuery = None,
) -> HTMLResponse:
    chosen = Chosen(sender, campaign, since, until)
    number, to_error = None, None
    if to.strip():
        try:
            number = phone.normalize(to, me.ctx.settings.default_region, field="to")
        except ValidationFailed as exc:
            to_error = exc.message
    scope = chosen.scope()
    async with me.ctx.session() as session:
        rows = (
            []
            if to_error
            else await message_search.find(
                session,
                scope,
                status=status_filter if status_filter in status.ALL else None,
                to=number,
                before_id=before_id,
                limit=PAGE_SIZE,
            )
        )
        options = await choices(session)
    return page(
        request,
        "messages/list.html",
        "Messages",
        messages=[message_view(m) for m in rows],
        statuses=sorted(status.ALL),
        status_chosen=status_filter,
        to=to,
        errors={"to": to_error} if to_error else {},
        chosen=chosen,
        next_url=str(request.url.include_query_params(before_id=rows[-1].id))
        if len(rows) == PAGE_SIZE
        else None,
        **options,
    )


async def _callback_url(me: CanRead, message: Message) -> str | None:
    """The status-callback URL this message was (or will be) sent with, ``meta`` included."""
    async with me.ctx.session() as session:
        provider = await session.get(ProviderRow, message.provider_id)
        sender = await session.get(Sender, message.sender_id)
        contact_id = await session.scalar(select(Contact.id).where(Contact.phone == message.to))
        if provider is None or sender is None:
            return None
        secret = await provider_service.webhook_secret(me.ctx, provider)
    base = sender.custom_callback_url or callback_base(
        me.ctx.settings, provider.type, provider.id, secret
    )
    meta = sign_meta(
        secret,
        message.id,
        sender.id,
        contact_id=contact_id,
        campaign=message.campaign,
        automation=message.automation,
        variant=message.variant,
    )
    return with_meta(base, meta)


@router.get("/messages/{message_id}")
async def message(request: Request, message_id: IdPath, me: CanRead) -> HTMLResponse:
    async with me.ctx.session() as session:
        row = await message_service.get_message(session, message_id)
        history = await message_service.history(session, message_id)
        view = outcome_view(row, history, row.status in status.FINAL)
        receipts = list(
            await session.scalars(
                select(WebhookReceipt)
                .where(WebhookReceipt.message_id == message_id)
                .order_by(WebhookReceipt.id)
                .limit(100)
            )
        )
        clicks = await click_log.of_message(session, message_id)
    callbacks: list[dict[str, Any]] = [
        {
            "at": r.received_at.isoformat(),
            "kind": r.kind,
            "outcome": r.outcome,
            "reported": r.payload.get("MessageStatus") or r.payload.get("SmsStatus") or "",
            "error_code": r.payload.get("ErrorCode") or "",
        }
        for r in receipts
    ]
    show_url = me.actor.may("secrets.read")  # a generic provider's receipt URL holds a token
    return page(
        request,
        "messages/detail.html",
        f"Message {message_id}",
        m=view,
        final=status.FINAL,
        callbacks=callbacks,
        clicks=clicks,
        callback_url=await _callback_url(me, row) if show_url else None,
    )


@router.get("/messages/{message_id}/status")
async def message_status(request: Request, message_id: IdPath, me: CanRead) -> HTMLResponse:
    """The status badge and history, polled by the message page until final."""
    async with me.ctx.session() as session:
        row = await message_service.get_message(session, message_id)
        history = await message_service.history(session, message_id)
        view = outcome_view(row, history, row.status in status.FINAL)
    return page(request, "messages/live.html", "", m=view, final=status.FINAL)
