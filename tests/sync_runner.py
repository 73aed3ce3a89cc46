"""Run the jiradex CLI in a subprocess the way the crash and concurrency tests need.

    python tests/sync_runner.py [--cassette sync/NAME.yaml] -- sync --json

- `--cassette`: replay HTTP from that cassette (record_mode none, repeats allowed)
  before calling `cli.main`, so the subprocess needs no server.
- `JIRADEX_TEST_KILL_IN_WRITE=N`: SIGKILL this process inside the N-th write
  transaction of issues, after the rows are written and before COMMIT (the worst
  moment for the index).
- `JIRADEX_TEST_HANG_IN_WRITE=N`: inside the N-th write transaction of issues, write
  this process's pid to the file `JIRADEX_TEST_HANG_MARKER` and hang (until killed):
  the test then looks at the process as it is mid-sync.
- `JIRADEX_TEST_SIGINT_IN_WRITE=N`: send this process SIGINT (Ctrl-C) inside the N-th
  write transaction of issues; under `sync --watch` (the sync on a thread of its own)
  the write then waits until the scheduler has cancelled the sync, so the Ctrl-C
  surely lands mid-sync.
- `JIRADEX_TEST_POOL=1`: prepare on the worker process pool however small the sync
  (and however few the cores: two workers).
- `JIRADEX_TEST_REQUEST_DELAY=SECONDS`: sleep before each HTTP request, so that two
  processes (or a reader) surely overlap with a running sync.

    python tests/sync_runner.py --zygote

imports jiradex once and then forks one child per JSON line read on stdin
(`{"args": [...], "env": {...}, "out": PATH, "err": PATH, "kill_after": SECONDS}`;
`kill_after` is optional: SIGKILL the child then if it still runs), printing `pid N` when
it starts and `exit N CODE` when it ends (CODE is -9 for SIGKILL). Each child is a
real process running `cli.main`, one at a time,, killable with `kill -9`, without paying Python's
start-up and imports on every run (20+ kills stay fast).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _install_hooks() -> None:
    kill_at = int(os.environ.get("JIRADEX_TEST_KILL_IN_WRITE") or 0)
    hang_at = int(os.environ.get("JIRADEX_TEST_HANG_IN_WRITE") or 0)
    sigint_at = int(os.environ.get("JIRADEX_TEST_SIGINT_IN_WRITE") or 0)
    cancels: list = []  # the cancel events the watch scheduler handed its syncs
    if sigint_at:
        from indexer import scheduler

        sync_datasource = scheduler.sync_datasource

        def noting_cancel(*args, **kwargs):
            cancels.append(kwargs.get("cancel"))
            return sync_datasource(*args, **kwargs)

        scheduler.sync_datasource = noting_cancel
    if kill_at or hang_at or sigint_at:
        from indexer.store import Store

        original = Store._upsert
        calls = [0]

        def upsert_then_die(self, records):
            count = original(self, records)
            calls[0] += 1
            if kill_at and calls[0] >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if sigint_at and calls[0] == sigint_at:
                os.kill(os.getpid(), signal.SIGINT)  # main thread: KeyboardInterrupt
                deadline = time.monotonic() + 60
                while cancels and not cancels[-1].is_set() and time.monotonic() < deadline:
                    time.sleep(0.01)
            if hang_at and calls[0] >= hang_at:
                marker = Path(os.environ["JIRADEX_TEST_HANG_MARKER"])
                marker.with_suffix(".tmp").write_text(str(os.getpid()))
                marker.with_suffix(".tmp").replace(marker)
                while True:
                    time.sleep(1)
            return count

        Store._upsert = upsert_then_die
    if os.environ.get("JIRADEX_TEST_POOL"):
        from indexer import prepare
        from indexer import sync as sync_module

        prepare.POOL_MIN_ISSUES = sync_module.POOL_MIN_ISSUES = 1
        prepare._cpu_count = lambda: 3  # two workers, one core left to the sync
    delay = float(os.environ.get("JIRADEX_TEST_REQUEST_DELAY") or 0)
    if delay:
        import httpx

        send = httpx.HTTPTransport.handle_request

        def slow(self, request):
            time.sleep(delay)
            return send(self, request)

        httpx.HTTPTransport.handle_request = slow


def _wait(pid: int, kill_after: float | None) -> int:
    """Wait for the child; with `kill_after`, SIGKILL it if still running by then.
    The kill happens before the child is reaped, so its pid cannot have been reused."""
    if kill_after is not None:
        deadline = time.monotonic() + float(kill_after)
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _zygote() -> None:
    import json

    import cli  # noqa: F401  (imported once, shared by every child)
    import indexer.store  # noqa: F401
    import indexer.sync  # noqa: F401

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    say("ready")
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.environ.update(job.get("env") or {})
                out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                err = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(out, 1)
                os.dup2(err, 2)
                _install_hooks()
                code = 0
                try:
                    cli.main(job["args"])
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        say(f"pid {pid}")
        status = _wait(pid, job.get("kill_after"))  # one child at a time: no threads
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        say(f"exit {pid} {code}")


def main() -> None:
    args = sys.argv[1:]
    if args == ["--zygote"]:
        _zygote()
        return
    cassette = None
    if args[:1] == ["--cassette"]:
        cassette, args = args[1], args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    _install_hooks()
    import cli

    if cassette is None:
        cli.main(args)
        return
    from replay_helpers import replay_cassette

    with replay_cassette(cassette, allow_repeats=True):
        cli.main(args)


if __name__ == "__main__":
    main()
