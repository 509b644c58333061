"""Templates: the list, the editor (name, body, template ID, sender, category,
unsubscribe text, click tracking) with a live preview for a chosen contact
or sample attributes — the text, its segments and encoding, the characters
that force UCS-2, the variables it misses — and each template's versions.

Saving goes through :mod:`textcast.content.templates` (a change writes a new
version, as the API's PATCH does) and the preview through
:mod:`textcast.services.template_previews`, the API's preview.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from textcast.content import templates
from textcast.content.preview import Preview
from textcast.dashboard.auth import CanEditContent, CanRead, Visitor
from textcast.dashboard.pages.lines import attribute_values, name_values
from textcast.dashboard.pages.provider_forms import checked, rows, text
from textcast.dashboard.render import field_errors, page
from textcast.errors import Conflict, NotFound, ValidationFailed
from textcast.services import audit, roles
from textcast.services import providers as provider_service
from textcast.services import template_previews as previews
from textcast.services.senders import validation_failed
from textcast.views.content import template_view
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)
# What the editor changes of a version: every field a version has.
EDITED = (
    "body",
    "template_id",
    "content_variables",
    "sender",
    "category",
    "append_unsubscribe",
    "click_tracking",
    "utm",
)
CATEGORIES = (("promotional", "promotional"), ("transactional", "transactional"))


@router.get("/templates")
async def template_list(request: Request, me: CanRead) -> HTMLResponse:
    async with me.ctx.session() as session:
        found = [template_view(t) for t in await templates.list_templates(session, limit=500)]
    return page(request, "templates/list.html", "Templates", templates=found)


def _values(form: Any) -> dict[str, Any]:
    """The editor's fields as the service names them (blank: not set)."""
    sender = text(form, "sender")
    return {
        "name": text(form, "name"),
        "description": text(form, "description") or None,
        "body": str(form.get("body", "")),
        "template_id": text(form, "template_id") or None,
        "content_variables": dict(rows(form, "cv")),
        "utm": {k: text(form, k) for k in templates.UTM_KEYS if text(form, k)},
        "sender": int(sender) if sender.isdigit() else (sender or None),
        "category": text(form, "category") or "promotional",
        "append_unsubscribe": checked(form, "append_unsubscribe"),
        "click_tracking": checked(form, "click_tracking"),
    }


class _Sample(NamedTuple):
    """What the preview is for, when no saved contact is named: a made-up
    contact's attributes and the message's ``data.…`` values, as typed."""

    attributes: str
    data: str = ""


def _sample(form: Any) -> tuple[str, _Sample]:
    typed = _Sample(str(form.get("sample_attributes", "")), str(form.get("sample_data", "")))
    return text(form, "preview_contact"), typed


async def _preview(
    me: Visitor, values: dict[str, Any], contact: str, sample: _Sample
) -> tuple[Preview | None, str | None]:
    """The draft as its recipient gets it, or why it cannot be shown."""
    try:
        try:
            draft = templates.TemplateFields.model_validate(
                {k: values[k] for k in EDITED if k in values}
            )
            request = previews.PreviewRequest(
                draft=draft,
                contact=contact or None,
                sample_contact=None
                if contact
                else previews.SampleContact(
                    attributes=attribute_values(sample.attributes, "sample_attributes")
                ),
                data=name_values(sample.data, "sample_data"),
            )
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.session() as session:
            shown = await previews.run(session, me.ctx.settings, request)
    except ValidationFailed as exc:
        return None, f"{exc.field}: {exc.message}"
    except NotFound as exc:
        return None, str(exc)
    return shown[0], None


