"""Senders under a provider: add, edit (status-callback URL: default, custom,
Restore; whether Textcast answers keywords), mark as default, delete; with
the URLs to paste into the provider."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from textcast.dashboard.auth import CanManageProviders, CanRead, Visitor
from textcast.dashboard.pages import provider_forms as forms
from textcast.dashboard.render import page
from textcast.errors import Conflict, ValidationFailed
from textcast.services import audit
from textcast.services import providers as provider_service
from textcast.services import senders as sender_service
from textcast.services.senders import SENDER_TYPES, SenderUpdate, validation_failed
from textcast.views.providers import sender_view
from textcast.views.redaction import sender_for
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _types(provider_type: str) -> tuple[str, ...]:
    return (
        SENDER_TYPES
        if provider_type == "twilio"
        else tuple(t for t in SENDER_TYPES if t != "messaging_service")
    )


@router.get("/providers/{provider_id}/senders/new")
async def new_sender(request: Request, provider_id: IdPath, me: CanManageProviders) -> HTMLResponse:
    async with me.ctx.session() as session:
        row = await provider_service.get_provider(session, provider_id)
    return page(
        request,
        "providers/sender_new.html",
        "Add sender",
        provider={"id": row.id, "name": row.name},
        v={"sender_type": "long_code", "keyword_responses": True},
        sender_types=_types(row.type),
    )


@router.post("/providers/{provider_id}/senders/new")
async def add_sender(request: Request, provider_id: IdPath, me: CanManageProviders) -> Response:
    form = await request.form()
    try:
        async with me.ctx.session() as session:
            row = await provider_service.get_provider(session, provider_id)
            parsed = sender_service.parse_sender(forms.sender_payload(form) or {})
            sender = await sender_service.add_sender(session, row, parsed)
            audit.record(session, me.actor, "sender.created", sender.name, {"provider": row.name})
    except (ValidationFailed, Conflict) as exc:
        errors = forms.errors_for(exc) if isinstance(exc, ValidationFailed) else {"form": str(exc)}
        async with me.ctx.session() as session:
            row = await provider_service.get_provider(session, provider_id)
        return page(
            request,
            "providers/sender_new.html",
            "Add sender",
            provider={"id": row.id, "name": row.name},
            v=forms.sender_values(form),
            errors=errors,
            sender_types=_types(row.type),
            status_code=422,
        )
    return RedirectResponse(f"/dashboard/senders/{sender.id}?created=1", status_code=303)


async def _sender_page(
    request: Request, me: Visitor, sender_id: int, **values: Any
) -> HTMLResponse:
    async with me.ctx.session() as session:
        sender = await sender_service.get_sender(session, sender_id)
        provider = await provider_service.get_provider(session, sender.provider_id)
        view = sender_for(me.actor, sender_view(me.ctx, sender, provider))
    notice = "Sender added." if request.query_params.get("created") else None
    return page(
        request,
        "providers/sender.html",
        view["name"],
        s=view,
        provider={"id": provider.id, "name": provider.name, "type": provider.type},
        notice=values.pop("notice", notice),
        **values,
    )


@router.get("/senders/{sender_id}")
async def sender(request: Request, sender_id: IdPath, me: CanRead) -> HTMLResponse:
    return await _sender_page(request, me, sender_id)


@router.post("/senders/{sender_id}")
async def update_sender(request: Request, sender_id: IdPath, me: CanManageProviders) -> Response:
    form = await request.form()
    changes: dict[str, Any] = {
        "name": forms.text(form, "sender_name") or None,
        "mms_capable": forms.checked(form, "mms_capable"),
        "template_id_required": forms.checked(form, "template_id_required"),
        "keyword_responses": forms.checked(form, "keyword_responses"),
        "unsubscribe_text": forms.text(form, "unsubscribe_text") or None,
    }
    if forms.text(form, "mps"):
        changes["mps"] = forms.text(form, "mps")
    if "a2p_10dlc_campaign_id" in form:  # shown for US long codes only
        changes["a2p_10dlc_campaign_id"] = forms.text(form, "a2p_10dlc_campaign_id") or None
    callback = forms.text(form, "callback")
    if callback == "default":
        changes["restore_default_callback"] = True
    elif callback == "custom":
        changes["custom_callback_url"] = forms.text(form, "custom_callback_url") or None
        if changes["custom_callback_url"] is None:
            return await _sender_page(
                request,
                me,
                sender_id,
                errors={"custom_callback_url": "give the custom URL, or choose the default"},
            )
    try:
        try:
            update = SenderUpdate.model_validate(changes)
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.session() as session:
            saved = await sender_service.update_sender(session, sender_id, update)
            audit.record(session, me.actor, "sender.updated", saved.name)
    except (ValidationFailed, Conflict) as exc:
        errors = (
            {forms.SENDER_FIELDS.get(exc.field, exc.field): exc.message}
            if isinstance(exc, ValidationFailed)
            else {"form": str(exc)}
        )
        return await _sender_page(request, me, sender_id, errors=errors)
    return await _sender_page(request, me, sender_id, notice="Saved.")


@router.post("/senders/{sender_id}/restore-callback")
async def restore_callback(request: Request, sender_id: IdPath, me: CanManageProviders) -> Response:
    """Restore: back to the default status-callback URL."""
    async with me.ctx.session() as session:
        update = SenderUpdate(restore_default_callback=True)
        saved = await sender_service.update_sender(session, sender_id, update)
        audit.record(session, me.actor, "sender.callback_restored", saved.name)
    return await _sender_page(request, me, sender_id, notice="The default callback URL is back.")


@router.post("/senders/{sender_id}/default")
async def mark_default(
    request: Request,
    sender_id: IdPath,
    me: CanManageProviders,
    installation: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Mark as default: its provider's default sender; with ``installation``
    also the sender of every message that names none."""
    everywhere = installation == "true"
    async with me.ctx.session() as session:
        saved = await sender_service.set_default(session, sender_id, installation=everywhere)
        action = "sender.marked_installation_default" if everywhere else "sender.marked_default"
        audit.record(session, me.actor, action, saved.name)
        provider_id = saved.provider_id
    return RedirectResponse(f"/dashboard/providers/{provider_id}", status_code=303)


@router.post("/senders/{sender_id}/delete")
async def delete_sender(request: Request, sender_id: IdPath, me: CanManageProviders) -> Response:
    try:
        async with me.ctx.session() as session:
            gone = await sender_service.delete_sender(session, sender_id)
            audit.record(session, me.actor, "sender.deleted", gone.name.split("~deleted~")[0])
            provider_id = gone.provider_id
    except Conflict as exc:
        return await _sender_page(request, me, sender_id, errors={"form": str(exc)})
    return RedirectResponse(f"/dashboard/providers/{provider_id}", status_code=303)
