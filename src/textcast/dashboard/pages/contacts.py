"""Contacts (phone, tags, opt-out state, a timeline of messages and replies)
and the suppression list (add, remove, the reason shown)."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone
from textcast.audience import attributes, contacts, numbers, segments, suppressions
from textcast.audience.rules import Rule
from textcast.dashboard.auth import CanEditAudience, CanRead, Visitor
from textcast.dashboard.render import field_errors, page
from textcast.db.models import Contact, Suppression
from textcast.db.models import Provider as ProviderRow
from textcast.errors import NotFound, ValidationFailed
from textcast.services import audit, events
from textcast.services import providers as provider_service
from textcast.views.audience import contact_view, contact_views
from textcast.web.deps import CursorQuery, IdPath, IdQuery

router = APIRouter(prefix="/dashboard", include_in_schema=False)
PAGE_SIZE = 100


FILTERS = tuple(f for f in contacts.LIST_FILTERS if f != "rules")


def chosen_filters(request: Request) -> dict[str, str]:
    """The list filters the query string fills (blank ones left out), and the
    saved segment; the same names the API's list and export take."""
    query = request.query_params
    return {n: query[n].strip() for n in (*FILTERS, "segment") if query.get(n, "").strip()}


async def filter_rule(session: AsyncSession, chosen: dict[str, str]) -> Rule | None:
    """The rule the chosen filters make, through the service the API uses."""
    saved = None
    if "segment" in chosen:
        saved = (await segments.find(session, chosen["segment"])).rules
    plain = {name: [value] for name, value in chosen.items() if name != "segment"}
    return contacts.list_filter(plain, saved)


@router.get("/contacts")
async def contact_list(
    request: Request,
    me: CanRead,
    q: Annotated[str, Query(max_length=200)] = "",
    after_id: CursorQuery = None,
) -> HTMLResponse:
    chosen = chosen_filters(request)
    errors: dict[str, str] = {}
    found: list[Contact] = []
    async with me.ctx.session() as session:
        saved = await segments.list_all(session)
        if q.strip():
            with suppress(NotFound):
                found = [await contacts.find(session, q.strip(), me.ctx.settings.default_region)]
        else:
            try:
                rule = await filter_rule(session, chosen)
            except (ValidationFailed, NotFound) as exc:
                errors = (
                    field_errors(exc)
                    if isinstance(exc, ValidationFailed)
                    else {"segment": str(exc)}
                )
            else:
                compiler = segments.compiler(session, me.ctx.settings.default_time_zone)
                found = await contacts.list_contacts(
                    session, compiler, rule, after_id=after_id, limit=PAGE_SIZE
                )
        views = await contact_views(session, found, me.ctx.settings.default_time_zone)
    next_url = (
        str(request.url.include_query_params(after_id=found[-1].id))
        if len(found) == PAGE_SIZE and not q
        else None
    )
    return page(
        request,
        "contacts/list.html",
        "Contacts",
        contacts=views,
        f=chosen,
        q=q,
        next_url=next_url,
        export_query=urlencode(chosen),
        segments=[s.name for s in saved],
        phone_types=numbers.PHONE_TYPES,
        errors=errors,
        status_code=422 if errors else 200,
    )


async def contact_page(
    request: Request, me: Visitor, contact_id: int, **values: Any
) -> HTMLResponse:
    async with me.ctx.session() as session:
        contact = await contacts.find(session, str(contact_id), me.ctx.settings.default_region)
        view = await contact_view(session, contact, me.ctx.settings.default_time_zone)
        thread = await contacts.conversation(session, contact, limit=100)
        log = await events.find(
            session,
            events.EventFilter(contact_id=contact.id),
            after_id=None,
            limit=100,
            newest_first=True,
        )
        providers = {p.id: p.name for p in await provider_service.list_providers(session)}
    clicks = [
        {
            "direction": "click",
            "at": e["at"],
            "body": e.get("detail"),
            "message_id": e["message_id"],
        }
        for e in log
        if e["type"] == "message.clicked"
    ]
    timeline = sorted([*thread, *clicks], key=lambda item: str(item["at"]), reverse=True)
    return page(
        request,
        "contacts/detail.html",
        contact.phone,
        c=view,
        timeline=timeline,
        events=log,
        provider_names=providers,
        attribute_types=attributes.TYPES,
        status_code=422 if values.get("errors") else 200,
        **values,
    )


DONE = {
    "created": "Contact created.",
    "updated": "A contact with that number or external ID existed: it was updated.",
}


