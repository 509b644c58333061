"""`textcast contacts ...`: add, list, show, change, tag, erase, import and
export contacts, and read a conversation."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from textcast.audience import attributes, contacts, erasure, exports, imports, segments
from textcast.audience.rules import All
from textcast.cli.common import JsonOption, console, emit, fail, make_table, run
from textcast.cli.common import errors as stderr
from textcast.cli.engagement import _source_text as source_text
from textcast.context import Context
from textcast.db.models import MAX_ID
from textcast.errors import ValidationFailed
from textcast.views.audience import contact_view, contact_views, import_view

contacts_app = typer.Typer(
    help="Contacts: attributes, tags, time zones, imports, exports, erasure.",
    no_args_is_help=True,
)

AttrOption = typer.Option(
    [], "--attr", help="NAME=VALUE, or NAME:TYPE=VALUE (number, boolean, date, datetime)."
)


def _attrs(pairs: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        name, _, kind = key.partition(":")
        if not sep or not name:
            raise ValidationFailed(
                "--attr", f"expected NAME=VALUE or NAME:TYPE=VALUE, got {pair!r}"
            )
        attributes.check_name(name, f"--attr {name}")
        values[name] = attributes.convert(raw, kind or "string", f"--attr {name}")
    return values


def _contacts_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Contacts",
        ["id", "phone", "external_id", "country", "time zone", "tags", "opted out", "attributes"],
        [
            (
                c["id"],
                c["phone"],
                c["external_id"],
                c["country"],
                c["time_zone"],
                ", ".join(c["tags"]),
                "yes" if c["opted_out"] else "",
                ", ".join(f"{k}={v}" for k, v in c["attributes"].items()),
            )
            for c in rows
        ],
    )


def _contact_table(c: dict[str, Any]) -> Table:
    table = make_table(f"Contact {c['id']}", ["field", "value"], [])
    for key in ("phone", "external_id", "country", "phone_type", "created_at", "last_inbound_at"):
        table.add_row(key, "" if c[key] is None else str(c[key]))
    table.add_row("time_zone", f"{c['time_zone']} ({c['time_zone_source']})")
    if len(c["time_zone_candidates"]) > 1:
        table.add_row("  could be in", ", ".join(c["time_zone_candidates"]))
    table.add_row("tags", ", ".join(c["tags"]))
    table.add_row("opted out", "yes" if c["opted_out"] else "no")
    for s in c["suppressions"]:
        where = f"provider {s['provider_id']}" + (
            f", sender {s['sender_id']}" if s["sender_id"] else ""
        )
        table.add_row("  suppressed", f"{where}: {source_text(s)} ({s['created_at']})")
    for name, value in c["attributes"].items():
        table.add_row(f"  {name}", str(value))
    return table


def _filters(tag: list[str], country: str | None, rules_json: str | None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if tag:
        found["tag"] = tag
    if country:
        found["country"] = [country]
    if rules_json:
        found["rules"] = [_read_json_option(rules_json)]
    return found


def _read_json_option(value: str) -> str:
    """A JSON option's text: as given, or ``@FILE``'s content."""
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text()
        except OSError as exc:
            fail(f"cannot read {value[1:]}: {exc.strerror}", 2)
    return value


@contacts_app.command("add")
def add_contact(
    phone: str | None = typer.Argument(None, help="The number (any format; + for abroad)."),
    external_id: str | None = typer.Option(None, help="Your own ID for the person."),
    attr: list[str] = AttrOption,
    tag: list[str] = typer.Option([], "--tag", help="Tag to add; repeat for several."),
    time_zone: str | None = typer.Option(None, help="IANA zone, e.g. Europe/Paris."),
    as_json: bool = JsonOption,
) -> None:
    """Create a contact, or update the one with this external ID or number
    (attributes merged, tags added)."""

    async def action(ctx: Context) -> dict[str, Any]:
        given: dict[str, Any] = {"phone": phone, "external_id": external_id, "tags": tag}
        if time_zone is not None:
            given["time_zone"] = time_zone
        data = contacts.ContactIn(attributes=_attrs(attr), **given)
        async with ctx.session() as session:
            contact, created = await contacts.upsert(session, data, ctx.settings.default_region)
            view = await contact_view(session, contact, ctx.settings.default_time_zone)
        return {**view, "created": created}

    emit(run(action), as_json, table=_contact_table)


@contacts_app.command("list")
def list_contacts(
    tag: list[str] = typer.Option([], "--tag", help="Has this tag; repeat: all of them."),
    country: str | None = typer.Option(None, help="ISO codes, comma-separated."),
    segment: str | None = typer.Option(None, help="A saved segment's ID or name."),
    rules: str | None = typer.Option(None, help="A rule tree as JSON, or @FILE."),
    after_id: int | None = typer.Option(None, help="Page on from this ID.", min=0, max=MAX_ID),
    limit: int = typer.Option(50, min=1, max=500),
    as_json: bool = JsonOption,
) -> None:
    """Contacts in ID order, filtered like GET /api/v1/contacts."""

    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            saved = (await segments.find(session, segment)).rules if segment else None
            rule = contacts.list_filter(_filters(tag, country, rules), saved)
            compiler = segments.compiler(session, ctx.settings.default_time_zone)
            rows = await contacts.list_contacts(
                session, compiler, rule, after_id=after_id, limit=limit
            )
            return await contact_views(session, rows, ctx.settings.default_time_zone)

    emit(run(action), as_json, table=_contacts_table)


@contacts_app.command("show")
def show_contact(ref: str, as_json: bool = JsonOption) -> None:
    """A contact by ID, number or external_id:<id>, with its suppressions."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            contact = await contacts.find(session, ref, ctx.settings.default_region)
            return await contact_view(session, contact, ctx.settings.default_time_zone)

    emit(run(action), as_json, table=_contact_table)


