"""One dispatcher per SQLite file, enforced with an exclusive advisory lock.

SQLite has one writer at a time: two dispatchers on one file only contend for
it (and for the same rows, without ``SKIP LOCKED``). So before dispatching
from a SQLite file a process takes ``flock(LOCK_EX)`` on ``<file>.dispatcher.lock``
beside it and keeps it while it dispatches. The kernel drops the lock when the
process exits, however it exits (``kill -9`` included), so a stale lock file
never blocks anyone. The file records who holds it, for the error message.

PostgreSQL needs no lock: any number of dispatchers share it through
``FOR UPDATE SKIP LOCKED``. flock is per machine and unreliable on network
file systems, which SQLite itself warns against.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from textcast.db.sqlite_thread import sqlite_path
from textcast.errors import TextcastError

log = logging.getLogger(__name__)

SUFFIX = ".dispatcher.lock"


class DispatcherLockTaken(TextcastError):
    """Another process already dispatches from this SQLite file."""

    def __init__(self, database: Path, holder: str) -> None:
        super().__init__(
            f"another dispatcher already uses the SQLite database {database}: {holder}. "
            "SQLite takes one dispatcher per file: stop that process, run `serve` with "
            "TEXTCAST_DISPATCHER=false next to a single worker, or move to PostgreSQL "
            "for several workers"
        )
        self.database = database
        self.holder = holder


@dataclass
class _Held:
    fd: int
    users: int = 1


# Locks this process holds, by lock file. flock conflicts between two open files
# even within one process, so a second acquire here shares the first.
_HELD: dict[Path, _Held] = {}


@dataclass
class DispatcherLock:
    """The right to dispatch from one database; ``path`` is None where no lock is
    needed (PostgreSQL, in-memory SQLite)."""

    path: Path | None
    _released: bool = field(default=False, repr=False)

    def release(self) -> None:
        """Give the right up (idempotent). Process exit releases it too."""
        if self._released or self.path is None:
            return
        self._released = True
        held = _HELD[self.path]
        held.users -= 1
        if held.users == 0:
            del _HELD[self.path]
            os.close(held.fd)  # closing the last descriptor drops the flock


def lock_path(database_url: str) -> Path | None:
    """``<file>.dispatcher.lock`` for a SQLite file; None for other databases."""
    database = sqlite_path(database_url)
    return None if database is None else Path(database + SUFFIX).resolve()


def acquire(database_url: str, role: str) -> DispatcherLock:
    """Take the dispatcher lock for ``database_url`` without waiting.

    ``role`` (``serve`` or ``worker``) is recorded for whoever finds the lock
    taken. Raises :class:`DispatcherLockTaken` naming the holder.
    """
    path = lock_path(database_url)
    if path is None:
        return DispatcherLock(None)
    if path in _HELD:
        _HELD[path].users += 1
        return DispatcherLock(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # No O_TRUNC: the holder's note must survive until we own the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise DispatcherLockTaken(path.with_name(path.name[: -len(SUFFIX)]), holder) from None
    except BaseException:
        os.close(fd)
        raise
    _write_holder(fd, role)
    _HELD[path] = _Held(fd)
    return DispatcherLock(path)


def acquire_or_warn(database_url: str, role: str) -> DispatcherLock | None:
    """:func:`acquire`, or None with a warning when another process holds the lock
    (``serve`` then runs its API without a dispatcher)."""
    try:
        return acquire(database_url, role)
    except DispatcherLockTaken as exc:
        log.warning(
            "not dispatching from this process: %s holds the dispatcher lock on %s; "
            "the API runs and that process sends the messages",
            exc.holder,
            exc.database,
        )
        return None


def _write_holder(fd: int, role: str) -> None:
    note = (
        f"textcast {role} (pid {os.getpid()} on {socket.gethostname()}, "
        f"since {datetime.now(UTC).isoformat(timespec='seconds')})\n"
    )
    os.ftruncate(fd, 0)
    os.pwrite(fd, note.encode(), 0)


def _read_holder(fd: int) -> str:
    try:
        note = os.pread(fd, 500, 0).decode(errors="replace").strip()
    except OSError:
        note = ""
    # Empty while the holder is between taking the lock and writing its note.
    return note or "another process"
