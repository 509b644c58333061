"""Segments: the saved list, and the builder — nested all / any / not groups
of conditions edited as a form (or as the rule JSON), with the live count
(how many, opted out, invalid numbers, per country, a sample) redrawn while
editing and shown again after every submit, so it works without JavaScript."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from textcast.audience import rules, segments
from textcast.dashboard.auth import CanEditAudience, CanRead, Visitor
from textcast.dashboard.pages import segment_form
from textcast.dashboard.pages.segment_form import Node
from textcast.dashboard.render import field_errors, page
from textcast.db.models import Segment
from textcast.errors import Conflict, NotFound, ValidationFailed
from textcast.services import audit, roles
from textcast.services.senders import validation_failed
from textcast.views.audience import count_view
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)
SAMPLE = 10


@router.get("/segments")
async def segment_list(request: Request, me: CanRead) -> HTMLResponse:
    async with me.ctx.session() as session:
        found = await segments.list_all(session)
    return page(request, "segments/list.html", "Segments", segments=found)


async def _count(me: Visitor, root: Node) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The live count of the tree, or the rule service's refusal next to its input."""
    raw, places = segment_form.to_rules(root)
    try:
        rule = rules.parse(raw)
    except ValidationFailed as exc:
        return None, segment_form.errors_for(exc, places)
    zone = me.ctx.settings.default_time_zone
    async with me.ctx.session() as session:
        found = await segments.count(session, rule, zone, sample=SAMPLE)
        return await count_view(session, found, zone), {}


async def _builder(
    request: Request,
    me: Visitor,
    root: Node,
    *,
    segment: Segment | None,
    name: str,
    description: str,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    counted, rule_errors = await _count(me, root)
    errors = {**rule_errors, **(errors or {})}
    raw, _ = segment_form.to_rules(root)
    return page(
        request,
        "segments/builder.html",
        segment.name if segment else "New segment",
        segment=segment,
        editable=me.actor.may(roles.AUDIENCE_WRITE),
        root=root,
        name=name,
        description=description,
        rules_json=json.dumps(raw, indent=2, ensure_ascii=False),
        counted=counted,
        fields=segment_form.FIELD_CHOICES,
        operators=segment_form.OPERATORS,
        kinds=segment_form.GROUP_KINDS,
        errors=errors,
        notice=notice,
        status_code=422 if errors and request.method == "POST" else 200,
    )


@router.get("/segments/new")
async def new_segment(request: Request, me: CanEditAudience) -> HTMLResponse:
    return await _builder(request, me, segment_form.empty(), segment=None, name="", description="")


async def _find(me: Visitor, segment_id: int) -> Segment:
    async with me.ctx.session() as session:
        return await segments.find(session, str(segment_id))


@router.get("/segments/{segment_id}")
async def segment(
    request: Request,
    segment_id: IdPath,
    me: CanRead,
    saved: Annotated[str, Query(max_length=1)] = "",
) -> HTMLResponse:
    found = await _find(me, segment_id)
    return await _builder(
        request,
        me,
        segment_form.from_rules(found.rules),
        segment=found,
        name=found.name,
        description=found.description or "",
        notice="Saved." if saved else None,
    )


def _posted_tree(form: Any) -> tuple[Node, dict[str, str]]:
    """The tree the form holds; from the JSON box when that was the button pressed."""
    if form.get("edit") == "json":
        try:
            return segment_form.from_rules(json.loads(str(form.get("rules_json", "")))), {}
        except ValueError as exc:
            return segment_form.from_form(form, form.getlist("node")), {
                "rules_json": f"not JSON: {exc}"
            }
        except ValidationFailed as exc:
            return segment_form.from_form(form, form.getlist("node")), {"rules_json": exc.message}
    root = segment_form.from_form(form, [str(i) for i in form.getlist("node")])
    edit = str(form.get("edit", ""))
    if edit.startswith(("add-", "remove:")):
        root = segment_form.apply_edit(root, edit)
    return root, {}


@router.post("/segments/count")
async def count(request: Request, me: CanRead) -> HTMLResponse:
    """The count box alone, redrawn as the form changes (changes nothing)."""
    root, _ = _posted_tree(await request.form())
    counted, errors = await _count(me, root)
    return page(request, "segments/count.html", "", counted=counted, errors=errors)


async def _save(
    me: Visitor, segment: Segment | None, name: str, description: str, raw: dict[str, Any]
) -> Segment:
    try:
        async with me.ctx.session() as session:
            if segment is None:
                if await _named(session, name):
                    raise Conflict(f"a segment is already called {name.strip()!r}")
                data = segments.SegmentIn(rules=raw, description=description or None)
                saved, _ = await segments.put(session, name, data)
                audit.record(session, me.actor, "segment.created", saved.name)
            else:
                change = segments.SegmentChange(
                    name=name, rules=raw, description=description or None
                )
                current = await segments.find(session, str(segment.id))
                saved = await segments.change(session, current, change)
                audit.record(session, me.actor, "segment.changed", saved.name)
            return saved
    except ValidationError as exc:
        raise validation_failed(exc) from None


async def _named(session: Any, name: str) -> bool:
    try:
        await segments.find(session, segments.check_name(name))
    except NotFound:
        return False
    return True


async def _post(request: Request, me: Visitor, segment: Segment | None) -> Response:
    form = await request.form()
    name, description = str(form.get("name", "")), str(form.get("description", ""))
    root, errors = _posted_tree(form)
    edit = str(form.get("edit", ""))
    if edit != "save" or errors:
        return await _builder(
            request, me, root, segment=segment, name=name, description=description, errors=errors
        )
    raw, places = segment_form.to_rules(root)
    try:
        saved = await _save(me, segment, name, description, raw)
    except ValidationFailed as exc:
        errors = (
            segment_form.errors_for(exc, places)
            if exc.field.startswith("rules")
            else field_errors(exc)
        )
    except Conflict as exc:
        errors = {"name": str(exc)}
    else:
        return RedirectResponse(f"/dashboard/segments/{saved.id}?saved=1", status_code=303)
    return await _builder(
        request, me, root, segment=segment, name=name, description=description, errors=errors
    )


@router.post("/segments/new")
async def create(request: Request, me: CanEditAudience) -> Response:
    return await _post(request, me, None)


@router.post("/segments/{segment_id}")
async def change(request: Request, segment_id: IdPath, me: CanEditAudience) -> Response:
    return await _post(request, me, await _find(me, segment_id))


@router.post("/segments/{segment_id}/delete")
async def delete(segment_id: IdPath, me: CanEditAudience) -> Response:
    async with me.ctx.session() as session:
        found = await segments.find(session, str(segment_id))
        audit.record(session, me.actor, "segment.deleted", found.name)
        await segments.delete(session, found)
    return RedirectResponse("/dashboard/segments", status_code=303)
