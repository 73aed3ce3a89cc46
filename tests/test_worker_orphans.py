"""kill -9 of a sync that prepares on worker processes leaves no process behind.

The sync (a real subprocess, tests/sync_runner.py, replaying a cassette) is forced
onto the spawn pool of indexer/prepare.py and hangs inside its first write, so the
test sees it mid-sync with its workers and multiprocessing's resource tracker as
children. After kill -9 of the sync, they must all end on their own: the workers
when their parent's sentinel closes, the tracker when the last holder of its pipe
(the sync and the workers) is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from replay_helpers import record_first_sync

RUNNER = Path(__file__).resolve().parent / "sync_runner.py"
WAIT_S = 20.0  # bound of every wait below (they end as soon as the condition holds)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, start time) of a process, or None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(parent: int) -> dict[int, tuple[int, str]]:
    """pid -> (start time, command line) of every live child of `parent`."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(int(entry))
        if stat is not None and stat[0] == parent and stat[1] != "Z":
            found[int(entry)] = (stat[2], _cmdline(int(entry)))
    return found


def _alive(pid: int, started: int) -> bool:
    """The same process (same start time) still runs; a zombie has ended."""
    stat = _stat(pid)
    return stat is not None and stat[2] == started and stat[1] != "Z"


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {WAIT_S}s waiting for {what}"
        time.sleep(0.05)


def test_kill_9_of_a_pooled_sync_leaves_no_worker_or_tracker_behind(tmp_path):
    record_first_sync("pool_kill", tmp_path / "scratch.db")

    marker = tmp_path / "hanging.pid"
    env = {
        **os.environ,
        "JIRADEX_TEST_POOL": "1",
        "JIRADEX_TEST_HANG_IN_WRITE": "1",
        "JIRADEX_TEST_HANG_MARKER": str(marker),
    }
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), "--cassette", "sync/pool_kill.yaml", "--", "sync", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    children: dict[int, tuple[int, str]] = {}
    try:
        _wait_until(lambda: marker.exists() or proc.poll() is not None, "the sync's first write")
        assert proc.poll() is None, proc.communicate()
        assert int(marker.read_text()) == proc.pid
        children = _children(proc.pid)
        commands = [cmd for _, cmd in children.values()]
        workers = [cmd for cmd in commands if "multiprocessing.spawn" in cmd]
        trackers = [cmd for cmd in commands if "resource_tracker import main" in cmd]
        assert workers and len(trackers) == 1, commands  # the pool is in use

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT_S)
        _wait_until(
            lambda: not any(_alive(pid, started) for pid, (started, _) in children.items()),
            "the workers and the resource tracker to exit",
        )
        # The tracker cleaned up the pool's semaphores; it used to say so on the
        # user's terminal: a two-line Python UserWarning about "leaked semaphore
        # objects" after the shell's prompt.
        assert "leaked" not in proc.stderr.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT_S)
        proc.stdout.close()
        proc.stderr.close()
        for pid, (started, _) in children.items():  # only on failure: no orphan outlives us
            if _alive(pid, started):
                os.kill(pid, signal.SIGKILL)