@router.get("/contacts/{contact_id}")
async def contact(
    request: Request,
    contact_id: IdPath,
    me: CanRead,
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    return await contact_page(request, me, contact_id, notice=DONE.get(done))


@router.post("/contacts/{contact_id}/tags")
async def change_tags(
    request: Request,
    contact_id: IdPath,
    me: CanEditAudience,
    add: Annotated[str, Form(max_length=2000)] = "",
    remove: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    try:
        async with me.ctx.session() as session:
            found = await contacts.find(session, str(contact_id), me.ctx.settings.default_region)
            added = contacts.clean_tags([t for t in add.split(",") if t.strip()])
            contacts.set_tags(found, add=added, remove=[remove] if remove else [])
            audit.record(
                session,
                me.actor,
                "contact.tagged",
                found.phone,
                {"added": added, "removed": remove},
            )
    except ValidationFailed as exc:
        return await contact_page(request, me, contact_id, errors=field_errors(exc), add=add)
    return RedirectResponse(f"/dashboard/contacts/{contact_id}", status_code=303)


# --- suppressions ------------------------------------------------------------------


SUPPRESSIONS_PAGE = 200


async def _suppressions_page(
    request: Request,
    me: Visitor,
    listed: dict[str, str] | None = None,
    before_id: int | None = None,
    **values: Any,
) -> HTMLResponse:
    """The list (newest first, filtered by provider and number as the API's
    GET /suppressions is, paged on) and the form to add one."""
    listed = listed or {"provider": "", "phone": ""}
    number, list_error = None, None
    if listed["phone"].strip():
        try:
            number = phone.normalize(listed["phone"], me.ctx.settings.default_region, field="phone")
        except ValidationFailed as exc:
            list_error = exc.message
    where = suppressions.ListFilter(
        provider_id=int(listed["provider"]) if listed["provider"].isdigit() else None,
        phone=number,
    )
    async with me.ctx.session() as session:
        rows = (
            []
            if list_error
            else await suppressions.find(
                session, where, before_id=before_id, limit=SUPPRESSIONS_PAGE
            )
        )
        providers = await provider_service.list_providers(session)
    return page(
        request,
        "contacts/suppressions.html",
        "Suppressions",
        rows=rows,
        listed=listed,
        list_error=list_error,
        next_url=str(request.url.include_query_params(before_id=rows[-1].id))
        if len(rows) == SUPPRESSIONS_PAGE
        else None,
        providers=providers,
        provider_names={p.id: p.name for p in providers},
        sender_names={s.id: s.name for p in providers for s in p.senders},
        **values,
    )


@router.get("/suppressions")
async def suppression_list(
    request: Request,
    me: CanRead,
    provider: Annotated[str, Query(max_length=20)] = "",
    number: Annotated[str, Query(alias="phone", max_length=40)] = "",
    before_id: IdQuery = None,
) -> HTMLResponse:
    listed = {"provider": provider, "phone": number}
    return await _suppressions_page(request, me, listed, before_id)


async def _scope(
    session: AsyncSession, provider: str, sender: str
) -> tuple[ProviderRow, int | None]:
    """The provider and (optional) sender picked, checked to belong together."""
    row = await provider_service.find_provider(session, provider, missing_ok=True)
    if row is None or not provider.isdigit():
        raise ValidationFailed("provider", "choose a provider")
    if not sender:
        return row, None
    if not any(str(s.id) == sender and s.deleted_at is None for s in row.senders):
        raise ValidationFailed("sender", f"that sender is not on {row.name!r}")
    return row, int(sender)


@router.post("/suppressions")
async def add_suppression(
    request: Request,
    me: CanEditAudience,
    provider: Annotated[str, Form(max_length=30)] = "",
    sender: Annotated[str, Form(max_length=30)] = "",
    number: Annotated[str, Form(alias="phone", max_length=40)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        e164 = phone.normalize(number, me.ctx.settings.default_region, field="phone")
        async with me.ctx.session() as session:
            row, sender_id = await _scope(session, provider, sender)
            added = await suppressions.suppress(
                session,
                row,
                e164,
                reason.strip() or "added by an operator",
                sender_id,
                source=suppressions.Source.operator("dashboard"),
            )
            audit.record(session, me.actor, "suppression.added", e164, {"provider": row.name})
    except ValidationFailed as exc:
        values = {"provider": provider, "sender": sender, "phone": number, "reason": reason}
        return await _suppressions_page(request, me, v=values, errors=field_errors(exc))
    notice = f"{e164} suppressed." if added else f"{e164} was already suppressed there."
    return await _suppressions_page(request, me, notice=notice)


@router.post("/suppressions/{suppression_id}/remove")
async def remove_suppression(
    request: Request, suppression_id: IdPath, me: CanEditAudience
) -> Response:
    async with me.ctx.session() as session:
        row = await session.get(Suppression, suppression_id)
        if row is None:
            raise NotFound(f"no suppression {suppression_id}")
        provider = await provider_service.get_provider(session, row.provider_id)
        await suppressions.lift(session, provider, row.phone, row.sender_id)
        audit.record(
            session, me.actor, "suppression.removed", row.phone, {"provider": provider.name}
        )
    return RedirectResponse("/dashboard/suppressions", status_code=303)
