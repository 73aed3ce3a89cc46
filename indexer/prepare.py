"""Turn Jira replies into index records, in worker processes when a sync is big.

Decoding a page of issues and converting its ADF to Markdown and text is most of a
sync's CPU, and Python threads share one core for it. A `Preparer` runs that work
on a process pool: the sync's threads hand it the reply's bytes straight from the
socket and get back the same page shape with every issue already normalised, so
the main process only does the network and the SQLite writes.

Small syncs prepare in-process (a pool costs a few hundred milliseconds to start),
and both paths run the same functions, so they give the same records.

A prepared page keeps the reply's paging keys (`startAt`, `total`, `isLast`, ...)
so the client's paging code reads it as it reads a raw page; only the items differ:

- issues become `{"id", "record", "comments", "comment_total", "attachments"}`:
  `record` is `normalize_issue` without comments or attachments, with its raw
  JSON already compressed (indexer.store.encode_raw) and, on a pool of several
  workers when the embedded comments are the whole thread, its FTS stem/CJK columns
  (`fts`, see indexer.store.precomputed_fts); `comments` the normalised embedded
  page (complete when `comment_total` is its length) and `attachments` the
  attachment metadata;
- comments become normalised comments.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from multiprocessing import get_context
from typing import Any

import orjson

from indexer.attachments import extract_text
from indexer.errors import JiradexError
from indexer.normalize import (
    attachment_metadata,
    embedded_comments,
    normalize_comment,
    normalize_issue,
    raw_attachments,
    storable,
    storable_values,
)
from indexer.store import encode_raw, precomputed_fts, with_fts_terms

# Below this many issues a sync prepares in-process.
POOL_MIN_ISSUES = 2000
MAX_PROCESSES = 4


class NotJSON(ValueError):
    """The reply is not a JSON object: the client diagnoses it (and may retry)."""


def _load(payload: bytes | dict) -> dict:
    if isinstance(payload, dict):
        return payload
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise NotJSON(str(exc)) from None
    if not isinstance(data, dict):
        raise NotJSON("not a JSON object")
    return data


def prepare_issue(
    raw: dict, *, datasource: str, site_url: str, fts: bool = False
) -> dict[str, Any]:
    """One raw issue -> its prepared form (see the module docstring); with `fts`,
    its FTS stem/CJK columns too when its comments are all embedded."""
    embedded, total = embedded_comments(raw)
    record = normalize_issue(raw, datasource=datasource, site_url=site_url)
    # Compressed here: bytes cross the process boundary far cheaper than a tree of dicts.
    record["raw"] = encode_raw(record["raw"])
    comments = [normalize_comment(c) for c in embedded]
    attachments = [storable_values(attachment_metadata(a)) for a in raw_attachments(raw)]
    for name in ("labels", "components"):
        record[name] = [storable(value) for value in record[name]]
    if fts and total <= len(comments):
        # The store takes these while the texts it writes are these (else it computes).
        record["fts"] = precomputed_fts(record, comments, attachments)
    return {
        "id": str(raw.get("id")),
        "record": record,
        "comments": comments,
        "comment_total": total,
        "attachments": attachments,
    }


def prepare_issues_page(
    payload: bytes | dict, *, datasource: str, site_url: str, fts: bool = False
) -> dict:
    """A bulkfetch or search reply with its issues prepared."""
    data = _load(payload)
    issues = data.get("issues")
    prepared = [
        prepare_issue(raw, datasource=datasource, site_url=site_url, fts=fts)
        for raw in (issues if isinstance(issues, list) else [])
        if isinstance(raw, dict) and raw.get("id")
    ]
    return {**data, "issues": prepared}


def prepare_comments_page(payload: bytes | dict) -> dict:
    """A `/comment` reply with its comments normalised."""
    data = _load(payload)
    comments = data.get("comments")
    normalised = [normalize_comment(c) for c in (comments if isinstance(comments, list) else [])]
    return {**data, "comments": normalised}


def _with_fts_terms_each(texts: list[tuple]) -> list[tuple]:
    return [with_fts_terms(t) for t in texts]


def _cpu_count() -> int:
    """Cores this process may use (the scheduler's affinity, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _stderr_has_fd() -> bool:
    """False under a TUI: Textual's capture of sys.stderr has fileno() -1."""
    try:
        return sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return True  # no fd at all: multiprocessing leaves it out


# The tracker's own warning when the sync that started it was killed (kill -9) with
# its pool's semaphores: it cleans them up, and the two lines of Python warning it
# printed after the shell's prompt were nothing a user could act on.
_TRACKER_WARNING = "ignore::UserWarning:multiprocessing.resource_tracker"


def _start_quiet_tracker() -> bool:
    """Start multiprocessing's resource tracker, without its warnings.

    The tracker starts once per process, before the first worker. It is given the
    interpreter's -W options (sys.warnoptions), so one more silences it; and it
    is handed sys.stderr's fd, -1 under a TUI, which fails the start ("bad
    value(s) in fds_to_keep"): /dev/null's meanwhile. False when it cannot start."""
    from multiprocessing import resource_tracker

    if _TRACKER_WARNING not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_WARNING)
    saved = sys.stderr
    try:
        with open(os.devnull, "w") as devnull:
            sys.stderr = devnull
            try:
                resource_tracker.ensure_running()
            finally:
                sys.stderr = saved
    except (OSError, ValueError):
        return False
    return True


