"""`sync --watch`: sync each enabled datasource at its own interval.

Each datasource gets at most one sync at a time (a thread per running sync, plus
the cross-process lock in `indexer.locks`); stopping sets the cancel event of every
running sync and waits for them to write their last batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from indexer.sync import SyncSummary, sync_datasource

TICK_S = 1.0


@dataclass
class _Slot:
    next_due: float = 0.0
    thread: threading.Thread | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


def watch(
    load_datasources: Callable[[], list],
    open_store: Callable[[], object],
    on_summary: Callable[[SyncSummary], None],
    stop: threading.Event,
    *,
    progress=None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run until `stop` is set. Datasources are re-read each tick, so edits apply."""
    slots: dict[str, _Slot] = {}
    try:
        while not stop.is_set():
            now = clock()
            for ds in load_datasources():
                if not (ds.enabled and ds.sync_enabled):
                    continue
                slot = slots.setdefault(ds.name, _Slot())
                busy = slot.thread is not None and slot.thread.is_alive()
                if busy or now < slot.next_due:
                    continue
                slot.next_due = now + ds.interval_seconds
                slot.cancel = threading.Event()
                slot.thread = threading.Thread(
                    target=_run_one,
                    args=(ds, open_store, on_summary, slot.cancel, progress),
                    name=f"jiradex-sync-{ds.name}",
                    daemon=True,
                )
                slot.thread.start()
            stop.wait(TICK_S)
    finally:
        for slot in slots.values():
            slot.cancel.set()
        for slot in slots.values():
            if slot.thread is not None:
                slot.thread.join()


def _run_one(ds, open_store, on_summary, cancel, progress) -> None:
    store = open_store()
    try:
        on_summary(sync_datasource(ds, store=store, cancel=cancel, progress=progress))
    finally:
        store.close()
