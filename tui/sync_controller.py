"""Runs datasource syncs in thread workers and tells the screens how they go.

One thread worker per datasource (`exit_on_error=False`: a failing sync must never
take the app down). The worker thread never touches widgets: it hands progress to
the app thread with `app.call_later` (thread-safe), where the controller updates the
`SyncJob` and posts `SyncController.Updated` / `Logged` / `Finished` messages to every
subscribed node (the sync monitor, the datasources list) and to the app.

Cancel uses the worker's own `cancelled_event`, which is the `threading.Event` the
engine checks between batches; the app cancels every worker when it exits, so
quitting mid-sync stops the threads instead of waiting for them.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import Worker, get_current_worker

from indexer import config, secrets
from indexer.errors import JiradexError
from indexer.sync import SyncProgress, SyncSummary, sync_datasource
from indexer.wording import counted
from tui.messages import IndexUpdated, SyncsFinished

# Progress events closer together than this are coalesced (the engine may emit one
# per batch from several datasources; the screen needs ~10 frames a second at most).
PROGRESS_INTERVAL_S = 0.1
LOG_LIMIT = 500
# While a sync writes, the search screen is told to refresh at most this often.
INDEX_NOTICE_INTERVAL_S = 1.0

PHASE_LABELS = {
    "queued": "queued",
    "starting": "starting",
    "listing": "listing issues",
    "fetching": "fetching issues",
    "reconciling": "removing deleted issues",
    "done": "done",
    "ok": "done",
    "error": "failed",
    "cancelled": "cancelled",
}


def one_line(exc: BaseException) -> str:
    """A user-facing one-line message for any exception, with secrets redacted."""
    text = str(exc) if isinstance(exc, JiradexError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split()) or type(exc).__name__
    return secrets.redact(text)


def format_duration(seconds: float | None) -> str:
    """`42s`, `3m 05s`, `1h 02m`; an em dash when unknown."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass
class SyncJob:
    """What the UI knows about one datasource's current (or last) sync."""

    name: str
    full: bool = False
    phase: str = "queued"
    done: int = 0
    total: int | None = None
    rate: float = 0.0
    eta: float | None = None
    written: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    summary: SyncSummary | None = None
    log: list[str] = field(default_factory=list)
    worker: Worker | None = None
    batch: int = 0
    told_index: float = 0.0
    cancelling: bool = False  # asked to stop; the engine ends after its current batch
    background: bool = False  # started on schedule (tui.auto_sync), not by the user

    @property
    def running(self) -> bool:
        return self.summary is None

    @property
    def status(self) -> str:
        """running | ok | error | cancelled."""
        return "running" if self.summary is None else self.summary.status

    @property
    def error(self) -> str | None:
        return self.summary.error if self.summary is not None else None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def phase_label(self) -> str:
        return PHASE_LABELS.get(self.phase, self.phase)

    def add_log(self, line: str) -> str:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        self.log.append(stamped)
        del self.log[:-LOG_LIMIT]
        return stamped


