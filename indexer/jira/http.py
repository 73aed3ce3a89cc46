"""HTTP plumbing for the Jira client: retries, rate limits, concurrency, counters.

- `RetryPolicy` says what to retry and how long to wait: 429 and 503 wait at least
  what `Retry-After` (seconds or an HTTP date) says, else `X-RateLimit-Reset` (ISO
  8601; Cloud does not always send Retry-After), and at least the doubling back-off
  (0.5 s, 1 s, 2 s ... up to 30 s, with jitter) once the server's hint proved too
  short, as Atlassian asks of clients under rate limiting; 502/504 and network errors
  back off too; 4xx never retry. What bounds a storm of 429s is the time budget
  (120 s per request, waits included): the doubling fills it in about ten attempts.
  `max_attempts` (16) is only a backstop the budget reaches first. `sleep` is
  injectable so tests never wait for real; the waits it was asked for count against
  the budget even when it returns at once.
- `AIMDLimiter` caps requests in flight: it halves on 429 and grows back by one slot
  per `limit` successes (additive increase), like TCP congestion control.
- `RequestStats` counts requests for benchmarks.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

RETRY_STATUSES_RATE = frozenset({429, 503})
RETRY_STATUSES_GATEWAY = frozenset({502, 504})
NEVER_RETRY = frozenset({400, 401, 403, 404, 410})


@dataclass
class RetryPolicy:
    """Bounds and waits for retries. Tests pass `sleep=lambda s: None`.

    `budget_seconds` bounds each request: the client retries only while the time
    since its first attempt plus the next wait fits in it. `clock` (as the client
    reads it) counts every wait `sleep` was asked for, also when it returned at
    once, so a test's instant sleep meets the same budget as a real one."""

    max_attempts: int = 16
    max_network_attempts: int = 3
    # 502/504 (and a lone 500): a gateway that gave up waiting on Jira, each attempt
    # costing its timeout; a few tries, not two minutes of them.
    max_gateway_attempts: int = 4
    budget_seconds: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if getattr(self.sleep, "_counts_waits", False):
            return  # already wrapped (a copy of a policy)
        sleep, clock, skipped = self.sleep, self.clock, threading.local()
        self._real_sleep = sleep is time.sleep

        def counted_sleep(seconds: float) -> None:
            before = clock()
            sleep(seconds)
            short = max(0.0, seconds - (clock() - before))
            skipped.seconds = getattr(skipped, "seconds", 0.0) + short

        def budget_clock() -> float:
            # A request runs on one thread: its waits are this thread's.
            return clock() + getattr(skipped, "seconds", 0.0)

        counted_sleep._counts_waits = True  # type: ignore[attr-defined]
        self.sleep, self.clock = counted_sleep, budget_clock

    def pause(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Wait before a retry; with `stop`, a real wait ends as soon as it is set (a
        cancelled or interrupted sync must not sit out a two-minute Retry-After)."""
        if stop is not None and getattr(self, "_real_sleep", False):
            stop.wait(seconds)
        else:
            self.sleep(seconds)

    def backoff(self, retry_number: int) -> float:
        """Doubling delay with 50-100% jitter; retry_number counts from 1."""
        delay = min(self.max_delay, self.base_delay * (2 ** (retry_number - 1)))
        return delay * (0.5 + 0.5 * self.rng.random())

    def wait_for(
        self, retry_number: int, retry_after: str | None, reset: str | None = None
    ) -> float:
        """Seconds to wait before retry `retry_number` of a 429/503: what Retry-After
        says, or when there is none (Jira Cloud does not always send it)
        X-RateLimit-Reset, but never less than the doubling back-off: a server still
        limiting after the wait it named gets longer and longer waits, so a storm
        spends the budget in a few attempts rather than hammering it every second.
        Never less than the server said either, however long: a request sent before
        then only earns "the same or longer" wait (Atlassian); one that does not fit
        the budget is given up at once."""
        now = datetime.now(UTC)
        seconds = parse_retry_after(retry_after, now=now)
        if seconds is None:
            seconds = parse_rate_limit_reset(reset, now=now)
        backoff = self.backoff(retry_number)
        if seconds is None or seconds <= 0:
            return backoff
        return max(seconds, self.base_delay, backoff)


def parse_rate_limit_reset(value: str | None, *, now: datetime) -> float | None:
    """Seconds until an X-RateLimit-Reset moment (ISO 8601, e.g. `2025-01-01T12:34Z`);
    None when absent or garbled."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date; None when absent/garbled."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:  # "inf" and "nan" read as numbers, and are no wait to honour
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class AIMDLimiter:
    """A concurrency limit that halves on rate limiting and recovers slowly.

    `acquire()`/`release()` bracket each request; a thread already holding a slot
    (through `slot()`) does not take a second one, so callers may wrap whole units
    of work without deadlocking on the client's own requests.
    """

    def __init__(
        self,
        limit: int = 6,
        *,
        minimum: int = 1,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_limit = max(1, int(limit))
        self.minimum = max(1, min(minimum, self.max_limit))
        self._limit = float(self.max_limit)
        self._in_flight = 0
        self._cond = threading.Condition()
        self._local = threading.local()
        self._cooldown = cooldown
        self._clock = clock
        self._last_decrease = -1e18
        self.decreases = 0

    @property
    def limit(self) -> int:
        with self._cond:
            return int(self._limit)

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def _depth(self) -> int:
        return getattr(self._local, "depth", 0)

    def acquire(self) -> None:
        depth = self._depth()
        if depth == 0:
            with self._cond:
                while self._in_flight >= int(self._limit):
                    self._cond.wait()
                self._in_flight += 1
        self._local.depth = depth + 1

    def release(self) -> None:
        depth = self._depth()
        if depth <= 0:
            raise RuntimeError("release() without acquire()")
        self._local.depth = depth - 1
        if depth == 1:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def on_rate_limited(self) -> None:
        """Multiplicative decrease, at most once per cooldown (a burst of 429s is one event)."""
        with self._cond:
            now = self._clock()
            if now - self._last_decrease < self._cooldown:
                return
            self._last_decrease = now
            self._limit = max(float(self.minimum), int(self._limit) / 2)
            self.decreases += 1

    def on_success(self) -> None:
        """Additive increase: one more slot after about `limit` successes."""
        with self._cond:
            if self._limit < self.max_limit:
                before = int(self._limit)
                self._limit = min(float(self.max_limit), self._limit + 1.0 / max(1.0, self._limit))
                if int(self._limit) > before:
                    self._cond.notify_all()


class RequestStats:
    """Thread-safe counters for benchmarks and `--verbose` output."""

    FIELDS = ("requests", "retries", "rate_limited", "errors", "bytes", "waited_seconds")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, float] = dict.fromkeys(self.FIELDS, 0)
        self._by_status: dict[int, int] = {}

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + amount

    def status(self, code: int) -> None:
        with self._lock:
            self._by_status[code] = self._by_status.get(code, 0) + 1

    def snapshot(self) -> dict:
        with self._lock:
            data = dict(self._counts)
            data["by_status"] = dict(sorted(self._by_status.items()))
        return data

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(self.FIELDS, 0)
            self._by_status = {}
