"""Rendering dashboard pages: one Jinja environment over ``templates/<area>/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def page(request: Request, template: str, title: str, **values: Any) -> HTMLResponse:
    """A signed-in page: ``template`` (``<area>/<name>.html``) inside the site's frame."""
    return templates.TemplateResponse(
        request,
        template,
        {"title": title, "page": request.url.path, "signed_in": True, **values},
    )
