"""Everything a running Textcast shares: settings, database, secret box, HTTP.

Built once per process (``serve``, ``worker``, a CLI command, a test) and passed
to the services; nothing below reads the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from textcast.config import Settings
from textcast.crypto import SecretBox, load_secret_box
from textcast.db.dialect import DatabaseDialect, dialect_of
from textcast.db.engine import make_engine, make_sessionmaker
from textcast.netguard import TargetGuard
from textcast.providers.http import HttpClient


@dataclass
class Context:
    # What the code reads: the environment's settings with the installation
    # defaults saved in the database applied. services.installation_defaults
    # replaces it with a new copy when they change, so read the region, quiet
    # hours and caps from ``ctx.settings`` when they are used (keeping the
    # object is fine for the other settings, which never change at run time).
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    guard: TargetGuard
    _http: HttpClient | None = field(default=None, repr=False)
    _write_turns: asyncio.Lock | None = field(default=None, repr=False)
    # The settings as the environment gave them (a saved default falls back to
    # these), and the version of the saved defaults applied to ``settings``.
    environment: Settings = field(init=False, repr=False)
    defaults_version: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.environment = self.settings

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

    @property
    def dialect(self) -> DatabaseDialect:
        """Where the process's database differs from the other kind."""
        return dialect_of(self.engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """:meth:`session` for a short write transaction that does no other I/O
        (queueing messages, the dispatcher's claims, records and renewals).

        On SQLite this process's write sessions take turns, first come first
        served. Left to race for SQLite's single write lock, a waiter's busy
        handler sleeps up to 100 ms between tries while newer transactions slip
        in: 20 concurrent POSTs waited up to 4 s (0.5 s with turns), and the
        dispatcher's claims waited behind its own records so its send lanes
        ran dry. Not for transactions that call a provider or nest another
        write session: the turn is held until commit. PostgreSQL's row locks
        need none of this.
        """
        if not self.dialect.write_turns:
            async with self.session() as session:
                yield session
            return
        if self._write_turns is None:
            self._write_turns = asyncio.Lock()
        async with self._write_turns, self.session() as session:
            yield session

    async def close(self) -> None:
        if self._http is not None:
            await self._http.session.close()
        await self.engine.dispose()
