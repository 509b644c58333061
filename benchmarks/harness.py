"""What the benchmarks share: the simulator in a child process, the provider
on it, a throwaway PostgreSQL database, a free port. Imported by the scripts beside it."""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import socket
import time
from pathlib import Path

import aiohttp
import asyncpg

SID = "AC" + "b" * 32
TOKEN = "bench-token-" + "x" * 20


def provider_payload(sim_url: str, name: str = "bench") -> dict[str, object]:
    """A Twilio provider on the simulator with one short code fast enough that
    the provider's pace never limits a benchmark."""
    sender = {"name": name, "type": "short_code", "sender_id": "12345", "mps": 10_000}
    return {
        "name": name,
        "type": "twilio",
        "account_sid": SID,
        "auth_token": TOKEN,
        "base_url": sim_url,
        "senders": [sender],
    }


def _proc_cpu_seconds(stat: Path) -> float:
    """CPU of one process and of its children that have exited, from /proc (0
    when it has gone). PostgreSQL's backends exit with their connections: their
    time then shows in the postmaster's children's time."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU per message used by this process with its finished children (Textcast
    or the raw client), by the simulator, and by PostgreSQL's processes (Linux
    /proc). The machine's two cores are shared by all three, so these say which
    one a run is waiting for."""

    def __init__(self, simulator_pid: int, messages: int) -> None:
        self._simulator = Path(f"/proc/{simulator_pid}/stat")
        self._messages = messages
        self._started = self._read()

    def start(self) -> None:
        self._started = self._read()

    def per_message(self) -> dict[str, float]:
        """Microseconds per message since :meth:`start`, as ``cpu_<part>`` keys."""
        now = self._read()
        return {
            f"cpu_{part}": (now[part] - self._started[part]) * 1e6 / self._messages for part in now
        }

    def _read(self) -> dict[str, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "client": time.process_time() + children.ru_utime + children.ru_stime,
            "simulator": _proc_cpu_seconds(self._simulator),
            "postgres": postgres_cpu(),
        }


def postgres_cpu() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (Linux /proc)."""
    return sum(
        _proc_cpu_seconds(pid / "stat")
        for pid in Path("/proc").glob("[0-9]*")
        if _read(pid / "comm") == "postgres"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_simulator(port: int) -> None:
    """Child-process target: the simulator in fast mode (no callbacks) for SID/TOKEN."""
    from aiohttp import web

    from textcast.simulator import SimulatorConfig, SimulatorState, create_app

    state = SimulatorState(SimulatorConfig(callbacks=False))
    state.add_account(SID, TOKEN)
    web.run_app(create_app(state), host="127.0.0.1", port=port, access_log=None, print=None)


async def wait_until_up(
    url: str, path: str = "/_simulator/healthz", timeout: float = 30.0, what: str = "simulator"
) -> None:
    """Wait until GET ``url + path`` answers 200."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}{path}") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


async def fresh_pg_database(dsn: str, prefix: str = "textcast_bench") -> tuple[str, str]:
    """Create an empty database; returns (name, SQLAlchemy async URL)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = dsn.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    return name, url


async def drop_pg_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def process_cpu(pid: int) -> float:
    """CPU seconds one live process has used so far (Linux /proc)."""
    return _proc_cpu_seconds(Path(f"/proc/{pid}/stat"))
