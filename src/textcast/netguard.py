"""Keeps provider endpoints from reaching inside the network (SSRF guard).

A user-configured URL that is, or resolves to, a loopback, private, link-local
(including the 169.254.169.254 cloud metadata address), CGNAT, multicast,
reserved or unspecified address is refused, unless the operator allows private
targets. Origins in ``allowed_origins`` (the built-in simulator) always pass.

Resolutions are cached per host for a minute to keep the send path cheap; a
DNS answer that changes inside that minute (DNS rebinding) is not re-checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from textcast.errors import TextcastError

CACHE_SECONDS = 60.0
CGNAT = ipaddress.ip_network("100.64.0.0/10")
DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetRefused(TextcastError):
    """The URL points somewhere Textcast will not send requests.

    ``transient`` marks a failed DNS look-up, which may succeed later.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in CGNAT)
    )


class TargetGuard:
    def __init__(self, allow_private: bool, allowed_origins: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.allowed_origins = frozenset(_origin(url) for url in allowed_origins)
        self._resolved: dict[str, tuple[float, list[str]]] = {}

    async def check(self, url: str, *, unresolvable_ok: bool = False) -> None:
        """Raise :class:`TargetRefused` unless ``url`` may be called.

        ``unresolvable_ok`` lets a name that does not resolve *now* pass (saving
        settings while offline); the send path checks again and refuses it then.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise TargetRefused(f"{url!r}: only http and https URLs are allowed")
        host = parts.hostname
        if not host:
            raise TargetRefused(f"{url!r} has no host")
        if self.allow_private or _origin(url) in self.allowed_origins:
            return
        try:
            addresses = await self._addresses(host)
        except TargetRefused as exc:
            if exc.transient and unresolvable_ok:
                return
            raise
        for address in addresses:
            if is_internal(ipaddress.ip_address(address)):
                raise TargetRefused(
                    f"{host} resolves to the internal address {address}; set "
                    "TEXTCAST_ALLOW_PRIVATE_TARGETS=true to allow private endpoints"
                )

    async def _addresses(self, host: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        cached = self._resolved.get(host)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused(f"cannot resolve {host}: {exc}", transient=True) from None
        addresses = sorted({str(info[4][0]).split("%")[0] for info in infos})
        self._resolved[host] = (time.monotonic(), addresses)
        return addresses
