"""Run jiradex as a user who cannot write its home (a read-only mount or volume, a
home made read-only, an index synced by another user).

Root writes through file modes, so as root the command runs in a mount namespace of
its own (`unshare --mount`) where the home is bind-mounted read-only: a read-only
filesystem, as a read-only volume is; nothing outside that process sees the mount.
As any other user, taking the write bits off the home does it (and they are put back
afterwards)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def writer_may_write(home: Path) -> Iterator[None]:
    """Within a read_only run: this (test) process writes the home meanwhile, as a
    cron sync by its owner would. As root it always can; otherwise the home's
    directories get their write bits back for the while."""
    if os.geteuid() == 0:
        yield
        return
    dirs = [p for p in (home, *home.rglob("*")) if p.is_dir()]
    for p in dirs:
        p.chmod(p.stat().st_mode | 0o200)
    try:
        yield
    finally:
        for p in dirs:
            p.chmod(p.stat().st_mode & ~0o222)


@contextlib.contextmanager
def _unwritable(home: Path) -> Iterator[None]:
    if os.geteuid() == 0:
        yield
        return
    modes = {p: p.stat().st_mode for p in (home, *home.rglob("*"))}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def read_only_argv(home: Path, argv: list[str]) -> list[str]:
    """`argv` run so that it cannot write `home` (as root: see the module docstring)."""
    if os.geteuid() != 0:
        return argv
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(home), *argv]


def read_only_env(home: Path) -> dict[str, str]:
    return {**os.environ, "JIRADEX_HOME": str(home), "PYTHONPATH": str(REPO)}


def run_read_only(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`jiradex ARGS...` in a process that cannot write `home`."""
    with _unwritable(home):
        return subprocess.run(
            read_only_argv(home, [sys.executable, "-m", "cli", *args]),
            env=read_only_env(home),
            cwd=REPO,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )


@contextlib.contextmanager
def python_read_only(home: Path, code: str) -> Iterator[subprocess.Popen]:
    """A Python process running `code` that cannot write `home`, talking by lines on
    its stdin and stdout."""
    with _unwritable(home):
        proc = subprocess.Popen(
            read_only_argv(home, [sys.executable, "-c", code]),
            env=read_only_env(home),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            proc.wait(timeout=60)
