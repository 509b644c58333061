"""One dispatcher per SQLite file: an flock beside the file, held while dispatching."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from textcast import dispatch_lock

# What another process sees when it tries to take the lock.
OTHER_PROCESS = """
import sys
from textcast import dispatch_lock
try:
    dispatch_lock.acquire(sys.argv[1], "worker")
except dispatch_lock.DispatcherLockTaken as exc:
    print(exc)
    sys.exit(3)
print("acquired")
"""


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'textcast.db'}"


def other_process_tries(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, url], capture_output=True, text=True, timeout=60
    )


def test_the_lock_file_sits_beside_the_sqlite_file(tmp_path: Path, url: str) -> None:
    assert dispatch_lock.lock_path(url) == tmp_path / "textcast.db.dispatcher.lock"


def test_postgresql_and_in_memory_sqlite_need_no_lock() -> None:
    assert dispatch_lock.lock_path("postgresql+asyncpg://postgres@127.0.0.1/x") is None
    assert dispatch_lock.lock_path("sqlite+aiosqlite:///:memory:") is None
    lock = dispatch_lock.acquire("postgresql+asyncpg://postgres@127.0.0.1/x", "worker")
    assert lock.path is None
    lock.release()


def test_another_process_is_refused_and_told_who_holds_the_lock(url: str) -> None:
    lock = dispatch_lock.acquire(url, "serve")
    try:
        refused = other_process_tries(url)
    finally:
        lock.release()
    assert refused.returncode == 3, refused.stderr
    assert "another dispatcher already uses the SQLite database" in refused.stdout
    assert "textcast serve (pid " in refused.stdout


def test_a_released_lock_can_be_taken_by_another_process(url: str) -> None:
    dispatch_lock.acquire(url, "serve").release()
    assert other_process_tries(url).stdout.strip() == "acquired"


def test_one_process_may_take_its_own_lock_twice(url: str) -> None:
    first = dispatch_lock.acquire(url, "serve")
    second = dispatch_lock.acquire(url, "serve")
    first.release()
    assert other_process_tries(url).returncode == 3  # the second still holds it
    second.release()
    second.release()  # releasing twice is harmless
    assert other_process_tries(url).returncode == 0


def test_serve_gets_none_and_a_warning_when_the_lock_is_taken(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from textcast import dispatch_lock;"
            "dispatch_lock.acquire(sys.argv[1], 'worker'); print('held', flush=True);"
            "time.sleep(60)",
            url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with caplog.at_level("WARNING"):
            assert dispatch_lock.acquire_or_warn(url, "serve") is None
    finally:
        holder.kill()
        holder.wait()
    assert f"textcast worker (pid {holder.pid} " in caplog.text
    assert "not dispatching from this process" in caplog.text
