"""Inbox: conversations per contact, a reply through the real send path
(refused, with the reason, to a number that opted out), and the keyword rules
with their auto-replies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from textcast.audience import contacts, inbox, keywords, suppressions
from textcast.dashboard.auth import CanEditAudience, CanRead, CanSend, Visitor
from textcast.dashboard.pages.provider_forms import text
from textcast.dashboard.render import field_errors, page
from textcast.db.models import KeywordRule, Sender, Suppression
from textcast.errors import Conflict, NotFound, ValidationFailed
from textcast.services import audit
from textcast.services import messages as message_service
from textcast.services import providers as provider_service
from textcast.services.senders import validation_failed
from textcast.views.audience import rule_view
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("/inbox")
async def conversations(request: Request, me: CanRead) -> HTMLResponse:
    async with me.ctx.session() as session:
        found = await inbox.conversations(session)
    return page(request, "inbox/list.html", "Inbox", conversations=found)


async def _senders(me: Visitor) -> list[Sender]:
    async with me.ctx.session() as session:
        rows = await provider_service.list_providers(session)
    return [s for p in rows for s in p.senders if s.deleted_at is None]


async def _thread_page(
    request: Request, me: Visitor, contact_id: int, **values: Any
) -> HTMLResponse:
    async with me.ctx.session() as session:
        contact = await contacts.find(session, str(contact_id), me.ctx.settings.default_region)
        thread = await contacts.conversation(session, contact, limit=200)
        last = await inbox.last_inbound(session, contact.phone)
        blocks = list(
            await session.scalars(select(Suppression).where(Suppression.phone == contact.phone))
        )
    senders = await _senders(me)
    values.setdefault("sender", str(last.sender_id) if last and last.sender_id else "")
    return page(
        request,
        "inbox/thread.html",
        f"Conversation with {contact.phone}",
        contact=contact,
        thread=list(reversed(thread)),  # oldest first, like a chat
        senders=senders,
        sender_names={s.id: s.name for s in senders},
        blocks=blocks,
        **values,
    )


@router.get("/inbox/{contact_id}")
async def thread(request: Request, contact_id: IdPath, me: CanRead) -> HTMLResponse:
    return await _thread_page(request, me, contact_id)


async def _refusal(me: Visitor, phone: str, sender: Sender) -> str | None:
    """Why this number may not be messaged from this sender, if it may not."""
    async with me.ctx.session() as session:
        target = (sender.provider_id, sender.id, phone)
        if not await suppressions.blocked(session, [target]):
            return None
        rows = await session.scalars(
            select(Suppression).where(
                Suppression.phone == phone, Suppression.provider_id == sender.provider_id
            )
        )
        reasons = sorted({r.reason for r in rows if r.sender_id in (None, sender.id)})
    return f"{phone} has opted out of messages from {sender.name}: {'; '.join(reasons)}"


@router.post("/inbox/{contact_id}/reply")
async def reply(
    request: Request,
    contact_id: IdPath,
    me: CanSend,
    body: Annotated[str, Form(max_length=1600)] = "",
    sender: Annotated[str, Form(max_length=30)] = "",
    template_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    template_id = template_id.strip()
    async with me.ctx.session() as session:
        contact = await contacts.find(session, str(contact_id), me.ctx.settings.default_region)
        chosen = await session.get(Sender, int(sender)) if sender.isdigit() else None
    if chosen is None or chosen.deleted_at is not None:
        return await _thread_page(
            request, me, contact_id, body=body, errors={"sender": "choose a sender"}
        )
    refused = await _refusal(me, contact.phone, chosen)
    if refused:
        return await _thread_page(
            request, me, contact_id, body=body, sender=sender, refused=refused
        )
    try:
        try:
            send = message_service.SendRequest(
                to=contact.phone, body=body, sender=chosen.name, template_id=template_id or None
            )
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.write_session() as session:
            sent = await message_service.submit(me.ctx.settings, session, send)
            audit.record(
                session, me.actor, "contact.replied", contact.phone, {"message_id": sent.message.id}
            )
    except ValidationFailed as exc:
        return await _thread_page(
            request,
            me,
            contact_id,
            body=body,
            sender=sender,
            template_id=template_id,
            errors=field_errors(exc),
        )
    return RedirectResponse(f"/dashboard/inbox/{contact_id}?sent={sent.message.id}", 303)


# --- keyword rules ---------------------------------------------------------------


async def _keywords_page(request: Request, me: Visitor, **values: Any) -> HTMLResponse:
    async with me.ctx.session() as session:
        rules = [rule_view(r) for r in await keywords.list_rules(session)]
        providers = await provider_service.list_providers(session)
    names = {p.id: p.name for p in providers}
    senders = {s.id: s.name for p in providers for s in p.senders}
    unanswered = [
        s for p in providers for s in p.senders if s.deleted_at is None and not s.keyword_responses
    ]
    return page(
        request,
        "inbox/keywords.html",
        "Keywords and auto-replies",
        rules=rules,
        unanswered=unanswered,
        providers=providers,
        provider_names=names,
        sender_names=senders,
        **values,
    )


@router.get("/keywords")
async def keyword_rules(request: Request, me: CanRead) -> HTMLResponse:
    return await _keywords_page(request, me)


def _rule_in(values: dict[str, str]) -> keywords.KeywordRuleIn:
    """The form's rule, as the API takes it (a bad field: ValidationFailed naming it)."""
    provider, sender = values["provider"], values["sender"]
    try:
        return keywords.KeywordRuleIn(
            keyword=values["keyword"],
            provider=int(provider) if provider.isdigit() else provider,
            sender=int(sender) if sender.isdigit() else None,
            action=values["action"],
            reply=values["reply"] or None,
        )
    except ValidationError as exc:
        raise validation_failed(exc) from None