@contacts_app.command("set")
def set_contact(
    ref: str,
    attr: list[str] = AttrOption,
    unset: list[str] = typer.Option([], "--unset", help="Attribute to delete; repeatable."),
    time_zone: str | None = typer.Option(None, help="IANA zone, or 'auto': from the number."),
    external_id: str | None = typer.Option(None, help="Your own ID for the person."),
    phone: str | None = typer.Option(None, help="A new number."),
    as_json: bool = JsonOption,
) -> None:
    """Change a contact: attributes, time zone, external ID or number."""

    async def action(ctx: Context) -> dict[str, Any]:
        changes: dict[str, object] = {**dict.fromkeys(unset), **_attrs(attr)}
        given: dict[str, Any] = {"attributes": changes, "phone": phone}
        if time_zone is not None:
            given["time_zone"] = None if time_zone == "auto" else time_zone
        if external_id is not None:
            given["external_id"] = external_id
        data = contacts.ContactChange(**given)
        async with ctx.session() as session:
            contact = await contacts.find(session, ref, ctx.settings.default_region)
            await contacts.change(session, contact, data, ctx.settings.default_region)
            return await contact_view(session, contact, ctx.settings.default_time_zone)

    emit(run(action), as_json, table=_contact_table)


@contacts_app.command("tag")
def tag_contact(
    ref: str,
    add: list[str] = typer.Option([], "--add", help="Tag to add; repeat for several."),
    remove: list[str] = typer.Option([], "--remove", help="Tag to remove."),
    as_json: bool = JsonOption,
) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            contact = await contacts.find(session, ref, ctx.settings.default_region)
            contacts.set_tags(contact, add=contacts.clean_tags(add), remove=remove)
            return await contact_view(session, contact, ctx.settings.default_time_zone)

    emit(run(action), as_json, table=_contact_table)


@contacts_app.command("delete")
def erase_contact(
    ref: str, yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")
) -> None:
    """Erase a contact for a privacy request (see the README: its messages keep
    their delivery history under a keyed hash of the number)."""
    if not yes:
        typer.confirm(
            f"Erase contact {ref} and anonymise its messages? This cannot be undone", abort=True
        )

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.write_session() as session:
            contact = await contacts.find(session, ref, ctx.settings.default_region)
            done = await erasure.erase(session, contact, ctx.box)
        return {
            "erased": done.contact_id,
            "phone_hash": done.phone_hash,
            "messages": done.messages,
            "inbound": done.inbound,
            "canceled": done.canceled,
        }

    emit(run(action), True)


@contacts_app.command("import")
def import_contacts(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    map_: list[str] = typer.Option(
        [],
        "--map",
        help="COLUMN=FIELD[:TYPE]; FIELD phone, external_id, time_zone, tags, "
        "an attribute, or - to skip; TYPE string, number, boolean, date, datetime.",
    ),
    tag: list[str] = typer.Option([], "--tag", help="Add this tag to every contact."),
    format_: str | None = typer.Option(None, "--format", help="csv or jsonl (default: by name)."),
    as_json: bool = JsonOption,
) -> None:
    """Import contacts from a CSV (header: phone, external_id, time_zone, tags,
    then attributes) or JSON-lines file, upserting by number. Bad rows are
    reported by line (exit 1); the good ones are imported."""
    fmt = format_ or ("jsonl" if file.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    path = file.resolve()  # the job row names the file for whoever resumes it

    async def action(ctx: Context) -> dict[str, Any]:
        opts = imports.options(imports.parse_map(map_), tag, ctx.settings.default_region)
        imports.check_file(path, fmt, opts)
        owner = f"cli:{os.getpid()}"
        async with ctx.write_session() as session:
            job = await imports.create(
                session,
                path=path,
                filename=file.name,
                fmt=fmt,
                opts=opts,
                delete_file=False,
                owner=owner,
            )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=stderr,
            disable=as_json,
        ) as bar:
            task = bar.add_task("importing", total=job.total_bytes or 1)

            def progress(now: Any) -> None:
                bar.update(task, completed=now.done_bytes, description=f"{now.rows:,} rows")

            final = await imports.run(ctx, job.id, owner, progress)
        return import_view(final)

    result = run(action)
    _show_import(result, as_json)
    if result["status"] != imports.DONE or result["rejected"]:
        raise typer.Exit(1)


