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
a web framework or the database: the receivers in :mod:`textcast.callbacks`
build a :class:`CallbackRequest` with :func:`callback_request`, load the
provider's :class:`ProviderAuth`, and call :func:`verified_meta`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textcast import hmac_signing
from textcast.callback_meta import Meta, verify_meta, with_meta
from textcast.errors import WebhookRejected
from textcast.providers.twilio.form import parse_form
from textcast.providers.twilio.signature import verify as twilio_signature_valid


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
    url = f"{scheme}://{host}{target.decode('latin-1')}"
    return CallbackRequest(method, url, headers, params, raw, query)


def _first(value: str | None) -> str:
    return value.split(",", 1)[0].strip() if value else ""


@dataclass(frozen=True)
class ProviderAuth:
    """What a Twilio provider's callbacks are checked with."""

    auth_token: str
    webhook_secret: str  # signs ``meta``
    custom_callback_urls: dict[int, str]  # by sender ID
    relay_secret: str | None
    loaded_at: float  # time.monotonic() when read, for whoever caches it


def verified_meta(auth: ProviderAuth, request: CallbackRequest) -> Meta | None:
    """The request's verified ``meta`` (None when it has none), or
    :class:`WebhookRejected` with 403 when none of the signatures holds."""
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
