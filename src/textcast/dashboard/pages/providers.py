"""Providers: add a Twilio or generic HTTP provider, re-authenticate, check the
balance, delete; the callback URLs to paste into the provider. Everything goes
through the services the API uses (textcast.services.providers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from textcast.crypto import mask
from textcast.dashboard.auth import CanManageProviders, CanRead, Visitor
from textcast.dashboard.pages import provider_forms as forms
from textcast.dashboard.render import page
from textcast.errors import Conflict, NotFound, ProviderError, ValidationFailed
from textcast.providers.base import OutboundMessage
from textcast.providers.generic.presets import PRESETS, build_preset, list_presets
from textcast.providers.generic.provider import GenericHttpProvider
from textcast.providers.generic.template import TemplateError
from textcast.services import audit, provider_health
from textcast.services import providers as provider_service
from textcast.services.senders import SENDER_TYPES
from textcast.views.providers import provider_view
from textcast.views.redaction import provider_for
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)
TWILIO_SENDER_TYPES = SENDER_TYPES
GENERIC_SENDER_TYPES = tuple(t for t in SENDER_TYPES if t != "messaging_service")
GENERIC_RENAMES = {"credentials": "secrets"}


async def _view(me: Visitor, provider_id: int) -> dict[str, Any]:
    async with me.ctx.session() as session:
        row = await provider_service.get_provider(session, provider_id)
        return provider_for(me.actor, provider_view(me.ctx, row))


@router.get("/providers")
async def providers(request: Request, me: CanRead) -> HTMLResponse:
    async with me.ctx.session() as session:
        rows = await provider_service.list_providers(session)
        found = [provider_for(me.actor, provider_view(me.ctx, p)) for p in rows]
        verdicts = {p.id: (await provider_health.health(session, p))["verdict"] for p in rows}
    return page(request, "providers/list.html", "Providers", providers=found, verdicts=verdicts)


def _problem(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationFailed):
        return forms.errors_for(exc)
    return {"form": str(exc)}


# --- Twilio --------------------------------------------------------------------


def _twilio_form(
    request: Request, values: dict[str, Any], errors: dict[str, str] | None = None
) -> HTMLResponse:
    return page(
        request,
        "providers/twilio_new.html",
        "Add Provider: Twilio",
        v=values,
        errors=errors or {},
        sender_types=TWILIO_SENDER_TYPES,
        status_code=422 if errors else 200,
    )


@router.get("/providers/new/twilio")
async def new_twilio(request: Request, me: CanManageProviders) -> HTMLResponse:
    return _twilio_form(request, {"verify": True, "sender_type": "long_code"})


@router.post("/providers/new/twilio")
async def create_twilio(request: Request, me: CanManageProviders) -> Response:
    form = await request.form()
    keys = ("name", "account_sid", "base_url", "allowed_countries")
    values: dict[str, Any] = {k: forms.text(form, k) for k in keys}
    values.update(forms.sender_values(form), verify=forms.checked(form, "verify"))
    try:
        async with me.ctx.session() as session:
            row = await provider_service.create_provider(
                me.ctx, session, forms.twilio_payload(form)
            )
            audit.record(session, me.actor, "provider.created", row.name, {"type": "twilio"})
    except (ValidationFailed, Conflict) as exc:
        return _twilio_form(request, values, _problem(exc))
    return RedirectResponse(f"/dashboard/providers/{row.id}?created=1", status_code=303)


# --- generic HTTP ----------------------------------------------------------------


def _generic_form(
    request: Request,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    *,
    step: str = "definition",
    preview: dict[str, Any] | None = None,
) -> HTMLResponse:
    preset = PRESETS.get(str(values.get("preset") or ""))
    return page(
        request,
        "providers/generic_new.html",
        "Add Provider: generic HTTP",
        v=values,
        errors=errors or {},
        presets=list_presets(),
        preset=next((p for p in list_presets() if preset and p["name"] == preset.name), None),
        step=step,
        preview=preview,
        sender_types=GENERIC_SENDER_TYPES,
        status_code=422 if errors else 200,
    )


@router.get("/providers/new/generic")
async def new_generic(request: Request, me: CanManageProviders, preset: str = "") -> HTMLResponse:
    """A preset first asks for its few values; "custom" goes straight to the definition."""
    if preset in PRESETS:
        return _generic_form(request, {"preset": preset}, step="preset")
    return _generic_form(
        request, {"method": "POST", "body_format": "form", "to_format": "e164"}, step="definition"
    )


@router.post("/providers/new/generic")
async def create_generic(request: Request, me: CanManageProviders) -> Response:
    form = await request.form()
    action = forms.text(form, "action")
    if action == "fill":
        return _fill_from_preset(request, form)
    values = forms.generic_values_from_form(form)
    try:
        payload = forms.generic_payload(form)
        if action == "preview":
            return _generic_form(request, values, preview=_preview(payload))
        async with me.ctx.session() as session:
            row = await provider_service.create_provider(me.ctx, session, payload)
            audit.record(session, me.actor, "provider.created", row.name, {"type": "generic"})
    except ValidationFailed as exc:
        return _generic_form(request, values, forms.errors_for(exc, GENERIC_RENAMES))
    except Conflict as exc:
        return _generic_form(request, values, {"form": str(exc)})
    return RedirectResponse(f"/dashboard/providers/{row.id}?created=1", status_code=303)


def _fill_from_preset(request: Request, form: Any) -> HTMLResponse:
    """The preset's definition, built from the values given, as an editable form."""
    name = forms.text(form, "preset")
    credentials = {
        key.removeprefix("cred_"): value
        for key, value in form.items()
        if key.startswith("cred_") and isinstance(value, str)
    }
    given = {"preset": name, "credentials": credentials}
    if forms.text(form, "base_url_override"):
        given["base_url_override"] = forms.text(form, "base_url_override")
    try:
        definition = build_preset(name, given)
    except ValidationFailed as exc:
        values = {"preset": name, **{f"cred_{k}": v for k, v in credentials.items()}}
        return _generic_form(request, values, forms.errors_for(exc), step="preset")
    values = forms.generic_form_values(definition)
    values.update(name=forms.text(form, "name") or name, preset=name)
    return _generic_form(request, values)


