"""Contact imports: a CSV or JSON-lines file read as a stream and upserted in
batches, with a job row that says how far it got.

The file is never held in memory: records are read one by one and written
:data:`BATCH_ROWS` at a time (:mod:`textcast.audience.contact_upsert`), each
batch in its own transaction together with the job's counts and read
position. A job whose process died is taken over and resumes after its last
committed batch. Running the same file again changes nothing: every row
comes back unchanged.

CSV: the header names the columns. ``phone`` (required), ``external_id``,
``time_zone`` and ``tags`` (separated by ``;``) are contact fields; every
other column is an attribute of the same name, read as text (ISO dates
become dates) unless the header gives a type after a colon (``age:number``,
as an export writes it). ``--map COLUMN=FIELD[:TYPE]`` renames a column to a field or
attribute, gives an attribute its type (string, number, boolean, date,
datetime) or skips the column (``COLUMN=-``). Columns named after the
contact's own read-only fields (``id``, ``country``, ``created_at`` … as an
export writes them) are skipped. An empty cell leaves the value as it is.

JSON lines: one object per line with ``phone``, and optionally
``external_id``, ``time_zone``, ``tags`` (a list) and ``attributes`` (an
object of typed values; null leaves a value as it is).

Each bad row is reported by line with the reason (not a valid number, a bad
date, a number or external ID already on an earlier line, …); the first
:data:`MAX_ERRORS_KEPT` are kept in the job, all are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import attributes, contacts, numbers, time_zones
from textcast.audience.contact_upsert import ContactRow, taken, upsert
from textcast.audience.seen import KeySet
from textcast.context import Context
from textcast.db.models import ContactImport, utcnow
from textcast.errors import NotFound, TextcastError, ValidationFailed

FORMATS = ("csv", "jsonl")
FIELDS = ("phone", "external_id", "time_zone", "tags")
SKIP = "-"
TAG_SEPARATOR = ";"
BATCH_ROWS = 2000
# Rows read between turns of the event loop. Each step of a batch's commit
# (statement, progress, COMMIT) waits for a turn: every 256 rows (~9 ms) made
# a commit outlast the reading of the next batch, and the reader waited.
YIELD_EVERY = 32
MAX_ERRORS_KEPT = 1000
LEASE = timedelta(seconds=60)
ANALYZE_AFTER = 10_000  # rows written by one import
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
_JSONL_KEYS = frozenset({"phone", "external_id", "time_zone", "tags", "attributes"})


class RowError(Exception):
    def __init__(self, line: int, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.line, self.field, self.reason = line, field, reason

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class LeaseLost(TextcastError):
    """Another process took the job over (this one stalled past its lease)."""


@dataclass(frozen=True, slots=True)
class Column:
    """How one CSV column is read."""

    position: int
    header: str
    target: str  # a FIELDS name, "attribute", or SKIP
    attribute: str | None = None
    kind: str = "string"


@dataclass(frozen=True)
class Options:
    mapping: dict[str, str] = field(default_factory=dict)  # column -> "field[:type]"
    tags: tuple[str, ...] = ()
    region: str = "US"

    def as_json(self) -> dict[str, Any]:
        return {"map": self.mapping, "tags": list(self.tags), "region": self.region}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Options:
        return cls(dict(raw.get("map", {})), tuple(raw.get("tags", ())), raw.get("region", "US"))


def parse_map(pairs: Iterable[str]) -> dict[str, str]:
    """``COLUMN=FIELD[:TYPE]`` options as a mapping; :class:`ValidationFailed` otherwise."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        if not sep or not column or not target:
            raise ValidationFailed("map", f"expected COLUMN=FIELD[:TYPE], got {pair!r}")
        mapping[column] = target
    return mapping


def options(mapping: dict[str, str], tags: Iterable[str], region: str) -> Options:
    """Checked import options (tags cleaned as a contact's are)."""
    cleaned = contacts.clean_tags(tags)
    for column, target in mapping.items():
        _target(column, target)
    return Options(dict(mapping), tuple(cleaned), region)


