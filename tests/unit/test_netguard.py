"""Provider endpoints may not reach inside the network unless allowed.

Only IP literals and ``localhost`` are used: this machine has no outside DNS.
"""

import asyncio
import socket
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from textcast import netguard
from textcast.errors import TextcastError
from textcast.netguard import TargetGuard, TargetRefused

Lookup = Callable[..., Any]


@pytest.fixture
async def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names the guard resolves, recorded on the running loop (real answers still given)."""
    loop = asyncio.get_running_loop()
    real: Lookup = loop.getaddrinfo
    seen: list[str] = []

    async def recording(host: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(host)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", recording)
    return seen


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x",
        "http://127.8.9.10/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fec0::1]/",
        "http://[ff02::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[2002:a00:1::]/",  # 6to4 wrapping 10.0.0.1
    ],
)
async def test_internal_addresses_are_refused(url: str, lookups: list[str]) -> None:
    with pytest.raises(TargetRefused, match="TEXTCAST_ALLOW_PRIVATE_TARGETS") as caught:
        await TargetGuard(allow_private=False).check(url)
    assert "internal address" in str(caught.value)
    assert "restart" in str(caught.value)  # settings are read at start-up
    assert lookups == []  # literals are judged without DNS


async def test_localhost_is_resolved_and_refused() -> None:
    with pytest.raises(TargetRefused, match="localhost resolves to the internal address"):
        await TargetGuard(allow_private=False).check("http://localhost:8080/send")


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/send",
        "http://8.8.8.8:8080/x?a=b",
        "https://[2606:4700:4700::1111]/",
        "https://[2002:5db8:d822::]/",  # 6to4 wrapping the public 93.184.216.34
    ],
)
async def test_public_addresses_pass_without_any_lookup(url: str, lookups: list[str]) -> None:
    await TargetGuard(allow_private=False).check(url)
    assert lookups == []


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "http:///nohost", "http://93.184.216.34:99999/"],
)
async def test_non_http_or_malformed_urls_are_refused_even_when_private_is_allowed(
    url: str,
) -> None:
    with pytest.raises(TargetRefused):
        await TargetGuard(allow_private=True).check(url)


async def test_operator_can_allow_private_targets() -> None:
    guard = TargetGuard(allow_private=True)
    await guard.check("http://127.0.0.1:9/")
    await guard.check("http://localhost/")
    await guard.check("http://169.254.169.254/")


async def test_allowed_origins_pass_but_only_that_scheme_host_and_port() -> None:
    guard = TargetGuard(
        allow_private=False, allowed_origins=["http://127.0.0.1:8010", "http://LOCALHOST"]
    )
    await guard.check("http://127.0.0.1:8010/2010-04-01/Accounts")
    await guard.check("http://localhost:80/x")  # default port, host case-insensitive
    for other in ("http://127.0.0.1:8011/", "https://127.0.0.1:8010/", "http://127.0.0.2:8010/"):
        with pytest.raises(TargetRefused):
            await guard.check(other)


async def test_resolutions_are_cached_for_a_minute(
    lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = TargetGuard(allow_private=False)
    clock = [1000.0]
    # Only the guard's clock moves: the event loop keeps the real one.
    monkeypatch.setattr(netguard, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    for _ in range(3):
        with pytest.raises(TargetRefused):
            await guard.check("http://localhost/")
    assert lookups == ["localhost"]
    clock[0] += netguard.CACHE_SECONDS + 1
    with pytest.raises(TargetRefused):
        await guard.check("http://localhost/")
    assert lookups == ["localhost", "localhost"]


async def test_unresolvable_names_are_refused_when_sending_but_allowed_when_saving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_such_name(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_name)
    guard = TargetGuard(allow_private=False)
    with pytest.raises(TargetRefused, match="cannot resolve") as caught:
        await guard.check("https://sms.example.com/")
    assert caught.value.transient
    await guard.check("https://sms.example.com/", unresolvable_ok=True)


def test_refusals_are_textcast_errors() -> None:
    assert issubclass(TargetRefused, TextcastError)
    assert not TargetRefused("x").transient
