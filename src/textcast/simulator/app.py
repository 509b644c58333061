"""The simulator's HTTP server: Twilio's endpoints plus the ``/_simulator/`` control API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp import web

from textcast.listeners import start_listener
from textcast.simulator import control, twilio_api
from textcast.simulator.state import SimulatorState
from textcast.simulator.twilio_api import SESSION_KEY, STATE_KEY


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    # One session for every callback: connection reuse is what keeps callbacks cheap.
    connector = aiohttp.TCPConnector(limit=200)
    app[SESSION_KEY] = aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=10)
    )
    yield
    await app[STATE_KEY].cancel_tasks()
    await app[SESSION_KEY].close()


def create_app(state: SimulatorState) -> web.Application:
    """An aiohttp application serving ``state``; callbacks start and stop with it."""
    app = web.Application(client_max_size=1024 * 1024)
    app[STATE_KEY] = state
    app.cleanup_ctx.append(_client_session)
    twilio_api.add_routes(app)
    control.add_routes(app)
    return app


async def start_simulator(state: SimulatorState, host: str, port: int) -> web.AppRunner:
    """Serve ``state`` on host:port (0 picks a free port, see ``runner.addresses``).

    The caller owns the returned runner and must ``await runner.cleanup()``.
    """
    return await start_listener(create_app(state), host, port, access_log=None)


def run_simulator_forever(
    host: str, port: int, accounts: Mapping[str, str], *, open_accounts: bool = False
) -> None:
    """Serve a simulator accepting ``accounts`` ({account SID: auth token}), and
    with ``open_accounts`` any well-formed one, until interrupted."""
    state = SimulatorState(open_accounts=open_accounts)
    for sid, token in accounts.items():
        state.add_account(sid, token)
    web.run_app(create_app(state), host=host, port=port, access_log=None, print=None)
