"""Twilio request signatures (``X-Twilio-Signature``).

The signature is base64(HMAC-SHA1(auth token, URL + name + value of every POST
parameter, names sorted)). Repeated names follow the ``twilio`` package's
``RequestValidator``, which is the oracle in the tests: each name once, then each
of its *distinct* values in sorted order. Twilio signs the URL exactly as it
called it, sometimes with the scheme's default port and sometimes without, so
both forms are tried. JSON bodies are signed over the URL alone, whose
``bodySHA256`` query parameter carries the hex SHA-256 of the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

Params = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]

# Twilio signs with the auth token using SHA-1; SHA-256 is what its newer shared-key
# webhooks use, kept so one function serves both.
ALGORITHMS: dict[str, Callable[..., Any]] = {
    "HMAC_SHA1": hashlib.sha1,
    "HMAC_SHA256": hashlib.sha256,
}
DEFAULT_PORTS = {"https": "443", "http": "80"}


def _pairs(params: Params) -> Iterable[tuple[str, str | Sequence[str]]]:
    # Starlette's form and query objects keep only the last value in items().
    multi_items = getattr(params, "multi_items", None)
    if callable(multi_items):
        return list(multi_items())
    return params.items() if isinstance(params, Mapping) else params


def _grouped(params: Params) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        values = [value] if isinstance(value, str) else value
        grouped.setdefault(name, set()).update(values)
    return grouped


def compute_signature(
    auth_token: str, url: str, params: Params = (), algorithm: str = "HMAC_SHA1"
) -> str:
    """The ``X-Twilio-Signature`` value for a request to ``url`` with ``params``.

    ``params`` is a mapping (a value may be a list of values), a multidict, or a
    sequence of (name, value) pairs. Raises KeyError for an unknown algorithm.
    """
    return _signature(auth_token.encode(), url, signed_params(params), ALGORITHMS[algorithm])


def signed_params(params: Params) -> str:
    """What the signature covers after the URL: each name once, sorted, followed
    by each of its distinct values, sorted."""
    if isinstance(params, list) and all(type(value) is str for _, value in params):
        # The common case (a parsed form): pairs sorted by name then value, each
        # distinct pair once, is exactly the grouping above.
        return "".join(name + value for name, value in sorted(set(params)))
    payload: list[str] = []
    for name, values in sorted(_grouped(params).items()):
        payload.extend(name + value for value in sorted(values))
    return "".join(payload)


def _signature(key: bytes, url: str, signed: str, digest: Callable[..., Any]) -> str:
    return base64.b64encode(hmac.digest(key, (url + signed).encode(), digest)).decode()


def candidate_urls(url: str) -> list[str]:
    """``url`` as given, then with the scheme's default port added or removed.

    Only the port changes: host case, user info and the rest of the URL stay byte
    for byte as given, since any other change alters the signature.
    """
    try:
        parts = urlsplit(url)
        port = parts.port  # validates the port; raises ValueError when malformed
    except ValueError:
        return [url]
    default = DEFAULT_PORTS.get(parts.scheme.lower())
    if default is None or not parts.netloc:
        return [url]
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if port is None:
        host = hostport.removesuffix(":")  # "host:" has an empty port
        return [url, urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}:{default}"))]
    host, _, written = hostport.rpartition(":")
    if written == default:
        return [url, urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}"))]
    return [url]


def _same(expected: str, given: str) -> bool:
    # compare_digest refuses non-ASCII str; headers and query values can hold anything.
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


def verify(
    auth_token: str,
    signature: str | None,
    url: str,
    params: Params = (),
    body: bytes | None = None,
    algorithm: str = "HMAC_SHA1",
) -> bool:
    """Whether ``signature`` is Twilio's for this request; compared in constant time.

    A missing or empty signature, or an unknown algorithm, is False. When ``body``
    is given and ``url`` carries ``bodySHA256`` (JSON webhooks), the body must hash
    to it and the signature covers the URL alone, so ``params`` are ignored.
    """
    if not signature or algorithm not in ALGORITHMS:
        return False
    if body is not None:
        body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
        if body_hash:
            if not _same(hashlib.sha256(body).hexdigest(), body_hash[0].lower()):
                return False
            params = ()
    key, signed, digest = auth_token.encode(), signed_params(params), ALGORITHMS[algorithm]
    # Check every candidate (no early exit) so timing does not reveal which URL form matched.
    results = [
        _same(_signature(key, candidate, signed, digest), signature)
        for candidate in candidate_urls(url)
    ]
    return any(results)
