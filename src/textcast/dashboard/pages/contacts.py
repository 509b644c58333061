"""Contacts (phone, tags, opt-out state, a timeline of messages and replies)
and the suppression list (add, remove, the reason shown)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone
from textcast.audience import contacts, segments, suppressions
from textcast.dashboard.auth import CanEditAudience, CanRead, Visitor
from textcast.dashboard.render import field_errors, page
from textcast.db.models import Provider as ProviderRow
from textcast.db.models import Suppression
from textcast.errors import NotFound, ValidationFailed
from textcast.services import audit, events
from textcast.services import providers as provider_service
from textcast.views.audience import contact_view
from textcast.web.deps import CursorQuery, IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)
PAGE_SIZE = 100


@router.get("/contacts")
async def contact_list(
    request: Request,
    me: CanRead,
    tag: Annotated[str, Query(max_length=50)] = "",
    q: Annotated[str, Query(max_length=40)] = "",
    after_id: CursorQuery = None,
) -> HTMLResponse:
    async with me.ctx.session() as session:
        if q:
            try:
                found = [await contacts.find(session, q, me.ctx.settings.default_region)]
            except (NotFound, ValidationFailed):
                found = []
        else:
            rule = contacts.list_filter({"tag": [tag]} if tag else {})
            compiler = segments.compiler(session, me.ctx.settings.default_time_zone)
            found = await contacts.list_contacts(
                session, compiler, rule, after_id=after_id, limit=PAGE_SIZE
            )
    next_url = (
        str(request.url.include_query_params(after_id=found[-1].id))
        if len(found) == PAGE_SIZE
        else None
    )
    return page(
        request, "contacts/list.html", "Contacts", contacts=found, tag=tag, q=q, next_url=next_url
    )


async def _contact_page(
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
    return page(
        request,
        "contacts/detail.html",
        contact.phone,
        c=view,
        thread=thread,
        events=log,
        provider_names=providers,
        **values,
    )


@router.get("/contacts/{contact_id}")
async def contact(request: Request, contact_id: IdPath, me: CanRead) -> HTMLResponse:
    return await _contact_page(request, me, contact_id)


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
        return await _contact_page(request, me, contact_id, errors=field_errors(exc), add=add)
    return RedirectResponse(f"/dashboard/contacts/{contact_id}", status_code=303)


# --- suppressions ------------------------------------------------------------------


async def _suppressions_page(request: Request, me: Visitor, **values: Any) -> HTMLResponse:
    async with me.ctx.session() as session:
        rows = list(
            await session.scalars(select(Suppression).order_by(Suppression.id.desc()).limit(500))
        )
        providers = await provider_service.list_providers(session)
    return page(
        request,
        "contacts/suppressions.html",
        "Suppressions",
        rows=rows,
        providers=providers,
        provider_names={p.id: p.name for p in providers},
        sender_names={s.id: s.name for p in providers for s in p.senders},
        **values,
    )


@router.get("/suppressions")
async def suppression_list(request: Request, me: CanRead) -> HTMLResponse:
    return await _suppressions_page(request, me)


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
