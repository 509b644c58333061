"""Twilio Programmable Messaging (REST API 2010-04-01).

Sends form-encoded ``Messages.json`` requests with HTTP Basic auth (Account SID
and auth token), reads the message resource back, and turns Twilio's status
callbacks into :class:`StatusUpdate`. The same code talks to the built-in
simulator: only ``base_url`` differs.
"""

from __future__ import annotations

import builtins
import functools
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import quote_plus, urlencode

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from textcast import error_codes, status
from textcast.callback_meta import QUERY_MARKER
from textcast.errors import ProviderError
from textcast.providers.base import (
    Balance,
    OutboundMessage,
    Provider,
    SendResult,
    StatusUpdate,
)
from textcast.providers.http import (
    TRANSPORT_ERRORS,
    HttpClient,
    basic_auth,
    parse_retry_after,
    transport_error,
)

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"

# Twilio's vocabulary mapped onto Textcast's (the message resource's
# ``status``, and a status callback's ``MessageStatus``).
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
# Twilio's statuses of inbound messages. They say nothing about an outbound
# message's delivery: a callback naming one is understood, and changes nothing.
INBOUND_STATUSES = frozenset({"receiving", "received"})
KNOWN_STATUSES = frozenset(STATUS_MAP) | INBOUND_STATUSES
# Answers worth another try besides every 5xx: request timeout, too many requests.
RETRYABLE_4XX = frozenset({408, 429})
# Clock skew allowed between Textcast and Twilio when matching a message's creation time.
CLOCK_SKEW = timedelta(minutes=1)
# Pages of the newest messages to one number a look-up reads before giving up
# on telling whether Twilio got a message (a thousand since it was created).
LOOKUP_PAGES = 20


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
        http_status, answer = await self._exchange(http, "POST", self._messages_url, body)
        return _send_result(answer, http_status)

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
    ) -> Sequence[SendResult] | None:
        """Twilio's messages to the same number from the same sender (number or
        Messaging Service) with the same body and media count, created since
        ``since`` (less :data:`CLOCK_SKEW`), newest first.

        The message resource does not carry the StatusCallback URL, so the
        ``meta`` naming the Textcast message cannot be matched on. None when
        :data:`LOOKUP_PAGES` pages did not reach back to ``since``.
        """
        query = {"To": message.to, "PageSize": "50"}
        if message.sender_type != "messaging_service":
            query["From"] = message.sender_id
        earliest = since - CLOCK_SKEW
        url: str | None = f"{self._messages_url}?{urlencode(query)}"
        found: list[SendResult] = []
        for _ in range(LOOKUP_PAGES):
            if url is None:
                return found
            answer = await self._request(http, "GET", url)
            items = answer.get("messages") or []
            found.extend(_send_result(item) for item in items if _could_be(item, message, earliest))
            if any(_created_before(item, earliest) for item in items):
                return found  # newest first: the rest are older still
            next_page = answer.get("next_page_uri")
            url = f"{self.config.base_url}{next_page}" if next_page else None
        return found if url is None else None

    async def _request(
        self, http: HttpClient, method: str, url: str, form: bytes | None = None
    ) -> dict[str, Any]:
        return (await self._exchange(http, method, url, form))[1]

    async def _exchange(
        self, http: HttpClient, method: str, url: str, form: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One call to Twilio (``form`` already encoded): the HTTP status and the
        JSON answer. Every failure leaves here as ProviderError: an error answer
        as Twilio coded it, an accepted one that is not a message resource as
        ``unreadable_answer``, a failed exchange as the HTTP seam names it
        (:func:`~textcast.providers.http.transport_error`)."""
        await http.check_target(url)
        # Encoded by the caller: aiohttp's FormData path costs ~20% of a send's CPU.
        headers = self._auth if form is None else self._form_headers
        try:
            async with http.session.request(
                method, url, data=form, headers=headers, timeout=http.timeout, allow_redirects=False
            ) as response:
                payload = await _json_or_text(response)
                if response.status < 300 and isinstance(payload, dict):
                    return response.status, payload
                raise _error_from(response, payload)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, "Twilio") from None


def _send_result(resource: Mapping[str, Any], http_status: int | None = None) -> SendResult:
    """A message resource (a send's answer, or one found by a look-up) as a SendResult."""
    return SendResult(
        provider_message_id=resource.get("sid"),
        status=STATUS_MAP.get(str(resource.get("status")), status.ACCEPTED),
        segments=_int_or_none(resource.get("num_segments")),
        raw=resource,
        http_status=http_status,
        **_error_of(resource),
    )


def _could_be(resource: Mapping[str, Any], message: OutboundMessage, earliest: datetime) -> bool:
    """Whether a message resource Twilio listed could be ``message``."""
    created = _rfc2822(resource.get("date_created"))
    service = message.sender_id if message.sender_type == "messaging_service" else None
    return (
        created is not None
        and created >= earliest
        and resource.get("direction", "outbound-api") != "inbound"
        and resource.get("body") == message.body
        and _int_or_none(resource.get("num_media")) in (None, len(message.media_urls))
        and (service is None or resource.get("messaging_service_sid") == service)
    )


def _created_before(resource: Mapping[str, Any], earliest: datetime) -> bool:
    created = _rfc2822(resource.get("date_created"))
    return created is not None and created < earliest


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


def _escape(value: str) -> str:
    return _FORM_UNSAFE.sub(_form_escape, value) if value.isascii() else quote_plus(value)


# For the values every send repeats: the API's field names, and the base URLs
# of StatusCallbacks.
_escape_cached = functools.lru_cache(maxsize=256)(_escape)


def _form_quote(value: str) -> str:
    # Every StatusCallback is one of a few base URLs with its message's own
    # meta, which needs no escaping: each base URL is escaped once (6 µs a
    # send otherwise). Escaping goes character by character, so escaping the
    # parts apart gives what escaping the whole would.
    base, marker, meta = value.rpartition(QUERY_MARKER)
    if marker and not _FORM_UNSAFE.search(meta):
        return _escape_cached(base + marker) + meta
    return _escape(value)


def encode_form(pairs: list[tuple[str, str]]) -> bytes:
    """``application/x-www-form-urlencoded`` bytes, identical to ``urlencode(pairs)``."""
    fields = (f"{_escape_cached(name)}={_form_quote(value)}" for name, value in pairs)
    return "&".join(fields).encode()


def parse_status_callback(form: Mapping[str, str]) -> StatusUpdate | None:
    """A status callback's fields as an update; None when it names no status of
    an outbound message's: an inbound one (:data:`INBOUND_STATUSES`, which an
    outbound message never moves to) or one Twilio does not define."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw_status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if raw_status in INBOUND_STATUSES:
        return None  # understood: a message Twilio received, not one it delivers
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
    if response.status < 300:
        # Accepted, but the answer is not a message resource: Twilio may have the
        # message, and its ID is lost. A look-up finds out (see base.UNANSWERED_CODES).
        return ProviderError(
            "unreadable_answer",
            f"Twilio's answer could not be read: {message[:200]}",
            permanent=False,
            http_status=response.status,
        )
    retryable = (
        response.status >= 500
        or response.status in RETRYABLE_4XX
        or (error_codes.lookup(code) is not None and not error_codes.is_permanent(code))
    )
    return ProviderError(
        code=code,
        message=message,
        permanent=not retryable,
        http_status=response.status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


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
