"""Start-up: migrate, build the context, make the admin key and the first
dashboard admin, start the pieces."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from dataclasses import dataclass

import uvicorn
from aiohttp import web
from sqlalchemy import select

from textcast import dispatch_lock, metrics
from textcast.campaigns.runner import CampaignRunner
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Provider as ProviderRow
from textcast.dispatch.dispatcher import Dispatcher
from textcast.notify.deliverer import EventNotifier
from textcast.services import apikeys, installation_defaults, users
from textcast.services.providers import create_provider
from textcast.simulator import SimulatorState, start_simulator

log = logging.getLogger("textcast")

SIMULATOR_PROVIDER = "simulator"
# Twilio's magic "valid From" test number: what a test account may send from.
SIMULATOR_FROM = "+15005550006"


@dataclass
class Prepared:
    ctx: Context
    new_admin_key: str | None
    new_admin_user: tuple[str, str] | None = None  # (username, password), shown once


async def prepare(settings: Settings) -> Prepared:
    """Migrate the database and make sure an admin key and a dashboard user
    exist (and, in demo mode, the simulated provider)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url)
    ctx = Context.create(settings)
    await installation_defaults.refresh(ctx)  # the first request sees the saved defaults
    async with ctx.session() as session:
        configured = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
        new_key = await apikeys.ensure_admin_key(session, configured)
        new_user = await users.ensure_first_admin(session)
    if settings.demo:
        await ensure_simulator_provider(ctx)
    return Prepared(ctx, new_key, new_user)


async def ensure_simulator_provider(ctx: Context) -> None:
    async with ctx.session() as session:
        found = await session.scalar(
            select(ProviderRow.id).where(
                ProviderRow.is_simulated.is_(True), ProviderRow.deleted_at.is_(None)
            )
        )
        if found is not None:
            return
        payload = {
            "name": SIMULATOR_PROVIDER,
            "type": "twilio",
            "account_sid": "AC" + secrets.token_hex(16),
            "auth_token": secrets.token_hex(16),
            "base_url": ctx.settings.simulator_url,
            "senders": [
                {
                    "name": "simulator-number",
                    "type": "long_code",
                    "sender_id": SIMULATOR_FROM,
                    "mps": 100,
                    "mms_capable": True,
                }
            ],
        }
        await create_provider(ctx, session, payload, is_simulated=True)


async def simulator_accounts(ctx: Context) -> dict[str, str]:
    """Account SID → auth token of every simulated provider, for the in-process simulator."""
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(ProviderRow).where(
                ProviderRow.is_simulated.is_(True), ProviderRow.deleted_at.is_(None)
            )
        )
        return {
            str(row.config["account_sid"]): str(
                ctx.box.decrypt(row.secrets_encrypted)["auth_token"]
            )
            for row in rows
        }


async def start_demo_simulator(ctx: Context) -> web.AppRunner:
    """The demo's simulator: it knows the simulated providers' accounts and
    accepts any other well-formed one (a walkthrough's placeholder account)."""
    state = SimulatorState(open_accounts=True)
    for sid, token in (await simulator_accounts(ctx)).items():
        state.add_account(sid, token)
    return await start_simulator(state, ctx.settings.simulator_host, ctx.settings.simulator_port)


def banner(
    settings: Settings,
    new_key: str | None,
    *,
    demo: bool,
    dispatching: bool = True,
    new_user: tuple[str, str] | None = None,
) -> str:
    url = f"http://{settings.host}:{settings.port}"
    lines = [
        f"Textcast is running at {url}  (dashboard: {url}/ , API docs: {url}/docs)",
        f"Callbacks are built from {settings.effective_public_url}",
    ]
    if demo:
        lines.append(
            f"Built-in Twilio simulator at {settings.simulator_url} (provider 'simulator')"
        )
    if not dispatching:
        reason = (
            "TEXTCAST_DISPATCHER=false"
            if not settings.dispatcher
            else "another process holds the SQLite dispatcher lock"
        )
        lines.append(f"Dispatcher: off in this process ({reason}); `textcast worker` sends")
    if new_key:
        lines.append(f"Admin API key (shown once, store it now): {new_key}")
    else:
        lines.append(
            "Admin API key: the one shown on first start (new ones: `textcast apikeys create`)"
        )
    if new_user:
        username, password = new_user
        lines.append(
            f"Dashboard sign-in (shown once, change it under Settings): {username} / {password}"
        )
    else:
        lines.append(
            "Dashboard users: as set up before "
            "(new ones: `textcast users create`; lost password: `textcast users set-password`)"
        )
    return "\n".join(lines)


async def serve(settings: Settings, *, log_level: str = "info") -> None:
    """The API and webhooks, with the dispatcher unless ``TEXTCAST_DISPATCHER=false``
    or, on SQLite, another process already dispatches from the same file."""
    from textcast.app import create_app

    prepared = await prepare(settings)
    ctx = prepared.ctx
    lock = (
        dispatch_lock.acquire_or_warn(settings.effective_database_url, "serve")
        if settings.dispatcher
        else None
    )
    dispatching = lock is not None
    runner = None
    try:
        runner = await start_demo_simulator(ctx) if settings.demo else None
        config = uvicorn.Config(
            create_app(ctx, run_dispatcher=dispatching),
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            access_log=False,
        )
        server = uvicorn.Server(config)
        print(
            banner(
                settings,
                prepared.new_admin_key,
                demo=settings.demo,
                dispatching=dispatching,
                new_user=prepared.new_admin_user,
            ),
            flush=True,
        )
        await server.serve()
    finally:
        if runner is not None:
            await runner.cleanup()
        await ctx.close()
        if lock is not None:
            lock.release()


async def run_worker(settings: Settings) -> None:
    """The dispatcher and event notifier without the API: one of many processes
    sharing PostgreSQL, or the one dispatcher of a SQLite file.

    Raises :class:`~textcast.dispatch_lock.DispatcherLockTaken` when another
    process dispatches from the same SQLite file, and OSError when the metrics
    port (``TEXTCAST_WORKER_METRICS_PORT``) cannot be bound.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (
        signal.SIGTERM,
        signal.SIGINT,
    ):  # before migrating: a stop during start-up is clean too
        loop.add_signal_handler(sig, stop.set)
    lock = dispatch_lock.acquire(settings.effective_database_url, "worker")
    try:
        migrate.upgrade(settings.effective_database_url)
        if stop.is_set():
            return
        await _dispatch_until(Context.create(settings), stop)
    finally:
        lock.release()


async def _dispatch_until(ctx: Context, stop: asyncio.Event) -> None:
    """Run the dispatcher and notifier (and the metrics listener, when asked for)
    until ``stop``; ``ctx`` is closed on the way out."""
    settings = ctx.settings
    metrics_runner = None
    try:
        if settings.worker_metrics_port is not None:
            metrics_runner = await metrics.start_metrics_listener(
                ctx.sessions, settings.worker_metrics_host, settings.worker_metrics_port
            )
            log.info(
                "worker metrics at http://%s:%s/metrics",
                settings.worker_metrics_host,
                settings.worker_metrics_port,
            )
        log.info("worker started")
        await asyncio.gather(
            Dispatcher(ctx).run(stop),
            EventNotifier(ctx).run(stop),
            CampaignRunner(ctx).run(stop),
            installation_defaults.watch(ctx, stop),
        )
    finally:
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await ctx.close()