def _target(header: str, spec: str) -> tuple[str, str | None, str]:
    """(target, attribute name, type) of a ``--map`` value."""
    name, _, kind = spec.partition(":")
    kind = kind or "string"
    where = f"map.{header}"
    if name == SKIP:
        return SKIP, None, kind
    if kind not in attributes.TYPES:
        raise ValidationFailed(
            where, f"unknown type {kind!r}; one of {', '.join(attributes.TYPES)}"
        )
    if name in FIELDS:
        if spec != name:
            raise ValidationFailed(where, f"{name} takes no type")
        return name, None, kind
    return "attribute", attributes.check_name(name.removeprefix("attributes."), where), kind


def plan(header: list[str], mapping: dict[str, str]) -> list[Column]:
    """How each column of ``header`` is read; :class:`ValidationFailed` (a 422)
    for a map naming no column, a column that is no attribute name, or no
    phone column."""
    known = set(header)
    for mapped in mapping:
        if mapped not in known:
            raise ValidationFailed(f"map.{mapped}", f"the file has no column {mapped!r}")
    columns = []
    for position, name in enumerate(header):
        if name in mapping:
            target, attribute, kind = _target(name, mapping[name])
        elif name.strip().lower() in FIELDS:
            target, attribute, kind = name.strip().lower(), None, "string"
        elif name.strip() in attributes.RESERVED:
            target, attribute, kind = SKIP, None, "string"
        else:  # an attribute, its type after a colon as an export writes it (age:number)
            attribute, _, kind = name.partition(":")
            if not attributes.NAME.fullmatch(attribute) or kind not in ("", *attributes.TYPES):
                raise ValidationFailed(
                    f"column {position + 1}",
                    f"{name!r} is not an attribute name; map it (--map '{name}=first_name') "
                    f"or skip it (--map '{name}=-')",
                )
            target, kind = "attribute", kind or "string"
        columns.append(Column(position, name, target, attribute, kind))
    targets = [c.target for c in columns]
    if "phone" not in targets:
        raise ValidationFailed(
            "phone", "the file has no phone column: name it phone or map it (--map Mobile=phone)"
        )
    for name in FIELDS:
        if targets.count(name) > 1:
            raise ValidationFailed("map", f"two columns are read as {name}")
    seen: set[str] = set()
    for column in columns:
        if column.attribute is not None:
            if column.attribute in seen:
                raise ValidationFailed("map", f"two columns are read as {column.attribute}")
            seen.add(column.attribute)
    return columns


def read_header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        try:
            return next(csv.reader(handle))
        except StopIteration:
            raise ValidationFailed("file", "the file is empty: a CSV needs a header") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValidationFailed("file", f"the header cannot be read: {exc}") from None


