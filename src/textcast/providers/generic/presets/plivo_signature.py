"""Plivo's V3 request signature (``X-Plivo-Signature-V3`` and its nonce).

The signed string is the callback URL without its query, then ``?`` and the
query parameters sorted by name as ``k=v`` joined by ``&``; for a POST with
parameters, a ``?`` is always present, a ``.`` follows a non-empty query, and
the body parameters follow sorted, each as name and value run together. The
string, a ``.`` and the nonce are signed with HMAC-SHA256 under the account's
Auth Token; the header holds base64 signatures separated by commas.
Reimplemented from Plivo's published description; tests check it against the
official ``plivo`` SDK.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit, urlunsplit


def _grouped(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def signed_string(method: str, url: str, post_params: Sequence[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    # For GET the parameters are the query itself.
    query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    query_text = "&".join(f"{k}={v}" for k in sorted(query) for v in sorted(query[k]))
    if method.upper() == "GET" or not post_params:
        return f"{base}?{query_text}" if query_text else base
    body = _grouped(post_params)
    body_text = "".join(f"{k}{v}" for k in sorted(body) for v in sorted(body[k]))
    return f"{base}?{query_text}{'.' if query_text else ''}{body_text}"


def compute(
    auth_token: str, method: str, url: str, post_params: Sequence[tuple[str, str]], nonce: str
) -> str:
    message = f"{signed_string(method, url, post_params)}.{nonce}".encode()
    digest = hmac.new(auth_token.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    auth_token: str,
    method: str,
    url: str,
    post_params: Sequence[tuple[str, str]],
    nonce: str | None,
    header: str | None,
) -> bool:
    if not nonce or not header:
        return False
    expected = compute(auth_token, method, url, post_params, nonce)
    return any(hmac.compare_digest(expected, given.strip()) for given in header.split(","))
