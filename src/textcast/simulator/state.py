"""What the simulator knows: accounts, behaviour settings, accepted messages, logs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import random
import re
import time
from collections import Counter
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SimulatorConfig(BaseModel):
    """Behaviour knobs, changeable at run time with ``PATCH /_simulator/config``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    failure_ratio: float = Field(
        0.0, ge=0, le=1, description="share of accepted messages that end failed/undelivered"
    )
    failure_codes: list[int] = Field(
        default_factory=lambda: [30003, 30005, 30006, 30007, 30008], min_length=1
    )
    latency_ms: float = Field(0.0, ge=0, le=60_000, description="added before answering a POST")
    callback_delay_ms: float = Field(20.0, ge=0, le=60_000, description="between status changes")
    duplicate_callback_ratio: float = Field(0.0, ge=0, le=1, description="callbacks sent twice")
    out_of_order_ratio: float = Field(
        0.0, ge=0, le=1, description="final callback sent before the one preceding it"
    )
    rate_limit_ratio: float = Field(0.0, ge=0, le=1, description="POSTs answered 429 / 20429")
    callbacks: bool = Field(True, description="False = fast mode: no status callbacks at all")
    seed: int | None = Field(None, description="makes every random decision reproducible")
    balance: str = "20.00"
    currency: str = "USD"


@dataclass
class Account:
    sid: str
    auth_token: str
    trial: bool = False
    verified_numbers: set[str] = field(default_factory=set)


@dataclass
class SimulatedMessage:
    """One accepted message and the fate decided for it at acceptance.

    ``steps`` are the statuses after creation in the order they happen, one every
    ``step_seconds``; ``status`` is derived from the clock, so a message progresses
    (and can be fetched in its final state) even when no callbacks are sent.
    """

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: list[str]
    num_segments: int
    status_callback: str | None
    params: list[tuple[str, str]]  # the form exactly as posted, repeats included
    date_created: datetime
    initial_status: str
    steps: tuple[str, ...]
    step_seconds: float
    error_code: int | None = None
    duplicate_callbacks: bool = False
    out_of_order: bool = False
    created_at: float = field(default_factory=time.monotonic)

    @property
    def outcome(self) -> str:
        return self.steps[-1]

    def reached(self) -> int:
        """How many of ``steps`` have happened by now."""
        if self.step_seconds <= 0:
            return len(self.steps)
        # The epsilon keeps float division from landing just short of a boundary.
        done = int((time.monotonic() - self.created_at) / self.step_seconds + 1e-9)
        return min(len(self.steps), done)

    @property
    def status(self) -> str:
        done = self.reached()
        return self.steps[done - 1] if done else self.initial_status

    def step_time(self, index: int) -> datetime:
        """Wall-clock time of ``steps[index]``."""
        return self.date_created + timedelta(seconds=self.step_seconds * (index + 1))


@dataclass
class CallbackRecord:
    """One callback attempt; ``http_status`` is None when the target was unreachable."""

    message_sid: str
    status: str
    url: str
    http_status: int | None
    error: str | None = None
    idempotency_token: str = ""
    attempt: int = 1  # 2 for the duplicate of a callback
    at: str = field(default_factory=lambda: now().isoformat())


ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


class SimulatorState:
    """Everything one simulator instance holds; safe to inspect from tests.

    With ``open_accounts`` (demo mode) any well-formed Account SID (AC and 32
    hexadecimal digits) is accepted with any token: the first request
    registers the account with the token it carries, and later requests must
    carry the same token, as with Twilio.
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, open_accounts: bool = False
    ) -> None:
        self.config = config or SimulatorConfig()
        self.open_accounts = open_accounts
        self.accounts: dict[str, Account] = {}
        self.messages: dict[str, SimulatedMessage] = {}
        self.callback_log: list[CallbackRecord] = []
        self.post_count = 0  # every POST to Messages.json, accepted or not
        self.post_counts: Counter[tuple[str, str]] = Counter()  # per (To, Body), likewise
        self.tasks: set[asyncio.Task[None]] = set()  # callbacks in flight
        self.rng = random.Random(self.config.seed)
        self._auth_cache: dict[str, Account] = {}

    def add_account(
        self,
        sid: str,
        auth_token: str,
        trial: bool = False,
        verified_numbers: Iterable[str] = (),
    ) -> Account:
        """Add or replace an account the simulator accepts."""
        account = Account(sid, auth_token, trial, set(verified_numbers))
        self.accounts[sid] = account
        self._auth_cache.clear()
        return account

    def authenticate(self, authorization: str) -> Account | None:
        """The account whose SID and token an ``Authorization: Basic`` header carries."""
        cached = self._auth_cache.get(authorization)
        if cached is not None:
            return cached
        scheme, _, encoded = authorization.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        account = self.accounts.get(user)
        if account is None and self.open_accounts and ACCOUNT_SID.fullmatch(user) and password:
            account = self.add_account(user, password)
        if (
            scheme.lower() != "basic"
            or account is None
            or not hmac.compare_digest(account.auth_token.encode(), password.encode())
        ):
            return None
        self._auth_cache[authorization] = account  # only valid headers are kept: few
        return account

    def count_post(self, to: str, body: str) -> int:
        """Count a POST for (To, Body); returns how many there have been, this one included."""
        self.post_counts[to, body] += 1
        return self.post_counts[to, body]

    def fate_rng(self, to: str, body: str, nth: int) -> random.Random:
        """The random source deciding one message's fate.

        With a seed, it depends only on (seed, To, Body, nth POST of that pair), so
        outcomes repeat run after run whatever the order concurrent requests arrive in.
        """
        if self.config.seed is None:
            return self.rng
        return random.Random(f"{self.config.seed}\x00{to}\x00{body}\x00{nth}")

    def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        """Run ``job`` in the background, keeping a reference so it is not collected."""
        task = asyncio.create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel_tasks(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def reseed(self) -> None:
        self.rng = random.Random(self.config.seed)

    def reset(self) -> None:
        """Forget messages, counters and logs (accounts and config stay)."""
        self.messages.clear()
        self.callback_log.clear()
        self.post_count = 0
        self.post_counts.clear()
        self.reseed()


def now() -> datetime:
    return datetime.now(UTC)
