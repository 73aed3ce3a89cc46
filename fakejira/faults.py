"""Injected failures: each fires a set number of times on requests whose path matches."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

KINDS = {
    "403",
    "429",
    "500",
    "502",
    "503",
    "504",
    "slow",
    "truncate",
    "reset",
    "html200",
    "notjson",
    "captcha403",
    "empty200",
}


@dataclass
class Fault:
    kind: str
    remaining: int
    path_contains: str | None = None
    retry_after: str | None = None  # Retry-After header value for 429/503 (None: no header)
    seconds: float = 2.0  # sleep for "slow"
    method: str | None = None  # only requests of this method (None: any)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self.fired: Counter[str] = Counter()

    def add(
        self,
        kind: str,
        count: int = 1,
        path_contains: str | None = None,
        retry_after=None,
        seconds: float | None = None,
        method: str | None = None,
    ) -> Fault:
        kind = str(kind)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        fault = Fault(kind, int(count), path_contains, None if retry_after is None else str(retry_after),
                      2.0 if seconds is None else float(seconds),
                      None if method is None else str(method).upper())  # fmt: skip
        with self._lock:
            self._queue.append(fault)
        return fault

    def take(self, path: str, method: str | None = None) -> Fault | None:
        """The first pending fault for this request, counted as fired."""
        with self._lock:
            for fault in self._queue:
                if (
                    fault.remaining > 0
                    and (fault.path_contains is None or fault.path_contains in path)
                    and (fault.method is None or method is None or fault.method == method)
                ):
                    fault.remaining -= 1
                    self.fired[fault.kind] += 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict]:
        with self._lock:
            return [vars(f).copy() for f in self._queue]

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
