"""/api/v1/templates: saved, versioned message texts, and previews."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, status

from textcast.content import templates
from textcast.content.preview import worst_case
from textcast.services import template_previews as previews
from textcast.views.content import preview_view, template_view
from textcast.web.deps import CtxDep, CursorQuery, SessionDep

router = APIRouter(prefix="/api/v1", tags=["templates"])


@router.get("/templates")
async def list_templates(
    session: SessionDep,
    after: CursorQuery = None,
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, Any]:
    found = await templates.list_templates(session, after_id=after, limit=limit)
    return {
        "templates": [template_view(t) for t in found],
        "next": found[-1].id if len(found) == limit else None,
    }


@router.post("/templates", status_code=status.HTTP_201_CREATED)
async def create_template(data: templates.TemplateIn, session: SessionDep) -> dict[str, Any]:
    return template_view(await templates.create(session, data), history=True)


@router.post("/templates/preview")
async def preview(
    request: previews.PreviewRequest, ctx: CtxDep, session: SessionDep
) -> dict[str, Any]:
    """Render a saved template (``template``) or an inline one (``body`` and
    the other template fields) for a sample contact, a saved one, or data."""
    shown = await previews.run(session, ctx.settings, request)
    return {"previews": [preview_view(p) for p in shown], "worst_case": worst_case(shown)}


@router.get("/templates/{ref}")
async def show_template(ref: str, session: SessionDep) -> dict[str, Any]:
    return template_view(await templates.get(session, ref), history=True)


@router.patch("/templates/{ref}")
async def change_template(
    ref: str, data: templates.TemplateChange, session: SessionDep
) -> dict[str, Any]:
    """Change the template: a new version when the text or how it is sent changes."""
    return template_view(await templates.change(session, ref, data), history=True)


@router.delete("/templates/{ref}")
async def delete_template(ref: str, session: SessionDep) -> dict[str, Any]:
    await templates.delete(session, ref)
    return {"deleted": True}