def _posted(form: Any) -> dict[str, str]:
    """The keyword form's fields (to fill it again on a refusal)."""
    names = ("keyword", "provider", "sender", "action", "reply")
    return {n: text(form, n) if n != "reply" else str(form.get(n, "")) for n in names}


@router.post("/keywords")
async def add_keyword(request: Request, me: CanEditAudience) -> Response:
    values = _posted(await request.form())
    action = values["action"]
    try:
        async with me.ctx.session() as session:
            rule = await keywords.create(session, _rule_in(values))
            audit.record(
                session, me.actor, "keyword.created", rule.keyword.upper(), {"action": action}
            )
    except ValidationFailed as exc:
        return await _keywords_page(request, me, v=values, errors=field_errors(exc))
    except Conflict as exc:
        return await _keywords_page(request, me, v=values, errors={"keyword": str(exc)})
    return RedirectResponse("/dashboard/keywords", status_code=303)


async def _rule_page(
    request: Request, me: Visitor, rule_id: int, values: dict[str, Any] | None, **extra: Any
) -> HTMLResponse:
    async with me.ctx.session() as session:
        rule = await session.get(KeywordRule, rule_id)
        if rule is None:
            raise NotFound(f"no keyword rule {rule_id}")
        view = rule_view(rule)
        providers = await provider_service.list_providers(session)
    if values is None:
        values = {
            "keyword": view["keyword"],
            "provider": view["provider_id"],
            "sender": view["sender_id"] or "",
            "action": view["action"],
            "reply": view["reply"] or "",
        }
    return page(
        request,
        "inbox/keyword_edit.html",
        f"Keyword {view['keyword']}",
        rule=view,
        v=values,
        providers=providers,
        provider_names={p.id: p.name for p in providers},
        sender_names={s.id: s.name for p in providers for s in p.senders},
        status_code=422 if extra.get("errors") else 200,
        **extra,
    )


@router.get("/keywords/{rule_id}")
async def keyword_rule(request: Request, rule_id: IdPath, me: CanEditAudience) -> HTMLResponse:
    return await _rule_page(request, me, rule_id, None)


@router.post("/keywords/{rule_id}")
async def change_keyword(request: Request, rule_id: IdPath, me: CanEditAudience) -> Response:
    values = _posted(await request.form())
    action = values["action"]
    try:
        async with me.ctx.session() as session:
            rule = await keywords.update(session, rule_id, _rule_in(values))
            audit.record(
                session, me.actor, "keyword.changed", rule.keyword.upper(), {"action": action}
            )
    except ValidationFailed as exc:
        return await _rule_page(request, me, rule_id, values, errors=field_errors(exc))
    except Conflict as exc:
        return await _rule_page(request, me, rule_id, values, errors={"keyword": str(exc)})
    return RedirectResponse("/dashboard/keywords", status_code=303)


@router.post("/keywords/{rule_id}/delete")
async def delete_keyword(request: Request, rule_id: IdPath, me: CanEditAudience) -> Response:
    async with me.ctx.session() as session:
        await keywords.delete(session, rule_id)
        audit.record(session, me.actor, "keyword.deleted", str(rule_id))
    return RedirectResponse("/dashboard/keywords", status_code=303)
