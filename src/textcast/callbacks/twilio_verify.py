"""Who sent a Twilio callback: the checks every Twilio webhook goes through,
whichever way it reached Textcast.

A request is accepted when one of these holds, tried in order:

1. ``X-Twilio-Signature`` matches the URL Textcast was called at (rebuilt
   from X-Forwarded-Proto/-Host behind a proxy; with and without the default
   port) — Twilio called Textcast directly;
2. it matches the sender's custom callback URL plus this request's ``meta`` —
   Twilio called the customer's URL, which relayed the request unchanged;
3. ``X-Textcast-Signature`` is valid for the provider's relay secret over the
   raw body (the raw query string for GET) — a relay that cannot forward
   Twilio's header signed it itself.

Anything else is :class:`WebhookRejected` with 403. Nothing here knows about
a web framework: routes and the status-callback front door build a
:class:`CallbackRequest` and call :func:`verify`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from sqlalchemy import select

from textcast import hmac_signing
from textcast.callback_meta import Meta, verify_meta, with_meta
from textcast.callbacks.signature import public_url
from textcast.callbacks.signature import verify as twilio_signature_valid
from textcast.context import Context
from textcast.db.models import Provider as ProviderRow
from textcast.db.models import Sender

# Twilio's callbacks are a few hundred bytes; even 1,600-character replies fit easily.
MAX_BODY_BYTES = 64 * 1024
AUTH_CACHE_SECONDS = 5.0


class WebhookRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CallbackRequest:
    """A webhook request as the checks need it."""

    method: str
    url: str  # as the caller used it: public scheme and host, raw path and query
    headers: Mapping[str, str]  # names in lower case
    params: list[tuple[str, str]]  # the POST form, or the GET query
    raw: bytes  # what the relay signature covers: the body, or the GET query string
    query: list[tuple[str, str]]

    @property
    def meta_value(self) -> str | None:
        return next((v for k, v in reversed(self.query) if k == "meta"), None)


def callback_request(
    method: str,
    scheme: str,
    host: str,
    raw_path: bytes,
    query_string: bytes,
    headers: Mapping[str, str],
    body: bytes,
) -> CallbackRequest:
    """Parse a request's parameters: strictly UTF-8, else 400. ``headers`` must
    have lower-case names."""
    try:
        query = parse_form(query_string)
        params, raw = (query, query_string) if method == "GET" else (parse_form(body), body)
    except UnicodeDecodeError:
        raise WebhookRejected(400, "the request is not valid UTF-8 form data") from None
    target = raw_path + (b"?" + query_string if query_string else b"")
    # Behind a proxy, the URL Twilio called is the proxy's (the names here are lower case).
    scheme = _first(headers.get("x-forwarded-proto")) or scheme
    host = _first(headers.get("x-forwarded-host")) or host
    url = public_url(scheme, host, target.decode("latin-1"), headers, trust_forwarded=False)
    return CallbackRequest(method, url, headers, params, raw, query)


def _first(value: str | None) -> str:
    return value.split(",", 1)[0].strip() if value else ""


def parse_form(data: bytes) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` fields, in order: what
    ``parse_qsl(keep_blank_values=True)`` returns, but strict (text that is not
    UTF-8 raises UnicodeDecodeError instead of becoming U+FFFD) and about three
    times faster on callbacks, whose fields mostly need no unquoting."""
    pairs = []
    for field in data.decode("utf-8").split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name, errors="strict")
        if "%" in value or "+" in value:
            value = unquote_plus(value, errors="strict")
        pairs.append((name, value))
    return pairs


@dataclass(frozen=True)
class ProviderAuth:
    """What a Twilio provider's callbacks are checked with."""

    auth_token: str
    webhook_secret: str  # signs ``meta``
    custom_callback_urls: dict[int, str]  # by sender ID
    relay_secret: str | None
    loaded_at: float


