"""`sync --watch`: sync each enabled datasource at its own interval.

Each datasource gets at most one sync at a time (a thread per running sync, plus
the cross-process lock in `indexer.locks`); stopping sets the cancel event of every
running sync (its requests in flight end at once, see indexer.sync) and waits for
them to record how they ended.

Two ways to stop: `stop` set (SIGTERM, or a caller's own reason) cancels running
syncs (their runs are recorded `cancelled`); Ctrl-C (KeyboardInterrupt in the
thread running `watch`) interrupts them (recorded `interrupted`, as Ctrl-C during a
plain `sync`) and `watch` returns their summaries, so that the CLI can exit 130 as
`sync` does. Ctrl-C between two syncs interrupts nothing: `watch` returns [].
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from indexer import secrets
from indexer.errors import JiradexError
from indexer.locks import sync_running
from indexer.normalize import epoch_ms
from indexer.sync import HOLD_OFF_MAX_S, SyncSummary, sync_datasource

log = logging.getLogger("jiradex.sync")

TICK_S = 1.0


class CancelEvent(threading.Event):
    """A sync's cancel event; `interrupted` says the user pressed Ctrl-C (the sync
    records its run as interrupted rather than cancelled)."""

    interrupted = False

    def interrupt(self) -> None:
        self.interrupted = True
        self.set()


@dataclass
class _Slot:
    started: float | None = None  # clock() when its last sync started
    not_before: float | None = None  # clock() before which Jira asked not to be asked
    reported: float | None = None  # clock() when it last said it could not sync
    thread: threading.Thread | None = None
    cancel: CancelEvent = field(default_factory=CancelEvent)
    summary: SyncSummary | None = None  # of the last sync this slot ran


def watch(
    load_datasources: Callable[[], list],
    open_store: Callable[[], object],
    on_summary: Callable[[SyncSummary], None],
    stop: threading.Event,
    *,
    progress=None,
    clock: Callable[[], float] = time.monotonic,
    on_stopping: Callable[[], None] | None = None,
    on_held: Callable[[str, float], None] | None = None,
) -> list[SyncSummary]:
    """Run until `stop` is set or Ctrl-C. Datasources are re-read each tick, so edits
    apply at once: an interval changed while a datasource waits moves its next sync
    (due one interval after the last one started). Returns the summaries of the syncs
    Ctrl-C interrupted (see the module doc); a second Ctrl-C while they finish their
    batch stops waiting for them.
    `on_stopping()` is called when a stop has to wait for running syncs, and
    `on_held(name, seconds)` when a due datasource waits out what Jira asked."""
    slots: dict[str, _Slot] = {}
    known: dict[str, object] = {}  # name -> the datasource as last read
    interrupted = False
    try:
        while not stop.is_set():
            now = clock()
            try:
                datasources = load_datasources()
            except JiradexError as exc:
                # The configuration cannot be read just now (a file being edited, or
                # saved half-way): syncs wait for it instead of the watch ending. Each
                # datasource due meanwhile says why it did not sync, as a failed sync
                # would, once per interval.
                _report_unreadable(known.values(), slots, now, str(exc), on_summary)
                stop.wait(TICK_S)
                continue
            known = {ds.name: ds for ds in datasources}
            for ds, slot in _due(datasources, slots, now):
                previous, slot.started = slot.started, now
                slot.cancel = CancelEvent()
                slot.summary = None
                slot.thread = threading.Thread(
                    target=_run_one,
                    args=(ds, open_store, on_summary, slot, progress, clock, previous, on_held),
                    name=f"jiradex-sync-{ds.name}",
                    daemon=True,
                )
                slot.thread.start()
            stop.wait(TICK_S)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        running = [s for s in slots.values() if s.thread is not None and s.thread.is_alive()]
        for slot in slots.values():
            if interrupted:
                slot.cancel.interrupt()
            else:
                slot.cancel.set()
        if running and on_stopping is not None:
            on_stopping()
        for slot in slots.values():
            if slot.thread is not None:
                slot.thread.join()
    return [
        slot.summary
        for slot in slots.values()
        if slot.summary is not None and slot.summary.status == "interrupted"
    ]


def _due(datasources, slots: dict[str, _Slot], now: float):
    """(datasource, its slot) for each scheduled datasource due now: not running, and
    neither its interval nor a wait Jira asked for still running."""
    for ds in datasources:
        if not (ds.enabled and ds.sync_enabled):
            continue
        slot = slots.setdefault(ds.name, _Slot())
        busy = slot.thread is not None and slot.thread.is_alive()
        if not busy and not _waiting(slot, ds, now):
            yield ds, slot


def _report_unreadable(datasources, slots: dict[str, _Slot], now: float, error: str, on_summary):
    for ds, slot in _due(datasources, slots, now):
        if slot.reported is not None and now < slot.reported + ds.interval_seconds:
            continue  # said once this interval; it syncs as soon as the file reads
        slot.reported = now
        on_summary(
            SyncSummary(ds.name, status="error", error=secrets.redact(f"not synced: {error}"))
        )


def _waiting(slot: _Slot, ds, now: float) -> bool:
    if slot.not_before is not None and now < slot.not_before:
        return True  # Jira asked for a longer wait than the interval (Retry-After)
    return slot.started is not None and now < slot.started + ds.interval_seconds


def _run_one(
    ds,
    open_store,
    on_summary,
    slot: _Slot,
    progress,
    clock=time.monotonic,
    previous=None,
    on_held=None,
) -> None:
    try:
        store = open_store()
    except JiradexError as exc:  # the index cannot be opened now: the next interval tries
        slot.summary = SyncSummary(ds.name, status="error", error=secrets.redact(str(exc)))
        on_summary(slot.summary)
        return
    try:
        held = _held_for(store, ds.name)
        if held:
            # Jira asked a sync of another process (the TUI's, a cron `jiradex sync`,
            # a watch before a restart) to wait: not asked again sooner, nor later
            # (this look started no sync: the interval still runs from the last).
            slot.not_before = clock() + held
            slot.started = previous
            log.info("%s: held %.0f s more, as Jira asked", ds.name, held)
            if on_held is not None:
                on_held(ds.name, held)
            return
        summary = sync_datasource(ds, store=store, cancel=slot.cancel, progress=progress)
        slot.not_before = clock() + summary.retry_after if summary.retry_after else None
        slot.summary = summary
        on_summary(summary)
    finally:
        store.close()


def _not_before(store, name: str) -> float:
    """When a wait Jira asked for ends (`not_before` in the sync state, epoch s), or 0;
    a day from now at most, whatever was written (an older build, a clock ahead)."""
    try:
        value = float((store.get_state(name) or {}).get("not_before") or 0)
    except (JiradexError, TypeError, ValueError, AttributeError):
        return 0.0
    if not math.isfinite(value):
        return 0.0
    return min(value, time.time() + HOLD_OFF_MAX_S)


def _held_for(store, name: str) -> float:
    """Seconds left of a wait Jira asked for, or 0."""
    return max(0.0, _not_before(store, name) - time.time())


def due_datasources(datasources: Iterable, store, now: float | None = None) -> list[str]:
    """Names of the enabled datasources due for a sync by the clock of the index: one
    interval has passed since their last sync started, whoever ran it (`jiradex sync`
    from cron, `--watch`, another TUI), Jira's own wait has passed where its last
    sync ended on a rate limit it could not wait out (`not_before` in the sync state),
    and no process is syncing them now.

    For a front end that keeps the index fresh while it is open: unlike `watch`, it
    remembers nothing itself, so a restart does not sync everything again."""
    now = time.time() if now is None else now
    due = []
    for ds in datasources:
        if not (ds.enabled and ds.sync_enabled):
            continue
        runs = store.runs(ds.name, limit=1)
        started_ms = epoch_ms(runs[0].get("started")) if runs else None
        if started_ms is not None and now < started_ms / 1000 + ds.interval_seconds:
            continue
        if now < _not_before(store, ds.name):
            continue  # Jira asked for a longer wait (a rate limit's Retry-After)
        if not sync_running(ds.name):
            due.append(ds.name)
    return due
