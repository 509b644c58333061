"""Contacts in and out as files: a CSV import with its columns mapped (upload,
then map what the file's header names, then the job's progress polled until
done, with the rejected rows to download), and the export of the contacts a
list's filters select.

The import runs as the API's does: the file is spooled under the data folder,
checked by :func:`textcast.audience.imports.check_file` and queued for the
import runner.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from textcast.audience import attributes, exports, imports, segments
from textcast.audience.rules import All
from textcast.dashboard.auth import CanEditAudience, CanRead, Visitor
from textcast.dashboard.pages.contacts import chosen_filters, filter_rule
from textcast.dashboard.render import page
from textcast.db.models import utcnow
from textcast.errors import ValidationFailed
from textcast.views.audience import import_view
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)
MAX_UPLOAD_BYTES = 200 << 20  # through a browser form; larger files: the API or the CLI
CHUNK = 1 << 20
UPLOAD_NAME = re.compile(r"[0-9a-f]{16}")
PENDING = ".pending"
PENDING_SECONDS = 24 * 3600
# What a column can be read as: the contact fields, an attribute, or skipped.
TARGETS = (
    ("", "automatic (by its name)"),
    ("phone", "phone"),
    ("external_id", "external_id"),
    ("time_zone", "time_zone"),
    ("tags", "tags (separated by ;)"),
    ("attribute", "an attribute"),
    (imports.SKIP, "skip this column"),
)
FINISHED = (imports.DONE, imports.FAILED)


def _spool(me: Visitor) -> Path:
    return me.ctx.settings.data_dir / "imports"


def _sweep(spool: Path) -> None:
    """Uploads never mapped (the page left at step 2) go after a day. They wait
    as ``.pending``; a queued job's file is ``.upload`` and is the runner's."""
    cutoff = time.time() - PENDING_SECONDS
    for leftover in spool.glob(f"*{PENDING}"):
        with suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


async def _imports_page(request: Request, me: Visitor, **values: Any) -> HTMLResponse:
    async with me.ctx.session() as session:
        jobs = [import_view(j) for j in await imports.list_jobs(session, limit=20)]
    return page(
        request,
        "contacts/import.html",
        "Import contacts",
        jobs=jobs,
        status_code=422 if values.get("errors") else 200,
        **values,
    )


@router.get("/contacts/import")
async def import_form(request: Request, me: CanRead) -> HTMLResponse:
    return await _imports_page(request, me)


async def _store(upload: UploadFile, path: Path) -> int:
    written = 0
    async with await anyio.open_file(path, "wb") as handle:
        while chunk := await upload.read(CHUNK):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                raise ValidationFailed(
                    "file",
                    f"at most {MAX_UPLOAD_BYTES >> 20} MB here; larger files through the API",
                )
            await handle.write(chunk)
    if written == 0:
        raise ValidationFailed("file", "the file is empty")
    return written


@router.post("/contacts/import")
async def upload(request: Request, me: CanEditAudience) -> Response:
    """Step 1: keep the file and show its header to map (JSON lines name their
    fields: only the tag option is left)."""
    form = await request.form()
    upload_file = form.get("file")
    fmt = str(form.get("format", "csv"))
    if fmt not in imports.FORMATS:
        return await _imports_page(request, me, errors={"format": "CSV or JSON lines"})
    if not isinstance(upload_file, UploadFile) or not upload_file.filename:
        return await _imports_page(request, me, errors={"file": "choose a file"})
    spool = _spool(me)
    await anyio.Path(spool).mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(8)
    await anyio.to_thread.run_sync(_sweep, spool)
    path = spool / f"{name}{PENDING}"
    try:
        await _store(upload_file, path)
        header = await _header(path, fmt)
    except ValidationFailed as exc:
        await anyio.Path(path).unlink(missing_ok=True)
        return await _imports_page(request, me, errors={"file": exc.message})
    return _mapping_page(
        request, upload=name, filename=upload_file.filename, fmt=fmt, header=header, chosen={}
    )


async def _header(path: Path, fmt: str) -> list[str]:
    """A CSV's column names; JSON lines have none to map."""
    if fmt != "csv":
        return []
    return await anyio.to_thread.run_sync(imports.read_header, path)


