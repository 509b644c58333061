"""Any HTTP SMS API: method, endpoint, optional Basic auth, headers, and
parameters as a query string, a form, JSON or a raw body, with ``$$To``,
``$$Body``, ``$$From``, ``$$TemplateId`` and ``$$Secret.<name>`` placeholders.

Success is any 2xx unless a rule on the answer says otherwise; the provider's
message ID is extracted the same way. Presets (``presets``) fill all of
this in from a few credentials.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import aiohttp
from multidict import CIMultiDict
from pydantic import BaseModel

from textcast.errors import ProviderError
from textcast.providers.base import OutboundMessage, Provider, SendResult
from textcast.providers.generic import template as tpl
from textcast.providers.generic.answers import answer_record
from textcast.providers.generic.config import GenericConfig, GenericSecrets, parse_definition
from textcast.providers.generic.presets import build_preset
from textcast.providers.http import (
    NOT_CONNECTED,
    TRANSPORT_ERRORS,
    HttpClient,
    basic_auth,
    parse_retry_after,
    read_answer,
    transport_error,
)

# 408/425/429 and every 5xx can pass on a later try; other statuses will not.
RETRYABLE_4XX = frozenset({408, 425, 429})
RAW_LIMIT = 2000  # characters of the answer kept on the attempt record
ANSWER_LIMIT = 64 * 1024  # bytes of the answer read at most
CONTENT_TYPES = {"form": "application/x-www-form-urlencoded", "json": "application/json"}
PEER = "the provider"  # how transport errors name the other side
# Parameters that are left out, rather than sent empty, when the message has
# no value for them: no receipt URL (test sends, direct provider use), no
# template ID (a message outside India's DLT rules).
OPTIONAL_PARAMS = frozenset({"$$ReceiptURL", "$$TemplateId"})


class GenericHttpProvider(Provider):
    type: ClassVar[str] = "generic"
    config_model: ClassVar[builtins.type[BaseModel]] = GenericConfig
    secrets_model: ClassVar[builtins.type[BaseModel]] = GenericSecrets
    config: GenericConfig
    secrets: GenericSecrets

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> tuple[GenericConfig, GenericSecrets]:
        """A preset with its credentials, or a full custom definition; ``ValidationFailed``
        names the field at fault."""
        if payload.get("preset"):
            payload = build_preset(str(payload["preset"]), payload)
        return parse_definition(payload)

    def endpoints(self) -> list[str]:
        return [self.config.url.split("$$")[0]]

    def _values(self, message: OutboundMessage) -> dict[str, str]:
        to = message.to if self.config.to_format == "e164" else message.to.lstrip("+")
        values = {"To": to, "Body": message.body, "From": message.sender_id}
        if message.status_callback:
            values["ReceiptURL"] = message.status_callback
        template_id = message.template_id or self.config.default_template_id
        if template_id:
            values["TemplateId"] = template_id
        for name, secret in self.secrets.credentials.items():
            values[f"Secret.{name}"] = secret.get_secret_value()
        return values

    def build_request(self, message: OutboundMessage) -> tuple[str, CIMultiDict[str], bytes | None]:
        """(url, headers, body) exactly as they will be sent; raises ``TemplateError``."""
        values, cfg = self._values(message), self.config
        url = tpl.render(cfg.url, values, tpl.url_encoded)
        headers = CIMultiDict(
            (k, tpl.header_value(tpl.render(v, values))) for k, v in cfg.headers.items()
        )
        if cfg.basic_username is not None:
            secret = self.secrets.basic_password
            password = secret.get_secret_value() if secret else ""
            headers.update(basic_auth(tpl.render(cfg.basic_username, values), password))
        params = {
            k: tpl.render(v, values)
            for k, v in cfg.params.items()
            if v not in OPTIONAL_PARAMS or v[2:] in values
        }
        if cfg.method == "GET":
            if params:
                url += ("&" if "?" in url else "?") + urlencode(params, quote_via=quote)
            return url, headers, None
        content_type = cfg.content_type or CONTENT_TYPES.get(cfg.body_format)
        content_type = content_type or "text/plain; charset=utf-8"
        headers.setdefault("Content-Type", content_type)
        if cfg.body is not None:
            encode = tpl.body_encoder(cfg.body_format, headers["Content-Type"])
            return url, headers, tpl.render(cfg.body, values, encode).encode()
        if cfg.body_format == "json":
            return url, headers, json.dumps(params, ensure_ascii=False).encode()
        return url, headers, urlencode(params).encode()

    async def send(self, http: HttpClient, message: OutboundMessage) -> SendResult:
        """POST/GET the message; every failure leaves as ``ProviderError``."""
        try:
            url, headers, body = self.build_request(message)
        except tpl.TemplateError as exc:
            raise ProviderError("template", str(exc), permanent=True) from None
        await http.check_target(url)
        try:
            # No redirects: a 3xx could send the request (and credentials) past the guard.
            async with http.session.request(
                self.config.method,
                url,
                data=body,
                headers=headers,
                timeout=http.timeout,
                allow_redirects=False,
            ) as response:
                text = await read_answer(response, ANSWER_LIMIT)
                return self._result(response.status, response.headers, text)
        except (*NOT_CONNECTED, TimeoutError) as exc:
            # First: a certificate error is a ValueError too, and still "unreachable".
            raise transport_error(exc, PEER) from None
        except (aiohttp.InvalidURL, ValueError):
            # The message would repeat the URL, which may carry a $$Secret value.
            raise ProviderError("invalid_url", "the rendered URL is invalid", True) from None
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, PEER) from None

    def _result(self, status: int, headers: Mapping[str, str], text: str) -> SendResult:
        try:
            document: Any = json.loads(text) if text.strip() else None
        except ValueError:
            document = None
        cfg = self.config
        if 200 <= status < 300 and (cfg.success is None or cfg.success.holds(text, document)):
            found = cfg.message_id.extract(text, document) if cfg.message_id else None
            raw = answer_record(status, text, document, RAW_LIMIT)
            return SendResult(found, raw=raw, http_status=status)
        code = cfg.error_code.extract(text, document) if cfg.error_code else None
        detail = cfg.error_message.extract(text, document) if cfg.error_message else None
        retryable = status >= 500 or status in RETRYABLE_4XX
        raise ProviderError(
            code=code or f"http_{status}",
            message=detail or _describe(status, headers, text),
            permanent=not retryable,
            http_status=status,
            retry_after=parse_retry_after(headers.get("Retry-After")) if retryable else None,
        )


def _describe(status: int, headers: Mapping[str, str], text: str) -> str:
    if 300 <= status < 400:
        where = headers.get("Location", "elsewhere")
        return f"the endpoint redirects (HTTP {status}) to {where}; configure the final URL"
    return text[:300] or f"HTTP {status}"
