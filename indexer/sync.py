"""Incremental, resumable sync of one datasource into the index.

How a run goes:

1. List the scope cheaply: ids and keys (and `updated` where free) of every issue
   changed since the watermark (minus an overlap window), in `updated` order, with
   large id-only pages (up to 5,000 per call on Cloud).
2. Fetch full bodies of what is new or changed, 100 per call and several calls at
   once (Cloud `bulkfetch`, Data Center search by id), completing long comment
   threads and attachment text concurrently on the way.
3. Write each fetched batch in one transaction together with the checkpoint (the
   newest `updated` below which every batch is done). A run killed at any moment
   leaves whole batches behind, and the next run starts from the checkpoint; the
   watermark only advances when a run completes.
4. Reconcile (on `--full` and at least daily): list every id of the scope and
   delete what Jira no longer has (deleted, moved out, hidden).

The engine never imports a front end: it reports through `progress(SyncProgress)`
and stops between batches when `cancel` is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from threading import Event, Lock, Thread
from typing import Any

from indexer import attachments as attachment_text
from indexer import secrets
from indexer.errors import JiradexError
from indexer.listing import ScopeListing, list_all
from indexer.locks import sync_lock, sync_running
from indexer.normalize import epoch_ms, to_utc_iso
from indexer.prepare import POOL_MIN_ISSUES, Preparer
from indexer.store import fts_texts

log = logging.getLogger(__name__)

# Re-read this much before the watermark: Jira's search index is eventually
# consistent, so an issue can show up late with an `updated` in the past.
OVERLAP_MS = 30 * 60 * 1000
# The longest a rate limit's Retry-After holds a datasource's scheduled syncs.
HOLD_OFF_MAX_S = 24 * 3600.0
# The run that reconciles (daily) looks this far back instead: an update that became
# visible later than the overlap window still comes in within a day, on Cloud too,
# whose listings do not say `updated` for reconcile to compare.
RECONCILE_LOOKBACK_MS = 24 * 3600 * 1000
RECONCILE_EVERY_S = 24 * 3600
LISTING_PASSES = 3  # listings of a scope that keeps moving while it is paged
BATCH_SIZE = 100
GROUP_MAX = 4  # batches written in one transaction at most (memory stays flat)
# Runs that fetch again an issue whose attachment download failed (a timeout, a 5xx,
# a 429 storm) before giving up on that attachment's text.
ATTACHMENT_RETRIES = 3
CANCEL_POLL_S = 0.2  # how soon a cancel reaches the requests in flight

ISSUE_FIELDS = [
    "summary", "description", "issuetype", "status", "priority", "assignee", "reporter",
    "labels", "components", "created", "updated", "project", "resolution", "fixVersions",
    "parent",
]  # fmt: skip


class SyncCancelled(JiradexError):
    """The user cancelled the sync; what was written so far stays."""


class _BatchAbandoned(Exception):
    """A queued batch not begun because another one failed (see _pooled_batch)."""


class SyncInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sync, raised once its run is recorded; `summary` says what the
    run wrote, for a front end that reports it before stopping."""

    def __init__(self, summary: SyncSummary):
        super().__init__()
        self.summary = summary


@dataclass
class SyncProgress:
    """One progress event; the CLI draws a bar from it, the TUI a ProgressBar."""

    datasource: str
    phase: str  # "listing" | "fetching" | "reconciling" | "done"
    done: int = 0
    total: int | None = None
    started: float = field(default_factory=time.monotonic)
    message: str = ""
    written: int = 0  # issues written so far (fetching starts while listing goes on)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-6)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed

    @property
    def eta(self) -> float | None:
        if not self.total or not self.done:
            return None
        return max(self.total - self.done, 0) / self.rate


@dataclass
class SyncSummary:
    """What one run wrote: the `sync --json` line of ARCHITECTURE.md."""

    datasource: str
    status: str = "ok"
    issues: int = 0
    comments: int = 0
    attachments: int = 0
    deleted: int = 0
    error: str | None = None
    seconds: float = 0.0
    listed: int = 0
    skipped_attachments: int = 0
    skipped_issues: int = 0  # issues Jira sent that could not be read (left as they were)
    full: bool = False
    reconciled: bool = False
    # Seconds Jira asked to wait before anything more (a rate limit's Retry-After
    # that the run could not wait out): no sync of this datasource should start
    # sooner (indexer.scheduler holds it; the sync state keeps `not_before`).
    retry_after: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


ProgressFn = Callable[[SyncProgress], None]


