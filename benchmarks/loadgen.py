"""A lean HTTP/1.1 load generator: keep-alive connections replaying
pre-built requests, one in flight per connection.

aiohttp's client spends about as much CPU per request as a small server does,
so on a two-core machine a benchmark driven by it measures the client as much
as the server. This one writes ready-made request bytes and reads only the
status line and Content-Length of each answer, so the server under test is
what sets the pace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit


def post_form(url: str, params: Sequence[tuple[str, str]], headers: dict[str, str]) -> bytes:
    """The bytes of one keep-alive form POST to ``url``."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    body = urlencode(params).encode()
    lines = [
        f"POST {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get(url: str) -> bytes:
    """The bytes of one keep-alive GET of ``url``."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            status = self._answer()
            if status is not None:
                self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed before the answer"))

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def _answer(self) -> int | None:
        """The status of a complete answer at the head of the buffer, consumed."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        length = 0
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else None])
        if len(self.buffer) < end + 4 + length:
            return None
        del self.buffer[: end + 4 + length]
        return int(head[9:12])


@dataclass
class Run:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answered: dict[int, int] = field(default_factory=dict)  # request index → HTTP status


async def replay(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    *,
    stop_after: int | None = None,
) -> Run:
    """Send every request once over ``concurrency`` connections. A request whose
    connection breaks gets no entry in ``answered`` (the sender moves on, as a
    provider whose callback timed out would, and retries later)."""
    run = Run()
    next_index = 0
    loop = asyncio.get_running_loop()

    async def connect() -> _Connection | None:
        try:
            _, connection = await loop.create_connection(_Connection, host, port)
        except OSError:
            return None
        return connection

    async def worker() -> None:
        nonlocal next_index
        connection: _Connection | None = None
        while next_index < len(requests) and (stop_after is None or next_index < stop_after):
            index = next_index
            next_index += 1
            if connection is None or connection.closed:
                connection = await connect()
                if connection is None:
                    continue
            started = time.perf_counter()
            try:
                status = await connection.send(requests[index])
            except ConnectionError:
                connection = None
                continue
            run.latencies.append(time.perf_counter() - started)
            run.answered[index] = status
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.seconds = time.perf_counter() - started
    return run
