"""Send Test SMS: country code and mobile number, the message with a live
segment counter, then the message's page, which follows it to a final status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from textcast import phone, sms_segments
from textcast.content import templates
from textcast.context import Context
from textcast.dashboard.auth import CanSend
from textcast.dashboard.pages.lines import name_values
from textcast.dashboard.render import field_errors, page
from textcast.errors import ValidationFailed
from textcast.phone import calling_codes
from textcast.services import audit
from textcast.services import messages as message_service
from textcast.services import providers as provider_service
from textcast.services.senders import validation_failed

router = APIRouter(prefix="/dashboard", include_in_schema=False)
DEFAULT_TEXT = "This is a test message from Textcast."


async def _template_names(ctx: Context) -> list[str]:
    async with ctx.session() as session:
        return [t.name for t in await templates.list_templates(session, limit=500)]


async def _senders(ctx: Context) -> list[dict[str, Any]]:
    async with ctx.session() as session:
        rows = await provider_service.list_providers(session)
    return [
        {
            "name": s.name,
            "sender_id": s.sender_id,
            "is_default": s.is_default and p.is_default,  # used when none is named
            "provider": p.name,
        }
        for p in rows
        for s in p.senders
        if s.deleted_at is None
    ]


def _form(
    request: Request, me: CanSend, senders: list[dict[str, Any]], **values: Any
) -> HTMLResponse:
    values.setdefault("country", me.ctx.settings.default_region)
    values.setdefault("body", DEFAULT_TEXT)
    values.setdefault("template_names", [])
    counted = sms_segments.analyze(values["body"])
    return page(
        request,
        "send_test/form.html",
        "Send Test SMS",
        senders=senders,
        countries=calling_codes(),
        counted=counted,
        status_code=422 if values.get("errors") else 200,
        **values,
    )


@router.get("/send-test")
async def send_test_form(request: Request, me: CanSend) -> HTMLResponse:
    names = await _template_names(me.ctx)
    return _form(request, me, await _senders(me.ctx), template_names=names)


@router.post("/send-test/segments")
async def segments(
    request: Request, me: CanSend, body: Annotated[str, Form(max_length=20000)] = ""
) -> HTMLResponse:
    """The counter under the message box, redrawn as the text changes."""
    return page(request, "send_test/segments.html", "", counted=sms_segments.analyze(body))


@router.post("/send-test")
async def send_test(
    request: Request,
    me: CanSend,
    country: Annotated[str, Form(max_length=3)] = "",
    number: Annotated[str, Form(max_length=40)] = "",
    body: Annotated[str, Form(max_length=20000)] = "",
    sender: Annotated[str, Form(max_length=100)] = "",
    template_id: Annotated[str, Form(max_length=100)] = "",
    media_url: Annotated[str, Form(max_length=2000)] = "",
    template: Annotated[str, Form(max_length=100)] = "",
    data: Annotated[str, Form(max_length=5000)] = "",
    append_unsubscribe_text: Annotated[str, Form(max_length=5)] = "",
    click_tracking: Annotated[str, Form(max_length=5)] = "",
    campaign: Annotated[str, Form(max_length=100)] = "",
    automation: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """The message as ``POST /api/v1/test-messages`` takes it: a text or a saved
    template with its data, and every option of the API's."""
    code = next((str(c) for region, c, _ in calling_codes() if region == country), "")
    to = phone.with_country_code(code, number)
    try:
        try:
            send = message_service.SendRequest(
                to=to or "-",
                body="" if template else body,
                template=template or None,
                data=name_values(data, "data"),
                sender=sender or None,
                template_id=template_id.strip() or None,
                media_urls=[media_url.strip()] if media_url.strip() else [],
                append_unsubscribe_text=append_unsubscribe_text == "true",
                click_tracking=click_tracking == "true",
                campaign=campaign.strip() or None,
                automation=automation.strip() or None,
            )
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.write_session() as session:
            submitted = await message_service.submit(me.ctx.settings, session, send, is_test=True)
            audit.record(session, me.actor, "message.test_sent", f"message {submitted.message.id}")
    except ValidationFailed as exc:
        errors = field_errors(exc)
        if "to" in errors:
            errors["number"] = errors.pop("to")
        for name in [n for n in errors if n.startswith("media_urls")]:
            errors["media_url"] = errors.pop(name)
        return _form(
            request,
            me,
            await _senders(me.ctx),
            errors=errors,
            country=country,
            number=number,
            body=body,
            sender=sender,
            template_id=template_id,
            media_url=media_url,
            saved_template=template,  # not "template": page() takes that name
            data=data,
            append_unsubscribe_text=append_unsubscribe_text == "true",
            click_tracking=click_tracking == "true",
            campaign=campaign,
            automation=automation,
            template_names=await _template_names(me.ctx),
        )
    return RedirectResponse(f"/dashboard/messages/{submitted.message.id}", status_code=303)
