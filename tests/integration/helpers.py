"""Small helpers for integration tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from click.testing import Result
from typer.testing import CliRunner

from textcast.cli import app as cli_app
from textcast.context import Context
from textcast.providers.twilio.signature import compute_signature


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last value: {last!r}")


def ahead_of_pace(offsets: list[float], mps: float) -> list[tuple[int, float]]:
    """The sends that started earlier than a sender's shared pace allows, as
    ``(index, offset)``: with ``offsets`` (seconds from before any claim, in
    order) a burst of one second's worth may start at once, then one every
    ``1/mps`` s. 50 ms of slack: a timer may wake a little early."""
    return [
        (i, round(offset, 3))
        for i, offset in enumerate(offsets)
        if offset < (i + 1 - mps) / mps - 0.05
    ]


async def api(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], json: Any = None
) -> tuple[int, Any]:
    async with http.request(method, url, headers=headers, json=json) as response:
        body = await response.json(content_type=None)
        return response.status, body


async def post_signed_form(
    http: aiohttp.ClientSession,
    url: str,
    token: str,
    params: list[tuple[str, str]],
    *,
    tamper: bool = False,
) -> int:
    signature = compute_signature(token, url, params)
    if tamper:
        signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    async with http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response:
        await response.read()
        return response.status


@dataclass
class FakeApi:
    """A provider stand-in on 127.0.0.1 that records requests and answers as told."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: tuple[int, Any, dict[str, str]] = (200, {}, {})
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": {k: request.query.getall(k) for k in request.query},
                "headers": request.headers,
                "body": await request.read(),
            }
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        status, payload, headers = self.answer
        text = payload if isinstance(payload, str) else json.dumps(payload)
        return web.Response(
            status=status, text=text, headers=headers, content_type="application/json"
        )

    @property
    def last(self) -> dict[str, Any]:
        assert self.requests, "the provider was never called"
        return self.requests[-1]


async def cli(ctx: Context, *args: str) -> Result:
    """``textcast ARGS`` against ``ctx``'s database, as an operator on the
    server's machine runs it."""
    env = {
        "TEXTCAST_DATABASE_URL": ctx.settings.effective_database_url,
        "TEXTCAST_DATA_DIR": str(ctx.settings.data_dir),
        "TEXTCAST_PUBLIC_URL": ctx.settings.effective_public_url,
        "TEXTCAST_DEMO": "false",
        "TEXTCAST_ALLOW_PRIVATE_TARGETS": "true",
    }
    # In a thread: the CLI runs its own event loop.
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), env=env)