def _exit_with_parent() -> None:
    """End this worker as soon as the process that started it is gone.

    A sync killed with kill -9 cannot shut its pool down, and a worker blocked on
    its call queue would wait forever: it holds a write end of that queue's pipe
    itself, so it never reads EOF there. The spawn start method gives every child
    a sentinel, the read end of a pipe whose only write end is in the parent: it
    turns readable when the parent dies, whatever killed it. A daemon thread waits
    on it and ends the process. Once the workers are gone, multiprocessing's
    resource tracker reads EOF on its own pipe (the parent and the workers held it)
    and exits too, after unlinking the pool's semaphores."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return
    started_by = os.getppid()

    def watch() -> None:
        try:
            parent.join()  # returns when the sentinel is readable: the parent is gone
        except (OSError, ValueError):  # no usable sentinel: watch the parent's pid
            while os.getppid() == started_by:
                time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="jiradex-parent-watch", daemon=True).start()


def _quiet_worker(silent: bool = False) -> None:
    # Ctrl-C reaches the whole process group: the sync stops the pool itself, so a
    # worker must not die printing a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if silent:  # under a TUI the inherited fds are its screen: nothing may land there
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
    _exit_with_parent()


class Preparer:
    """Prepares replies in-process or on a pool of worker processes.

    `issues` and `comments` return decoders for `JiraClient` calls: each takes the
    reply's bytes (or an already decoded object) and returns the prepared page,
    raising NotJSON when the bytes are not a JSON object.
    """

    def __init__(
        self, *, datasource: str, site_url: str, processes: int = 0, silent: bool = False
    ) -> None:
        # The FTS stem/CJK columns move to the workers only when there are several:
        # with one, that worker is already the busiest process of the sync (measured
        # on 2 cores: 10% slower), while with more the main process is the limit.
        self._issues = partial(
            prepare_issues_page, datasource=datasource, site_url=site_url, fts=processes >= 2
        )
        self._pool: ProcessPoolExecutor | None = None
        self.processes = max(0, processes)
        if processes > 0:
            # spawn: forking a process that runs HTTP threads can copy a held lock.
            self._pool = ProcessPoolExecutor(
                processes,
                mp_context=get_context("spawn"),
                initializer=_quiet_worker,
                initargs=(silent,),
            )

    @classmethod
    def for_sync(cls, *, datasource: str, site_url: str, issues: int) -> Preparer:
        """In-process for small syncs, else one worker per core but one (up to MAX_PROCESSES)."""
        cores = _cpu_count()
        # One core stays with the main process (HTTP and SQLite writes): a worker
        # more than the cores left only adds its memory.
        processes = min(MAX_PROCESSES, cores - 1) if issues >= POOL_MIN_ISSUES else 0
        silent = processes > 0 and not _stderr_has_fd()  # under the TUI
        if processes > 0 and not _start_quiet_tracker() and silent:
            processes = 0  # under a TUI a tracker started as usual would fail too
        return cls(datasource=datasource, site_url=site_url, processes=processes, silent=silent)

    def _run(self, fn: Callable[[Any], Any], payload: bytes | dict) -> Any:
        if self._pool is None:
            return fn(payload)
        try:
            return self._pool.submit(fn, payload).result()
        except BrokenProcessPool:
            # The OS killed a worker (most often for memory); every page written
            # before stays, and the checkpoint lets the next run resume.
            raise JiradexError(
                "a worker process preparing issues stopped unexpectedly (killed, or out "
                "of memory); what was written is kept: run the sync again to resume"
            ) from None

    def issues(self, payload: bytes | dict) -> dict:
        return self._run(self._issues, payload)

    def comments(self, payload: bytes | dict) -> dict:
        return self._run(prepare_comments_page, payload)

    @property
    def offloads_fts(self) -> bool:
        """True when the FTS stem/CJK columns are worth computing here (see __init__)."""
        return self._pool is not None and self.processes >= 2

    def fts_columns(self, texts: list[tuple]) -> list[tuple]:
        """store.with_fts_terms of each of `texts`, in one round trip to a worker."""
        return self._run(_with_fts_terms_each, texts)

    def attachment_text(self, filename: str, mimetype: str, data: bytes) -> str | None:
        """indexer.attachments.extract_text, on a worker when there are workers (a PDF
        parse is pure Python: on the sync's threads it would hold up the writes)."""
        return self._run(partial(extract_text, filename, mimetype), data)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Preparer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
