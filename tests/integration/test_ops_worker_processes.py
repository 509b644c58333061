"""`textcast serve` and `textcast worker` as real processes: the worker's metrics
listener, and one dispatcher per SQLite file."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Simulator, free_port, twilio_provider_payload
from tests.integration.processes import (
    START_TIMEOUT,
    TextcastProcess,
    base_env,
    get,
    running,
    until,
)
from textcast import dispatch_lock
from textcast.context import Context
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

# --- the worker's metrics listener -------------------------------------------


async def queue_for_worker(ctx: Context, simulator: Simulator) -> None:
    """Three messages the simulator accepts and one it refuses with 21211."""
    await simulator.control("PATCH", "config", {"callbacks": False})
    async with ctx.session() as session:
        await create_provider(
            ctx,
            session,
            twilio_provider_payload(
                simulator, senders=[{"name": "main", "type": "short_code", "sender_id": "12345"}]
            ),
        )
    rows: list[object] = [{"to": f"+1415555010{i}", "body": f"hello {i}"} for i in range(3)]
    rows.append({"to": "+15005550001", "body": "to Twilio's magic invalid number"})
    async with ctx.session() as session:
        result = await message_service.submit_batch(ctx.settings, session, rows)
    assert len(result.accepted) == 4, result.rejected


async def test_a_worker_serves_its_send_counters_and_the_queue_on_its_metrics_port(
    ctx: Context, simulator: Simulator, tmp_path: Path
) -> None:
    await queue_for_worker(ctx, simulator)
    port = free_port()
    env = base_env(
        database_url=ctx.settings.effective_database_url,
        data_dir=str(ctx.settings.data_dir),  # the secret key the test's context made
        demo="false",
        allow_private_targets="true",
        public_url=ctx.settings.effective_public_url,
        worker_metrics_port=str(port),
    )
    async with running(["worker"], env, tmp_path / "worker.log") as worker:
        url = f"http://127.0.0.1:{port}/metrics"

        async def all_sent() -> bool:
            status, page = await get(url)
            settled = ('textcast_messages{status="queued"} 0', 'status="dispatching"} 0')
            return status == 200 and all(line in page for line in settled)

        await until(all_sent, "the worker sends everything and shows it", worker)
        _, page = await get(url)
    assert 'textcast_sends_total{provider="twilio",result="accepted"} 3.0' in page
    assert 'textcast_sends_total{provider="twilio",result="failed"} 1.0' in page
    assert 'textcast_messages{status="accepted"} 3' in page
    assert 'textcast_messages{status="failed"} 1' in page
    assert 'textcast_messages{status="dispatching"} 0' in page
    assert "# TYPE textcast_send_errors_total counter" in page


async def test_a_worker_whose_metrics_port_is_taken_exits_with_a_message(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    env = base_env(data_dir=str(tmp_path / "data"), demo="false", worker_metrics_port=str(port))
    try:
        worker = await TextcastProcess.start(["worker"], env, tmp_path / "worker.log")
        code = await worker.exit_code(START_TIMEOUT)
        await worker.stop()
    finally:
        server.close()
        await server.wait_closed()
    assert code == 1, worker.output()
    assert "cannot start" in worker.output() and "Traceback" not in worker.output()


# --- one dispatcher per SQLite file ----------------------------------------------


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """`serve` in demo mode on a SQLite file, and the same settings for a worker
    (which then sends to the simulator that `serve` runs)."""
    return base_env(
        data_dir=str(tmp_path / "data"),
        port=str(free_port()),
        simulator_port=str(free_port()),
        demo="true",
        admin_api_key="tc_" + secrets.token_hex(16),
    )


def api_url(env: dict[str, str], path: str) -> str:
    return f"http://127.0.0.1:{env['TEXTCAST_PORT']}{path}"


def lock_note(env: dict[str, str]) -> str:
    path = Path(env["TEXTCAST_DATA_DIR"]) / ("textcast.db" + dispatch_lock.SUFFIX)
    return path.read_text() if path.exists() else ""


async def serving(env: dict[str, str], serve: TextcastProcess) -> None:
    async def healthy() -> bool:
        return (await get(api_url(env, "/healthz")))[0] == 200

    await until(healthy, "serve answers /healthz", serve)


async def test_a_worker_refuses_a_sqlite_file_that_serve_dispatches_from(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    async with running(["serve"], sqlite_env, tmp_path / "serve.log") as serve:
        await serving(sqlite_env, serve)
        worker = await TextcastProcess.start(["worker"], sqlite_env, tmp_path / "worker.log")
        code = await worker.exit_code(START_TIMEOUT)
        await worker.stop()
        output = worker.output()
    assert code == 1, output
    assert "another dispatcher already uses the SQLite database" in output
    assert f"textcast serve (pid {serve.pid} " in output
    assert "Traceback" not in output


async def test_serve_runs_its_api_without_a_dispatcher_while_a_worker_holds_the_file(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    async with running(["worker"], sqlite_env, tmp_path / "worker.log") as worker:
        await until(lambda: f"pid {worker.pid} " in lock_note(sqlite_env), "worker locks", worker)
        async with running(["serve"], sqlite_env, tmp_path / "serve.log") as serve:
            await serving(sqlite_env, serve)
            assert "not dispatching from this process: textcast worker" in serve.output()
            assert f"(pid {worker.pid} " in serve.output()
            assert "Dispatcher: off in this process" in serve.output()
            message_id = await send_through_api(sqlite_env)

            async def sent_by_the_worker() -> bool:
                return await message_status(sqlite_env, message_id) == "delivered"

            await until(sent_by_the_worker, "the worker sends what serve queued", worker)


async def test_the_lock_is_released_when_its_worker_is_killed(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    first = await TextcastProcess.start(["worker"], sqlite_env, tmp_path / "first.log")
    await until(lambda: f"pid {first.pid} " in lock_note(sqlite_env), "first worker locks", first)
    await first.stop(sig=signal.SIGKILL)
    async with running(["worker"], sqlite_env, tmp_path / "second.log") as second:
        await until(
            lambda: f"pid {second.pid} " in lock_note(sqlite_env), "second worker locks", second
        )


async def send_through_api(env: dict[str, str]) -> int:
    headers = {"Authorization": f"Bearer {env['TEXTCAST_ADMIN_API_KEY']}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            api_url(env, "/api/v1/messages"),
            headers=headers,
            json={"to": "+14155552671", "body": "sent by the worker"},
        ) as response,
    ):
        body = await response.json()
        assert response.status == 202, body
        return int(body["id"])


async def message_status(env: dict[str, str], message_id: int) -> str:
    headers = {"Authorization": f"Bearer {env['TEXTCAST_ADMIN_API_KEY']}"}
    status, text = await get(api_url(env, f"/api/v1/messages/{message_id}"), headers)
    assert status == 200, text
    return str(json.loads(text)["status"])
