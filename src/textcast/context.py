"""Everything a running Textcast shares: settings, database, secret box, HTTP.

Built once per process (``serve``, ``worker``, a CLI command, a test) and passed
to the services; nothing below reads the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from textcast.config import Settings
from textcast.crypto import SecretBox, load_secret_box
from textcast.db.engine import make_engine, make_sessionmaker
from textcast.netguard import TargetGuard
from textcast.providers.base import HttpClient


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    guard: TargetGuard
    _http: HttpClient | None = field(default=None, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Context:
        engine = make_engine(settings.effective_database_url)
        allowed = [settings.simulator_url] if settings.demo else []
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            box=load_secret_box(settings),
            guard=TargetGuard(settings.allow_private_targets, allowed_origins=allowed),
        )

    @property
    def http(self) -> HttpClient:
        """The process's one aiohttp session, opened on first use."""
        if self._http is None or self._http.session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
            session = aiohttp.ClientSession(connector=connector)
            self._http = HttpClient(session, self.settings.http_timeout, self.guard)
        return self._http

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def close(self) -> None:
        if self._http is not None:
            await self._http.session.close()
        await self.engine.dispose()
