"""Rendering dashboard pages: one Jinja environment over ``templates/<area>/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from textcast.errors import ValidationFailed

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(value: str | None) -> str:
    """An ISO time as the pages show it: to the second, in UTC."""
    return value[:19].replace("T", " ") if value else ""


def _with_label(value: str, labels: dict[str, str]) -> tuple[str, str]:
    """``value`` as a (value, label) option pair for the select macro."""
    return value, labels.get(value, value)


# Skip reasons whose code says too little read as a sentence; the others
# are their code in words ("opted_out": "opted out").
SKIP_REASON_LABELS = {"geo_not_allowed": "country not allowed for the provider"}


def _skip_reason(code: str | None) -> str:
    """A recipient's skip reason as the pages show it."""
    if not code:
        return ""
    return SKIP_REASON_LABELS.get(code, code.replace("_", " "))


templates.env.filters["when"] = _when
templates.env.filters["skip_reason"] = _skip_reason
templates.env.filters["tuple_with"] = _with_label
templates.env.filters["prefix_cred"] = lambda name: f"cred_{name}"
templates.env.filters["user_key"] = lambda user_id: f"user-{user_id}"
templates.env.filters["zip_names"] = lambda ids, names: [(i, names.get(i, i)) for i in ids]


def page(
    request: Request, template: str, title: str, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """A signed-in page: ``template`` (``<area>/<name>.html``) inside the site's frame,
    with who is signed in (for the menu) and the CSRF token (for every form)."""
    signed = request.state.signed
    return templates.TemplateResponse(
        request,
        template,
        {
            "title": title,
            "page": request.url.path,
            "me": signed.actor,
            "csrf_token": signed.csrf_token,
            "errors": {},
            **values,
        },
        status_code=status_code,
    )


def field_errors(exc: ValidationFailed) -> dict[str, str]:
    """A service's refusal keyed by the form field it names (``senders.0.x`` → ``x``),
    so the page shows it next to that field."""
    name = exc.field.rsplit(".", 1)[-1] if exc.field.startswith("senders.") else exc.field
    return {name: exc.message}
