"""One sync per datasource at a time, across threads and processes.

An advisory `flock` on a file per datasource under the data directory: the OS drops
it when the holder dies (kill -9 included), so a crashed sync never leaves a stale
lock behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from indexer import paths
from indexer.errors import JiradexError


class SyncBusy(JiradexError):
    """Another sync of the same datasource is running (or its removal)."""


# What holds a datasource's lock, by name: "sync" or "remove" (sync_lock's `doing`).
_held: dict[str, str] = {}
_held_lock = threading.Lock()
_BUSY = {
    "sync": 'another sync of "{name}" is running',
    "remove": 'datasource "{name}" is being removed',
}


# A sync that finds the lock taken tries again this long before saying another sync
# runs: `sync_running` probes by taking the lock for an instant.
BUSY_RETRY_S = 0.5


def _lock_name(datasource: str) -> str:
    return f"sync-{hashlib.sha1(datasource.encode()).hexdigest()[:16]}.lock"


def _lock_path(datasource: str):
    return paths.ensure_dir(paths.data_dir() / "locks") / _lock_name(datasource)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def sync_running(datasource: str) -> bool:
    """Whether a sync of the datasource (in this process or another) holds its lock.

    It tells a run that is still going from one whose process died (kill -9) before
    it could record how it ended. Probing takes the lock for an instant, which a
    sync starting at that moment waits out (BUSY_RETRY_S)."""
    with _held_lock:
        if datasource in _held:
            return True
    path = paths.data_dir() / "locks" / _lock_name(datasource)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False  # never locked here
    try:
        return not _try_flock(fd)
    finally:
        os.close(fd)  # releases the probe's lock


@contextmanager
def sync_lock(datasource: str, doing: str = "sync") -> Iterator[None]:
    """Hold the datasource's sync lock, or raise SyncBusy at once, saying what holds
    it. `doing`: "sync", or "remove" (a removal keeps syncs out while it runs, and a
    sync it keeps out says so rather than that another sync runs)."""
    with _held_lock:
        if datasource in _held:
            raise SyncBusy(_BUSY[_held[datasource]].format(name=datasource))
        _held[datasource] = doing
    fd = None
    try:
        path = _lock_path(datasource)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a read-only or full file system
            raise JiradexError(
                f"cannot open the sync lock {path}: {paths.write_refused(exc)}"
            ) from None
        deadline = time.monotonic() + BUSY_RETRY_S
        while not _try_flock(fd):
            if time.monotonic() >= deadline:
                busy = _BUSY.get(_holder(fd), _BUSY["sync"]).format(name=datasource)
                raise SyncBusy(f"{busy} (in another process)")
            time.sleep(0.02)
        # What holds it, for a process that finds it taken (see _holder).
        with suppress(OSError):  # a full disk: then it reads as a sync, the usual holder
            os.ftruncate(fd, 0)
            os.pwrite(fd, doing.encode(), 0)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the flock
        with _held_lock:
            _held.pop(datasource, None)


def _holder(fd: int) -> str:
    """What the process holding the lock file said it does ("" while it has not yet)."""
    try:
        return os.pread(fd, 16, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