class ProviderAuthCache:
    """Each provider's secrets, decrypted and kept a few seconds: callbacks come
    in bursts, and a rotated token is picked up almost at once."""

    def __init__(self, ctx: Context, ttl: float = AUTH_CACHE_SECONDS) -> None:
        self.ctx = ctx
        self.ttl = ttl
        self._cache: dict[int, ProviderAuth] = {}
        self._loading: dict[int, asyncio.Future[ProviderAuth]] = {}

    async def get(self, provider_id: int) -> ProviderAuth:
        cached = self._cache.get(provider_id)
        if cached is not None and time.monotonic() - cached.loaded_at < self.ttl:
            return cached
        # One load per provider at a time: a burst of callbacks shares it.
        loading = self._loading.get(provider_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(provider_id))
            self._loading[provider_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(provider_id, None))
        auth = await asyncio.shield(loading)
        self._cache[provider_id] = auth
        return auth

    async def _load(self, provider_id: int) -> ProviderAuth:
        async with self.ctx.sessions() as session:
            row = await session.get(ProviderRow, provider_id)
            if row is None or row.deleted_at is not None or row.type != "twilio":
                raise WebhookRejected(404, f"no Twilio provider {provider_id}")
            rows = await session.execute(
                select(Sender.id, Sender.custom_callback_url).where(
                    Sender.provider_id == provider_id, Sender.custom_callback_url.is_not(None)
                )
            )
            custom = {sender_id: str(url) for sender_id, url in rows}
        box = self.ctx.box
        relay = row.relay_secret_encrypted
        return ProviderAuth(
            auth_token=str(box.decrypt(row.secrets_encrypted)["auth_token"]),
            webhook_secret=str(box.decrypt(row.webhook_secret_encrypted)),
            custom_callback_urls=custom,
            relay_secret=str(box.decrypt(relay)) if relay else None,
            loaded_at=time.monotonic(),
        )


# Longest value stored for these fields (the columns' sizes). Twilio's own are
# far shorter (a SID is 34 characters, a number 16 at most); anything longer is
# refused with 400 rather than cut or failed with a database error.
FIELD_LIMITS = {"MessageSid": 100, "SmsSid": 100, "From": 32, "To": 64}


def check_field_lengths(params: list[tuple[str, str]]) -> None:
    for name, value in params:
        limit = FIELD_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            raise WebhookRejected(400, f"{name} is longer than {limit} characters")


def verify(auth: ProviderAuth, request: CallbackRequest) -> Meta | None:
    """The request's verified ``meta`` (None when it has none), or WebhookRejected:
    403 when no signature holds, 400 when a signed field cannot be stored."""
    meta = _verified_meta(auth, request)
    check_field_lengths(request.params)
    return meta


def _verified_meta(auth: ProviderAuth, request: CallbackRequest) -> Meta | None:
    signature = request.headers.get("x-twilio-signature")
    signed_params = request.params if request.method == "POST" else []
    meta_value = request.meta_value
    meta = verify_meta(auth.webhook_secret, meta_value)
    if twilio_signature_valid(auth.auth_token, signature, request.url, signed_params):
        return meta
    # Relayed through the sender's custom callback URL: Twilio signed that URL, not ours.
    custom = auth.custom_callback_urls.get(meta.sender_id) if meta else None
    if (
        custom
        and meta_value
        and twilio_signature_valid(
            auth.auth_token, signature, with_meta(custom, meta_value), signed_params
        )
    ):
        return meta
    # A relay that cannot forward Twilio's header signs with Textcast's own scheme.
    relay_signature = request.headers.get("x-textcast-signature")
    if relay_signature and auth.relay_secret:
        if hmac_signing.verify([auth.relay_secret], relay_signature, request.raw):
            return meta
        raise WebhookRejected(403, "invalid or expired X-Textcast-Signature")
    raise WebhookRejected(403, "invalid or missing X-Twilio-Signature")