async def _editor(
    request: Request,
    me: Visitor,
    template: dict[str, Any] | None,
    values: dict[str, Any],
    *,
    contact: str = "",
    sample: _Sample = _Sample(""),
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    async with me.ctx.session() as session:
        providers = await provider_service.list_providers(session)
    senders = [
        (s.id, f"{s.name} ({s.sender_id})")
        for p in providers
        for s in p.senders
        if s.deleted_at is None
    ]
    shown, preview_error = await _preview(me, values, contact, sample)
    return page(
        request,
        "templates/editor.html",
        template["name"] if template else "New template",
        t=template,
        v=values,
        senders=senders,
        sender_names={sid: label for sid, label in senders},
        categories=CATEGORIES,
        utm_keys=templates.UTM_KEYS,
        preview=shown,
        preview_error=preview_error,
        preview_contact=contact,
        sample_attributes=sample.attributes,
        sample_data=sample.data,
        editable=me.actor.may(roles.CONTENT_WRITE),
        errors=errors or {},
        notice=notice,
        status_code=422 if errors else 200,
    )


NEW_VALUES: dict[str, Any] = {
    "name": "",
    "body": "Hi {{ contact.first_name | default('there') }}, ",
    "category": "promotional",
    "append_unsubscribe": False,
    "click_tracking": False,
}
NEW_SAMPLE = _Sample("first_name=Ada")


@router.get("/templates/new")
async def new_template(request: Request, me: CanEditContent) -> HTMLResponse:
    return await _editor(request, me, None, dict(NEW_VALUES), sample=NEW_SAMPLE)


async def _template(me: Visitor, template_id: int) -> dict[str, Any]:
    async with me.ctx.session() as session:
        return template_view(await templates.get(session, template_id), history=True)


def _current(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": view["name"],
        "description": view["description"],
        **{k: view[k] for k in EDITED if k != "sender"},
        "sender": view["sender_id"],
    }


@router.get("/templates/{template_id}")
async def template(
    request: Request,
    template_id: IdPath,
    me: CanRead,
    saved: Annotated[str, Query(max_length=1)] = "",
) -> HTMLResponse:
    view = await _template(me, template_id)
    return await _editor(
        request,
        me,
        view,
        _current(view),
        sample=NEW_SAMPLE,
        notice=f"Saved: version {view['version']}." if saved else None,
    )


@router.post("/templates/preview")
async def preview(request: Request, me: CanRead) -> HTMLResponse:
    """The preview box alone, redrawn as the editor changes (changes nothing)."""
    form = await request.form()
    contact, sample = _sample(form)
    shown, error = await _preview(me, _values(form), contact, sample)
    return page(request, "templates/preview.html", "", preview=shown, preview_error=error)


def _errors(exc: ValidationFailed) -> dict[str, str]:
    errors = field_errors(exc)
    return {k.split(".", 1)[0]: m for k, m in errors.items()}


async def _save(
    request: Request,
    me: Visitor,
    view: dict[str, Any] | None,
    form: Any,
    changes: dict[str, Any],
) -> Response:
    """Create the template (``view`` None) or change it by ``changes``; the
    editor again with the refusal next to its field, or a redirect to it."""
    values, (contact, sample) = _values(form), _sample(form)
    try:
        try:
            data: templates.TemplateIn | templates.TemplateChange = (
                templates.TemplateIn.model_validate(changes)
                if view is None
                else templates.TemplateChange.model_validate(changes)
            )
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.session() as session:
            if isinstance(data, templates.TemplateIn):
                saved = await templates.create(session, data)
            else:
                assert view is not None
                saved = await templates.change(session, view["id"], data)
            action = "template.created" if view is None else "template.changed"
            audit.record(session, me.actor, action, saved.name, {"version": saved.version})
            template_id = saved.id
    except ValidationFailed as exc:
        errors = _errors(exc)
    except Conflict as exc:
        errors = {"name": str(exc)}
    else:
        return RedirectResponse(f"/dashboard/templates/{template_id}?saved=1", status_code=303)
    return await _editor(request, me, view, values, contact=contact, sample=sample, errors=errors)


@router.post("/templates/new")
async def create(request: Request, me: CanEditContent) -> Response:
    form = await request.form()
    if form.get("edit") == "preview":
        contact, sample = _sample(form)
        return await _editor(request, me, None, _values(form), contact=contact, sample=sample)
    return await _save(request, me, None, form, _values(form))


@router.post("/templates/{template_id}")
async def change(request: Request, template_id: IdPath, me: CanEditContent) -> Response:
    """A new version when the text or how it is sent changed; the name and
    description change in place."""
    view = await _template(me, template_id)
    form = await request.form()
    values, (contact, sample) = _values(form), _sample(form)
    current = _current(view)
    changed = {k: v for k, v in values.items() if v != current.get(k)}
    previewing = form.get("edit") == "preview"
    if previewing or not changed:
        notice = None if previewing else "Nothing changed."
        return await _editor(
            request, me, view, values, contact=contact, sample=sample, notice=notice
        )
    return await _save(request, me, view, form, changed)


@router.post("/templates/{template_id}/delete")
async def delete(template_id: IdPath, me: CanEditContent) -> Response:
    async with me.ctx.session() as session:
        found = await templates.get(session, template_id)
        audit.record(session, me.actor, "template.deleted", found.name)
        await templates.delete(session, template_id)
    return RedirectResponse("/dashboard/templates", status_code=303)