def sync_datasource(
    datasource,
    *,
    store,
    client=None,
    full: bool = False,
    progress: ProgressFn | None = None,
    cancel: Event | None = None,
) -> SyncSummary:
    """Sync one datasource; never raises for Jira or store failures: the summary says.

    Raises SyncBusy only through the summary too (status "error"), so a caller
    syncing several datasources carries on with the others. A `cancel` event with
    `interrupted` true (indexer.scheduler.CancelEvent: Ctrl-C reached another
    thread) records the run as interrupted rather than cancelled.
    """
    summary = SyncSummary(datasource=datasource.name, full=full)
    started = time.monotonic()
    run_id = None
    run = None
    interrupted = False
    try:
        with sync_lock(datasource.name):
            run_id = store.start_run(datasource.name)
            if client is None:
                from indexer.jira import client_for_datasource

                client = client_for_datasource(datasource)
            run = _Run(datasource, store, client, summary, progress, cancel)
            run.run_id = run_id  # each write adds its counts to the run record
            try:
                with _requests_end_on_cancel(run.cancel, client):
                    run.execute(full)
            except JiradexError as exc:
                _hold_off(store, datasource.name, getattr(exc, "retry_after", None))
                raise
    except JiradexError as exc:
        # A request the stop cut short (planning, listing) fails as it is cut:
        # that is the cancel too, not an error of the datasource.
        if isinstance(exc, SyncCancelled) or (cancel is not None and cancel.is_set()):
            if getattr(cancel, "interrupted", False):  # Ctrl-C in `sync --watch`
                summary.status, summary.error = "interrupted", "interrupted (Ctrl-C)"
            else:
                summary.status = "cancelled"
                summary.error = f'sync of "{datasource.name}" cancelled'
        else:
            summary.status, summary.error = "error", secrets.redact(_with_jql_hint(exc, datasource))
            asked = getattr(exc, "retry_after", None)
            summary.retry_after = min(asked, HOLD_OFF_MAX_S) if asked else None
    except KeyboardInterrupt:
        # Ctrl-C: the run record says so (and what was written), then the front end
        # stops as the user asked.
        summary.status, summary.error = "interrupted", "interrupted (Ctrl-C)"
        interrupted = True
    except Exception as exc:  # a bug must not take the other datasources down
        log.exception("sync of %s failed", datasource.name)
        summary.status = "error"
        summary.error = secrets.redact(f"unexpected {type(exc).__name__}: {exc}")
    summary.seconds = time.monotonic() - started
    if run is not None:
        summary.skipped_issues = len(run._unreadable())
    if run_id is not None:
        try:
            store.finish_run(
                run_id,
                summary.status,
                issues=summary.issues,
                comments=summary.comments,
                attachments=summary.attachments,
                deleted=summary.deleted,
                error=summary.error,
                seconds=round(summary.seconds, 3),
            )
        except Exception:  # the run record is a nicety; the data is already safe
            log.warning("could not record the run of %s", datasource.name)
    if interrupted:
        raise SyncInterrupted(summary)
    return summary


def _hold_off(store, datasource: str, seconds: float | None) -> None:
    """Keep in the sync state when Jira allows the next try (`not_before`, epoch s),
    for schedulers that read the index (indexer.scheduler.due_datasources). At most
    a day: a Retry-After date years ahead is no reason to stop syncing for years."""
    if not seconds:
        return
    try:
        state = store.get_state(datasource) or {}
        state["not_before"] = time.time() + min(seconds, HOLD_OFF_MAX_S)
        store.set_state(datasource, state)
    except Exception:  # a nicety: the scheduler then waits one interval as usual
        log.warning("could not record when %s may be synced again", datasource)


def _with_jql_hint(exc: JiradexError, datasource) -> str:
    """The error's line; for a request Jira rejected (400) while the datasource has a
    JQL of its own, the JQL it most likely rejected and how to check it: Jira's own
    words ("Field 'sprint' does not exist…") do not say where the query came from."""
    from indexer.jira.errors import JiraBadRequestError

    if not (isinstance(exc, JiraBadRequestError) and datasource.jql):
        return str(exc)
    return (
        f"{exc} (the datasource's jql is {datasource.jql!r}: check it with "
        f'`jiradex datasource test "{datasource.name}"`)'
    )


@contextmanager
def _requests_end_on_cancel(cancel: Event, client) -> Iterator[None]:
    """While the run goes, a cancel (or Ctrl-C) also ends its requests in flight
    (JiraClient.abort_requests): a run is otherwise checked for cancel between
    batches, and a batch waiting on a slow or silent server held the stop (and a
    TUI quitting, or Ctrl-C, with it) for up to the 30 s read timeout."""
    abort = getattr(client, "abort_requests", None)
    if abort is None:
        yield
        return
    finished = Event()

    def watch() -> None:
        while not finished.is_set():
            if cancel.wait(CANCEL_POLL_S):
                abort()
                return

    Thread(target=watch, name="jiradex-cancel-watch", daemon=True).start()
    try:
        yield
    finally:
        finished.set()


def recent_runs(store, datasource: str, limit: int = 20) -> list[dict]:
    """The datasource's sync runs, newest first, for display. A run still marked
    'running' while no sync holds the datasource's lock died before it could say
    how it ended (kill -9, power loss): it reads 'interrupted' (the next run records
    it so)."""
    runs = store.runs(datasource, limit=limit)
    if any(run.get("status") == "running" for run in runs) and not sync_running(datasource):
        for run in runs:
            if run.get("status") == "running":
                run["status"] = "interrupted"
    return runs


def _project_not_found(exc: JiradexError) -> JiradexError | None:
    """Jira answers a search on an unknown or hidden project with a 400 ("The value
    'NOPE' does not exist for the field 'project'."): say it as the project error."""
    import re

    found = re.search(r"The value '([^']+)' does not exist for the field 'project'", str(exc))
    if found is None:
        return None
    from indexer.jira import ProjectNotFoundError

    return ProjectNotFoundError(
        f"Project {found.group(1)} does not exist or you do not have permission to see it"
    )


