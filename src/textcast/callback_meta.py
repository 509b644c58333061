"""The ``meta`` attribution parameter carried in every StatusCallback URL.

Format: ``v2.<payload>.<signature>``. ``payload`` is unpadded base64url of a
compact JSON object: ``m`` message ID, ``s`` sender ID, and when known ``c``
contact ID, ``cp`` campaign, ``va`` the campaign's A/B variant, ``au``
automation. ``signature`` is the first 16
hex digits of HMAC-SHA256(provider webhook secret, "v2.<payload>").

Twilio hands the URL back untouched and a customer's relay forwards it, so a
callback is attributed to its message (and the relay can read the campaign,
contact and sender without asking Textcast) even before the provider's
message ID is recorded; nobody can forge the attribution without the secret.
The first format, ``<message id>.<sender id>.<signature>``, is still accepted
for messages sent before it changed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

SIGNATURE_HEX = 16
# How with_meta joins the meta to a callback URL without a query of its own.
QUERY_MARKER = "?meta="
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")
VERSION = "v2"


@dataclass(frozen=True)
class Meta:
    message_id: int
    sender_id: int
    contact_id: int | None = None
    campaign: str | None = None
    automation: str | None = None
    variant: str | None = None


def _signature(secret: str, payload: str) -> str:
    inner, outer = _keyed(secret)
    inner = inner.copy()
    inner.update(payload.encode())
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()[:SIGNATURE_HEX]


@functools.lru_cache(maxsize=64)
def _keyed(secret: str) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256 (RFC 2104) keyed with ``secret``: the inner and outer hashes
    with the padded key already absorbed.

    Every send signs a meta. ``hmac.digest`` derives this state from the key
    each time (and with OpenSSL 3 fetches the digest too): 3.7 µs a signature
    against 1.7 µs for copying these two.
    """
    key = secret.encode()
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_INNER_PAD))
    outer = hashlib.sha256(key.translate(_OUTER_PAD))
    return inner, outer


_BLOCK = hashlib.sha256().block_size
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


def sign_meta(
    secret: str,
    message_id: int,
    sender_id: int,
    *,
    contact_id: int | None = None,
    campaign: str | None = None,
    automation: str | None = None,
    variant: str | None = None,
) -> str:
    if campaign is None and automation is None and variant is None:
        # The usual send, numbers only: the JSON json.dumps would write, without it.
        contact = "" if contact_id is None else f',"c":{int(contact_id)}'
        text = f'{{"m":{int(message_id)},"s":{int(sender_id)}{contact}}}'
    else:
        fields: dict[str, Any] = {"m": message_id, "s": sender_id}
        optional = {"c": contact_id, "cp": campaign, "va": variant, "au": automation}
        fields.update({k: v for k, v in optional.items() if v is not None})
        text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    payload = f"{VERSION}.{base64.urlsafe_b64encode(text.encode()).rstrip(b'=').decode()}"
    return f"{payload}.{_signature(secret, payload)}"


def verify_meta(secret: str, value: str | None) -> Meta | None:
    """The attribution in ``value``, or None when absent, malformed or forged."""
    if not value:
        return None
    return _verified(secret, value)


# A message's callbacks (sent, delivered, ...) all carry its meta: check it once.
@functools.lru_cache(maxsize=4096)
def _verified(secret: str, value: str) -> Meta | None:
    parts = value.split(".")
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():  # the first format
        if not hmac.compare_digest(_signature(secret, f"{parts[0]}.{parts[1]}"), parts[2]):
            return None
        return Meta(int(parts[0]), int(parts[1]))
    if len(parts) != 3 or parts[0] != VERSION:
        return None
    if not hmac.compare_digest(_signature(secret, f"{parts[0]}.{parts[1]}"), parts[2]):
        return None
    return _decode(parts[1])


def _decode(payload: str) -> Meta | None:
    try:
        fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(fields, dict):
        return None
    message_id, sender_id = fields.get("m"), fields.get("s")
    if not isinstance(message_id, int) or not isinstance(sender_id, int):
        return None
    contact = fields.get("c")
    return Meta(
        message_id,
        sender_id,
        contact_id=contact if isinstance(contact, int) else None,
        campaign=_text(fields.get("cp")),
        automation=_text(fields.get("au")),
        variant=_text(fields.get("va")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def with_meta(url: str, meta: str) -> str:
    """``url`` with ``meta`` added to its query string (other parameters kept)."""
    if "?" not in url and "#" not in url:  # the usual case, on every send: skip the parsing
        # What sign_meta makes is URL-safe already (base64url, digits, dots).
        value = meta if _URL_SAFE.fullmatch(meta) else quote_plus(meta)
        return f"{url}{QUERY_MARKER}{value}"
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "meta"]
    query.append(("meta", meta))
    return urlunsplit(parts._replace(query=urlencode(query)))
