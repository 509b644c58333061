"""What a generic HTTP provider stores: the request shape in clear
(:class:`GenericConfig`), the Basic password and named credentials encrypted
(:class:`GenericSecrets`), and how a full definition is read into both.

Presets (:mod:`textcast.providers.generic.presets`) expand into a definition
that :func:`parse_definition` reads like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from textcast.errors import ValidationFailed
from textcast.providers.base import validate_models
from textcast.providers.generic.answers import ResponseRule
from textcast.providers.generic.receipts import ReceiptMapping
from textcast.providers.generic.template import unknown_secrets


class GenericConfig(BaseModel):
    """The request shape, stored in clear. Secrets appear only as ``$$Secret.<name>``."""

    model_config = ConfigDict(extra="ignore")

    preset: str | None = None
    method: Literal["GET", "POST"] = "POST"
    url: str = Field(min_length=8, max_length=2000)
    basic_username: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    body_format: Literal["form", "json", "raw"] = "form"
    body: str | None = Field(None, max_length=20000, description="body template")
    content_type: str | None = None
    to_format: Literal["e164", "e164_no_plus"] = "e164"
    success: ResponseRule | None = None
    message_id: ResponseRule | None = None
    error_code: ResponseRule | None = None
    error_message: ResponseRule | None = None
    receipt: ReceiptMapping | None = Field(
        None, description="how to read this provider's delivery receipts"
    )
    default_template_id: str | None = Field(
        None,
        max_length=100,
        description="$$TemplateId for messages that carry no template ID of their own",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        if "@" in parts.netloc:
            # The URL is stored in clear; credentials belong in auth or $$Secret.<name>.
            raise ValueError('no credentials in the URL; use "auth": {"username", "password"}')
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or any(c in name for c in ":\r\n \t") or "\r" in text or "\n" in text:
                raise ValueError(f"invalid header {name!r}")
        return value

    def templates(self) -> list[str]:
        """Every string placeholders are replaced in."""
        fixed = [self.url, self.basic_username or "", self.body or ""]
        return [*fixed, *self.headers.values(), *self.params.values()]

    @model_validator(mode="after")
    def _body_fits_method(self) -> GenericConfig:
        if self.method == "GET" and self.body:
            raise ValueError("a GET request cannot carry a body; use params or the URL")
        if self.method == "POST" and self.body_format == "raw" and not self.body:
            raise ValueError('body_format "raw" needs a body template')
        if self.method == "POST" and self.body and self.params:
            raise ValueError("give params or a body template, not both")
        return self


class GenericSecrets(BaseModel):
    """Stored encrypted: the Basic password and named values for ``$$Secret.<name>``."""

    model_config = ConfigDict(extra="ignore")

    basic_password: SecretStr | None = None
    credentials: dict[str, SecretStr] = Field(default_factory=dict)


def parse_definition(payload: Mapping[str, Any]) -> tuple[GenericConfig, GenericSecrets]:
    """A full definition (a preset already expanded) as the models stored;
    ``ValidationFailed`` names the field at fault."""
    auth = payload.get("auth") or {}
    if not isinstance(auth, dict):
        raise ValidationFailed("auth", 'expected {"username": ..., "password": ...}')
    merged = {
        **payload,
        "basic_username": auth.get("username", payload.get("basic_username")),
        "basic_password": auth.get("password", payload.get("basic_password")),
    }
    models = validate_models(GenericConfig, GenericSecrets, merged)
    config, secrets = cast(tuple[GenericConfig, GenericSecrets], models)
    # A template naming a missing secret is refused when saved, not when sending.
    unknown = unknown_secrets(config.templates(), secrets.credentials)
    if unknown:
        raise ValidationFailed("credentials", f"$$Secret.{unknown[0]} is used but not set")
    return config, secrets