def _preview(payload: dict[str, Any]) -> dict[str, Any]:
    """The exact request a test message would make, secrets masked."""
    config, secrets = GenericHttpProvider.from_payload(payload)
    sender = (payload.get("senders") or [{}])[0].get("sender_id") or "Textcast"
    return _request_shown(GenericHttpProvider(config, secrets), sender)


def _request_shown(provider: GenericHttpProvider, sender: str) -> dict[str, Any]:
    """The request ``provider`` would make for a test message from ``sender``,
    secrets masked."""
    sample = OutboundMessage(0, "+14155552671", "This is a test message.", "long_code", sender)
    try:
        url, headers, body = provider.build_request(sample)
    except TemplateError as exc:
        raise ValidationFailed("url", str(exc)) from None
    secrets = provider.secrets
    hidden = [s.get_secret_value() for s in secrets.credentials.values()]
    if secrets.basic_password:
        hidden.append(secrets.basic_password.get_secret_value())

    def masked(text: str) -> str:
        for value in filter(None, hidden):
            text = text.replace(value, mask(value) or "")
        return text

    shown_headers = {
        k: ("Basic ••••••••" if k.lower() == "authorization" else masked(v))
        for k, v in headers.items()
    }
    return {
        "method": provider.config.method,
        "url": masked(url),
        "headers": shown_headers,
        "body": masked(body.decode()) if body else "",
    }


def _request_form(
    request: Request,
    view: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    preview: dict[str, Any] | None = None,
) -> HTMLResponse:
    return page(
        request,
        "providers/generic_request.html",
        f"The request: {view['name']}",
        p=view,
        v=values,
        errors=errors or {},
        preview=preview,
        status_code=422 if errors else 200,
    )


async def _generic_view(me: Visitor, provider_id: int) -> dict[str, Any]:
    view = await _view(me, provider_id)
    if view["type"] != "generic":
        raise NotFound(f"provider {provider_id} is not a generic HTTP provider")
    return view


@router.get("/providers/{provider_id}/request")
async def edit_request(request: Request, provider_id: IdPath, me: CanManageProviders) -> Response:
    """A generic HTTP provider's request, to change (the API's PATCH of its settings)."""
    view = await _generic_view(me, provider_id)
    return _request_form(request, view, forms.generic_form_values(view["config"]))


@router.post("/providers/{provider_id}/request")
async def save_request(request: Request, provider_id: IdPath, me: CanManageProviders) -> Response:
    view = await _generic_view(me, provider_id)
    form = await request.form()
    values = forms.generic_values_from_form(form)
    try:
        changes = forms.generic_request_changes(form)
        async with me.ctx.session() as session:
            if forms.text(form, "action") == "preview":
                row = await provider_service.get_provider(session, provider_id)
                changed = provider_service.with_changes(me.ctx, row, changes)
                assert isinstance(changed, GenericHttpProvider)
                senders = view.get("senders") or [{}]
                shown = _request_shown(changed, senders[0].get("sender_id") or "Textcast")
                return _request_form(request, view, values, preview=shown)
            row = await provider_service.update_provider(me.ctx, session, provider_id, changes)
            audit.record(session, me.actor, "provider.updated", row.name, {"request": True})
    except ValidationFailed as exc:
        return _request_form(request, view, values, forms.errors_for(exc, GENERIC_RENAMES))
    return RedirectResponse(f"/dashboard/providers/{provider_id}?request_saved=1", 303)


