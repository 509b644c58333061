"""Textcast's exceptions. Third-party errors are translated into these at one boundary."""

from __future__ import annotations

from dataclasses import dataclass


class TextcastError(Exception):
    """Base of every error Textcast raises on purpose."""


class ValidationFailed(TextcastError):
    """Input that names a field and says what is wrong with it (answered as HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(TextcastError):
    """A named thing does not exist (HTTP 404)."""


class Conflict(TextcastError):
    """The request clashes with the current state (HTTP 409)."""


class ConcurrentUpdate(TextcastError):
    """Another process changed a row this transaction read and meant to write:
    run the transaction again."""


class WebhookRejected(TextcastError):
    """A callback request refused before anything was stored; answered with ``status``
    (400 unreadable, 403 not signed, 404 no such receiver, 413 too large, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ProviderError(TextcastError):
    """A provider refused or failed a request.

    ``permanent`` tells the dispatcher whether retrying can help; ``retry_after``
    carries the provider's own hint in seconds when it gave one.
    """

    code: str
    message: str
    permanent: bool
    http_status: int | None = None
    retry_after: float | None = None

    def __post_init__(self) -> None:
        super().__init__(f"[{self.code}] {self.message}")
