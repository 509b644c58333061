"""Twilio request signatures (``X-Twilio-Signature``).

The signature is base64(HMAC(auth token, URL + every POST parameter's name and
value, names sorted)). A repeated parameter contributes each distinct value, in
sorted order. Twilio signs the URL exactly as it called it, sometimes with the
default port and sometimes without, so both forms are tried. JSON bodies are
signed over the URL alone, which carries ``bodySHA256`` of the body. HMAC-SHA1
is what Twilio uses with the account's auth token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

Params = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]
ALGORITHMS = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
DEFAULT_PORTS = {"https": 443, "http": 80}


def _grouped(params: Params) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    items = params.items() if isinstance(params, Mapping) else params
    for name, value in items:
        values = [value] if isinstance(value, str) else list(value)
        grouped.setdefault(name, set()).update(values)
    return grouped


def compute_signature(
    auth_token: str, url: str, params: Params = (), algorithm: str = "HMAC_SHA1"
) -> str:
    payload = url
    for name, values in sorted(_grouped(params).items()):
        for value in sorted(values):
            payload += name + value
    digest = hmac.new(auth_token.encode(), payload.encode(), ALGORITHMS[algorithm]).digest()
    return base64.b64encode(digest).decode()


def candidate_urls(url: str) -> list[str]:
    """``url`` as given, with the default port added, and with it removed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    default = DEFAULT_PORTS.get(parts.scheme)
    urls = [url]
    if parts.port is None and default:
        urls.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    if parts.port is not None and parts.port == default:
        urls.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return urls


def public_url(
    scheme: str,
    host: str,
    path_and_query: str,
    headers: Mapping[str, str],
    trust_forwarded: bool = True,
) -> str:
    """The URL the caller used, rebuilt behind a proxy from X-Forwarded-Proto/Host."""
    if trust_forwarded:
        scheme = _first(headers.get("x-forwarded-proto")) or scheme
        host = _first(headers.get("x-forwarded-host")) or host
    return f"{scheme}://{host}{path_and_query}"


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def verify(
    auth_token: str,
    signature: str | None,
    url: str,
    params: Params = (),
    body: bytes | None = None,
    algorithm: str = "HMAC_SHA1",
) -> bool:
    """Whether ``signature`` is Twilio's for this request (constant-time compare)."""
    if not signature:
        return False
    body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
    if body_hash and body is not None:
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), body_hash[0]):
            return False
        params = ()
    return any(
        hmac.compare_digest(compute_signature(auth_token, candidate, params, algorithm), signature)
        for candidate in candidate_urls(url)
    )