class _Run:
    """The state of one sync run (kept off the module's public surface)."""

    def __init__(self, datasource, store, client, summary: SyncSummary, progress, cancel):
        self.ds = datasource
        self.store = store
        self.client = client
        self.summary = summary
        self.progress_fn = progress
        self.cancel = cancel or Event()
        if isinstance(getattr(client, "stopping", None), Event):
            # The client's retry waits end as soon as the run is cancelled (a 429
            # storm can ask for minutes): requests in flight stop with the run.
            client.stopping = self.cancel
        self._side_pool: ThreadPoolExecutor | None = None
        self._side_lock = Lock()
        self.preparer = Preparer(datasource=datasource.name, site_url=client.site_url)
        self.handled = 0  # issues fetched and written (superseded ones included)
        self.run_id: int | None = None  # the store's run record, counted up by write()
        self.started_ms = int(time.time() * 1000)  # set again when the run plans
        self.vanished: set[str] = set()
        self.skip_unchanged = False  # a Cloud incremental run: unchanged issues not written
        self.skipped: set[str] = set()  # ids of issues that could not be read (left as were)
        self.dropping: dict[str, bool] = {}  # comments/attachments turned off (see execute)
        self.projects = {p.strip().upper() for p in str(datasource.project_key or "").split(",")}
        self.batch_failed = Event()  # a pooled batch failed: the rest are not begun
        self.account_checked = False  # see check_account
        self.rekeyed: set[str] = set()  # ids the last list_scope found under a new key

    # ------------------------------------------------------------------ plan

    def execute(self, full: bool) -> None:
        state = self.store.get_state(self.ds.name) or {}
        self.dropping = _turned_off(state, self.ds)
        scope = {"project": self.ds.project_key, "jql": self.ds.jql or "", "site": self.ds.endpoint}
        if state.get("scope") != scope:
            full = True  # a new or changed scope: start over, reconcile away the rest
            state = {}
        # Comments or attachments turned on are fetched for every issue; turned off,
        # every issue is written again without them (the index keeps what a record
        # does not mention), which the same full pass does.
        backfill = (
            (self.ds.index_comments and not state.get("comments"))
            or (self.ds.index_attachments and not state.get("attachments"))
            or bool(self.dropping)
        )
        # Where to start: after the last completed run, or where an interrupted run
        # stopped (its checkpoint), or from the beginning. A backfill resumes only
        # from the checkpoint of a run that was fetching what this one wants.
        wants = {
            "comments": bool(self.ds.index_comments),
            "attachments": bool(self.ds.index_attachments),
        }
        if full:
            since = None
        elif backfill:
            since = state.get("checkpoint") if state.get("checkpoint_wants") == wants else None
        else:
            since = state.get("checkpoint") or state.get("watermark")
        reconcile = (
            full
            or state.get("reconcile_pending")
            or time.time() - state.get("last_reconcile", 0) > RECONCILE_EVERY_S
        )
        self.summary.full = full
        self.state = {
            **state,
            "scope": scope,
            "reconcile_pending": bool(reconcile),
            "comments": bool(state.get("comments")) and not backfill,
            "attachments": bool(state.get("attachments")) and not backfill,
            "checkpoint_wants": wants,
            "dropping": self.dropping,
        }
        self.state.pop("not_before", None)  # this run is the try it waited for
        if since is None:
            self.state.pop("checkpoint", None)
            self.state.pop("watermark", None)
        self.store.set_state(self.ds.name, self.state)

        # Issues changed after this moment may be missing from the listing: the
        # watermark never passes it (on Jira's clock where its answers say it, see
        # jira_started_ms; the overlap window absorbs what is left of the skew).
        self.started_ms = int(time.time() * 1000)
        jql = self.scope_jql()
        if since is not None:
            # A day back from a completed run's watermark when reconciling; an
            # interrupted run's checkpoint resumes with the overlap window only.
            after_completed_run = since != state.get("checkpoint")
            lookback = RECONCILE_LOOKBACK_MS if reconcile and after_completed_run else OVERLAP_MS
            jql += f" AND updated >= {int(since) - lookback}"
        # On an incremental run, issues whose `updated` is what the index holds are
        # not written again: on Data Center (listings carry `updated`) they are not
        # even fetched; on Cloud they are left out once fetched (_changed_only: the
        # index is asked for each batch's ids, not read whole, which took 0.5 s at
        # 100k issues for a re-sync that fetches a handful).
        stored = None
        incremental = not (full or backfill)
        cloud = bool(getattr(self.client, "is_cloud", False))
        self.skip_unchanged = incremental and cloud
        if incremental and not cloud:
            stored = self.store.issue_ids(self.ds.name)

        def wanted(item: dict[str, str]) -> bool:
            return (
                stored is None or not item["updated"] or stored.get(item["id"]) != item["updated"]
            )

        due = dict(self.state.get("attachment_retry") or {})
        if not self.ds.index_attachments:
            self.state.pop("attachment_retry", None)
        listing = ScopeListing(lambda: self.list_pass(jql), wanted=wanted, passes=LISTING_PASSES)
        try:
            self.fetch_and_store(listing)
        finally:
            self.summary.listed = len(listing.listed)
            self.skip_unchanged = False  # later fetches (retries, reconcile) all write
        if not listing.listed:
            self.check_account()  # nothing found: no results, or refused credentials?
        if self.ds.index_attachments and due:
            self.retry_attachments(due)
        if stored is not None:
            stored.clear()  # reconcile reads its own copy

        if reconcile:
            self.emit("reconciling", 0, None)
            if since is None:
                self.reconcile(listing.listed, fresh=False)
            else:
                self.reconcile(self.list_scope(), fresh=True)

        watermark = max(
            min(int(self.newest or 0), self.jira_started_ms()),
            int(since or 0),
            int(state.get("watermark") or 0),
        )
        self.state.update(
            {
                "watermark": watermark or None,
                "comments": bool(self.ds.index_comments),
                "attachments": bool(self.ds.index_attachments),
                "reconcile_pending": False,
                "last_success": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        self.state.pop("checkpoint", None)
        self.state.pop("dropping", None)
        if reconcile:
            self.state["last_reconcile"] = time.time()
        self.store.set_state(self.ds.name, self.state)
        self.emit("done", self.summary.issues, self.summary.issues)

    def scope_jql(self) -> str:
        jql = f'project = "{self.ds.project_key}"'
        if self.ds.jql:
            jql += f" AND ({self.ds.jql})"
        return jql

    # ------------------------------------------------------------------ listing

    def list_pass(self, jql: str) -> Iterator[dict[str, str]]:
        """Every issue of the JQL as {id, key, updated or ""}, in `updated` order (one
        listing; ScopeListing repeats it when the result set moved under it)."""
        try:
            for item in self.client.search_ids(jql):
                self.check_cancel()
                if item.get("shifted"):  # offset pages moved under the listing
                    yield {"id": "", "key": "", "updated": "", "shifted": True}
                    continue
                yield {
                    "id": str(item["id"]),
                    "key": item.get("key") or "",
                    "updated": to_utc_iso(item.get("updated")) if item.get("updated") else "",
                }
        except JiradexError as exc:
            raise _project_not_found(exc) or exc from None

    # ------------------------------------------------------------------ fetching

    def fetch_and_store(self, listing: ScopeListing) -> None:
        """Fetch batches concurrently while the listing goes on; write them as they
        come, checkpoint in order.

        The checkpoint is the newest `updated` of the longest run of completed
        batches from the start of the (updated-ordered) listing: an interrupted run
        resumes from there and cannot skip an issue of an unfinished batch. It is
        saved only once the listing is known to be clean (see ScopeListing).
        """
        self.newest = 0
        self.handled = 0
        self.vanished: set[str] = set()  # listed, then not returned by the fetch
        self.emit("listing", 0, None)
        listing.start()
        try:
            # Small syncs prepare in-process: wait until the listing says which.
            first = listing.wait_for(POOL_MIN_ISSUES)
            self.preparer = Preparer.for_sync(
                datasource=self.ds.name, site_url=self.client.site_url, issues=first
            )
            if self.preparer.processes:
                log.info(
                    "%s: preparing issues on %d processes", self.ds.name, self.preparer.processes
                )
            self._fetch_while_listing(listing)
        finally:
            listing.close()

    def _fetch_while_listing(self, listing: ScopeListing) -> None:
        workers = self._concurrency()
        in_flight = workers * 2
        finished_batches: dict[int, int] = {}  # batch index -> newest updated (ms)
        next_in_order = submitted = 0
        held = 0  # the checkpoint reached, saved once the listing is clean
        superseded: dict[str, int] = {}  # repeated id -> `updated` (ms) written
        listed_shown = (-1, -1)  # (listed, written) last shown
        ready: Future | None = None
        started = time.monotonic()
        # The side pool closes after the batch pool has joined its workers, and the
        # preparer after both.
        with (
            self.store.lean_cache(),
            self.store.checkpoints_aside(),
            self.preparer,
            self._side_pool_scope(),
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jiradex-fetch") as pool,
        ):
            pending: dict[Future, int] = {}
            batches: dict[int, list[str]] = {}  # ids of the batches in flight
            try:
                while True:
                    while len(pending) < in_flight and (batch := listing.take(BATCH_SIZE)):
                        pending[pool.submit(self._pooled_batch, batch)] = submitted
                        batches[submitted] = batch
                        submitted += 1
                    if self.progress.phase == "listing":
                        if listing.finished:
                            self.progress = SyncProgress(
                                self.ds.name,
                                "fetching",
                                self.handled,
                                listing.handed_out,
                                started=started,
                            )
                            self.emit_progress()
                        elif (len(listing.listed), self.handled) != listed_shown:
                            listed_shown = (len(listing.listed), self.handled)
                            self.emit("listing", len(listing.listed), None)
                    if not pending and listing.done:
                        break
                    waitables = set(pending)
                    if len(pending) < in_flight and not listing.done:
                        if ready is None or ready.done():
                            ready = listing.ready(BATCH_SIZE)
                        waitables.add(ready)
                    done, _ = wait(waitables, return_when=FIRST_COMPLETED)
                    done = sorted(done - {ready}, key=pending.__getitem__)[:GROUP_MAX]
                    # Batches that finished together are written in one transaction:
                    # when the writer falls behind, fewer commits (FTS5 flushes and
                    # merges its segments at each) let it catch up.
                    together: list[dict[str, Any]] = []
                    handled = 0
                    unedited_before: int | None = None  # see _listed_moment
                    failure: BaseException | None = None
                    for future in done:
                        index = pending.pop(future)
                        asked = batches.pop(index)
                        try:
                            records = future.result()
                        except _BatchAbandoned:
                            continue  # the failure that ended the run comes with its batch
                        except BaseException as exc:  # the batches done before it are kept
                            failure = failure or exc
                            continue
                        self._note_vanished(asked, records)
                        handled += len(records)
                        if unedited_before is None:
                            unedited_before = self.jira_started_ms() - OVERLAP_MS
                        finished_batches[index] = max(
                            (self._listed_moment(r, listing, unedited_before) for r in records),
                            default=0,
                        )
                        if listing.repeated:
                            records = _newest_only(records, listing.repeated, superseded)
                        newest = max((epoch_ms(r.get("updated")) or 0 for r in records), default=0)
                        self.newest = max(self.newest, newest)
                        together.extend(r for r in records if not r.get("unchanged"))
                    while next_in_order in finished_batches:
                        held = finished_batches.pop(next_in_order) or held
                        next_in_order += 1
                    checkpoint = listing.clean and held > int(self.state.get("checkpoint") or 0)
                    if checkpoint:
                        self.state["checkpoint"] = held
                    if handled or checkpoint:
                        self.write(together, checkpoint, handled)
                    if failure is not None:
                        self.check_cancel()  # a request stopped by the cancel says cancelled
                        raise failure
                    self.check_cancel()
            except KeyboardInterrupt:
                self.cancel.set()  # worker threads waiting to retry stop now
                raise
            finally:
                for future in pending:
                    future.cancel()

    def _unreadable(self) -> set[str]:
        """Ids of the issues this run could not read: not gone from Jira, not to be
        fetched again in the same run."""
        read = getattr(self.client, "unreadable_ids", None)
        unreadable = read() if read is not None else set()
        with self._side_lock:
            return self.skipped | unreadable

    def _note_vanished(self, asked: list[str], records: list[dict[str, Any]]) -> None:
        """Ids listed but gone from the scope by the time they were fetched: not
        returned (deleted, hidden), or returned from another project (moved out; Cloud
        bulkfetch follows an issue anywhere). Reconcile checks them again."""
        projects = self.projects
        returned = set()
        for record in records:
            ident = str(record.get("id"))
            returned.add(ident)
            project = str(record.get("project") or "").upper()
            if project and project not in projects:
                self.vanished.add(ident)
        if len(returned) < len(asked):
            self.vanished.update(set(asked) - returned - self._unreadable())

    def _listed_moment(
        self, record: dict[str, Any], listing: ScopeListing, unedited_before: int
    ) -> int:
        """Where a fetched issue stood in the listing's `updated` order (ms), or 0 when
        that is not known: what a checkpoint may be taken from.

        Not simply the fetched `updated`: an issue edited after it was listed comes
        back with a newer one, and a checkpoint taken from it would jump over the
        batches listed after it that are not written yet. Where the listing carried
        `updated` (Data Center) that is the answer; otherwise (Cloud lists ids only)
        a fetched `updated` older than `unedited_before` (the run's start by Jira's
        clock, less the overlap window) cannot have been edited since the listing, so
        it is the listed one.
        """
        listed = listing.listed.get(str(record.get("id")))
        if listed:
            return epoch_ms(listed) or 0
        fetched = epoch_ms(record.get("updated")) or 0
        return fetched if fetched <= unedited_before else 0

    def jira_started_ms(self) -> int:
        """When the run started by Jira's clock, as far as it can tell: `updated` is
        Jira's time, and a local clock ahead of Jira's by more than the overlap window
        took an issue edited after it was listed for one that was not (its checkpoint
        then jumped over batches not yet written, which the next run never fetched).
        Jira's clock is read from its last answer (`server_now()`, the Date header, to
        the second); the earlier of the two starts is taken, so a Jira clock ahead of
        ours changes nothing, and a client that cannot say keeps the local clock."""
        server_now = getattr(self.client, "server_now", None)
        if server_now is None:
            return self.started_ms
        try:
            jira_ms = int(server_now().timestamp() * 1000)
        except Exception:  # a double or a clock that cannot say: keep ours
            return self.started_ms
        behind = int(time.time() * 1000) - jira_ms  # > 0: Jira's clock is behind ours
        # Down to the minute: the Date header says the second, and the milliseconds
        # our clock adds differ from run to run; a bound that does not is as safe
        # (the overlap window is 30 minutes) and makes the next run's JQL the same
        # for the same answers (a cassette recorded against a frozen fake replays).
        started = self.started_ms - max(behind, 0)
        return started - started % 60_000

    def _pooled_batch(self, batch: list[str]) -> list[dict[str, Any]]:
        """fetch_batch on the run's pool. Once a batch has failed (the run ends with
        its error), a queued batch is not begun: the thread that ran the failed one
        took the next at once and spent a whole retry budget more on a Jira that was
        failing, before the run could end (twice the budget at concurrency 1)."""
        if self.batch_failed.is_set():
            raise _BatchAbandoned
        try:
            return self.fetch_batch(batch)
        except BaseException:
            self.batch_failed.set()
            raise

    def fetch_batch(self, batch: list[str]) -> list[dict[str, Any]]:
        """Fetch and normalise one batch (runs in a worker thread).

        Replies are decoded and normalised by the run's Preparer (worker processes on
        a big sync). Long comment threads and attachment downloads of the batch run
        concurrently too, under the client's shared concurrency limit.
        """
        if self.cancel.is_set():
            return []
        fields = list(ISSUE_FIELDS)
        if self.ds.index_comments:
            fields.append("comment")
        if self.ds.index_attachments:
            fields.append("attachment")
        prepared = self.client.bulkfetch(batch, fields, decode=self.preparer.issues)
        # On an incremental run, issues whose `updated` is what the index holds (the
        # ones Cloud's overlap window fetches every run) go back marked, for the
        # listing's bookkeeping, without comment pages or downloads; they are not
        # written. The index is asked for this batch's ids only.
        unchanged: list[dict[str, Any]] = []
        if self.skip_unchanged and prepared:
            ids = [str(p["record"]["id"]) for p in prepared]
            stored = self.store.updated_of(self.ds.name, ids)
            retry = self.state.get("attachment_retry") or {}
            fresh = []
            for issue, ident in zip(prepared, ids, strict=True):
                if ident not in retry and stored.get(ident) == issue["record"].get("updated"):
                    unchanged.append({**issue["record"], "unchanged": True})
                else:
                    fresh.append(issue)
            prepared = fresh
        if self.ds.index_comments:
            longer = [p for p in prepared if p["comment_total"] > len(p["comments"])]
            threads = self._map(self._comment_thread, longer)
            for issue, thread in zip(longer, threads, strict=True):
                issue["comments"] = thread
            # A thread that cannot be read (a comment nested too deeply to parse), or
            # of an issue gone since its fetch: the issue is left out, the index
            # keeps what it had of it.
            prepared = [p for p in prepared if p["comments"] is not None]
        if self.ds.index_attachments:
            metas = [(p, meta) for p in prepared for meta in p["attachments"]]
            records = self._map(self.attachment_record, [meta for _, meta in metas])
            for issue in prepared:
                issue["attachments"] = []
            for (issue, _), record in zip(metas, records, strict=True):
                issue["attachments"].append(record)
        out = []
        for issue in prepared:
            record = issue["record"]
            if self.ds.index_comments:
                record["comments"] = issue["comments"]
            elif self.dropping.get("comments"):
                record["comments"] = []
            if self.ds.index_attachments:
                record["attachments"] = issue["attachments"]
            elif self.dropping.get("attachments"):
                record["attachments"] = []
            out.append(record)
        if self.preparer.offloads_fts:
            self._fts_off_the_writer(out)
        return out + unchanged

    def _fts_off_the_writer(self, records: list[dict[str, Any]]) -> None:
        """Stem/CJK columns for the records whose worker-made ones no longer match
        their texts (the rest of a long thread, attachment text), computed on a worker
        too: with spare cores the writer thread is the sync's limit."""
        stale, texts = [], []
        for record in records:
            current = fts_texts(
                record, record.get("comments") or [], record.get("attachments") or []
            )
            if record.get("fts", ())[:5] != current:
                stale.append(record)
                texts.append(current)
        if stale:
            for record, columns in zip(stale, self.preparer.fts_columns(texts), strict=True):
                record["fts"] = columns

    def _comment_thread(self, issue: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Every comment of an issue whose embedded page was not all of them.

        Only the rest is fetched (the embedded page is the start of the thread). When
        the thread changed in between (the count or the ids disagree), all of it is
        fetched again; a change that keeps both also moves the issue's `updated`, so
        the next run fetches it anew.

        None leaves the issue out of its batch: a comment that cannot be read (the
        index keeps what it had of the issue), or a 404 (the issue was deleted or
        hidden since its fetch, which Jira's 404 cannot tell apart): that one is
        then missing from the batch as an issue the fetch did not return, for
        reconcile to check, rather than failing the whole run."""
        from indexer.jira.errors import IssueNotFoundError

        embedded = issue["comments"]
        try:
            rest = self.client.comments(
                issue["id"], start_at=len(embedded), decode=self.preparer.comments
            )
            thread = [*embedded, *rest]
            ids = [c.get("id") for c in thread]
            if len(thread) == issue["comment_total"] and len(set(ids)) == len(ids):
                return thread
            return self.client.comments(issue["id"], decode=self.preparer.comments)
        except IssueNotFoundError:
            key = issue["record"].get("key") or issue["id"]
            log.info("%s: %s is gone since it was fetched: left out", self.ds.name, key)
            return None
        except RecursionError:  # a comment nested deeper than a JSON parser goes
            key = issue["record"].get("key") or issue["id"]
            log.warning(
                "%s: a comment of %s is nested too deeply to read: left out", self.ds.name, key
            )
            with self._side_lock:
                self.skipped.add(str(issue["id"]))
            return None

    @contextmanager
    def _side_pool_scope(self) -> Iterator[None]:
        try:
            yield
        finally:
            with self._side_lock:
                pool, self._side_pool = self._side_pool, None
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _concurrency(self) -> int:
        """The client's concurrency limit (test doubles may not say: then 6)."""
        return max(1, int(getattr(self.client, "max_concurrency", 6)))

    def _map(self, fn, items: list) -> list:
        """`[fn(item) ...]` on the run's side pool (comment pages, attachments).

        One pool for the whole run rather than one per batch: starting threads for
        every batch cost CPU, and dozens of threads fought over the GIL. Every
        request still goes through the client's concurrency limit.
        """
        if getattr(self.client, "map_concurrent", None) is None or len(items) < 2:
            return [fn(item) for item in items]
        with self._side_lock:
            if self._side_pool is None:
                self._side_pool = ThreadPoolExecutor(
                    self._concurrency(), thread_name_prefix="jiradex-side"
                )
        futures = [self._side_pool.submit(fn, item) for item in items]
        wait(futures)
        return [future.result() for future in futures]

    def attachment_record(self, meta: dict[str, Any]) -> dict[str, Any]:
        if not attachment_text.is_indexable(meta["filename"], meta["mimetype"]):
            return meta
        limit = getattr(self.ds, "attachment_max_bytes", None) or self.client.attachment_max_bytes
        if meta["size"] and meta["size"] > limit:
            self.summary.skipped_attachments += 1
            return meta
        try:
            data = self.client.download_attachment(
                meta["content_url"], limit, mime_type=meta["mimetype"], named_text=True
            )
        except JiradexError as exc:
            # A download the cancel cut short is no failure of the attachment: the
            # batch is dropped (not written without its text, nor counted against
            # the attachment's retries) and fetched again by the next run.
            self.check_cancel()
            log.info("attachment %s not downloaded: %s", meta["id"], exc)
            self.summary.skipped_attachments += 1
            meta["failed"] = True  # kept from the index meanwhile; fetched again later
            return meta
        if data is not None:
            meta["text"] = self.preparer.attachment_text(meta["filename"], meta["mimetype"], data)
            meta["indexed"] = meta["text"] is not None
        return meta

    def write(
        self, records: list[dict[str, Any]], checkpoint: bool = False, handled: int | None = None
    ) -> None:
        """One transaction: the batch, and the checkpoint when it moved. `handled`
        counts the batch's issues for progress, superseded ones included."""
        self.handled += len(records) if handled is None else handled
        self.progress.written = self.handled
        if self.progress.phase == "fetching":
            self.progress.done = self.handled
        if not records and not checkpoint:
            self.emit_progress()
            return
        retry_changed = self._note_attachment_failures(records)
        counts = {
            "issues": len(records),
            "comments": sum(len(r.get("comments") or ()) for r in records),
            "attachments": sum(
                1 for r in records for a in r.get("attachments") or () if a.get("indexed")
            ),
        }
        # The run record counts what is written in the batch's own transaction, so a
        # run killed afterwards (kill -9) still says how much it wrote.
        run = {"id": self.run_id, **counts} if self.run_id is not None and records else None
        self.store.upsert_issues(
            records, {self.ds.name: self.state} if checkpoint or retry_changed else None, run=run
        )
        self.summary.issues += counts["issues"]
        self.summary.comments += counts["comments"]
        self.summary.attachments += counts["attachments"]
        self.emit_progress()

    def _note_attachment_failures(self, records: list[dict[str, Any]]) -> bool:
        """Attachments whose download failed keep the text the index had for them,
        and their issue is fetched again by the next runs (`attachment_retry` in the
        sync state: id -> failed runs), up to ATTACHMENT_RETRIES. True when that
        list changed (the state is then written with the batch)."""
        if not self.ds.index_attachments:
            return False
        retry: dict[str, int] = self.state.setdefault("attachment_retry", {})
        failed = [r for r in records if any(a.get("failed") for a in r.get("attachments") or ())]
        changed = False
        if failed:
            kept = self.store.attachment_texts(self.ds.name, [str(r["id"]) for r in failed])
            for record in failed:
                for meta in record["attachments"]:
                    if meta.pop("failed", False) and str(meta.get("id")) in kept:
                        meta["text"] = kept[str(meta.get("id"))]
                        meta["indexed"] = True
                ident = str(record["id"])
                retry[ident] = retry.get(ident, 0) + 1
                if retry[ident] > ATTACHMENT_RETRIES:
                    log.warning(
                        "%s: attachments of issue %s failed %d times: not fetched again",
                        self.ds.name,
                        record.get("key") or ident,
                        ATTACHMENT_RETRIES,
                    )
                    del retry[ident]
                changed = True
        if retry:
            failed_ids = {str(r["id"]) for r in failed}
            for record in records:
                ident = str(record["id"])
                if ident in retry and ident not in failed_ids:
                    del retry[ident]  # fetched whole this time
                    changed = True
        return changed

    def retry_attachments(self, due: dict[str, int]) -> None:
        """Fetch again the issues whose attachments failed in earlier runs and that
        this run did not fetch (their failure count is still what it was)."""
        retry = self.state.get("attachment_retry") or {}
        ids = [i for i, count in due.items() if retry.get(i) == count]
        if not ids:
            return
        log.info("%s: fetching %d issues again for their attachments", self.ds.name, len(ids))
        returned = self.fetch_missing(ids)
        for ident in set(ids) - returned - self._unreadable():  # deleted meanwhile
            retry.pop(ident, None)

    # ------------------------------------------------------------------ reconcile

    def list_scope(self) -> dict[str, str | None]:
        """Every id of the scope, listed anew (all passes). The ids listed under
        another key than the index holds go to `self.rekeyed` (see _rekeyed)."""
        held = self.store.issue_keys(self.ds.name)
        self.rekeyed = set()

        def note_key(ident: str, key: str) -> None:
            if held.get(ident, key.upper()) != key.upper():
                self.rekeyed.add(ident)

        every_id = list_all(lambda: self.list_pass(self.scope_jql()), LISTING_PASSES, note_key)
        held.clear()
        self.summary.listed = max(self.summary.listed, len(every_id))
        return every_id

    def reconcile(self, jira_ids: Container[str], *, fresh: bool) -> None:
        """Delete what Jira no longer has in the scope, and fetch what a listing of
        the scope shows but the index lacks.

        `jira_ids` is a listing of the whole scope: `fresh` when made just now, else
        the one this run fetched from (a full run), whose ids may have gone since
        (`self.vanished`: listed, then not returned by the fetch). A listing can pass
        over a live issue (offset pages moving under it), and deleting a live issue
        loses it until it changes again; so a deletion is made only when a second
        listing lacks the issue too. The same listing heals an index that missed an
        issue (a listing that passed over it, a fetch that lost it): it is fetched.
        """
        self.emit("reconciling", 0, None)
        self.check_cancel()
        stored = self.store.issue_ids(self.ds.name)
        candidates = [i for i in stored if i not in jira_ids or i in self.vanished]
        listed: dict[str, str | None] | None = None
        if fresh:
            listed = jira_ids  # type: ignore[assignment]
        gone: list[str] = []
        if candidates:
            listed = self.list_scope()
            gone = [i for i in candidates if i not in listed]
            if len(gone) < len(candidates):
                log.info(
                    "%s: %d issue(s) missing from one listing are still in Jira: kept",
                    self.ds.name,
                    len(candidates) - len(gone),
                )
        if gone:
            if not listed:
                self.check_account()  # the whole scope gone, or credentials refused?
            self.store.delete_issues(self.ds.name, gone)
        self.summary.deleted += len(gone)
        if listed is not None:
            # Missing from the index, or (where the listing says `updated`: Data
            # Center) older in it than in Jira: an update that became visible late,
            # after the overlap window had passed it.
            unreadable = self._unreadable()
            missing = [
                i
                for i, updated in listed.items()
                if (i not in stored or (updated and stored[i] != updated)) and i not in unreadable
            ]
            stored.clear()
            missing += self._rekeyed(set(missing) | unreadable)
            if missing:
                log.info(
                    "%s: fetching %d listed issues missing or out of date in the index",
                    self.ds.name,
                    len(missing),
                )
                self.fetch_missing(missing)
        self.summary.reconciled = True

    def _rekeyed(self, skip: set[str]) -> list[str]:
        """Ids the last fresh listing showed under another key than the index holds,
        their `updated` unchanged: a project whose key was renamed (its issues take
        the new key, their `updated` stays), which no incremental run would fetch."""
        found = sorted(self.rekeyed - skip)
        if found:
            log.info(
                "%s: %d issue(s) listed under a new key: fetched again", self.ds.name, len(found)
            )
        return found

    def check_account(self) -> None:
        """Fail the run when what found nothing was Jira refusing to show anything.

        Jira answers a search it will not show anything to with 200 and no issues,
        not 401: one sent with credentials it refused (a wrong, expired or misplaced
        token) as one sent anonymously to a site that hides its projects from
        anonymous (jira-api.md (b)). So a first sync said "ok, 0 issues", and
        reconcile deleted the whole index of the datasource. Asked at most once per
        run, when a listing found nothing: with credentials, `/myself` says whether
        Jira takes them (a 401 fails the run; 403/404, a scoped token without the
        user scope, passes); anonymously, the project must be visible."""
        from indexer.jira.errors import JiraNotFoundError, JiraPermissionError

        mode = getattr(self.client, "auth_mode", None)
        if self.account_checked or mode is None:
            return
        if mode == "anonymous":
            self.client.project(self.ds.project_key)  # ProjectNotFoundError: not visible
        else:
            with suppress(JiraPermissionError, JiraNotFoundError):
                self.client.myself()
        self.account_checked = True

    def fetch_missing(self, ids: list[str]) -> set[str]:
        """Fetch and write issues by id, one batch after the other (reconcile's heal,
        attachment retries); the ids Jira returned."""
        returned: set[str] = set()
        with self._side_pool_scope():
            for start in range(0, len(ids), BATCH_SIZE):
                self.check_cancel()
                records = self.fetch_batch(ids[start : start + BATCH_SIZE])
                returned.update(str(r.get("id")) for r in records)
                self.write(records)
        return returned

    # ------------------------------------------------------------------ events

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise SyncCancelled(f'sync of "{self.ds.name}" cancelled')

    def emit(self, phase: str, done: int, total: int | None) -> None:
        self.progress = SyncProgress(self.ds.name, phase, done, total, written=self.handled)
        self.emit_progress()

    def emit_progress(self) -> None:
        if self.progress_fn is not None:
            try:
                self.progress_fn(self.progress)
            except Exception:  # a broken display must not break the sync
                log.exception("progress callback failed")


def _turned_off(state: dict[str, Any], datasource) -> dict[str, bool]:
    """Which of comments and attachments the index holds (or a run was fetching)
    although the datasource no longer wants them: each issue must be written again
    without them. Kept in the state until a run completes it."""
    dropping = dict(state.get("dropping") or {})
    fetched = state.get("checkpoint_wants") or {}
    for kind, wanted in (
        ("comments", datasource.index_comments),
        ("attachments", datasource.index_attachments),
    ):
        if wanted:
            dropping.pop(kind, None)
        elif state.get(kind) or fetched.get(kind):
            dropping[kind] = True
    return dropping


def _newest_only(
    records: list[dict[str, Any]], repeated: set[str], written: dict[str, int]
) -> list[dict[str, Any]]:
    """Drop records of issues listed twice whose other fetch, finished first, wrote
    a newer version (`written`: id -> `updated` in ms, kept up to date here)."""
    kept = []
    for record in records:
        ident = str(record.get("id"))
        if ident in repeated:
            moment = epoch_ms(record.get("updated")) or 0
            if moment < written.get(ident, 0):
                continue
            written[ident] = moment
        kept.append(record)
    return kept
