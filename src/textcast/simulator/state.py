"""What the simulator knows: accounts, behaviour settings, accepted messages, logs."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field


class SimulatorConfig(BaseModel):
    """Behaviour knobs, changeable at run time with ``PATCH /_simulator/config``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    failure_ratio: float = Field(
        0.0, ge=0, le=1, description="share of messages that end failed/undelivered"
    )
    failure_codes: list[int] = Field(
        default_factory=lambda: [30003, 30005, 30006, 30007, 30008], min_length=1
    )
    latency_ms: float = Field(0.0, ge=0, le=60_000, description="added before answering each POST")
    callback_delay_ms: float = Field(20.0, ge=0, le=60_000, description="between status callbacks")
    duplicate_callback_ratio: float = Field(0.0, ge=0, le=1)
    out_of_order_ratio: float = Field(
        0.0, ge=0, le=1, description="final status sent before 'sent'"
    )
    rate_limit_ratio: float = Field(0.0, ge=0, le=1, description="answer 429 (code 20429)")
    callbacks: bool = Field(True, description="False = fast mode, no status callbacks")
    seed: int | None = None
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
    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: list[str]
    status: str
    num_segments: int
    status_callback: str | None
    params: list[tuple[str, str]]
    date_created: datetime
    error_code: int | None = None
    outcome: str = "delivered"  # what the simulator decided the final status will be


@dataclass
class CallbackRecord:
    message_sid: str
    status: str
    url: str
    http_status: int | None
    error: str | None = None


class SimulatorState:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.accounts: dict[str, Account] = {}
        self.messages: dict[str, SimulatedMessage] = {}
        self.callback_log: list[CallbackRecord] = []
        self.post_count = 0  # every POST to Messages.json, accepted or not
        self.tasks: set[asyncio.Task[None]] = set()  # callbacks in flight
        self.rng = random.Random(self.config.seed)

    def add_account(
        self,
        sid: str,
        auth_token: str,
        trial: bool = False,
        verified_numbers: tuple[str, ...] | list[str] = (),
    ) -> Account:
        account = Account(sid, auth_token, trial, set(verified_numbers))
        self.accounts[sid] = account
        return account

    def reseed(self) -> None:
        self.rng = random.Random(self.config.seed)

    def reset(self) -> None:
        self.messages.clear()
        self.callback_log.clear()
        self.post_count = 0


def now() -> datetime:
    return datetime.now(UTC)
