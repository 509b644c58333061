"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.integration.helpers import FakeApi
from textcast.listeners import bound_url, start_listener


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = await start_listener(app, "127.0.0.1", 0)
    fake.url = bound_url(runner)
    yield fake
    await runner.cleanup()
