"""Twilio Programmable Messaging (REST API 2010-04-01).

Sends form-encoded ``Messages.json`` requests with HTTP Basic auth (Account SID
and auth token), reads the message resource back, and turns Twilio's status
callbacks into :class:`StatusUpdate`. The same code talks to the built-in
simulator: only ``base_url`` differs.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import quote_plus, urlencode

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from textcast import error_codes, status
from textcast.errors import ProviderError
from textcast.providers.base import (
    Balance,
    HttpClient,
    OutboundMessage,
    Provider,
    SendResult,
    StatusUpdate,
    basic_auth,
)

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"

# Twilio's vocabulary mapped onto Textcast's; inbound-only states are absent.
STATUS_MAP: Mapping[str, str] = {
    "queued": status.ACCEPTED,
    "accepted": status.ACCEPTED,
    "scheduled": status.SCHEDULED,
    "sending": status.SENDING,
    "sent": status.SENT,
    "delivered": status.DELIVERED,
    "undelivered": status.UNDELIVERED,
    "failed": status.FAILED,
    "canceled": status.CANCELED,
    "read": status.READ,
}
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})


class TwilioConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="AC + 32 hex digits")
    base_url: str = Field(
        DEFAULT_BASE_URL, description="API origin; change for the simulator or an edge"
    )

    @field_validator("base_url")
    @classmethod
    def _origin_only(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class TwilioSecrets(BaseModel):
    model_config = ConfigDict(extra="ignore")

    auth_token: SecretStr = Field(min_length=8, description="Twilio auth token")


class TwilioProvider(Provider):
    type: ClassVar[str] = "twilio"
    config_model: ClassVar[builtins.type[BaseModel]] = TwilioConfig
    secrets_model: ClassVar[builtins.type[BaseModel]] = TwilioSecrets
    config: TwilioConfig
    secrets: TwilioSecrets

    @property
    def _account_url(self) -> str:
        return f"{self.config.base_url}/{API_VERSION}/Accounts/{self.config.account_sid}"

    @property
    def _auth(self) -> dict[str, str]:
        return basic_auth(self.config.account_sid, self.secrets.auth_token.get_secret_value())

    # Built once per provider instance (the dispatcher rebuilds it when its row
    # changes): base64 and string formatting on every send showed in profiles.
    @cached_property
    def _messages_url(self) -> str:
        return f"{self._account_url}/Messages.json"

    @cached_property
    def _form_headers(self) -> dict[str, str]:
        return {**self._auth, "Content-Type": "application/x-www-form-urlencoded"}

    def endpoints(self) -> list[str]:
        return [self.config.base_url]

    async def send(self, http: HttpClient, message: OutboundMessage) -> SendResult:
        body = encode_form(send_form(message))
        answer = await self._request(http, "POST", self._messages_url, body)
        return SendResult(
            provider_message_id=answer.get("sid"),
            status=STATUS_MAP.get(str(answer.get("status")), status.ACCEPTED),
            segments=_int_or_none(answer.get("num_segments")),
            raw=answer,
            **_error_of(answer),
        )

    async def balance(self, http: HttpClient) -> Balance:
        answer = await self._request(http, "GET", f"{self._account_url}/Balance.json")
        return Balance(amount=str(answer.get("balance")), currency=str(answer.get("currency")))

    async def verify_credentials(self, http: HttpClient) -> None:
        await self.balance(http)

    async def fetch_status(self, http: HttpClient, provider_message_id: str) -> StatusUpdate | None:
        url = f"{self._account_url}/Messages/{provider_message_id}.json"
        answer = await self._request(http, "GET", url)
        return StatusUpdate(
            provider_message_id=provider_message_id,
            status=STATUS_MAP.get(str(answer.get("status")), status.UNKNOWN),
            error_code=_str_or_none(answer.get("error_code")),
            error_message=_str_or_none(answer.get("error_message")),
        )

    supports_lookup: ClassVar[bool] = True

    async def find_sent(
        self, http: HttpClient, message: OutboundMessage, since: datetime
    ) -> SendResult | None:
        """Match by To (and From), body and creation time among the newest messages."""
        query = {"To": message.to, "PageSize": "50"}
        if message.sender_type != "messaging_service":
            query["From"] = message.sender_id
        answer = await self._request(
            http, "GET", f"{self._account_url}/Messages.json?{urlencode(query)}"
        )
        for item in answer.get("messages") or []:
            created = _rfc2822(item.get("date_created"))
            if (
                item.get("body") == message.body
                and created is not None
                and created >= since - timedelta(minutes=1)
            ):
                return SendResult(
                    provider_message_id=item.get("sid"),
                    status=STATUS_MAP.get(str(item.get("status")), status.ACCEPTED),
                    segments=_int_or_none(item.get("num_segments")),
                    raw=item,
                    **_error_of(item),
                )
        return None

    async def _request(
        self, http: HttpClient, method: str, url: str, form: bytes | None = None
    ) -> dict[str, Any]:
        """One call to Twilio (``form`` already encoded); every failure leaves here
        as ProviderError."""
        await http.check_target(url)
        # Encoded by the caller: aiohttp's FormData path costs ~20% of a send's CPU.
        headers = self._auth if form is None else self._form_headers
        try:
            async with http.session.request(
                method, url, data=form, headers=headers, timeout=http.timeout, allow_redirects=False
            ) as response:
                payload = await _json_or_text(response)
                if response.status < 300 and isinstance(payload, dict):
                    return payload
                raise _error_from(response, payload)
        except ProviderError:
            raise
        except TimeoutError:
            raise ProviderError(
                "timeout", "Twilio did not answer in time", permanent=False
            ) from None
        except aiohttp.ClientError as exc:
            raise ProviderError("network", f"cannot reach Twilio: {exc}", permanent=False) from None


def send_form(message: OutboundMessage) -> list[tuple[str, str]]:
    """The ``Messages.json`` form, as Twilio's API definition names its fields."""
    form = [("To", message.to)]
    if message.sender_type == "messaging_service":
        form.append(("MessagingServiceSid", message.sender_id))
    else:
        form.append(("From", message.sender_id))
    if message.body:
        form.append(("Body", message.body))
    form.extend(("MediaUrl", url) for url in message.media_urls)
    if message.status_callback:
        form.append(("StatusCallback", message.status_callback))
    return form


