"""The installation's defaults, changed at run time by an admin (dashboard,
API, CLI): the region of numbers written without ``+country``, quiet hours,
what happens to a message due inside them, and frequency caps.

The environment stays the starting point (``TEXTCAST_DEFAULT_REGION``,
``TEXTCAST_QUIET_HOURS``, ``TEXTCAST_QUIET_HOURS_INSIDE``,
``TEXTCAST_FREQUENCY_CAPS``). The one row of ``installation_defaults`` holds
what was saved since; a field not saved (NULL) is the environment's, and going
back to the environment's value clears the field. A saved value is held to the
environment's own rules, the ``Settings`` validators and the policy readers
(:func:`~textcast.policy.quiet_hours.window_of_setting`,
:func:`~textcast.policy.frequency.caps_of_setting`), and is written the same
way (``21:00-08:00``, ``2/24h,5/week``).

How a change reaches every process. The code reads ``ctx.settings`` as it
always did; :func:`apply` replaces that object with the environment's settings
plus the saved values (``model_copy``), so no request handler, page or command
had to change:

* the process that saves applies the change as soon as it is committed;
* every ``serve`` and ``textcast worker`` process runs :func:`watch`, which
  reads the row's ``version`` every :data:`REFRESH_SECONDS` (one primary-key
  read) and loads the row only when the version grew;
* the campaign runner reads it again when it plans a campaign's fan-out, so
  the quiet hours and caps a campaign starts with are the saved ones, whichever
  process runs it and however recently they changed;
* a CLI command reads it once when it starts.

So a request answered by another ``serve`` process may use the former value
for up to :data:`REFRESH_SECONDS` after a change. The version only grows, so a
look that started before a save and ends after it cannot undo the save.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.config import QuietHoursInside, Settings
from textcast.context import Context
from textcast.db.dialect import dialect_of
from textcast.db.models import InstallationDefaults, utcnow
from textcast.errors import ValidationFailed
from textcast.policy.frequency import caps_of_setting
from textcast.policy.quiet_hours import window_of_setting
from textcast.services import audit
from textcast.services.roles import Actor

log = logging.getLogger(__name__)

FIELDS = ("default_region", "quiet_hours", "quiet_hours_inside", "frequency_caps")
# The longest value each column stores (PostgreSQL refuses longer ones).
LONGEST = {"default_region": 2, "quiet_hours": 32, "quiet_hours_inside": 8, "frequency_caps": 200}
ROW_ID = 1
REFRESH_SECONDS = 2.0


def _described(name: str, max_length: int) -> Any:
    """A change's field, documented as its environment setting is."""
    described = Settings.model_fields[name].description or ""
    return Field(
        None,
        max_length=max_length,
        description=f"{described} null: back to TEXTCAST_{name.upper()}.",
    )


class DefaultsChange(BaseModel):
    """A change to the installation's defaults: only the fields given change;
    ``null`` goes back to the environment's value."""

    model_config = ConfigDict(extra="forbid")

    default_region: str | None = _described("default_region", 8)
    quiet_hours: str | None = _described("quiet_hours", LONGEST["quiet_hours"])
    quiet_hours_inside: QuietHoursInside | None = _described("quiet_hours_inside", 8)
    frequency_caps: str | None = _described("frequency_caps", LONGEST["frequency_caps"])


@dataclass(frozen=True)
class Saved:
    """The saved defaults: ``values`` has the fields saved (the others are the
    environment's); ``version`` 0 when nothing was ever saved."""

    values: dict[str, str] = field(default_factory=dict)
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None


def _saved(row: InstallationDefaults | None) -> Saved:
    if row is None:
        return Saved()
    values = {name: getattr(row, name) for name in FIELDS if getattr(row, name) is not None}
    return Saved(values, row.version, row.updated_at, row.updated_by)


async def load(session: AsyncSession) -> Saved:
    row = await session.scalar(
        select(InstallationDefaults)
        .where(InstallationDefaults.id == ROW_ID)
        .execution_options(populate_existing=True)
    )
    return _saved(row)


