"""Keeps provider endpoints from reaching inside the network (SSRF guard).

A user-configured URL that is, or resolves to, a loopback, private (RFC 1918,
ULA), link-local (including the 169.254.169.254 cloud metadata address),
CGNAT, multicast, reserved or unspecified address is refused, as is IPv4 of
those kinds wrapped in IPv6, unless the operator allows private targets.
Origins in ``allowed_origins`` (the built-in simulator) always pass.

Limitation (DNS rebinding): the guard resolves a name, and the HTTP client
resolves it again when it connects. A name whose answer changes in between
(or within the one-minute cache) can slip through to an internal address.
Closing that gap needs the check inside the connector's resolver; until then
this guard stops configured and mistyped internal targets, not a hostile DNS.
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
CACHE_MAX_HOSTS = 4096  # providers name a handful of hosts; the bound only stops abuse
CGNAT = ipaddress.ip_network("100.64.0.0/10")
DEFAULT_PORTS = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(TextcastError):
    """The URL points somewhere Textcast will not send requests; the message says why.

    ``transient`` marks a failed DNS look-up, which may succeed later.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def _origin(url: str) -> str:
    """``scheme://host:port`` with the default port filled in; ValueError on a bad port."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def is_internal(address: IPAddress) -> bool:
    """Whether an address is anything but public unicast (IPv4 inside IPv6 unwrapped)."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d and 6to4 (2002::/16) lead to the IPv4 address they carry.
        embedded = address.ipv4_mapped if address.ipv4_mapped is not None else address.sixtofour
        if embedded is not None:
            return is_internal(embedded)
        if address.is_site_local:  # fec0::/10: deprecated, still routed inside some sites
            return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in CGNAT)
    )


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class TargetGuard:
    """Vets URLs before Textcast calls them; one instance per process (it caches)."""

    def __init__(self, allow_private: bool, allowed_origins: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.allowed_origins = frozenset(_origin(url) for url in allowed_origins)
        self._resolved: dict[str, tuple[float, list[IPAddress]]] = {}

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
        try:
            origin = _origin(url)
        except ValueError:
            raise TargetRefused(f"{url!r} has an invalid port") from None
        if self.allow_private or origin in self.allowed_origins:
            return
        literal = _ip_literal(host)
        try:
            addresses = [literal] if literal is not None else await self._resolve(host)
        except TargetRefused as exc:
            if exc.transient and unresolvable_ok:
                return
            raise
        for address in addresses:
            if is_internal(address):
                where = f"{host} is" if literal is not None else f"{host} resolves to"
                raise TargetRefused(
                    f"{where} the internal address {address}; to allow private "
                    "targets, set TEXTCAST_ALLOW_PRIVATE_TARGETS=true and restart Textcast "
                    "(every serve and worker process)"
                )

    async def _resolve(self, host: str) -> list[IPAddress]:
        """The addresses a name resolves to, cached for CACHE_SECONDS."""
        cached = self._resolved.get(host)
        now = time.monotonic()
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"cannot resolve {host}: {exc}", transient=True) from None
        # Scope IDs ("%eth0") are dropped: they do not change what the address is.
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if len(self._resolved) >= CACHE_MAX_HOSTS:
            self._resolved.clear()
        self._resolved[host] = (now, addresses)
        return addresses