def _show_import(job: dict[str, Any], as_json: bool) -> None:
    """A summary line, then the rejected rows by line (JSON with --json)."""
    if as_json:
        emit(job, True)
        return
    console.print(
        f"Import {job['id']} {job['status']}: {job['created']:,} created, "
        f"{job['updated']:,} updated, {job['unchanged']:,} unchanged, "
        f"{job['rejected']:,} rejected",
        highlight=False,
    )
    if job["error"]:
        stderr.print(f"[bold red]error:[/] {job['error']}", highlight=False)
    if job["errors"]:
        shown = job["errors"][:50]
        rows = [(e["line"], e["field"], e["reason"]) for e in shown]
        if job["rejected"] > len(shown):
            rows.append(("…", "", f"{job['rejected'] - len(shown)} more"))
        console.print(make_table("Rejected rows", ["line", "field", "reason"], rows))


@contacts_app.command("imports")
def show_imports(
    import_id: int | None = typer.Argument(None, min=1, max=MAX_ID, help="One import's details."),
    wait: float = typer.Option(0, help="Seconds to wait for that import to finish.", min=0),
    as_json: bool = JsonOption,
) -> None:
    """Import jobs (newest first), or one with its rejected rows."""

    async def action(ctx: Context) -> Any:
        if import_id is None:
            async with ctx.session() as session:
                return [import_view(j) for j in await imports.list_jobs(session, limit=20)]
        deadline = time.monotonic() + wait
        while True:
            async with ctx.session() as session:
                job = await imports.get(session, import_id)
            if job.status in (imports.DONE, imports.FAILED) or time.monotonic() >= deadline:
                return import_view(job)
            await asyncio.sleep(0.2)

    found = run(action)
    if isinstance(found, dict):
        _show_import(found, as_json)
        return

    def table(found: Any) -> Table:
        return make_table(
            "Imports",
            ["id", "status", "file", "progress", "created", "updated", "unchanged", "rejected"],
            [
                (
                    j["id"],
                    j["status"],
                    j["filename"],
                    f"{j['progress']:.0%}",
                    j["created"],
                    j["updated"],
                    j["unchanged"],
                    j["rejected"],
                )
                for j in found
            ],
        )

    emit(found, as_json, table=table)


@contacts_app.command("export")
def export_contacts(
    file: str = typer.Argument("-", help="Where to write the CSV; - for standard output."),
    tag: list[str] = typer.Option([], "--tag", help="Has this tag; repeat: all of them."),
    country: str | None = typer.Option(None, help="ISO codes, comma-separated."),
    segment: str | None = typer.Option(None, help="A saved segment's ID or name."),
    rules: str | None = typer.Option(None, help="A rule tree as JSON, or @FILE."),
) -> None:
    """Contacts as CSV, streamed; `textcast contacts import` reads it back."""

    async def action(ctx: Context) -> int:
        async with ctx.session() as session:
            saved = (await segments.find(session, segment)).rules if segment else None
            rule = contacts.list_filter(_filters(tag, country, rules), saved)
            where = segments.compiler(session, ctx.settings.default_time_zone).where(
                rule or All(())
            )
        total = await exports.count(ctx, where)
        out = sys.stdout if file == "-" else open(file, "w", newline="", encoding="utf-8")  # noqa: ASYNC230, SIM115
        try:
            with Progress(
                TextColumn("exporting"),
                BarColumn(),
                MofNCompleteColumn(),
                console=stderr,
                disable=file == "-",
            ) as bar:
                task = bar.add_task("export", total=total)
                async for block in exports.stream(ctx, where, lambda n: bar.advance(task, n)):
                    out.write(block)
                return int(bar.tasks[0].completed)
        finally:
            if out is not sys.stdout:
                out.close()

    count = run(action)
    if file != "-":
        stderr.print(f"{count:,} contacts written to {file}")


@contacts_app.command("conversation")
def conversation(
    ref: str, limit: int = typer.Option(50, min=1, max=500), as_json: bool = JsonOption
) -> None:
    """Messages to the contact and their replies, newest first."""

    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            contact = await contacts.find(session, ref, ctx.settings.default_region)
            return await contacts.conversation(session, contact, limit=limit)

    def table(thread: list[dict[str, Any]]) -> Table:
        return make_table(
            f"Conversation with {ref}",
            ["at", "direction", "body", "status"],
            [(i["at"], i["direction"], i["body"], i.get("status", "")) for i in thread],
        )

    emit(run(action), as_json, table=table)
