"""`python -m textcast ...` as a real subprocess, its output in a log file:
for tests that start `serve` and `worker` the way an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO


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