class SyncController:
    """Starts, tracks and cancels syncs for one running app (see module docstring)."""

    class Updated(Message):
        """A job's phase or counts changed."""

        def __init__(self, job: SyncJob) -> None:
            super().__init__()
            self.job = job

    class Logged(Message):
        """A line for the live log; `seq` numbers the lines of every job in order."""

        def __init__(self, job: SyncJob, line: str, seq: int) -> None:
            super().__init__()
            self.job = job
            self.line = line
            self.seq = seq

    class Finished(Message):
        """A job ended (ok, error or cancelled); `job.summary` says how."""

        def __init__(self, job: SyncJob) -> None:
            super().__init__()
            self.job = job

    class BatchFinished(Message):
        """Every job of one `start()` call ended."""

        def __init__(self, jobs: list[SyncJob]) -> None:
            super().__init__()
            self.jobs = jobs

    def __init__(
        self,
        app: Any,
        *,
        store_factory: Callable[[], Any] | None = None,
        client_factory: Callable[[config.Datasource], Any] | None = None,
        load_datasources: Callable[[], list[config.Datasource]] | None = None,
    ) -> None:
        self.app = app
        self._store_factory = store_factory
        self._client_factory = client_factory
        self._load = load_datasources or config.load_datasources
        self.jobs: dict[str, SyncJob] = {}
        self._subscribers: list[MessagePump] = []
        self._batches: dict[int, tuple[list[SyncJob], Callable | None]] = {}
        self._next_batch = 0
        self.log_seq = 0  # the `seq` of the newest Logged line
        self._failing_background: set[str] = set()  # last scheduled sync failed

    # ------------------------------------------------------------------ subscribers

    def subscribe(self, node: MessagePump) -> None:
        if node not in self._subscribers:
            self._subscribers.append(node)

    def unsubscribe(self, node: MessagePump) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(node)

    def _publish(self, make: Callable[[], Message]) -> None:
        """Post a fresh message to each subscribed node (app thread only)."""
        for node in list(self._subscribers):
            if not getattr(node, "is_attached", True):
                self.unsubscribe(node)
                continue
            node.post_message(make())

    def _tell_app(self, message: Message) -> None:
        """The app-level contract (tui.messages): index changes, batch ends."""
        post = getattr(self.app, "post_message", None)
        if post is not None:
            post(message)

    # ------------------------------------------------------------------ queries

    @property
    def running(self) -> list[SyncJob]:
        return [job for job in self.jobs.values() if job.running]

    def is_running(self, name: str) -> bool:
        job = self.jobs.get(name)
        return job is not None and job.running

    # ------------------------------------------------------------------ start / cancel

    def start(
        self,
        names: Iterable[str] | None = None,
        *,
        full: bool = False,
        on_done: Callable[[list[SyncJob]], Any] | None = None,
        background: bool = False,
    ) -> list[SyncJob]:
        """Start a sync of each named datasource (all enabled ones when None).
        `background`: started by the app on schedule (tui.auto_sync), not by the user.

        Returns the jobs started; a datasource already syncing is not started twice,
        and an unknown name or a broken config becomes a failed job with its message
        (never an exception), so a caller can show it like any other failure.
        """
        try:
            available = self._load()
        except JiradexError as exc:
            return self._failed_batch(["config"], one_line(exc), on_done)
        chosen: list[config.Datasource | str] = []
        if names is None:
            chosen = [ds for ds in available if ds.enabled]
        else:
            by_name = {ds.name.casefold(): ds for ds in available}
            for name in names:
                chosen.append(by_name.get(str(name).strip().casefold(), str(name)))
        if background:
            # Re-checked here: the config may have changed since the look that found
            # them due, and a skipped scheduled sync is no error to show.
            from indexer.locks import sync_running

            chosen = [
                ds
                for ds in chosen
                if not isinstance(ds, str)
                and ds.enabled
                and ds.sync_enabled
                and not sync_running(ds.name)
            ]
        jobs: list[SyncJob] = []
        for item in chosen:
            if isinstance(item, str):
                job = self._new_job(item, full)
                self._end(job, SyncSummary(item, status="error", error=_unknown(item, available)))
                jobs.append(job)
                continue
            if self.is_running(item.name):
                continue
            job = self._new_job(item.name, full)
            job.background = background
            jobs.append(job)
            # Whether a run is incremental is the engine's to say (a first sync is
            # not): its first events tell. Only a full sync is asked for as such.
            kind = "full sync" if full else "sync"
            self._log(job, f"scheduled {kind} started" if background else f"{kind} started")
            self._publish(lambda job=job: SyncController.Updated(job))
            job.worker = self.app.run_worker(
                lambda ds=item, job=job: self._work(ds, job),
                name=f"sync:{item.name}",
                group="sync",
                thread=True,
                exit_on_error=False,
                description=f"sync {item.name}",
            )
        self._register_batch(jobs, on_done)
        return jobs

    def cancel(self, name: str) -> bool:
        """Ask a running sync to stop after its current batch."""
        job = self.jobs.get(name)
        if job is None or not job.running or job.worker is None or job.cancelling:
            return False  # a second c logged "cancel requested" again
        job.worker.cancel()
        job.cancelling = True
        self._log(job, "cancel requested; stopping (the batches written stay)")
        self._publish(lambda: SyncController.Updated(job))
        return True

    def cancel_all(self) -> int:
        return sum(self.cancel(job.name) for job in self.running)

    # ------------------------------------------------------------------ internals

    def _new_job(self, name: str, full: bool) -> SyncJob:
        job = SyncJob(name=name, full=full, phase="starting")
        self.jobs.pop(name, None)
        self.jobs[name] = job  # latest run last, in start order
        return job

    def _failed_batch(self, names: list[str], message: str, on_done) -> list[SyncJob]:
        jobs = []
        for name in names:
            job = self._new_job(name, False)
            self._end(job, SyncSummary(name, status="error", error=message))
            jobs.append(job)
        self._register_batch(jobs, on_done)
        return jobs

    def _register_batch(self, jobs: list[SyncJob], on_done) -> None:
        batch = self._next_batch
        self._next_batch += 1
        for job in jobs:
            job.batch = batch
        self._batches[batch] = (jobs, on_done)
        self._check_batch(batch)

    def _check_batch(self, batch: int) -> None:
        entry = self._batches.get(batch)
        if entry is None:
            return
        jobs, on_done = entry
        if any(job.running for job in jobs):
            return
        del self._batches[batch]
        self._publish(lambda: SyncController.BatchFinished(list(jobs)))
        if jobs:
            self._tell_app(
                SyncsFinished(
                    [job.summary for job in jobs], background=all(j.background for j in jobs)
                )
            )
        if on_done is not None:
            try:
                on_done(jobs)
            except Exception as exc:  # a follow-up must not break the app
                self.app.notify(one_line(exc), severity="error")

    def _work(self, ds: config.Datasource, job: SyncJob) -> None:
        """Runs in the worker thread: the whole sync, then hand the summary over."""
        worker = get_current_worker()
        cancel = worker.cancelled_event
        last_post = [0.0, ""]

        def progress(event: SyncProgress) -> None:
            now = time.monotonic()
            final = event.total is not None and event.done >= event.total
            if (
                event.phase == last_post[1]
                and not final
                and now - last_post[0] < PROGRESS_INTERVAL_S
            ):
                return
            last_post[:] = [now, event.phase]
            snapshot = (event.phase, event.done, event.total, event.rate, event.eta, event.written)
            self.app.call_later(self._on_progress, job, snapshot)

        store = client = None
        try:
            store = self._store_factory() if self._store_factory else _default_store()
            if self._client_factory is not None:
                client = self._client_factory(ds)
            else:
                from indexer.jira import client_for_datasource

                client = client_for_datasource(ds)
            summary = sync_datasource(
                ds, store=store, client=client, full=job.full, progress=progress, cancel=cancel
            )
        except Exception as exc:  # opening the store or building the client failed
            summary = SyncSummary(ds.name, status="error", error=one_line(exc))
        finally:
            for resource in (client, store):
                close = getattr(resource, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        close()
        self.app.call_later(self._end, job, summary)

    def _on_progress(self, job: SyncJob, snapshot: tuple) -> None:
        if not job.running:
            return
        phase, done, total, rate, eta, written = snapshot
        if phase != job.phase and phase != "done":
            self._log(job, _phase_line(phase, total))
        elif phase == "fetching" and total and done >= total:
            self._log(job, f"fetched {counted(done, 'issue', grouped=True)}")
        wrote = written > job.written or (phase == "fetching" and done > job.done)
        job.phase, job.done, job.total, job.rate, job.eta = phase, done, total, rate, eta
        job.written = written
        self._publish(lambda: SyncController.Updated(job))
        now = time.monotonic()
        if wrote and now - job.told_index >= INDEX_NOTICE_INTERVAL_S:
            job.told_index = now
            self._tell_app(IndexUpdated(job.name))

    def _end(self, job: SyncJob, summary: SyncSummary) -> None:
        job.summary = summary
        job.finished = time.monotonic()
        job.phase = summary.status
        if summary.status == "ok":
            if job.total is None:
                job.total = job.done = summary.issues
            self._log(
                job,
                f"done in {format_duration(summary.seconds)}: "
                f"{counted(summary.issues, 'issue', grouped=True)}, "
                f"{counted(summary.comments, 'comment', grouped=True)}, "
                f"{counted(summary.attachments, 'attachment', grouped=True)} written, "
                f"{summary.deleted:,} deleted",
            )
        elif summary.status == "cancelled":
            self._log(
                job,
                f"cancelled after {counted(job.done, 'issue', grouped=True)} "
                "(what was written stays)",
            )
        else:
            self._log(job, f"error: {summary.error}")
            # A scheduled sync failing again (offline for hours) says it once.
            if not (job.background and job.name in self._failing_background):
                self.app.notify(
                    f'Sync of "{job.name}" failed: {summary.error}', severity="error", timeout=8
                )
        if job.background and summary.status == "error":
            self._failing_background.add(job.name)
        elif summary.status == "ok":
            self._failing_background.discard(job.name)
        self._publish(lambda: SyncController.Updated(job))
        self._publish(lambda: SyncController.Finished(job))
        if summary.issues or summary.deleted:
            self._tell_app(IndexUpdated(job.name))
        self._check_batch(job.batch)

    def _log(self, job: SyncJob, line: str) -> None:
        stamped = job.add_log(line)
        self.log_seq += 1
        seq = self.log_seq
        self._publish(lambda: SyncController.Logged(job, stamped, seq))


def _phase_line(phase: str, total: int | None) -> str:
    if phase == "fetching":
        if not total:
            return "nothing new to fetch"
        return f"fetching {counted(total, 'new or changed issue', grouped=True)}"
    return PHASE_LABELS.get(phase, phase)


def _unknown(name: str, available: list[config.Datasource]) -> str:
    known = ", ".join(ds.name for ds in available) or "none configured yet"
    return f'no datasource named "{name}" (configured: {known})'


_CONTROLLERS: weakref.WeakKeyDictionary[Any, SyncController] = weakref.WeakKeyDictionary()


def controller_for(app: Any) -> SyncController:
    """The one controller of this app (created on first use), shared by the screens.

    Tests may put their own (with a fake client) in place with `install_controller`.
    """
    controller = _CONTROLLERS.get(app)
    if controller is None:
        controller = _CONTROLLERS[app] = SyncController(app)
    return controller


def install_controller(app: Any, controller: SyncController) -> SyncController:
    _CONTROLLERS[app] = controller
    return controller


def _default_store():
    from indexer.store import Store

    return Store()
