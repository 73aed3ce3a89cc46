"""Run a callable on several threads at once and collect what they raised."""

from __future__ import annotations

import threading
from collections.abc import Callable


def errors_of_concurrent_calls(fn: Callable[[], object], threads: int) -> list[Exception]:
    """Call `fn` on `threads` threads released together (a barrier); the exceptions
    they raised, for the test to assert there were none."""
    start = threading.Barrier(threads)
    errors: list[Exception] = []

    def call() -> None:
        start.wait()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - handed to the caller's assertion
            errors.append(exc)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors
