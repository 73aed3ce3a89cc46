"""A scope's listing, paged on a thread of its own while its issues are fetched.

Listing is a chain of round trips one after the other (Cloud pages with
`nextPageToken`), and fetching bodies needs nothing but ids: `ScopeListing` hands
out batches of ids as soon as they are listed, so the first bulk fetches start after
the first listing page instead of after the last one.

Result sets move while they are paged: an issue updated meanwhile jumps to the end
of an `ORDER BY updated` listing (it is listed twice), and with offset paging the
issue at the next page boundary is skipped. A repeated id is handed out again (it
changed), and a listing with repeats is done again (up to `passes`), handing out
what the earlier passes did not. Only a first pass without repeats, in `updated`
order where the listing says it, is `clean`: a caller checkpoints only then, since
a skipped (or out-of-order) issue can be older than batches done.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future

log = logging.getLogger(__name__)

# {"id", "key", "updated" (UTC ISO, or "" when not listed)}; an item with "shifted"
# instead says that offset pages moved under the listing (it is no issue).
Item = dict[str, str]


class ScopeListing:
    """Pages `list_pass()` on a thread; `take()` hands out what `wanted` keeps."""

    def __init__(
        self,
        list_pass: Callable[[], Iterable[Item]],
        *,
        wanted: Callable[[Item], bool] = lambda item: True,
        passes: int = 3,
        keep_updated: bool = False,
        on_key: Callable[[str, str], None] | None = None,
    ):
        self._list_pass = list_pass
        self._wanted = wanted
        self._keep_updated = keep_updated
        self._on_key = on_key  # told each id and the key it is listed under
        self._passes = passes
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()  # ids to hand out (ids only: memory)
        self._waiters: list[tuple[int, Future]] = []
        self._thread: threading.Thread | None = None
        self._stop = False
        self._error: BaseException | None = None
        self.finished = False
        self.clean = False
        # Every id listed (all passes) -> the `updated` it was handed out with, or
        # None when it was not wanted: ids and short strings only, so that a big
        # project's listing stays small in memory.
        self.listed: dict[str, str | None] = {}
        self.handed_out = 0
        # Ids handed out more than once: their fetches may finish out of order.
        self.repeated: set[str] = set()

    # ---------------------------------------------------------------- producer

    def start(self) -> ScopeListing:
        self._thread = threading.Thread(target=self.run, name="jiradex-listing", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Every pass, in the calling thread (`start()` runs it on its own)."""
        try:
            for number in range(self._passes):
                if not self._one_pass(first=number == 0):
                    break
                if number + 1 < self._passes:
                    log.info("issues changed while they were listed: listing them again")
        except BaseException as exc:  # handed to the consumer by take()
            self._error = exc
        finally:
            with self._cond:
                self.finished = True
                self._wake()

    def _one_pass(self, first: bool) -> bool:
        """One listing; True when it repeated an id (the result set moved)."""
        this_pass: set[str] = set()
        moved, in_order = False, True
        newest = ""
        for item in self._list_pass():
            if self._stop:
                raise _Stopped
            if item.get("shifted"):
                # Offset pages moved (an issue deleted or moved out meanwhile): one
                # at a page boundary may have been passed over. List again.
                moved = True
                continue
            ident = item["id"]
            # A listing whose `updated` goes back (a bulk change listed by key) gives
            # no order to checkpoint by.
            if item["updated"]:
                in_order = in_order and item["updated"] >= newest
                newest = max(newest, item["updated"])
            again = ident in this_pass
            moved = moved or again
            this_pass.add(ident)
            if self._on_key is not None and item.get("key"):
                self._on_key(ident, item["key"])
            given = self.listed.get(ident)
            if not self._wanted(item):
                if self._keep_updated:
                    self.listed[ident] = item["updated"] or None
                else:
                    self.listed.setdefault(ident, None)
                continue
            if (
                given is not None
                and not again
                and (not item["updated"] or given == item["updated"])
            ):
                continue  # a later pass lists what an earlier one handed out already
            if given is not None:
                self.repeated.add(ident)
            self.listed[ident] = item["updated"]
            with self._cond:
                self._queue.append(ident)
                self.handed_out += 1
                self._wake()
        if first and not moved and in_order:
            self.clean = True
        return moved

    # ---------------------------------------------------------------- consumer

    def take(self, size: int) -> list[str]:
        """Up to `size` ids without waiting: a full batch, or the rest once the
        listing is finished; [] otherwise. Raises what stopped the listing."""
        with self._cond:
            if self._error is not None and not isinstance(self._error, _Stopped):
                raise self._error
            if len(self._queue) < size and not self.finished:
                return []
            return [self._queue.popleft() for _ in range(min(size, len(self._queue)))]

    def ready(self, size: int) -> Future:
        """A future done once `take(size)` has something (or the listing finished)."""
        future: Future = Future()
        with self._cond:
            if self._has(size):
                future.set_result(None)
            else:
                self._waiters.append((size, future))
        return future

    def wait_for(self, count: int) -> int:
        """Block until `count` items wait or the listing finished; how many wait."""
        with self._cond:
            self._cond.wait_for(lambda: self._has(count))
            if self._error is not None and not isinstance(self._error, _Stopped):
                raise self._error
            return len(self._queue)

    @property
    def done(self) -> bool:
        """Finished, and everything it listed was taken."""
        with self._cond:
            return self.finished and not self._queue

    def close(self, timeout: float = 2.0) -> None:
        """Stop paging (after the request in flight) and let the thread go."""
        self._stop = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ---------------------------------------------------------------- internals

    def _has(self, size: int) -> bool:
        return self.finished or len(self._queue) >= size

    def _wake(self) -> None:
        self._cond.notify_all()
        still = []
        for size, future in self._waiters:
            if self._has(size):
                future.set_result(None)
            else:
                still.append((size, future))
        self._waiters = still


class _Stopped(Exception):
    """The consumer closed the listing before it finished."""


def list_all(
    list_pass: Callable[[], Iterable[Item]],
    passes: int = 3,
    on_key: Callable[[str, str], None] | None = None,
) -> dict[str, str | None]:
    """Every id of a scope, listed in the calling thread: id -> its listed `updated`
    (the last pass's; None where the listing does not carry it). `on_key(id, key)`,
    when given, is told the key each id is listed under."""
    listing = ScopeListing(
        list_pass, wanted=lambda item: False, passes=passes, keep_updated=True, on_key=on_key
    )
    listing.run()
    listing.take(0)  # raises what stopped it
    return listing.listed
