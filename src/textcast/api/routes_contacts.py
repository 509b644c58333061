"""/api/v1/contacts: create or update, look up, list, change, erase, import
and export contacts."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from textcast.audience import contacts, erasure, exports, imports, segments
from textcast.audience.rules import All
from textcast.db.models import utcnow
from textcast.errors import ValidationFailed
from textcast.views.audience import contact_view, contact_views, import_view
from textcast.web.deps import CtxDep, CursorQuery, IdPath, SessionDep

router = APIRouter(prefix="/api/v1", tags=["contacts"])

MAX_UPLOAD_BYTES = 2 << 30
CHUNK = 1 << 20
_JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")
_PAGING = ("after_id", "limit", "segment")


async def _filter(request: Request, session: SessionDep) -> Any:
    """The rule a list or export request's query asks for (unknown names: 422)."""
    query = request.query_params
    filters = {name: query.getlist(name) for name in query if name not in _PAGING}
    saved = None
    if "segment" in query:
        saved = (await segments.find(session, query["segment"])).rules
    return contacts.list_filter(filters, saved)


@router.get("/contacts")
async def list_contacts(
    request: Request,
    ctx: CtxDep,
    session: SessionDep,
    after_id: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Contacts in ID order, page by page (``after_id`` = the last ID seen).
    Filters, all of which must hold: ``tag`` (repeatable), ``country``,
    ``phone_type`` and ``time_zone`` (comma-separated lists), ``phone_prefix``,
    ``external_id``, ``opted_out`` (true/false), ``created_after``,
    ``created_before``, ``segment`` (a saved segment's ID or name) and ``rules``
    (a segment rule tree as JSON); an unknown one is a 422."""
    rule = await _filter(request, session)
    compiler = segments.compiler(session, ctx.settings.default_time_zone)
    rows = await contacts.list_contacts(session, compiler, rule, after_id=after_id, limit=limit)
    return {
        "contacts": await contact_views(session, rows, ctx.settings.default_time_zone),
        "next_after_id": rows[-1].id if len(rows) == limit else None,
    }


@router.post("/contacts", status_code=status.HTTP_201_CREATED)
async def upsert_contact(
    data: contacts.ContactIn, response: Response, ctx: CtxDep, session: SessionDep
) -> dict[str, Any]:
    """Create a contact, or update the one with this ``external_id`` (its number
    may change) or else this phone: attributes merged (null deletes), tags
    added. 201 when created, 200 when updated."""
    contact, created = await contacts.upsert(session, data, ctx.settings.default_region)
    if not created:
        response.status_code = status.HTTP_200_OK
    view = await contact_view(session, contact, ctx.settings.default_time_zone)
    return {**view, "created": created}


@router.get(
    "/contacts/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "the contacts as CSV"}},
)
async def export_contacts(request: Request, ctx: CtxDep, session: SessionDep) -> StreamingResponse:
    """Every contact the filters select (as for the list) as CSV, streamed; the
    importer reads it back as it is."""
    rule = await _filter(request, session)
    compiler = segments.compiler(session, ctx.settings.default_time_zone)
    where = compiler.where(rule or All(()))
    name = f"contacts-{utcnow():%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        exports.stream(ctx, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/contacts/imports", status_code=status.HTTP_202_ACCEPTED)
async def start_import(
    request: Request,
    ctx: CtxDep,
    response: Response,
    map_: Annotated[
        list[str], Query(alias="map", description="COLUMN=FIELD[:TYPE]; repeat for several.")
    ] = [],  # noqa: B006 - FastAPI copies query defaults
    tag: Annotated[list[str], Query(description="Added to every contact; repeatable.")] = [],  # noqa: B006
    format_: Annotated[str | None, Query(alias="format", description="csv or jsonl")] = None,
) -> dict[str, Any]:
    """Import a CSV or JSON-lines file: multipart (field ``file``) or the file
    as the body (``text/csv``, ``application/x-ndjson``). The file is stored
    in the data folder and imported in the background; poll
    ``GET /api/v1/contacts/imports/{id}``. A file that cannot be imported at
    all (no phone column, a bad map) is a 422 at once."""
    opts = imports.options(imports.parse_map(map_), tag, ctx.settings.default_region)
    spool = ctx.settings.data_dir / "imports"
    await anyio.Path(spool).mkdir(parents=True, exist_ok=True)
    path = spool / f"{secrets.token_hex(8)}.upload"
    try:
        filename, fmt = await _receive(request, path, format_)
        await anyio.to_thread.run_sync(imports.check_file, path, fmt, opts)
        async with ctx.write_session() as session:
            job = await imports.create(
                session, path=path, filename=filename, fmt=fmt, opts=opts, delete_file=True
            )
            view = import_view(job)
    except BaseException:
        await anyio.Path(path).unlink(missing_ok=True)
        raise
    runner = getattr(request.app.state, "import_runner", None)
    if runner is not None:
        runner.wake()
    response.headers["Location"] = f"/api/v1/contacts/imports/{job.id}"
    return view


async def _receive(request: Request, path: Path, fmt: str | None) -> tuple[str, str]:
    """Write the uploaded file to ``path`` in chunks; (its name, its format)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    written = 0
    async with await anyio.open_file(path, "wb") as handle:
        if content_type == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=0)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ValidationFailed("file", "a multipart field 'file' with the file")
            filename = upload.filename or "upload"
            kind = (upload.content_type or "").lower()
            while chunk := await upload.read(CHUNK):
                written += len(chunk)
                _check_size(written)
                await handle.write(chunk)
        else:
            filename, kind = "upload", content_type
            async for chunk in request.stream():
                written += len(chunk)
                _check_size(written)
                await handle.write(chunk)
    if fmt is None:
        jsonl = kind in _JSONL_TYPES or filename.lower().endswith((".jsonl", ".ndjson"))
        fmt = "jsonl" if jsonl else "csv"
    if written == 0:
        raise ValidationFailed("file", "the file is empty")
    return filename, fmt


def _check_size(written: int) -> None:
    if written > MAX_UPLOAD_BYTES:
        raise ValidationFailed("file", f"at most {MAX_UPLOAD_BYTES >> 30} GiB per import")


@router.get("/contacts/imports")
async def list_imports(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> dict[str, Any]:
    """Import jobs, newest first."""
    return {"imports": [import_view(j) for j in await imports.list_jobs(session, limit=limit)]}


@router.get("/contacts/imports/{import_id}")
async def show_import(import_id: IdPath, session: SessionDep) -> dict[str, Any]:
    """An import's progress: bytes read, rows, created / updated / unchanged /
    rejected, and the first rejected rows with their line and reason."""
    return import_view(await imports.get(session, import_id))


@router.get("/contacts/{ref}")
async def show_contact(ref: str, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    """By ID, phone number or ``external_id:<id>``."""
    contact = await contacts.find(session, ref, ctx.settings.default_region)
    return await contact_view(session, contact, ctx.settings.default_time_zone)


@router.patch("/contacts/{ref}")
async def change_contact(
    ref: str, change: contacts.ContactChange, ctx: CtxDep, session: SessionDep
) -> dict[str, Any]:
    """Attributes merged (null deletes a key), ``add_tags`` / ``remove_tags``,
    ``time_zone`` (null: from the number again), ``external_id``, ``phone``."""
    contact = await contacts.find(session, ref, ctx.settings.default_region)
    await contacts.change(session, contact, change, ctx.settings.default_region)
    return await contact_view(session, contact, ctx.settings.default_time_zone)


@router.delete("/contacts/{ref}")
async def erase_contact(ref: str, ctx: CtxDep) -> dict[str, Any]:
    """Erase the contact for a privacy request: it goes with its attributes and
    tags; its messages keep their delivery history under a keyed hash of the
    number, bodies ``[erased]``; a ``contact.erased`` event is written."""
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


@router.get("/contacts/{ref}/conversation")
async def conversation(
    ref: str,
    ctx: CtxDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Messages sent to the contact and their replies, newest first."""
    contact = await contacts.find(session, ref, ctx.settings.default_region)
    thread = await contacts.conversation(session, contact, limit=limit)
    return {"contact_id": contact.id, "phone": contact.phone, "thread": thread}
