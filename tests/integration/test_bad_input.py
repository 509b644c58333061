"""Hostile and malformed input on every API route: a 4xx with a JSON body that
says what is wrong, never a 500 or a stack trace."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api
from textcast.app import create_app
from textcast.dashboard.auth import COOKIE as DASHBOARD_COOKIE
from textcast.services import signins

BAD_BODIES: list[bytes] = [
    b"{not json",
    b"[]",
    b'"a string"',
    b"null",
    b'{"name": {"$gt": ""}, "to": ["x"], "body": 12, "sender": "\' OR 1=1 --"}',
    '{"body": "\udcff"}'.encode("utf-8", "surrogatepass"),
    b"\xff\xfe\x00garbage",
]


def api_routes() -> list[tuple[str, str]]:
    """Every /api/ operation, read from the app's own OpenAPI document."""
    from cryptography.fernet import Fernet

    from textcast.config import Settings
    from textcast.context import Context

    settings = Settings(demo=False, secret_key=Fernet.generate_key().decode())
    schema = create_app(Context.create(settings), run_dispatcher=False).openapi()
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/")
        for method in operations
    ]


ROUTES = api_routes()


def concrete(path: str, ref: str) -> str:
    """``path`` with every parameter set to ``ref``."""
    return re.sub(r"\{[a-z_]+\}", ref, path)


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_answers_bad_input_with_a_json_4xx(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession, method: str, path: str
) -> None:
    await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator),
    )
    # Past 64 bits, the largest ID a database column holds, zero and negative.
    for ref in ("main", "does-not-exist", "%27%3B--", "1", "99999999999999999999", "0", "-1"):
        url = f"{server.url}{concrete(path, ref)}"
        bodies = BAD_BODIES if method in ("POST", "PUT", "PATCH") else [b""]
        for body in bodies:
            headers = {**server.headers, "Content-Type": "application/json"}
            async with http.request(method, url, data=body, headers=headers) as response:
                text = await response.text()
                assert response.status < 500, (method, url, body, response.status, text)
                if response.status >= 400:
                    payload = await response.json(content_type=None)
                    assert payload["error"] and payload["message"], payload
                    assert "Traceback" not in text


async def test_message_id_that_is_not_a_number_is_a_422(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    status, body = await api(http, "GET", f"{server.url}/api/v1/messages/abc", server.headers)
    assert status == 422 and body["field"] == "message_id"


BEYOND_64_BITS = "99999999999999999999"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/v1/messages?before_id={BEYOND_64_BITS}"),
        ("GET", f"/api/v1/events?after_id={BEYOND_64_BITS}"),
        ("GET", f"/api/v1/events?message_id={BEYOND_64_BITS}"),
        ("GET", f"/api/v1/suppressions?before_id={BEYOND_64_BITS}"),
        ("GET", f"/api/v1/campaigns?before_id={BEYOND_64_BITS}"),
        ("POST", f"/webhooks/twilio/{BEYOND_64_BITS}/inbound"),
        ("GET", f"/webhooks/twilio/{BEYOND_64_BITS}/inbound"),
        ("POST", f"/webhooks/twilio/1/inbound/{BEYOND_64_BITS}"),
        ("POST", f"/webhooks/twilio/{BEYOND_64_BITS}/status"),
        ("POST", f"/webhooks/generic/{BEYOND_64_BITS}/some-token"),
        ("GET", f"/dashboard/messages/{BEYOND_64_BITS}"),
        ("GET", f"/dashboard/campaigns?before_id={BEYOND_64_BITS}"),
    ],
)
async def test_an_id_no_database_column_can_hold_is_a_4xx_not_a_driver_error(
    server: RunningServer, http: aiohttp.ClientSession, method: str, path: str
) -> None:
    """Both drivers refuse to bind a number past 64 bits: it must be refused
    before it reaches them, on the API, the provider webhooks and the dashboard."""
    async with server.ctx.session() as session:  # a dashboard session, as signing in makes
        started = await signins.with_api_key(session, server.api_key, None)
    assert started is not None
    headers = {**server.headers, "Cookie": f"{DASHBOARD_COOKIE}={started[0]}"}
    async with http.request(
        method, f"{server.url}{path}", data={"From": "+14155550100"}, headers=headers
    ) as response:
        text = await response.text()
    assert 400 <= response.status < 500, (response.status, text)
    assert "Traceback" not in text
