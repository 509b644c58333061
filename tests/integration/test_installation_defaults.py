"""The installation's defaults saved at run time, on both databases: the
environment's values until one is saved, each value with where it comes from,
the environment's own rules for a saved value (a 422 naming the field), admins
only, an audit entry per change, the saving process using the change at once
and another process within seconds."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from sqlalchemy import select

from tests.conftest import RunningServer
from tests.integration.helpers import api, eventually
from tests.integration.test_roles_api import key_for
from textcast.context import Context
from textcast.db.models import AuditEntry
from textcast.services import installation_defaults

DEFAULTS = "/api/v1/settings/defaults"


async def defaults(
    http: aiohttp.ClientSession, server: RunningServer, method: str = "GET", body: Any = None
) -> tuple[int, Any]:
    return await api(http, method, f"{server.url}{DEFAULTS}", server.headers, body)


async def test_saved_defaults_replace_the_environments_until_reset(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    status, shown = await defaults(http, server)
    assert status == 200, shown
    assert shown["default_region"] == {"value": "US", "source": "environment", "environment": "US"}
    assert shown["quiet_hours"]["value"] == "21:00-08:00"
    assert shown["version"] == 0 and shown["updated_by"] is None

    change = {
        "default_region": " gb ",
        "quiet_hours": "22:30-07:00",
        "quiet_hours_inside": "skip",
        "frequency_caps": "2/24h, 5/week",
    }
    status, saved = await defaults(http, server, "PATCH", change)
    assert status == 200, saved
    assert {name: saved[name]["value"] for name in change} == {
        "default_region": "GB",
        "quiet_hours": "22:30-07:00",
        "quiet_hours_inside": "skip",
        "frequency_caps": "2/24h, 5/week",
    }
    assert {saved[name]["source"] for name in change} == {"saved"}
    assert saved["version"] == 1 and saved["updated_by"].startswith("API key tests")
    # This process uses them at once: a national number is read as British.
    status, contact = await api(
        http, "POST", f"{server.url}/api/v1/contacts", server.headers, {"phone": "020 7946 0958"}
    )
    assert (status, contact.get("phone")) == (201, "+442079460958"), contact

    # null goes back to the environment's value; the others stay saved.
    status, reset = await defaults(http, server, "PATCH", {"default_region": None})
    assert status == 200
    assert reset["default_region"] == {"value": "US", "source": "environment", "environment": "US"}
    assert reset["quiet_hours"]["source"] == "saved" and reset["version"] == 2
    assert server.ctx.settings.default_region == "US"
    assert server.ctx.settings.frequency_caps == "2/24h, 5/week"
    # Saving what is saved already changes nothing, not even the version.
    status, same = await defaults(http, server, "PATCH", {"quiet_hours_inside": "skip"})
    assert (status, same["version"]) == (200, 2)

    async with server.ctx.session() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "settings.defaults_changed")
                .order_by(AuditEntry.id)
            )
        )
    assert [e.detail for e in entries] == [
        {
            "default_region": {"from": None, "to": "GB"},
            "quiet_hours": {"from": None, "to": "22:30-07:00"},
            "quiet_hours_inside": {"from": None, "to": "skip"},
            "frequency_caps": {"from": None, "to": "2/24h, 5/week"},
        },
        {"default_region": {"from": "GB", "to": None}},
    ]
    assert entries[0].actor.startswith("API key tests")


BAD_VALUES = [
    ({"default_region": "XX"}, "default_region", "not a region code"),
    ({"default_region": ""}, "default_region", "not a region code"),
    ({"quiet_hours": "25:00-08:00"}, "quiet_hours", "HH:MM"),
    ({"quiet_hours": "22:00"}, "quiet_hours", "HH:MM"),
    ({"frequency_caps": "2/banana"}, "frequency_caps", "cannot read '2/banana'"),
    ({"frequency_caps": "1/day,2/0h"}, "frequency_caps", "cannot read '2/0h'"),
    ({"frequency_caps": "1/day," * 40}, "frequency_caps", "at most 200"),
    ({"quiet_hours_inside": "later"}, "quiet_hours_inside", "'defer' or 'skip'"),
    ({"max_segments": "3"}, "max_segments", "not permitted"),
    ({"quiet_hours": 2200}, "quiet_hours", "string"),
]


async def test_a_bad_value_is_refused_naming_the_field_and_nothing_is_saved(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for body, field, reason in BAD_VALUES:
        status, answer = await defaults(http, server, "PATCH", {"quiet_hours": "", **body})
        assert status == 422, (body, answer)
        assert answer["field"] == field and reason in answer["message"], (body, answer)
    status, shown = await defaults(http, server)
    assert shown["version"] == 0 and shown["quiet_hours"]["source"] == "environment"


async def test_only_an_admin_changes_the_defaults_and_every_key_reads_them(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for role in ("viewer", "editor"):
        headers = await key_for(server, role)
        url = f"{server.url}{DEFAULTS}"
        status, answer = await api(http, "PATCH", url, headers, {"frequency_caps": "1/day"})
        assert status == 403 and role in answer["message"], answer
        status, shown = await api(http, "GET", url, headers)
        assert (status, shown["frequency_caps"]["source"]) == (200, "environment")


async def test_another_process_picks_up_a_change_within_seconds(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    other = Context.create(server.ctx.environment)  # a worker on the same database
    stop = asyncio.Event()
    watching = asyncio.create_task(installation_defaults.watch(other, stop, interval=0.05))
    try:
        status, _ = await defaults(http, server, "PATCH", {"frequency_caps": "3/day"})
        assert status == 200

        async def caught_up() -> bool:
            return other.settings.frequency_caps == "3/day"

        await eventually(caught_up, timeout=5)
        assert other.environment.frequency_caps == ""  # the fallback stays as it was
        await defaults(http, server, "PATCH", {"frequency_caps": None})

        async def back() -> bool:
            return other.settings.frequency_caps == "" and other.defaults_version == 2

        await eventually(back, timeout=5)
    finally:
        stop.set()
        await watching
        await other.close()


async def test_a_look_begun_before_a_save_does_not_undo_it(ctx: Context) -> None:
    """The version only grows: an older row read late is not applied."""
    ctx.defaults_version = 5
    installation_defaults.apply(ctx, installation_defaults.Saved({"default_region": "GB"}, 4))
    assert ctx.settings.default_region == "US"
    installation_defaults.apply(ctx, installation_defaults.Saved({"default_region": "GB"}, 6))
    assert ctx.settings.default_region == "GB" and ctx.environment.default_region == "US"
