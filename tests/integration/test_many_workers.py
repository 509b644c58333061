"""Three `textcast worker` processes share one PostgreSQL queue: every message is
sent exactly once, nothing is left behind, the work is really shared, and a
sender's pace holds across the processes together."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text

from tests.conftest import Simulator, free_port, twilio_provider_payload
from tests.integration.helpers import ahead_of_pace
from tests.integration.processes import TextcastProcess, base_env, get, until
from textcast.config import Settings
from textcast.context import Context
from textcast.db.models import Base, Message, SendAttempt
from textcast.services import messages as message_service
from textcast.services.providers import create_provider
from textcast.simulator import SimulatorConfig, SimulatorState, start_simulator

pytestmark = pytest.mark.postgres

MESSAGES = 5_000
WORKERS = 3
DRAIN_TIMEOUT = 120.0
SHUTDOWN_TIMEOUT = 30.0  # the worker's own in-flight grace is 20 s


async def truncate(ctx: Context) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with ctx.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def worker_env(settings: Settings, secret_key: str, **more: str) -> dict[str, str]:
    return base_env(
        database_url=settings.effective_database_url,
        secret_key=secret_key,
        data_dir=str(settings.data_dir),
        allow_private_targets="true",
        demo="false",
        public_url=settings.effective_public_url,
        **more,
    )


async def pending(ctx: Context) -> int:
    async with ctx.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.status.in_(("queued", "dispatching")))
        )
    return int(count or 0)


async def lease_owners(ctx: Context) -> set[str]:
    """Workers holding claims right now (leases are cleared once a send is recorded)."""
    async with ctx.sessions() as session:
        owners = await session.scalars(
            select(Message.lease_owner).where(Message.lease_owner.is_not(None)).distinct()
        )
        return {owner for owner in owners if owner}


def owner_pid(owner: str) -> int:
    """The pid inside a worker id ``host:pid:object``."""
    return int(owner.rsplit(":", 2)[-2])


@dataclass
class Shared:
    """A PostgreSQL queue, a simulator and one Twilio provider for worker processes."""

    settings: Settings
    secret_key: str
    ctx: Context
    state: SimulatorState
    sim_url: str
    workers: list[TextcastProcess] = field(default_factory=list)

    async def start_worker(self, log: Path, **settings: str) -> TextcastProcess:
        env = worker_env(self.settings, self.secret_key, **settings)
        worker = await TextcastProcess.start(["worker", "--log-level", "warning"], env, log)
        self.workers.append(worker)
        return worker


@contextlib.asynccontextmanager
async def shared_queue(
    pg_url: str, tmp_path: Path, senders: list[dict[str, Any]]
) -> AsyncIterator[Shared]:
    """Everything the workers share; workers, simulator and context stopped after."""
    secret_key = Fernet.generate_key().decode()
    settings = Settings(
        database_url=pg_url,
        data_dir=tmp_path / "data",
        secret_key=secret_key,
        demo=False,
        allow_private_targets=True,
        public_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: callbacks are off
        dispatch_poll_interval=0.02,
    )
    settings.data_dir.mkdir(parents=True)
    ctx = Context.create(settings)
    state = SimulatorState(SimulatorConfig(callbacks=False))
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    state.add_account(sid, token)
    sim_port = free_port()
    runner = await start_simulator(state, "127.0.0.1", sim_port)
    shared = Shared(settings, secret_key, ctx, state, f"http://127.0.0.1:{sim_port}")
    try:
        await truncate(ctx)
        async with ctx.session() as session:
            simulator = Simulator(state, shared.sim_url, sid, token)
            payload = twilio_provider_payload(simulator, senders=senders)
            await create_provider(ctx, session, payload)
        yield shared
    finally:
        for worker in shared.workers:
            await worker.kill()
        await runner.cleanup()
        await ctx.close()


async def test_three_workers_send_each_message_exactly_once(pg_url: str, tmp_path: Path) -> None:
    short = {"name": "short", "type": "short_code", "sender_id": "12345", "mps": 10_000}
    async with shared_queue(pg_url, tmp_path, [short]) as shared:
        settings, ctx, sim_url = shared.settings, shared.ctx, shared.sim_url
        rows: list[object] = [
            {"to": f"+1415200{i % 10_000:04d}", "body": f"many workers message {i}"}
            for i in range(MESSAGES)
        ]
        async with ctx.session() as session:
            queued = await message_service.submit_batch(settings, session, rows)
        assert len(queued.accepted) == MESSAGES, queued.rejected[:3]

        workers = [await shared.start_worker(tmp_path / f"worker-{n}.log") for n in range(WORKERS)]
        pids = {w.process.pid for w in workers}

        # Until the queue is empty, sample who holds leases: proof the work is shared.
        seen_owners: set[str] = set()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        left = MESSAGES
        while left:
            for worker in workers:
                assert worker.process.returncode is None, (
                    f"worker {worker.process.pid} exited {worker.process.returncode}:\n"
                    + worker.output(tail=4000)
                )
            assert time.monotonic() < deadline, f"{left} messages still pending"
            seen_owners |= await lease_owners(ctx)
            left = await pending(ctx)
            await asyncio.sleep(0.02)

        codes = [await worker.stop(SHUTDOWN_TIMEOUT) for worker in workers]
        assert codes == [0] * WORKERS, "\n".join(w.output(tail=4000) for w in workers)

        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{sim_url}/_simulator/messages") as response,
        ):
            seen: dict[str, Any] = await response.json()
        assert seen["post_count"] == MESSAGES
        counts = {item["body"]: item["count"] for item in seen["post_counts"]}
        assert len(counts) == MESSAGES
        assert {b for b, c in counts.items() if c != 1} == set()

        async with ctx.sessions() as session:
            by_status = select(Message.status, func.count()).group_by(Message.status)
            statuses = {row[0]: row[1] for row in await session.execute(by_status)}
            per_message = select(SendAttempt.message_id, func.count()).group_by(
                SendAttempt.message_id
            )
            attempts = {row[0]: row[1] for row in await session.execute(per_message)}
            flagged = await session.scalar(
                select(func.count()).where(Message.possible_duplicate.is_(True))
            )
            leased = await session.scalar(
                select(func.count()).where(Message.lease_owner.is_not(None))
            )
        assert statuses == {"accepted": MESSAGES}
        assert len(attempts) == MESSAGES
        assert set(attempts.values()) == {1}
        assert flagged == 0
        assert leased == 0

        working = {owner_pid(owner) for owner in seen_owners}
        assert working <= pids, (working, pids)
        assert len(working) > 1, f"only worker(s) {working} ever held a lease"


PACED_MPS = 10
PACED_MESSAGES = 60


async def metrics_up(port: int) -> bool:
    status, _ = await get(f"http://127.0.0.1:{port}/metrics")
    return status == 200


async def test_three_worker_processes_hold_one_senders_pace(pg_url: str, tmp_path: Path) -> None:
    """A 10-MPS sender shared by three processes sends about 10 a second between
    them, not 30: every send is checked against the earliest moment the shared
    limiter allows (a burst of one second's worth, then one every 1/10 s),
    counted from before the messages were queued, and the paced part's rate is
    measured over its whole window."""
    sender = {"name": "paced", "type": "long_code", "sender_id": "+15005550006", "mps": PACED_MPS}
    async with shared_queue(pg_url, tmp_path, [sender]) as shared:
        settings, ctx, state = shared.settings, shared.ctx, shared.state
        ports = [free_port() for _ in range(WORKERS)]
        # Small claims, so every process holds some of the sender's messages.
        workers = [
            await shared.start_worker(
                tmp_path / f"paced-{n}.log",
                dispatch_batch_size="4",
                dispatch_poll_interval="0.02",
                worker_metrics_port=str(port),
            )
            for n, port in enumerate(ports)
        ]
        for worker, port in zip(workers, ports, strict=True):
            # Started, so all three claim from the first message on.
            await until(lambda port=port: metrics_up(port), "the worker starts", worker)

        began = datetime.now(UTC)
        rows: list[object] = [
            {"to": f"+1415300{i:04d}", "body": f"paced {i}"} for i in range(PACED_MESSAGES)
        ]
        async with ctx.session() as session:
            await message_service.submit_batch(settings, session, rows)
        seen_owners: set[str] = set()
        deadline = time.monotonic() + 60
        while await pending(ctx):
            assert time.monotonic() < deadline, "\n".join(w.output(tail=2000) for w in workers)
            seen_owners |= await lease_owners(ctx)
            await asyncio.sleep(0.02)

        async with ctx.sessions() as session:
            started = sorted(await session.scalars(select(SendAttempt.started_at)))

    assert len(started) == PACED_MESSAGES == state.post_count
    assert len({owner_pid(owner) for owner in seen_owners}) > 1, seen_owners
    offsets = [(at - began).total_seconds() for at in started]
    early = ahead_of_pace(offsets, PACED_MPS)
    assert not early, early
    # After the first second's burst: 49 intervals at 10 a second, about 4.9 s.
    paced = offsets[PACED_MPS:]
    rate = (len(paced) - 1) / (paced[-1] - paced[0])
    assert 6 <= rate <= 12, (rate, offsets)
