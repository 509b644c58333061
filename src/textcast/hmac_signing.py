"""Textcast's own request signature, for relays into Textcast and for the
webhooks Textcast sends out.

Header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>``.
The timestamp is inside the MAC, so a captured request cannot be replayed
after the tolerance window; several ``v1`` values may be listed while a
secret is being rotated. This is the scheme Stripe and Slack made familiar,
so receivers can verify it with a few lines in any language.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    secrets: list[str],
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether ``header`` signs ``body`` with one of ``secrets``, recently enough."""
    if not header or not secrets:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = [signature(secret, timestamp, body) for secret in secrets]
    return any(hmac.compare_digest(e, c) for e in expected for c in candidates)
