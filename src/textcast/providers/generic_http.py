"""Any HTTP SMS API: method, endpoint, optional Basic auth, headers, and
parameters as a query string, a form, JSON or a raw body, with ``$$To``,
``$$Body``, ``$$From`` and ``$$Secret.<name>`` placeholders.

Success is any 2xx unless a rule on the answer says otherwise; the provider's
message ID is extracted the same way. Presets (``presets.py``) fill all of
this in from a few credentials.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from textcast.errors import ProviderError, ValidationFailed
from textcast.providers import http_template as tpl
from textcast.providers.base import (
    HttpClient,
    OutboundMessage,
    Provider,
    SendResult,
    basic_auth,
    validate_models,
)

RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


class ResponseRule(BaseModel):
    """Where to look in the answer: a JSON path (optionally compared) or a regex."""

    model_config = ConfigDict(extra="forbid")

    json_path: str | None = None
    equals: str | None = None
    regex: str | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    def extract(self, text: str, document: Any) -> str | None:
        if self.json_path:
            found = tpl.json_path(document, self.json_path)
            return None if found is None or isinstance(found, dict | list) else str(found)
        if self.regex:
            match = re.search(self.regex, text)
            return match.group(1) if match and match.groups() else match.group(0) if match else None
        return None

    def holds(self, text: str, document: Any) -> bool:
        found = self.extract(text, document)
        return found is not None and (self.equals is None or found == self.equals)


class GenericConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    preset: str | None = None
    method: Literal["GET", "POST"] = "POST"
    url: str = Field(min_length=8, max_length=2000)
    basic_username: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    body_format: Literal["form", "json", "raw"] = "form"
    body: str | None = Field(None, max_length=20000, description="raw or JSON body template")
    content_type: str | None = None
    to_format: Literal["e164", "e164_no_plus"] = "e164"
    success: ResponseRule | None = None
    message_id: ResponseRule | None = None
    error_code: ResponseRule | None = None
    error_message: ResponseRule | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _body_needs_post(self) -> GenericConfig:
        if self.method == "GET" and self.body:
            raise ValueError("a GET request cannot carry a body; use params or the URL")
        return self


class GenericSecrets(BaseModel):
    model_config = ConfigDict(extra="ignore")

    basic_password: SecretStr | None = None
    credentials: dict[str, SecretStr] = Field(default_factory=dict)


class GenericHttpProvider(Provider):
    type: ClassVar[str] = "generic"
    config_model: ClassVar[builtins.type[BaseModel]] = GenericConfig
    secrets_model: ClassVar[builtins.type[BaseModel]] = GenericSecrets
    config: GenericConfig
    secrets: GenericSecrets

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> tuple[BaseModel, BaseModel]:
        """A preset with its credentials, or a full custom definition."""
        from textcast.providers.presets import build_preset

        if payload.get("preset"):
            payload = build_preset(str(payload["preset"]), payload)
        auth = payload.get("auth") or {}
        if not isinstance(auth, dict):
            raise ValidationFailed("auth", 'expected {"username": ..., "password": ...}')
        merged = {
            **payload,
            "basic_username": auth.get("username", payload.get("basic_username")),
            "basic_password": auth.get("password", payload.get("basic_password")),
        }
        config, secrets = validate_models(GenericConfig, GenericSecrets, merged)
        _check_placeholders(config, secrets)  # type: ignore[arg-type]
        return config, secrets

    def endpoints(self) -> list[str]:
        return [self.config.url.split("$$")[0] or self.config.url]

    def _values(self, message: OutboundMessage) -> dict[str, str]:
        to = message.to if self.config.to_format == "e164" else message.to.lstrip("+")
        values = {"To": to, "Body": message.body, "From": message.sender_id}
        values.update(
            {f"Secret.{k}": v.get_secret_value() for k, v in self.secrets.credentials.items()}
        )
        return values

    def build_request(self, message: OutboundMessage) -> tuple[str, dict[str, str], bytes | None]:
        """(url, headers, body) exactly as they will be sent."""
        values, cfg = self._values(message), self.config
        url = tpl.render(cfg.url, values, tpl.url_encoded)
        headers = {k: tpl.render(v, values, tpl.header_value) for k, v in cfg.headers.items()}
        params = {k: tpl.render(v, values) for k, v in cfg.params.items()}
        body: bytes | None = None
        if cfg.method == "GET":
            if params:
                url += ("&" if "?" in url else "?") + urlencode(params, quote_via=quote)
        elif cfg.body is not None:
            json_body = cfg.body_format == "json" or "json" in (cfg.content_type or "")
            encode = (
                tpl.json_escaped
                if json_body
                else tpl.form_encoded
                if cfg.body_format == "form"
                else str
            )
            body = tpl.render(cfg.body, values, encode).encode()
            headers.setdefault(
                "Content-Type",
                cfg.content_type
                or ("application/json" if json_body else "text/plain; charset=utf-8"),
            )
        elif cfg.body_format == "json":
            body = json.dumps(params, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urlencode(params).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return url, headers, body

    async def send(self, http: HttpClient, message: OutboundMessage) -> SendResult:
        try:
            url, headers, body = self.build_request(message)
        except tpl.TemplateError as exc:
            raise ProviderError("template", str(exc), permanent=True) from None
        await http.check_target(url)
        if self.config.basic_username:
            password = (
                self.secrets.basic_password.get_secret_value()
                if self.secrets.basic_password
                else ""
            )
            user = tpl.render(self.config.basic_username, self._values(message))
            headers.update(basic_auth(user, password))
        try:
            async with http.session.request(
                self.config.method, url, data=body, headers=headers, timeout=http.timeout
            ) as response:
                text = await response.text(errors="replace")
                return self._result(response.status, response.headers.get("Retry-After"), text)
        except TimeoutError:
            raise ProviderError(
                "timeout", "the provider did not answer in time", permanent=False
            ) from None
        except aiohttp.ClientError as exc:
            raise ProviderError(
                "network", f"cannot reach the provider: {exc}", permanent=False
            ) from None

    def _result(self, status: int, retry_after: str | None, text: str) -> SendResult:
        try:
            document: Any = json.loads(text) if text else None
        except ValueError:
            document = None
        ok = 200 <= status < 300 and (
            self.config.success is None or self.config.success.holds(text, document)
        )
        if ok:
            rule = self.config.message_id
            return SendResult(
                rule.extract(text, document) if rule else None,
                raw={"status": status, "body": text[:1000]},
            )
        code = self.config.error_code.extract(text, document) if self.config.error_code else None
        detail = (
            self.config.error_message.extract(text, document) if self.config.error_message else None
        )
        raise ProviderError(
            code=code or f"http_{status}",
            message=detail or text[:300] or f"HTTP {status}",
            permanent=status not in RETRYABLE_HTTP,
            http_status=status,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )


def _check_placeholders(config: GenericConfig, secrets: GenericSecrets) -> None:
    """Refuse templates that name secrets nobody configured — at save time, not at send time."""
    templates = [
        config.url,
        config.basic_username or "",
        config.body or "",
        *config.headers.values(),
        *config.params.values(),
    ]
    for template in templates:
        for name in tpl.names_in(template):
            if (
                name.startswith("Secret.")
                and name.removeprefix("Secret.") not in secrets.credentials
            ):
                raise ValidationFailed(
                    "credentials", f"the template uses $${name} but no such credential is set"
                )
