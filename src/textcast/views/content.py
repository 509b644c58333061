"""Templates and previews as API answers, the CLI's --json and the dashboard show them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from textcast.content.preview import Preview
from textcast.content.templates import current_version
from textcast.db.models import MessageTemplate, TemplateVersion


def version_view(version: TemplateVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "version_id": version.id,
        "body": version.body,
        "template_id": version.provider_template_id,
        "content_variables": version.content_variables,
        "sender_id": version.sender_id,
        "category": version.category,
        "append_unsubscribe": version.append_unsubscribe,
        "click_tracking": version.click_tracking,
        "utm": version.utm,
        "created_at": version.created_at.isoformat(),
    }


def template_view(template: MessageTemplate, *, history: bool = False) -> dict[str, Any]:
    """The template with its current version's fields; every version with ``history``."""
    view = {
        "id": template.id,
        "name": template.name,
        "description": template.description,
        **version_view(current_version(template)),
        "created_at": template.created_at.isoformat(),
        "updated_at": template.updated_at.isoformat(),
    }
    if history:
        view["versions"] = [version_view(v) for v in reversed(template.versions)]
    return view


def preview_view(preview: Preview) -> dict[str, Any]:
    return asdict(preview)
