"""Sending through Twilio's REST API: form-encoded ``Messages.json`` requests
with HTTP Basic auth (Account SID and auth token), the balance, and the message
resource read back for reconciliation and crash recovery. The same code talks
to the built-in simulator: only ``base_url`` differs.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import BaseModel

from textcast import status
from textcast.providers.base import (
    Balance,
    OutboundMessage,
    Provider,
    SendResult,
    StatusUpdate,
)
from textcast.providers.http import TRANSPORT_ERRORS, HttpClient, basic_auth, transport_error
from textcast.providers.twilio.answers import (
    could_be,
    created_before,
    error_from,
    json_or_text,
    send_result,
    str_or_none,
)
from textcast.providers.twilio.config import API_VERSION, TwilioConfig, TwilioSecrets
from textcast.providers.twilio.form import CONTENT_SID, encode_form, send_form
from textcast.providers.twilio.statuses import STATUS_MAP

# Clock skew allowed between Textcast and Twilio when matching a message's creation time.
CLOCK_SKEW = timedelta(minutes=1)
# Pages of the newest messages to one number a look-up reads before giving up
# on telling whether Twilio got a message (a thousand since it was created).
LOOKUP_PAGES = 20


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
        return send_result(answer, http_status)

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
            error_code=str_or_none(answer.get("error_code")),
            error_message=str_or_none(answer.get("error_message")),
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
        :data:`LOOKUP_PAGES` pages did not reach back to ``since``, and for a
        Content template send, whose body Twilio writes from the template
        (it cannot be compared with ours).
        """
        if message.template_id and CONTENT_SID.match(message.template_id):
            return None
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
            found.extend(send_result(item) for item in items if could_be(item, message, earliest))
            if any(created_before(item, earliest) for item in items):
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
                payload = await json_or_text(response)
                if response.status < 300 and isinstance(payload, dict):
                    return response.status, payload
                raise error_from(response, payload)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, "Twilio") from None