# --- one provider ------------------------------------------------------------------


@router.get("/providers/{provider_id}")
async def provider(request: Request, provider_id: IdPath, me: CanRead) -> HTMLResponse:
    view = await _view(me, provider_id)
    notice = (
        "Provider added."
        if request.query_params.get("created")
        else "Request saved."
        if request.query_params.get("request_saved")
        else None
    )
    return page(request, "providers/detail.html", view["name"], p=view, notice=notice)


@router.get("/providers/{provider_id}/balance")
async def balance(request: Request, provider_id: IdPath, me: CanRead) -> HTMLResponse:
    view = await _view(me, provider_id)
    try:
        async with me.ctx.session() as session:
            found = await provider_service.check_balance(me.ctx, session, provider_id)
        result = {"amount": found.amount, "currency": found.currency}
    except ProviderError as exc:
        result = {"error": f"{exc.message} ({exc.code})"}
    return page(request, "providers/detail.html", view["name"], p=view, balance=result)


@router.post("/providers/{provider_id}/reauth")
async def reauthenticate(request: Request, provider_id: IdPath, me: CanManageProviders) -> Response:
    form = await request.form()
    keys = ("account_sid", "auth_token", "basic_password")
    credentials: dict[str, Any] = {k: forms.text(form, k) for k in keys if forms.text(form, k)}
    secrets = dict(forms.rows(form, "secret"))
    if secrets:
        credentials["credentials"] = secrets
    try:
        async with me.ctx.session() as session:
            row = await provider_service.reauthenticate(me.ctx, session, provider_id, credentials)
            audit.record(session, me.actor, "provider.reauthenticated", row.name)
    except (ValidationFailed, NotFound) as exc:
        view = await _view(me, provider_id)
        return page(
            request,
            "providers/detail.html",
            view["name"],
            p=view,
            errors=_problem(exc),
            status_code=422,
        )
    return RedirectResponse(f"/dashboard/providers/{provider_id}?reauthenticated=1", 303)


@router.post("/providers/{provider_id}/settings")
async def update_settings(
    request: Request, provider_id: IdPath, me: CanManageProviders
) -> Response:
    form = await request.form()
    changes: dict[str, Any] = {
        "name": forms.text(form, "name"),
        "opt_out_scope": forms.text(form, "opt_out_scope"),
        "opt_out_tag": forms.text(form, "opt_out_tag"),
        "allowed_countries": forms.countries(form),
    }
    if forms.text(form, "base_url"):
        changes["base_url"] = forms.text(form, "base_url")
    try:
        async with me.ctx.session() as session:
            row = await provider_service.update_provider(me.ctx, session, provider_id, changes)
            audit.record(session, me.actor, "provider.updated", row.name, changes)
    except (ValidationFailed, Conflict) as exc:
        view = await _view(me, provider_id)
        return page(
            request,
            "providers/detail.html",
            view["name"],
            p=view,
            errors=_problem(exc),
            status_code=422,
        )
    return RedirectResponse(f"/dashboard/providers/{provider_id}", status_code=303)


@router.post("/providers/{provider_id}/relay-secret")
async def relay_secret(request: Request, provider_id: IdPath, me: CanManageProviders) -> Response:
    async with me.ctx.session() as session:
        secret = await provider_service.rotate_relay_secret(me.ctx, session, provider_id)
        audit.record(session, me.actor, "provider.relay_secret_rotated", str(provider_id))
    view = await _view(me, provider_id)
    return page(request, "providers/detail.html", view["name"], p=view, relay_secret=secret)


@router.post("/providers/{provider_id}/delete")
async def delete(request: Request, provider_id: IdPath, me: CanManageProviders) -> Response:
    try:
        async with me.ctx.session() as session:
            row = await provider_service.delete_provider(session, provider_id)
            audit.record(session, me.actor, "provider.deleted", row.name.split("~deleted~")[0])
    except Conflict as exc:
        view = await _view(me, provider_id)
        return page(
            request,
            "providers/detail.html",
            view["name"],
            p=view,
            errors={"form": str(exc)},
            status_code=409,
        )
    return RedirectResponse("/dashboard/providers", status_code=303)