# What urlencode() writes for each ASCII character it does not leave as is
# (quote_plus, safe=""). Replacing only those characters with one regex pass
# costs about half of urlencode's per-byte quoting, which profiles showed at a
# tenth of a send's CPU.
_FORM_UNSAFE = re.compile(r"[^A-Za-z0-9_.~-]")
_FORM_ESCAPES = {chr(code): "+" if code == 0x20 else f"%{code:02X}" for code in range(128)}


def _form_escape(match: re.Match[str]) -> str:
    return _FORM_ESCAPES[match.group()]


def _form_quote(value: str) -> str:
    return _FORM_UNSAFE.sub(_form_escape, value) if value.isascii() else quote_plus(value)


def encode_form(pairs: list[tuple[str, str]]) -> bytes:
    """``application/x-www-form-urlencoded`` bytes, identical to ``urlencode(pairs)``."""
    return "&".join(f"{_form_quote(name)}={_form_quote(value)}" for name, value in pairs).encode()


def parse_status_callback(form: Mapping[str, str]) -> StatusUpdate | None:
    """A status callback's fields as an update; None when it names no known status."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    mapped = STATUS_MAP.get(raw_status)
    if not sid or mapped is None:
        return None
    code = form.get("ErrorCode") or None
    done_at = parse_dlr_done_date(form.get("RawDlrDoneDate"))
    return StatusUpdate(sid, mapped, code, error_codes.describe(code) if code else None, done_at)


def _error_of(resource: Mapping[str, Any]) -> dict[str, str | None]:
    """A message resource's error, described from the catalogue when Twilio gave no text."""
    code = _str_or_none(resource.get("error_code"))
    text = _str_or_none(resource.get("error_message"))
    description = error_codes.describe(code) if code else None
    return {"error_code": code, "error_message": text or description}


def parse_dlr_done_date(value: str | None) -> datetime | None:
    """``RawDlrDoneDate`` (YYMMDDhhmm, the carrier's receipt time, taken as UTC).

    None when absent or malformed.
    """
    if not value or len(value) != 10 or not value.isdigit():
        return None
    try:
        return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


async def _json_or_text(response: aiohttp.ClientResponse) -> Any:
    # json.loads reads UTF-8 bytes itself; skipping response.text() skips its
    # charset detection on every answer.
    raw = await response.read()
    try:
        return json.loads(raw)
    except ValueError:  # also UnicodeDecodeError
        return (await response.text(errors="replace"))[:500]


def _error_from(response: aiohttp.ClientResponse, payload: Any) -> ProviderError:
    body = payload if isinstance(payload, dict) else {}
    code = str(body.get("code") or f"http_{response.status}")
    message = str(body.get("message") or payload or response.reason or "error")
    retryable = response.status in RETRYABLE_HTTP or (
        error_codes.lookup(code) is not None and not (error_codes.is_permanent(code))
    )
    return ProviderError(
        code=code,
        message=message,
        permanent=not retryable,
        http_status=response.status,
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        # An HTTP-date: honour it as seconds from now.
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _rfc2822(value: Any) -> datetime | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
