"""`python -m textcast ...` as a real subprocess, its output in a log file:
for tests that start `serve` and `worker` the way an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import aiohttp


class TextcastProcess:
    def __init__(self, process: asyncio.subprocess.Process, log: Path, handle: IO[bytes]) -> None:
        self.process = process
        self.log = log
        self._handle = handle

    @classmethod
    async def start(cls, args: list[str], env: dict[str, str], log: Path) -> TextcastProcess:
        handle = log.open("wb")
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "textcast",
                *args,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=handle,
                stderr=asyncio.subprocess.STDOUT,
            )
        except BaseException:
            handle.close()
            raise
        return cls(process, log, handle)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, tail: int | None = None) -> str:
        """What the process printed so far (its last ``tail`` characters)."""
        if not self._handle.closed:
            self._handle.flush()
        text = self.log.read_text(errors="replace")
        return text if tail is None else text[-tail:]

    async def exit_code(self, timeout: float) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, timeout: float = 30.0, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Send ``sig`` and wait for the exit code; SIGKILL (and answer None) if
        it does not exit within ``timeout``."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            return None
        self._handle.close()
        return code

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        self._handle.close()


@contextlib.asynccontextmanager
async def running(
    args: list[str], env: dict[str, str], log: Path
) -> AsyncIterator[TextcastProcess]:
    """The process for the block, stopped (SIGTERM, then SIGKILL) after it."""
    process = await TextcastProcess.start(args, env, log)
    try:
        yield process
    finally:
        await process.stop()


START_TIMEOUT = 60.0


async def until(
    check: Callable[[], Any], what: str, process: TextcastProcess, timeout: float = START_TIMEOUT
) -> None:
    """Poll ``check()`` (sync or async) until truthy, failing with ``process``'s output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.process.returncode is None, (
            f"{what}: process exited {process.process.returncode}:\n{process.output()}"
        )
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s:\n{process.output()}")


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
            return response.status, await response.text()
    except aiohttp.ClientError:
        return 0, ""


def base_env(**settings: str) -> dict[str, str]:
    """This environment without any TEXTCAST_ setting, plus ``settings`` as
    TEXTCAST_<NAME> variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTCAST_")}
    env.update({f"TEXTCAST_{name.upper()}": value for name, value in settings.items()})
    return env