def check_file(path: Path, fmt: str, opts: Options) -> None:
    """What can be known before the job runs: the format, and for CSV the header."""
    if fmt not in FORMATS:
        raise ValidationFailed("format", f"one of {', '.join(FORMATS)}")
    if fmt == "csv":
        plan(read_header(path), opts.mapping)
    elif opts.mapping:
        raise ValidationFailed("map", "JSON lines name their fields; --map is for CSV")


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes read from it (the job's progress)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class RowReader:
    """Turns records into :class:`ContactRow`, or :class:`RowError` with the reason."""

    def __init__(self, opts: Options, columns: list[Column] | None) -> None:
        self._opts = opts
        self._width = len(columns or [])
        fields = {c.target: c.position for c in columns or [] if c.target in FIELDS}
        self._phone_at = fields.get("phone")
        self._external_id_at = fields.get("external_id")
        self._zone_at = fields.get("time_zone")
        self._tags_at = fields.get("tags")
        self._attributes = [c for c in columns or [] if c.target == "attribute"]
        # Numbers and external IDs seen on earlier lines: numbers as integers
        # and IDs as 64-bit hashes, 8 to 16 bytes each.
        self._phones = KeySet()
        self._external_ids = KeySet()

    def csv_row(self, line: int, cells: list[str]) -> ContactRow:
        if len(cells) != self._width:
            raise RowError(line, None, f"{len(cells)} cells where the header has {self._width}")
        values: dict[str, object] = {}
        for column in self._attributes:
            cell = cells[column.position]
            if cell and not cell.isspace():
                try:
                    values[column.attribute or ""] = attributes.convert(
                        cell, column.kind, column.header
                    )
                except ValidationFailed as exc:
                    raise RowError(line, column.header, exc.message) from None
        phone = cells[self._phone_at] if self._phone_at is not None else ""
        external_id = zone = None
        if self._external_id_at is not None:
            external_id = cells[self._external_id_at].strip() or None
        if self._zone_at is not None:
            zone = cells[self._zone_at]
        tags = []
        if self._tags_at is not None:
            tags = [t for t in cells[self._tags_at].split(TAG_SEPARATOR) if t.strip()]
        return self._row(line, phone, external_id, zone, tags, values)

    def json_row(self, line: int, text: str) -> ContactRow:
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise RowError(line, None, f"not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise RowError(line, None, "each line is a JSON object")
        unknown = sorted(set(record) - _JSONL_KEYS)
        if unknown:
            raise RowError(
                line, unknown[0], f"unknown key; one of {', '.join(sorted(_JSONL_KEYS))}"
            )
        raw_values = record.get("attributes") or {}
        raw_tags = record.get("tags") or []
        if not isinstance(raw_values, dict):
            raise RowError(line, "attributes", "an object of attribute values")
        if not isinstance(raw_tags, list):
            raise RowError(line, "tags", "a list of tags")
        values: dict[str, object] = {}
        for name, raw in raw_values.items():
            if raw is None:
                continue
            try:
                attributes.check_name(name, "attributes")
                values[name] = attributes.value(raw, f"attributes.{name}")
            except ValidationFailed as exc:
                raise RowError(line, exc.field, exc.message) from None
        phone, external_id, zone = (record.get(k) for k in ("phone", "external_id", "time_zone"))
        for key, item in (("phone", phone), ("external_id", external_id), ("time_zone", zone)):
            if item is not None and not isinstance(item, str):
                raise RowError(line, key, "a string")
        return self._row(line, phone or "", external_id, zone, raw_tags, values)

    def _row(
        self,
        line: int,
        raw_phone: str,
        external_id: str | None,
        zone: str | None,
        tags: list[Any],
        values: dict[str, object],
    ) -> ContactRow:
        try:
            facts = numbers.read(raw_phone, self._opts.region, "phone")
            all_tags = contacts.clean_tags([*tags, *self._opts.tags])
            time_zone: str | None
            if zone is not None and zone.strip():
                time_zone, source = time_zones.check_zone(zone), time_zones.EXPLICIT
            else:
                time_zone, source = facts.time_zone, facts.time_zone_source
        except ValidationFailed as exc:
            raise RowError(line, exc.field, exc.message) from None
        if external_id is not None and not 0 < len(external_id) <= 200:
            raise RowError(line, "external_id", "an external ID is 1 to 200 characters")
        if len(values) > attributes.MAX_ATTRIBUTES:
            raise RowError(line, None, f"at most {attributes.MAX_ATTRIBUTES} attributes")
        if not self._phones.add(int(facts.phone[1:])):  # E.164: + and digits
            raise RowError(line, "phone", "duplicate in file: this number is on an earlier line")
        if external_id is not None:
            digest = int.from_bytes(hashlib.blake2b(external_id.encode(), digest_size=8).digest())
            if not self._external_ids.add(digest):
                raise RowError(line, "external_id", "duplicate in file: on an earlier line")
        return ContactRow(
            line,
            facts.phone,
            external_id,
            values,
            all_tags,
            time_zone,
            source,
            facts.country,
            facts.phone_type,
        )


def records(stream: IO[bytes], fmt: str, skip: int = 0) -> Iterator[tuple[int, list[str] | str]]:
    """(line number, record) from ``stream``: CSV cells after the header, or
    JSON lines; blank lines are no records; the first ``skip`` records are
    passed over."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    seen = 0
    if fmt == "csv":
        reader = csv.reader(text)
        next(reader, None)  # the header
        line = reader.line_num + 1
        for cells in reader:
            if cells:  # a blank line is no record
                seen += 1
                if seen > skip:
                    yield line, cells
            line = reader.line_num + 1
        return
    for line, row in enumerate(text, start=1):
        if row.strip():
            seen += 1
            if seen > skip:
                yield line, row


async def create(
    session: AsyncSession,
    *,
    path: Path,
    filename: str,
    fmt: str,
    opts: Options,
    delete_file: bool,
    owner: str | None = None,
) -> ContactImport:
    """A job for ``path``: queued for the import runner, or with ``owner``
    already running it (the CLI runs its imports itself)."""
    now = utcnow()
    job = ContactImport(
        status=QUEUED if owner is None else RUNNING,
        format=fmt,
        filename=filename[:255],
        path=str(path),
        delete_file=delete_file,
        options=opts.as_json(),
        total_bytes=path.stat().st_size,  # noqa: ASYNC240 - a local stat
        errors=[],
        lease_owner=owner,
        lease_expires_at=None if owner is None else now + LEASE,
        started_at=None if owner is None else now,
        created_at=now,
    )
    session.add(job)
    await session.flush()
    return job


async def get(session: AsyncSession, job_id: int) -> ContactImport:
    job = await session.get(ContactImport, job_id)
    if job is None:
        raise NotFound(f"no import {job_id}")
    return job


async def list_jobs(session: AsyncSession, *, limit: int) -> list[ContactImport]:
    query = select(ContactImport).order_by(ContactImport.id.desc()).limit(limit)
    return list(await session.scalars(query))


async def claim(ctx: Context, owner: str) -> int | None:
    """Take the oldest job waiting to run here (queued, or running under an
    expired lease) whose file is on this machine; its ID, or None."""
    now = utcnow()
    async with ctx.session() as session:
        waiting = await session.execute(
            select(ContactImport.id, ContactImport.path)
            .where(
                or_(
                    ContactImport.status == QUEUED,
                    (ContactImport.status == RUNNING) & (ContactImport.lease_expires_at < now),
                )
            )
            .order_by(ContactImport.id)
            .limit(20)
        )
        # A job's file is on the machine that took the upload (or ran the CLI).
        candidates = [row.id for row in waiting if Path(row.path).exists()]  # noqa: ASYNC240
    for job_id in candidates:
        async with ctx.write_session() as session:
            taken = await session.execute(
                update(ContactImport)
                .where(
                    ContactImport.id == job_id,
                    or_(
                        ContactImport.status == QUEUED,
                        (ContactImport.status == RUNNING) & (ContactImport.lease_expires_at < now),
                    ),
                )
                .values(status=RUNNING, lease_owner=owner, lease_expires_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return int(job_id)
    return None


Progress = Callable[[ContactImport], None]


async def run(
    ctx: Context, job_id: int, owner: str, progress: Progress | None = None
) -> ContactImport:
    """Run a job ``owner`` holds to its end (or failure); the final job row."""
    async with ctx.session() as session:
        job = await get(session, job_id)
    try:
        await _run(ctx, job, owner, progress)
    except LeaseLost:
        raise
    except (ValidationFailed, TextcastError, OSError, csv.Error, UnicodeDecodeError) as exc:
        await _finish(ctx, job, owner, FAILED, _describe(exc))
    except Exception as exc:  # a bug or a database failure: the job says so, then it surfaces
        await _finish(ctx, job, owner, FAILED, f"unexpected error: {type(exc).__name__}: {exc}")
        raise
    else:
        await _finish(ctx, job, owner, DONE, None)
    async with ctx.session() as session:
        final = await get(session, job_id)
    if progress is not None:
        progress(final)
    return final


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationFailed):
        return f"{exc.field}: {exc.message}"
    if isinstance(exc, UnicodeDecodeError):
        return f"the file is not UTF-8 text (byte {exc.start} of a read block)"
    return str(exc)


async def _run(ctx: Context, job: ContactImport, owner: str, progress: Progress | None) -> None:
    opts = Options.from_json(job.options)
    path = Path(job.path)
    # A local file read in 8 KB blocks: each read blocks the loop for microseconds,
    # less than a hop to a thread would cost.
    with path.open("rb") as raw:  # noqa: ASYNC230
        stream = _Counting(raw)
        columns = None
        if job.format == "csv":
            columns = plan(read_header(path), opts.mapping)
        reader = RowReader(opts, columns)
        batch: list[ContactRow] = []
        rejected: list[RowError] = []
        consumed = 0
        # The database writes one batch while the next is read: a batch's
        # commit runs as a task that gets its turns at the yields below.
        writing: asyncio.Task[None] | None = None
        try:
            for line, record in records(io.BufferedReader(stream), job.format, skip=job.rows):
                consumed += 1
                try:
                    if isinstance(record, list):
                        batch.append(reader.csv_row(line, record))
                    else:
                        batch.append(reader.json_row(line, record))
                except RowError as exc:
                    rejected.append(exc)
                if consumed % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # the writes, the API and the dispatcher share this loop
                if consumed >= BATCH_ROWS:
                    if writing is not None:
                        await writing
                    writing = asyncio.create_task(
                        _commit(ctx, job, owner, batch, rejected, consumed, stream.count, progress)
                    )
                    batch, rejected, consumed = [], [], 0
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
        await _commit(ctx, job, owner, batch, rejected, consumed, job.total_bytes, progress)


async def _commit(
    ctx: Context,
    job: ContactImport,
    owner: str,
    batch: list[ContactRow],
    rejected: list[RowError],
    consumed: int,
    position: int,
    progress: Progress | None,
) -> None:
    """Write one batch and the job's progress in one transaction.

    An external ID that another number already has makes the database refuse
    the whole statement (its unique index); that rare batch is written again
    without the rows concerned, found by one more query.
    """
    try:
        await _write(ctx, job, owner, batch, rejected, consumed, position, check_ids=False)
    except IntegrityError:
        await _write(ctx, job, owner, batch, rejected, consumed, position, check_ids=True)
    if progress is not None:
        progress(job)


async def _write(
    ctx: Context,
    job: ContactImport,
    owner: str,
    batch: list[ContactRow],
    rejected: list[RowError],
    consumed: int,
    position: int,
    *,
    check_ids: bool,
) -> None:
    async with ctx.write_session() as session:
        connection = await session.connection()
        problems = list(rejected)
        if check_ids:
            others = await taken(connection, batch)
            problems += [
                RowError(r.line, "external_id", "this external_id is another number's")
                for r in batch
                if r.external_id in others
            ]
            batch = [r for r in batch if r.external_id not in others]
        written = await upsert(connection, batch, utcnow())
        problems += [
            RowError(r.line, "external_id", "this number has another external_id")
            for r in written.clashes
        ]
        kept = list(job.errors or [])
        room = MAX_ERRORS_KEPT - len(kept)
        if room > 0 and problems:
            kept.extend(e.as_dict() for e in sorted(problems, key=lambda e: e.line)[:room])
        values = {
            "rows": job.rows + consumed,
            "done_bytes": min(position, job.total_bytes),
            "created": job.created + written.created,
            "updated": job.updated + written.updated,
            "unchanged": job.unchanged + written.unchanged,
            "rejected": job.rejected + len(problems),
            "errors": kept,
            "lease_expires_at": utcnow() + LEASE,
        }
        result = await session.execute(
            update(ContactImport)
            .where(ContactImport.id == job.id, ContactImport.lease_owner == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise LeaseLost(f"import {job.id} was taken over by another process")
    for name, value in values.items():
        setattr(job, name, value)


async def _finish(
    ctx: Context, job: ContactImport, owner: str, status: str, error: str | None
) -> None:
    async with ctx.write_session() as session:
        await session.execute(
            update(ContactImport)
            .where(ContactImport.id == job.id, ContactImport.lease_owner == owner)
            .values(
                status=status,
                error=error,
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
                done_bytes=job.total_bytes if status == DONE else job.done_bytes,
            )
            .execution_options(synchronize_session=False)
        )
    if status == DONE and job.created + job.updated >= ANALYZE_AFTER:
        # Fresh statistics, so that segment counts are planned for the
        # contacts that are there now (a count after a million-row import
        # took 1.4 s on stale ones, 0.35 s after this).
        async with ctx.session() as session:
            await session.execute(text("ANALYZE contacts"))
    if job.delete_file:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(job.path)
