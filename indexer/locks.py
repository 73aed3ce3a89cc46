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
from collections.abc import Iterator
from contextlib import contextmanager

from indexer import paths
from indexer.errors import JiradexError


class SyncBusy(JiradexError):
    """Another sync of the same datasource is running."""


_held: set[str] = set()
_held_lock = threading.Lock()


def _lock_path(datasource: str):
    digest = hashlib.sha1(datasource.encode()).hexdigest()[:16]
    return paths.ensure_dir(paths.data_dir() / "locks") / f"sync-{digest}.lock"


@contextmanager
def sync_lock(datasource: str) -> Iterator[None]:
    """Hold the datasource's sync lock, or raise SyncBusy at once."""
    with _held_lock:
        if datasource in _held:
            raise SyncBusy(f'another sync of "{datasource}" is running')
        _held.add(datasource)
    fd = None
    try:
        fd = os.open(_lock_path(datasource), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBusy(
                f'another sync of "{datasource}" is running (in another process)'
            ) from None
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the flock
        with _held_lock:
            _held.discard(datasource)
