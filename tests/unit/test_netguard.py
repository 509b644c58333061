"""Provider endpoints may not reach inside the network unless allowed."""

import pytest

from textcast.netguard import TargetGuard, TargetRefused


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://224.0.0.1/",
    ],
)
async def test_internal_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused, match="TEXTCAST_ALLOW_PRIVATE_TARGETS"):
        await TargetGuard(allow_private=False).check(url)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost"])
async def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await TargetGuard(allow_private=True).check(url)


async def test_public_addresses_pass_without_any_lookup() -> None:
    await TargetGuard(allow_private=False).check("https://93.184.216.34/send")


async def test_operator_can_allow_private_targets_or_one_origin() -> None:
    await TargetGuard(allow_private=True).check("http://127.0.0.1:9/")
    guard = TargetGuard(allow_private=False, allowed_origins=["http://127.0.0.1:8010"])
    await guard.check("http://127.0.0.1:8010/2010-04-01/Accounts")
    with pytest.raises(TargetRefused):
        await guard.check("http://127.0.0.1:8011/")


async def test_unresolvable_names_are_refused_when_sending_but_allowed_when_saving() -> None:
    guard = TargetGuard(allow_private=False)
    with pytest.raises(TargetRefused) as caught:
        await guard.check("https://no-such-host.invalid/")
    assert caught.value.transient
    await guard.check("https://no-such-host.invalid/", unresolvable_ok=True)
