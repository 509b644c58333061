"""Small helpers for integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from textcast.webhooks.signature import compute_signature


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
