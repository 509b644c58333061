"""Starting an aiohttp application on an address: the built-in simulator, a
worker's metrics page, and the tests' stand-in servers all do it this way."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def start_listener(
    app: web.Application, host: str, port: int, **runner_options: Any
) -> web.AppRunner:
    """Serve ``app`` on host:port (0 picks a free port: see :func:`bound_url`).

    Raises OSError when the address cannot be bound, with nothing left
    running. Once started the caller owns the runner and must ``await
    runner.cleanup()``.
    """
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_url(runner: web.AppRunner) -> str:
    """``http://host:port`` of the runner's first listening address."""
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"
