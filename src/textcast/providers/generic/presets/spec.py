"""What a preset is: a provider's documented send API, the values the user
supplies for it, and how the two expand into a full generic definition."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from textcast.errors import ValidationFailed
from textcast.providers.generic.config import GenericConfig, GenericSecrets, parse_definition

Builder = Callable[[Mapping[str, str], str], dict[str, Any]]
PRESET_KEYS = frozenset({"preset", "credentials", "base_url", "base_url_override"})


@dataclass(frozen=True)
class PresetField:
    """One value the user supplies; ``secret`` ones are stored encrypted, never shown."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    default: str | None = None
    help: str = ""


@dataclass(frozen=True)
class Preset:
    """A provider's documented send API; ``build(values, base_url)`` gives the definition."""

    name: str
    title: str
    docs_url: str
    base_url: str
    fields: tuple[PresetField, ...]
    build: Builder = field(repr=False)

    def configure(
        self, credentials: Mapping[str, str], **overrides: Any
    ) -> tuple[GenericConfig, GenericSecrets]:
        """The validated models for these values, as ``GenericHttpProvider`` stores them."""
        payload = {**overrides, "preset": self.name, "credentials": dict(credentials)}
        return parse_definition(self.expand(payload))

    def expand(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The full generic definition for the user's ``payload`` (credentials and overrides).

        Secret fields go to ``credentials`` and are referenced as ``$$Secret.<name>``;
        anything else in ``payload`` (headers, rules) overrides the preset.
        """
        given = payload.get("credentials") or {}
        if not isinstance(given, dict):
            raise ValidationFailed(
                "credentials", "expected an object of credential names to values"
            )
        values: dict[str, str] = {}
        for spec in self.fields:
            value = given.get(spec.name, spec.default)
            if value in (None, "") and spec.required:
                raise ValidationFailed(
                    f"credentials.{spec.name}", f"{self.title} needs {spec.label}"
                )
            if value not in (None, ""):
                if not spec.secret and "$$" in str(value):
                    # Plain values are pasted into templates; "$$" would read as a placeholder.
                    raise ValidationFailed(f"credentials.{spec.name}", 'cannot contain "$$"')
                values[spec.name] = str(value)
        base = _base_url(payload) or self.base_url
        definition = self.build(values, base)
        secret_names = {spec.name for spec in self.fields if spec.secret}
        password_ref = definition.pop("basic_password", None)
        overrides = {k: v for k, v in payload.items() if k not in PRESET_KEYS}
        result: dict[str, Any] = {**definition, **overrides, "preset": self.name}
        result["credentials"] = {k: v for k, v in values.items() if k in secret_names}
        if password_ref:
            result["basic_password"] = values[password_ref.removeprefix("$$Secret.")]
        return result


def _base_url(payload: Mapping[str, Any]) -> str | None:
    """The ``base_url_override`` origin (``base_url`` is accepted too), without a slash."""
    for key in ("base_url_override", "base_url"):
        value = payload.get(key)
        if value:
            parts = urlsplit(str(value))
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
                raise ValidationFailed(key, "expected an http(s) origin like https://host:port")
            return str(value).rstrip("/")
    return None


def path_segment(value: str) -> str:
    """A user's value as one URL path segment."""
    return quote(value, safe="")
