"""The provider interface: what every SMS provider package implements.

Providers are small, async and stateless apart from their configuration. They
never touch the database: the dispatcher and the webhook receivers do that with
what providers return. Every failure leaves a provider as :class:`ProviderError`
(``permanent`` says whether a retry can help); they reach the outside world
through the seam in :mod:`textcast.providers.http`.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel

from textcast.errors import ProviderError
from textcast.providers.http import HttpClient


# OutboundMessage and SendResult are made once per send: plain dataclasses with
# slots (0.4 µs to build), not frozen ones (3.5 µs). Treat them as read-only.
@dataclass(slots=True)
class OutboundMessage:
    """One message as the dispatcher hands it to a provider."""

    message_id: int
    to: str
    body: str
    sender_type: str
    sender_id: str
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None
    # The provider's template ID (India DLT, or a Twilio Content SID HX…) and,
    # for a Content SID, its variables as the JSON object text Twilio takes.
    template_id: str | None = None
    content_variables: str | None = None


@dataclass(slots=True)
class SendResult:
    """What the provider said when it accepted a message.

    ``status`` is a Textcast status: usually ``accepted`` or ``queued`` for a
    send; a look-up after a crash may find any status, final ones with the
    provider's error code. ``http_status`` is the answer's, when there was one.
    """

    provider_message_id: str | None
    status: str = "accepted"
    segments: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    http_status: int | None = None


@dataclass(frozen=True)
class StatusUpdate:
    """A message's state as the provider reports it (callback or look-up)."""

    provider_message_id: str
    status: str
    error_code: str | None = None
    error_message: str | None = None
    done_at: datetime | None = None  # when the carrier says it delivered (or gave up)


@dataclass(frozen=True)
class Balance:
    amount: str
    currency: str


# The codes a provider raises when its request may have reached the provider
# but no answer came back: a timeout, a connection lost after the request was
# written, an answer that could not be read. The message may have been
# accepted, so it is never resent as a plain retry (see
# textcast.dispatch.outcomes.unanswered). A provider that knows its request
# never left (no connection could be made) raises another code, such as
# ``unreachable``, which is retried as usual.
UNANSWERED_CODES = frozenset({"timeout", "network", "unreadable_answer"})


def may_have_arrived(error: ProviderError) -> bool:
    """Whether the provider may have the message although the send failed.

    An HTTP error answer (4xx, 5xx) proves the provider answered, and refused.
    """
    answered_with_error = error.http_status is not None and error.http_status >= 300
    return error.code in UNANSWERED_CODES and not answered_with_error


class Provider(ABC):
    """Base class of provider implementations.

    Subclasses declare ``type`` (the registry key), ``config_model`` (settings
    stored in clear) and ``secrets_model`` (settings stored encrypted, masked
    in every answer).
    """

    type: ClassVar[str]
    config_model: ClassVar[builtins.type[BaseModel]]
    secrets_model: ClassVar[builtins.type[BaseModel]]

    def __init__(self, config: BaseModel, secrets: BaseModel) -> None:
        self.config = config
        self.secrets = secrets

    @abstractmethod
    async def send(self, http: HttpClient, message: OutboundMessage) -> SendResult:
        """Submit one message; raise :class:`ProviderError` when it is refused."""

    async def balance(self, http: HttpClient) -> Balance:
        """The account balance; providers without one keep this default."""
        raise ProviderError("unsupported", f"{self.type} providers have no balance API", True)

    async def verify_credentials(self, http: HttpClient) -> None:
        """Raise :class:`ProviderError` when the credentials are refused.

        The default does nothing: many HTTP APIs have no side-effect-free check.
        """
        return None

    async def fetch_status(self, http: HttpClient, provider_message_id: str) -> StatusUpdate | None:
        """Look a message up at the provider (reconciliation); None when unsupported."""
        return None

    async def find_sent(
        self, http: HttpClient, message: OutboundMessage, since: datetime
    ) -> Sequence[SendResult] | None:
        """Every message the provider holds that could be ``message`` (sent since
        ``since`` to the same number, from the same sender, with the same
        content), to tell whether an attempt without a recorded answer reached it.

        An empty list means the provider never got it; None means it cannot
        tell (no look-up: the default, or too much to search). Raises
        :class:`ProviderError` when the question got no answer, to be asked
        again later. The caller picks the match: providers never see the
        database, so they cannot know which of these Textcast already recorded.
        Only called on providers with ``supports_lookup``.
        """
        return None

    supports_lookup: ClassVar[bool] = False

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> tuple[BaseModel, BaseModel]:
        """Split an API payload into (config, secrets), raising ``ValidationFailed``."""
        return validate_models(cls.config_model, cls.secrets_model, payload)

    def endpoints(self) -> list[str]:
        """URLs this provider will call, so the SSRF guard can vet them at save time."""
        return []


def validate_models(
    config_model: type[BaseModel], secrets_model: type[BaseModel], payload: Mapping[str, Any]
) -> tuple[BaseModel, BaseModel]:
    """Validate a payload into both models, naming the first bad field on failure."""
    from pydantic import ValidationError

    from textcast.errors import ValidationFailed

    try:
        return config_model.model_validate(payload), secrets_model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise ValidationFailed(field, first["msg"]) from None
