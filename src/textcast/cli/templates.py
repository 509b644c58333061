"""`textcast templates`: saved, versioned message texts and their previews."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from textcast.cli.common import JsonOption, emit, fail, make_table, parse_pairs, run
from textcast.content import templates
from textcast.content.preview import worst_case
from textcast.context import Context
from textcast.services import template_previews as previews
from textcast.views.content import preview_view, template_view

templates_app = typer.Typer(
    help="Message templates with personalisation ({{ contact.first_name }}).",
    no_args_is_help=True,
)

CategoryOption = typer.Option(None, help="promotional or transactional")
DETAIL_FIELDS = (
    "id", "name", "description", "version", "body", "template_id", "category", "sender_id",
    "append_unsubscribe", "click_tracking", "utm", "content_variables",
)  # fmt: skip


def _table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Templates",
        ["id", "name", "version", "category", "template id", "body"],
        [
            (t["id"], t["name"], t["version"], t["category"], t["template_id"], t["body"][:60])
            for t in rows
        ],
    )


def _detail(view: dict[str, Any]) -> Table:
    table = make_table(f"Template {view['name']}", ["field", "value"], [])
    for key in DETAIL_FIELDS:
        table.add_row(key, "" if view[key] is None else str(view[key]))
    table.add_row("versions", ", ".join(str(v["version"]) for v in view.get("versions", [])))
    return table


@templates_app.command("create")
def create(
    name: str = typer.Option(..., help="A unique name."),
    body: str = typer.Option(..., help="The text, with {{ contact.… }} and {{ data.… }}."),
    template_id: str | None = typer.Option(
        None, "--template-id", help="The provider's template ID (DLT, or Twilio HX…)."
    ),
    sender: str | None = typer.Option(None, help="Send from this sender."),
    category: str = typer.Option("promotional", help="promotional or transactional"),
    append_unsubscribe: bool = typer.Option(False, help="Add the sender's unsubscribe text."),
    click_tracking: bool = typer.Option(False, help="Replace links with tracked short links."),
    utm: list[str] = typer.Option([], help="utm_source=…; repeat for several."),
    description: str | None = typer.Option(None),
    as_json: bool = JsonOption,
) -> None:
    """Save a new template (version 1)."""
    data = {
        "name": name,
        "body": body,
        "template_id": template_id,
        "sender": sender,
        "category": category,
        "append_unsubscribe": append_unsubscribe,
        "click_tracking": click_tracking,
        "utm": parse_pairs(utm, "--utm"),
        "description": description,
    }

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            created = await templates.create(session, templates.TemplateIn.model_validate(data))
            return template_view(created, history=True)

    emit(run(action), as_json, table=_detail)


@templates_app.command("update")
def update(
    ref: str = typer.Argument(..., help="Template name or id."),
    body: str | None = typer.Option(None),
    template_id: str | None = typer.Option(None, "--template-id"),
    category: str | None = CategoryOption,
    append_unsubscribe: bool | None = typer.Option(None),
    click_tracking: bool | None = typer.Option(None),
    as_json: bool = JsonOption,
) -> None:
    """Change a template: a new version when the text or how it is sent changes."""
    given = {
        "body": body,
        "template_id": template_id,
        "category": category,
        "append_unsubscribe": append_unsubscribe,
        "click_tracking": click_tracking,
    }
    change = {k: v for k, v in given.items() if v is not None}
    if not change:
        fail("nothing to change: give --body, --template-id, --category …", 2)

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            model = templates.TemplateChange.model_validate(change)
            return template_view(await templates.change(session, ref, model), history=True)

    emit(run(action), as_json, table=_detail)


@templates_app.command("list")
def list_(as_json: bool = JsonOption) -> None:
    """Saved templates with their current version."""

    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            return [template_view(t) for t in await templates.list_templates(session, limit=500)]

    emit(run(action), as_json, table=_table)


@templates_app.command("show")
def show(
    ref: str = typer.Argument(..., help="Template name or id."), as_json: bool = JsonOption
) -> None:
    """One template with every version."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            return template_view(await templates.get(session, ref), history=True)

    emit(run(action), as_json, table=_detail)


@templates_app.command("delete")
def delete(ref: str = typer.Argument(..., help="Template name or id.")) -> None:
    """Remove a template from lists and new sends (its versions stay for the record)."""

    async def action(ctx: Context) -> None:
        async with ctx.session() as session:
            await templates.delete(session, ref)

    run(action)
    typer.echo(f"deleted template {ref}")


@templates_app.command("preview")
def preview(
    ref: str | None = typer.Argument(None, help="A saved template (name or id)."),
    body: str | None = typer.Option(None, help="Or preview this text, unsaved."),
    version: int | None = typer.Option(None, min=1, help="That template's version."),
    contact: str | None = typer.Option(None, help="A saved contact: id or phone number."),
    attribute: list[str] = typer.Option(
        [], help="A sample contact's attribute, name=value; repeat for several."
    ),
    data: str | None = typer.Option(None, help='Values for data.…, as JSON: {"code": "X1"}.'),
    segment: str | None = typer.Option(
        None, help="Preview for this saved segment's first contacts (name or id)."
    ),
    sample_size: int = typer.Option(
        previews.SEGMENT_SAMPLE,
        min=1,
        max=previews.MAX_SEGMENT_SAMPLE,
        help="How many of the segment's contacts.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """The text as a recipient gets it: segments, encoding, what forced Unicode,
    missing variables; for a segment, each of its first contacts and the worst case."""
    if (ref is None) == (body is None):
        fail("give a template name or --body", 2)
    try:
        values = json.loads(data) if data else {}
    except json.JSONDecodeError as exc:
        fail(f"--data is not JSON: {exc}", 2)
    request = {
        "template": ref,
        "version": version,
        "draft": {"body": body} if body is not None else None,
        "contact": contact,
        "sample_contact": {"attributes": parse_pairs(attribute, "--attribute")}
        if contact is None and segment is None
        else None,
        "data": values,
        "segment": segment,
        "sample_size": sample_size,
    }

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            model = previews.PreviewRequest.model_validate(request)
            shown = await previews.run(session, ctx.settings, model)
        return {"previews": [preview_view(p) for p in shown], "worst_case": worst_case(shown)}

    def table(answer: dict[str, Any]) -> Table:
        rows = [
            (p["recipient"] or "sample", p["text"] or f"error: {p['error']}", p["segments"],
             p["encoding"], "".join(p["unicode_characters"]), ", ".join(p["missing"]))
            for p in answer["previews"]
        ]  # fmt: skip
        worst = answer["worst_case"]
        caption = (
            f"{worst['sampled']} previewed: at most {worst['max_segments']} segments, "
            f"{worst['ucs2']} in UCS-2, {worst['render_errors']} not renderable"
        )
        columns = ["recipient", "text", "segments", "encoding", "unicode", "missing"]
        table = make_table("Preview", columns, rows)
        table.caption = caption
        return table

    emit(run(action), as_json, table=table)
