"""The HTTP seam every provider talks through: the shared aiohttp session with
its timeout and SSRF guard, and the one translation of aiohttp's failures into
:class:`ProviderError`.

Providers call ``http.session`` themselves (one call per send, no wrapper on
the hot path) and, on failure, raise ``transport_error(exc, peer)`` for any of
:data:`TRANSPORT_ERRORS`, so every provider reports a lost connection the same
way and the dispatcher can tell "never sent" from "may have arrived".
"""

from __future__ import annotations

import base64
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import aiohttp

from textcast.errors import ProviderError

if TYPE_CHECKING:
    from textcast.netguard import TargetGuard

# A URL the guard passed is not vetted again for this long. The guard caches
# DNS answers for a minute anyway; this only spares the URL parsing it repeats
# on every send to the same endpoint (a few percent of a send's CPU).
VETTED_SECONDS = 1.0
VETTED_MAX_URLS = 1024  # providers call a handful of URLs; the bound only stops growth

# What a request through the session raises when the exchange itself fails.
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)
# No connection could be made, so the request never left: an ordinary retry.
# (A connection timeout is a TimeoutError too, so this is checked first.)
NOT_CONNECTED = (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError)


class HttpClient:
    """The one shared aiohttp session, the per-request timeout and the SSRF guard.

    Kept as a seam so tests and benchmarks can hand providers any session.
    Providers await ``check_target(url)`` before each request.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        timeout: float = 15.0,
        guard: TargetGuard | None = None,
    ) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.guard = guard
        self._vetted_until: dict[str, float] = {}

    async def check_target(self, url: str) -> None:
        """Refuse internal targets as a ProviderError (the one error providers raise)."""
        if self.guard is None:
            return
        now = time.monotonic()
        if self._vetted_until.get(url, 0.0) > now:
            return
        from textcast.netguard import TargetRefused

        try:
            await self.guard.check(url)
        except TargetRefused as exc:
            raise ProviderError("target_refused", str(exc), permanent=not exc.transient) from None
        if len(self._vetted_until) >= VETTED_MAX_URLS:
            self._vetted_until.clear()
        self._vetted_until[url] = now + VETTED_SECONDS


def transport_error(exc: BaseException, peer: str) -> ProviderError:
    """One of :data:`TRANSPORT_ERRORS` as the ProviderError it means, ``peer``
    naming the other side in the message ("Twilio", "the provider").

    ``unreachable`` when no connection was made (the request never left);
    ``timeout`` or ``network`` when it may have been sent and the answer was
    lost, so the provider may have the message (see ``base.UNANSWERED_CODES``).
    All are worth another try.
    """
    if isinstance(exc, NOT_CONNECTED):
        return ProviderError("unreachable", f"cannot connect to {peer}: {exc}", permanent=False)
    if isinstance(exc, TimeoutError):
        return ProviderError("timeout", f"{peer} did not answer in time", permanent=False)
    return ProviderError("network", f"lost {peer}'s answer: {exc}", permanent=False)


async def read_answer(response: aiohttp.ClientResponse, limit: int) -> str:
    """The answer's text, at most ``limit`` bytes of it: SMS APIs answer briefly, and an
    endpoint streaming megabytes must not cost memory on the send path."""
    data = bytearray()
    async for chunk in response.content.iter_any():
        data += chunk
        if len(data) >= limit:
            break
    try:
        return bytes(data[:limit]).decode(response.charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return bytes(data[:limit]).decode("utf-8", errors="replace")


def basic_auth(username: str, password: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header (UTF-8 credentials, RFC 7617)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP-date) as seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