def effective(environment: Settings, saved: Saved) -> Settings:
    """The settings a process works with: the environment's, saved values applied."""
    return environment.model_copy(update=saved.values)


def check(environment: Settings, changes: Mapping[str, str | None]) -> dict[str, str | None]:
    """``changes`` (``None``: back to the environment's value) checked by the
    rules the environment's settings are held to; the values to store, or
    :class:`ValidationFailed` naming the field."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ValidationFailed(unknown[0], f"not a default; these are: {', '.join(FIELDS)}")
    given = {name: value for name, value in changes.items() if value is not None}
    try:
        candidate = Settings.model_validate({**environment.model_dump(), **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        raise ValidationFailed(str(first["loc"][0]), message) from None
    if "quiet_hours" in given:
        window_of_setting(candidate.quiet_hours, "quiet_hours")
    if "frequency_caps" in given:
        caps_of_setting(candidate.frequency_caps, "frequency_caps")
    stored = {
        name: None if value is None else str(getattr(candidate, name)).strip()
        for name, value in changes.items()
    }
    for name, value in stored.items():
        if value is not None and len(value) > LONGEST[name]:
            raise ValidationFailed(name, f"at most {LONGEST[name]} characters")
    return stored


async def save(session: AsyncSession, actor: Actor, stored: Mapping[str, str | None]) -> Saved:
    """Write checked values (see :func:`check`) and their audit entry in
    ``session``'s transaction; the saved defaults after it."""
    await session.execute(
        dialect_of(session)
        .insert_unless_exists(InstallationDefaults, key=["id"])
        .values(id=ROW_ID, version=0)
    )
    # Locked until commit (SQLite: the insert took the one write lock), so
    # two admins saving at once each add 1 to the version.
    row = await session.scalar(
        select(InstallationDefaults)
        .where(InstallationDefaults.id == ROW_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    changed = {
        name: {"from": getattr(row, name), "to": value}
        for name, value in stored.items()
        if getattr(row, name) != value
    }
    if not changed:  # saved as they were: no new version for every process to load
        return _saved(row)
    for name, value in stored.items():
        setattr(row, name, value)
    row.version += 1
    row.updated_at = utcnow()
    row.updated_by = actor.label[:150]
    # null in "from" or "to": the environment's value.
    audit.record(session, actor, "settings.defaults_changed", "installation defaults", changed)
    await session.flush()
    return _saved(row)


async def change(ctx: Context, actor: Actor, changes: Mapping[str, str | None]) -> Saved:
    """Check and save ``changes`` (``None``: back to the environment's value),
    then apply them to this process; the saved defaults. No change given:
    nothing is written."""
    stored = check(ctx.environment, changes)
    if not stored:
        async with ctx.sessions() as session:
            return await load(session)
    async with ctx.write_session() as session:
        saved = await save(session, actor, stored)
    apply(ctx, saved)
    return saved


def apply(ctx: Context, saved: Saved) -> None:
    """Make ``saved`` this process's settings, unless it already has them or
    newer ones (a look begun before a save may end after it)."""
    if saved.version > ctx.defaults_version:
        ctx.settings = effective(ctx.environment, saved)
        ctx.defaults_version = saved.version


async def refresh(ctx: Context) -> Settings:
    """This process's settings, brought up to date with the saved defaults:
    the version is read, the row only when it grew."""
    async with ctx.sessions() as session:
        version = await session.scalar(
            select(InstallationDefaults.version).where(InstallationDefaults.id == ROW_ID)
        )
        if version is not None and version > ctx.defaults_version:
            apply(ctx, await load(session))
    return ctx.settings


async def watch(ctx: Context, stop: asyncio.Event, interval: float = REFRESH_SECONDS) -> None:
    """:func:`refresh` every ``interval`` seconds until ``stop``."""
    while not stop.is_set():
        try:
            await refresh(ctx)
        except Exception:  # the database away for a moment: keep what there is, look again
            log.warning("could not read the installation defaults", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
