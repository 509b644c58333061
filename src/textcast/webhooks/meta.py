"""The ``meta`` attribution parameter carried in every StatusCallback URL.

Format: ``<message id>.<sender id>.<signature>`` where the signature is the
first 16 hex digits of HMAC-SHA256(provider webhook secret, "<message id>.<sender id>").
Twilio hands the URL back untouched, and a customer's relay forwards it, so a
callback is attributed to its message even before the provider's message ID
is recorded, and nobody can forge the attribution without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SIGNATURE_HEX = 16


@dataclass(frozen=True)
class Meta:
    message_id: int
    sender_id: int


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def sign_meta(secret: str, message_id: int, sender_id: int) -> str:
    payload = f"{message_id}.{sender_id}"
    return f"{payload}.{_signature(secret, payload)}"


def verify_meta(secret: str, value: str | None) -> Meta | None:
    """The attribution in ``value``, or None when absent, malformed or forged."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    expected = _signature(secret, f"{parts[0]}.{parts[1]}")
    if not hmac.compare_digest(expected, parts[2]):
        return None
    return Meta(int(parts[0]), int(parts[1]))


def with_meta(url: str, meta: str) -> str:
    """``url`` with ``meta`` added to its query string (other parameters kept)."""
    if "?" not in url and "#" not in url:  # the usual case, on every send: skip the parsing
        return f"{url}?{urlencode([('meta', meta)])}"
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "meta"]
    query.append(("meta", meta))
    return urlunsplit(parts._replace(query=urlencode(query)))
