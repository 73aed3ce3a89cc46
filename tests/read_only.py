"""Run jiradex as a user who cannot write its home (a read-only mount or volume, a
home made read-only, an index synced by another user).

Root writes through file modes, so as root the command runs in a mount namespace of
its own (`unshare --mount`) where the home is bind-mounted read-only: a read-only
filesystem, as a read-only volume is; nothing outside that process sees the mount.
As any other user, taking the write bits off the home does it (and they are put back
afterwards). Where root may not make a mount namespace (a container without
CAP_SYS_ADMIN), the command runs as the user nobody instead (setpriv), on a home made
readable but not writable for it."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534  # the user the command runs as where root cannot make a mount namespace


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


@functools.cache
def _mount_namespace() -> bool:
    """As root: whether a private mount namespace can be made here (not in a container
    without CAP_SYS_ADMIN). JIRADEX_TEST_NO_UNSHARE=1 says no, to try the other way."""
    if os.environ.get("JIRADEX_TEST_NO_UNSHARE") == "1":
        return False
    try:
        done = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _as_nobody() -> bool:
    return os.geteuid() == 0 and not _mount_namespace()


@contextlib.contextmanager
def _unwritable(home: Path) -> Iterator[None]:
    if os.geteuid() == 0 and _mount_namespace():
        yield
        return
    nobody = _as_nobody()
    modes = {p: p.stat().st_mode for p in (home, *home.rglob("*"))}
    owners = {p: (p.stat().st_uid, p.stat().st_gid) for p in modes} if nobody else {}
    # nobody must reach the home (a test's temporary directory is its owner's only),
    # and owns it, without the write bits: a home made read-only for its user
    passed = {p: p.stat().st_mode for p in home.parents if nobody and not p.stat().st_mode & 1}
    for p, mode in passed.items():
        p.chmod(mode | 0o001)
    for p, mode in modes.items():
        if nobody:
            os.chown(p, NOBODY, NOBODY)
        p.chmod(mode & ~0o222)
    try:
        yield
    finally:
        for p, mode in modes.items():
            with contextlib.suppress(FileNotFoundError):
                if nobody:
                    os.chown(p, *owners[p])
                p.chmod(mode)
        for p, mode in passed.items():
            p.chmod(mode)


def read_only_argv(home: Path, argv: list[str]) -> list[str]:
    """`argv` run so that it cannot write `home` (as root: see the module docstring)."""
    if os.geteuid() != 0:
        return argv
    if not _mount_namespace():
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
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