def _mapping_page(
    request: Request,
    *,
    upload: str,
    filename: str,
    fmt: str,
    header: list[str],
    chosen: dict[str, dict[str, str]],
    tags: str = "",
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    return page(
        request,
        "contacts/import_map.html",
        "Map the columns",
        upload=upload,
        filename=filename,
        fmt=fmt,
        columns=list(enumerate(header)),
        chosen=chosen,
        tags=tags,
        targets=TARGETS,
        types=attributes.TYPES,
        errors=errors or {},
        status_code=422 if errors else 200,
    )


def _mapping(header: list[str], chosen: dict[str, dict[str, str]]) -> dict[str, str]:
    """The import's ``COLUMN=FIELD[:TYPE]`` map from the form's choices per column."""
    mapping: dict[str, str] = {}
    for column in header:
        pick = chosen.get(column, {})
        target = pick.get("target", "")
        if target == "attribute":
            name = pick.get("name", "").strip() or column
            mapping[column] = f"{name}:{pick.get('type') or 'string'}"
        elif target:
            mapping[column] = target
    return mapping


def _map_errors(exc: ValidationFailed, header: list[str]) -> dict[str, str]:
    """The plan's refusal next to the column it names (``map.Mobile``, ``column 3``)."""
    if exc.field.startswith("map."):
        column = exc.field.removeprefix("map.")
        if column in header:
            return {f"col-{header.index(column)}": exc.message}
    if exc.field.startswith("column "):
        position = exc.field.removeprefix("column ")
        if position.isdigit():
            return {f"col-{int(position) - 1}": exc.message}
    return {exc.field: exc.message}


@router.post("/contacts/import/start")
async def start(request: Request, me: CanEditAudience) -> Response:
    """Step 2: the columns mapped; queue the job and follow it."""
    form = await request.form()
    upload_name = str(form.get("upload", ""))
    filename = str(form.get("filename", "upload.csv"))[:255]
    tags = str(form.get("tags", ""))
    fmt = str(form.get("format", "csv"))
    if not UPLOAD_NAME.fullmatch(upload_name) or fmt not in imports.FORMATS:
        return await _imports_page(request, me, errors={"file": "upload the file again"})
    path = _spool(me) / f"{upload_name}{PENDING}"
    if not await anyio.Path(path).exists():
        return await _imports_page(request, me, errors={"file": "upload the file again"})
    header = await _header(path, fmt)
    chosen = {
        column: {key: str(form.get(f"{key}-{i}", "")) for key in ("target", "name", "type")}
        for i, column in enumerate(header)
    }
    try:
        opts = imports.options(
            _mapping(header, chosen),
            [t for t in tags.split(",") if t.strip()],
            me.ctx.settings.default_region,
        )
        await anyio.to_thread.run_sync(imports.check_file, path, fmt, opts)
        queued = await anyio.Path(path).rename(path.with_suffix(".upload"))
        try:
            async with me.ctx.write_session() as session:
                job = await imports.create(
                    session,
                    path=Path(queued),
                    filename=filename,
                    fmt=fmt,
                    opts=opts,
                    delete_file=True,
                )
                job_id = job.id
        except BaseException:
            await queued.rename(path)  # still the user's to map again
            raise
    except ValidationFailed as exc:
        errors = _map_errors(exc, header)
        return _mapping_page(
            request,
            upload=upload_name,
            filename=filename,
            fmt=fmt,
            header=header,
            chosen=chosen,
            tags=tags,
            errors=errors,
        )
    runner = getattr(request.app.state, "import_runner", None)
    if runner is not None:
        runner.wake()
    return RedirectResponse(f"/dashboard/contacts/imports/{job_id}", status_code=303)


async def _job(me: Visitor, import_id: int) -> dict[str, Any]:
    async with me.ctx.session() as session:
        return import_view(await imports.get(session, import_id))


@router.get("/contacts/imports/{import_id}")
async def job_page(request: Request, import_id: IdPath, me: CanRead) -> HTMLResponse:
    job = await _job(me, import_id)
    return page(
        request,
        "contacts/import_job.html",
        f"Import {import_id}",
        job=job,
        finished=FINISHED,
        kept=imports.MAX_ERRORS_KEPT,
    )


@router.get("/contacts/imports/{import_id}/progress")
async def job_progress(request: Request, import_id: IdPath, me: CanRead) -> HTMLResponse:
    """The progress box alone, polled by the page until the job has finished."""
    job = await _job(me, import_id)
    return page(
        request,
        "contacts/import_progress.html",
        "",
        job=job,
        finished=FINISHED,
        kept=imports.MAX_ERRORS_KEPT,
    )


@router.get("/contacts/imports/{import_id}/rejected.csv")
async def rejected_rows(import_id: IdPath, me: CanRead) -> Response:
    """The rejected rows the job kept: line, column and reason."""
    job = await _job(me, import_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["line", "field", "reason"])
    for row in job["errors"]:
        writer.writerow([row.get("line"), row.get("field") or "", row.get("reason")])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-rejected.csv"'},
    )


@router.get("/contacts/export")
async def export(request: Request, me: CanRead) -> Response:
    """The contacts the list's filters select, as the API's export writes them."""
    async with me.ctx.session() as session:
        rule = await filter_rule(session, chosen_filters(request))
        where = segments.compiler(session, me.ctx.settings.default_time_zone).where(rule or All(()))
    name = f"contacts-{utcnow():%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        exports.stream(me.ctx, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
