"""API keys have roles: every key reads; an editor key sends and changes the
audience but not providers, webhooks or secrets; a viewer key changes nothing.
Each change made through the API lands in the audit log, on both databases."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, eventually
from textcast.db.models import AuditEntry
from textcast.services import apikeys


async def key_for(server: RunningServer, role: str) -> dict[str, str]:
    async with server.ctx.session() as session:
        key = (await apikeys.create_key(session, f"{role} key", role=role)).key
    return {"Authorization": f"Bearer {key}"}


async def call(
    http: aiohttp.ClientSession,
    server: RunningServer,
    headers: dict[str, str],
    method: str,
    path: str,
    body: Any = None,
) -> tuple[int, Any]:
    return await api(http, method, f"{server.url}/api/v1{path}", headers, body)


async def test_each_role_may_do_what_it_says_and_no_more(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    admin = server.headers
    status, _ = await call(
        http, server, admin, "POST", "/providers", twilio_provider_payload(simulator)
    )
    assert status == 201
    viewer, editor = await key_for(server, "viewer"), await key_for(server, "editor")

    # Everyone reads; the segment preview changes nothing, so viewers may use it.
    for headers in (viewer, editor, admin):
        assert (await call(http, server, headers, "GET", "/messages"))[0] == 200
        assert (await call(http, server, headers, "GET", "/events"))[0] == 200
        assert (await call(http, server, headers, "POST", "/segments", {"body": "hi"}))[0] == 200

    message = {"to": "+14155552671", "body": "Hello"}
    status, body = await call(http, server, viewer, "POST", "/messages", message)
    assert status == 403 and "viewer" in body["message"], body
    assert (await call(http, server, editor, "POST", "/messages", message))[0] == 202
    suppression = {"provider": "twilio-sim", "phone": "+14155550100"}
    assert (await call(http, server, viewer, "POST", "/suppressions", suppression))[0] == 403
    assert (await call(http, server, editor, "POST", "/suppressions", suppression))[0] == 201

    # Providers, senders and webhooks are an admin's.
    for method, path, payload in (
        ("PATCH", "/providers/twilio-sim", {"opt_out_scope": "sender"}),
        ("POST", "/senders/main/default", None),
        ("POST", "/providers/twilio-sim/relay-secret", None),
        ("POST", "/webhooks", {"url": "https://hooks.example.com/x"}),
    ):
        status, body = await call(http, server, editor, method, path, payload)
        assert status == 403, (path, body)
    assert (
        await call(
            http, server, admin, "PATCH", "/providers/twilio-sim", {"opt_out_scope": "sender"}
        )
    )[0] == 200

    # Only admins see credentials, even masked.
    _, seen_by_editor = await call(http, server, editor, "GET", "/providers/twilio-sim")
    _, seen_by_admin = await call(http, server, admin, "GET", "/providers/twilio-sim")
    assert "credentials" not in seen_by_editor and "credentials" in seen_by_admin
    assert seen_by_admin["credentials"]["auth_token"].startswith("••••")


async def test_api_changes_are_audited_but_queued_messages_are_not(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    editor = await key_for(server, "editor")
    await call(
        http, server, server.headers, "POST", "/providers", twilio_provider_payload(simulator)
    )
    await call(http, server, editor, "POST", "/messages", {"to": "+14155552671", "body": "Hi"})
    await call(
        http, server, editor, "POST", "/suppressions", {"provider": 1, "phone": "+14155550100"}
    )
    await call(http, server, editor, "POST", "/webhooks", {"url": "https://hooks.example.com/x"})

    async def entries() -> list[AuditEntry]:
        # Written just after each answer: wait for the last one.
        async with server.ctx.session() as session:
            found = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        return found if len(found) >= 2 else []

    rows = await eventually(entries)
    assert [(r.action, r.target, r.actor) for r in rows] == [
        ("api.post", "/api/v1/providers", "API key tests (#1)"),
        ("api.post", "/api/v1/suppressions", "API key editor key (#2)"),
    ]
    assert rows[0].detail == {"status": 201} and rows[0].ip == "127.0.0.1"
