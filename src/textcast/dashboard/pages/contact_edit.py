"""Changing one contact: create it, its attributes (add, change, delete a
key), time zone and external ID, and erasing it for a privacy request.

Every change goes through :mod:`textcast.audience.contacts` as the API's
PATCH does; a refusal is shown next to the field it names.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from textcast.audience import attributes, contacts, erasure
from textcast.dashboard.auth import CanEditAudience, Visitor
from textcast.dashboard.pages.contacts import contact_page
from textcast.dashboard.pages.lines import attribute_values
from textcast.dashboard.render import page
from textcast.errors import Conflict, ValidationFailed
from textcast.services import audit
from textcast.services.senders import validation_failed
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Short = Annotated[str, Form(max_length=200)]


def _input_errors(exc: ValidationFailed, renames: dict[str, str]) -> dict[str, str]:
    """The service's field (``attributes.age``, ``time_zone`` …) as the form's input name."""
    head = exc.field.split(".", 1)[0]
    return {renames.get(head, head): exc.message}


def _tag_list(text: str) -> list[str]:
    return [t for t in text.split(",") if t.strip()]


# --- create ----------------------------------------------------------------------


def _new_form(request: Request, **values: Any) -> HTMLResponse:
    return page(
        request,
        "contacts/new.html",
        "New contact",
        v=values.pop("v", {}),
        status_code=422 if values.get("errors") else 200,
        **values,
    )


@router.get("/contacts/new")
async def new_contact_form(request: Request, me: CanEditAudience) -> HTMLResponse:
    return _new_form(request)


@router.post("/contacts/new")
async def create_contact(
    request: Request,
    me: CanEditAudience,
    number: Annotated[str, Form(alias="phone", max_length=64)] = "",
    external_id: Short = "",
    time_zone: Annotated[str, Form(max_length=64)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    typed_attributes: Annotated[str, Form(alias="attributes", max_length=20000)] = "",
) -> Response:
    values = {
        "phone": number,
        "external_id": external_id,
        "time_zone": time_zone,
        "tags": tags,
        "attributes": typed_attributes,
    }
    try:
        try:
            data = contacts.ContactIn(
                phone=number.strip() or None,
                external_id=external_id.strip() or None,
                tags=_tag_list(tags),
                attributes=attribute_values(typed_attributes, "attributes"),
                **({"time_zone": time_zone.strip()} if time_zone.strip() else {}),
            )
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.session() as session:
            contact, created = await contacts.upsert(session, data, me.ctx.settings.default_region)
            action = "contact.created" if created else "contact.updated"
            audit.record(session, me.actor, action, contact.phone)
            contact_id = contact.id
    except ValidationFailed as exc:
        return _new_form(request, v=values, errors=_input_errors(exc, {}))
    except Conflict as exc:
        return _new_form(request, v=values, errors={"external_id": str(exc)})
    done = "created" if created else "updated"
    return RedirectResponse(f"/dashboard/contacts/{contact_id}?done={done}", status_code=303)


# --- attributes, time zone, external ID -----------------------------------------------


async def _change(
    request: Request,
    me: Visitor,
    contact_id: int,
    change: dict[str, Any],
    *,
    what: str,
    renames: dict[str, str],
    values: dict[str, str],
) -> Response:
    """Apply a PATCH-like change through the contacts service; the contact page
    again with the refusal next to its input, or a redirect to it."""
    try:
        try:
            data = contacts.ContactChange.model_validate(change)
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.session() as session:
            found = await contacts.find(session, str(contact_id), me.ctx.settings.default_region)
            await contacts.change(session, found, data, me.ctx.settings.default_region)
            audit.record(session, me.actor, "contact.changed", found.phone, {"what": what})
    except ValidationFailed as exc:
        errors = _input_errors(exc, renames)
        return await contact_page(request, me, contact_id, errors=errors, v=values)
    except Conflict as exc:
        # Another contact has that number, or that external ID.
        clash = "phone" if "number" in str(exc) else renames.get("external_id", "external_id")
        return await contact_page(request, me, contact_id, errors={clash: str(exc)}, v=values)
    return RedirectResponse(f"/dashboard/contacts/{contact_id}", status_code=303)


@router.post("/contacts/{contact_id}/attributes")
async def set_attribute(
    request: Request,
    contact_id: IdPath,
    me: CanEditAudience,
    name: Annotated[str, Form(max_length=100)] = "",
    value: Annotated[str, Form(max_length=2000)] = "",
    kind: Annotated[str, Form(max_length=20)] = "string",
) -> Response:
    """Add a key or change its value, read as the chosen type (as an import reads a cell)."""
    values = {"attr_name": name, "attr_value": value, "attr_kind": kind}
    renames = {"attributes": "attr_value", "name": "attr_name"}
    try:
        attributes.check_name(name.strip(), "name")
        typed = attributes.convert(value, kind, "attributes")
    except ValidationFailed as exc:
        errors = _input_errors(exc, renames)
        return await contact_page(request, me, contact_id, errors=errors, v=values)
    change = {"attributes": {name.strip(): typed}}
    return await _change(
        request, me, contact_id, change, what="attributes", renames=renames, values=values
    )


@router.post("/contacts/{contact_id}/attributes/delete")
async def delete_attribute(
    request: Request,
    contact_id: IdPath,
    me: CanEditAudience,
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    change = {"attributes": {name: None}}
    renames = {"attributes": "attr_name"}
    return await _change(
        request, me, contact_id, change, what="attributes", renames=renames, values={}
    )


@router.post("/contacts/{contact_id}/details")
async def change_details(
    request: Request,
    contact_id: IdPath,
    me: CanEditAudience,
    time_zone: Annotated[str, Form(max_length=64)] = "",
    external_id: Short = "",
    number: Annotated[str, Form(alias="phone", max_length=64)] = "",
) -> Response:
    """The number (blank: unchanged), the time zone (blank: from the number
    again) and the external ID (blank: none)."""
    change = {
        "time_zone": time_zone.strip() or None,
        "external_id": external_id.strip() or None,
    }
    if number.strip():
        change["phone"] = number.strip()
    values = {"time_zone": time_zone, "external_id": external_id, "phone": number}
    return await _change(request, me, contact_id, change, what="details", renames={}, values=values)


# --- erasure -----------------------------------------------------------------------


@router.get("/contacts/{contact_id}/erase")
async def erase_form(request: Request, contact_id: IdPath, me: CanEditAudience) -> HTMLResponse:
    async with me.ctx.session() as session:
        found = await contacts.find(session, str(contact_id), me.ctx.settings.default_region)
    return page(request, "contacts/erase.html", f"Erase {found.phone}", c=found)


@router.post("/contacts/{contact_id}/erase")
async def erase(
    request: Request,
    contact_id: IdPath,
    me: CanEditAudience,
    confirm: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    async with me.ctx.session() as session:
        found = await contacts.find(session, str(contact_id), me.ctx.settings.default_region)
    if confirm.strip() != found.phone:
        return page(
            request,
            "contacts/erase.html",
            f"Erase {found.phone}",
            c=found,
            errors={"confirm": f"type {found.phone} to confirm the erasure"},
            status_code=422,
        )
    async with me.ctx.write_session() as session:
        found = await contacts.find(session, str(contact_id), me.ctx.settings.default_region)
        done = await erasure.erase(session, found, me.ctx.box)
        audit.record(
            session,
            me.actor,
            "contact.erased",
            done.phone_hash,
            {"contact_id": done.contact_id, "messages": done.messages, "inbound": done.inbound},
        )
    return page(request, "contacts/erased.html", "Contact erased", done=done)
