"""`sync --watch`'s scheduler (indexer.scheduler.watch): who syncs when.

The syncs are stand-ins (this is about timing, not syncing) and the clock is the
test's: it only moves when a test moves it, so "not yet due" is certain, not raced.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from indexer import scheduler
from indexer.sync import SyncSummary


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


class Watch:
    """watch() on a thread, with datasources, clock and syncs the test controls."""

    def __init__(self, monkeypatch):
        self.now = 0.0
        self.datasources: dict[str, SimpleNamespace] = {}
        self.starts: list[tuple[str, float]] = []  # (name, clock) of each sync started
        self.finished: list[str] = []
        self.hold: dict[str, threading.Event] = {}  # a sync of NAME waits for this
        self.cancels: dict[str, threading.Event] = {}
        self.rate_limited: dict[str, float] = {}  # name -> the Retry-After its syncs end on
        self.states: dict[str, dict] = {}  # the sync state in the index, by name
        self.stop = threading.Event()
        self.lock = threading.Lock()
        monkeypatch.setattr(scheduler, "TICK_S", 0.002)
        monkeypatch.setattr(scheduler, "sync_datasource", self._sync)
        self.thread: threading.Thread | None = None

    def add(self, name: str, interval: float, enabled: bool = True) -> None:
        self.datasources[name] = SimpleNamespace(
            name=name, enabled=enabled, sync_enabled=True, interval_seconds=interval
        )

    def _sync(self, ds, *, store, cancel, progress):
        with self.lock:
            self.starts.append((ds.name, self.now))
            self.cancels[ds.name] = cancel
        held = self.hold.get(ds.name)
        if held is not None:
            held.wait(10)
        with self.lock:
            self.finished.append(ds.name)
        if ds.name in self.rate_limited:  # Jira answered 429, Retry-After: N
            return SyncSummary(
                ds.name,
                status="error",
                error="rate limited",
                retry_after=self.rate_limited[ds.name],
            )
        return SyncSummary(ds.name, status="cancelled" if cancel.is_set() else "ok")

    def start(self) -> None:
        store = SimpleNamespace(
            close=lambda: None, get_state=lambda name: self.states.get(name, {})
        )
        self.thread = threading.Thread(
            target=scheduler.watch,
            args=(lambda: list(self.datasources.values()), lambda: store, lambda s: None),
            kwargs={"stop": self.stop, "clock": lambda: self.now},
            daemon=True,
        )
        self.thread.start()

    def count(self, name: str) -> int:
        with self.lock:
            return sum(1 for started, _ in self.starts if started == name)

    def settle(self) -> None:
        """Let the scheduler run a few ticks at the current clock."""
        time.sleep(0.05)

    def close(self) -> None:
        for event in self.hold.values():
            event.set()
        self.stop.set()
        if self.thread is not None:
            self.thread.join(10)


@pytest.fixture
def watch(monkeypatch):
    w = Watch(monkeypatch)
    yield w
    w.close()


def test_each_datasource_syncs_at_once_then_one_interval_after_it_started(watch):
    watch.add("a", 60)
    watch.add("b", 300)
    watch.start()
    wait_until(lambda: watch.count("a") == 1 and watch.count("b") == 1, "first syncs")
    watch.now = 59.0
    watch.settle()
    assert watch.count("a") == 1
    watch.now = 60.0
    wait_until(lambda: watch.count("a") == 2, "a's second sync")
    watch.settle()
    assert watch.count("b") == 1  # b's interval is longer
    watch.now = 300.0
    wait_until(lambda: watch.count("b") == 2, "b's second sync")


def test_an_interval_shortened_while_waiting_applies_to_the_next_sync(watch):
    watch.add("a", 3600)
    watch.start()
    wait_until(lambda: watch.count("a") == 1, "first sync")
    watch.now = 120.0
    watch.settle()
    assert watch.count("a") == 1
    watch.datasources["a"].interval_seconds = 60  # `datasource set a --interval 1m`
    wait_until(lambda: watch.count("a") == 2, "the sync due under the new interval")
    assert watch.starts[-1] == ("a", 120.0)


def test_an_interval_lengthened_while_waiting_delays_the_next_sync(watch):
    watch.add("a", 60)
    watch.start()
    wait_until(lambda: watch.count("a") == 1, "first sync")
    watch.datasources["a"].interval_seconds = 120  # `datasource set a --interval 2m`
    watch.now = 90.0
    watch.settle()
    assert watch.count("a") == 1, "synced on the old 1m interval"
    watch.now = 120.0
    wait_until(lambda: watch.count("a") == 2, "the sync due under the new interval")


def test_a_sync_longer_than_its_interval_is_never_doubled(watch):
    watch.add("a", 60)
    watch.hold["a"] = threading.Event()
    watch.start()
    wait_until(lambda: watch.count("a") == 1, "first sync")
    watch.now = 500.0  # several intervals pass while it runs
    watch.settle()
    assert watch.count("a") == 1
    watch.hold.pop("a").set()
    wait_until(lambda: watch.count("a") == 2, "the next sync, once the first ended")
    watch.settle()
    assert watch.count("a") == 2


def test_enabling_or_adding_a_datasource_while_watching_syncs_it(watch):
    watch.add("a", 60)
    watch.add("off", 60, enabled=False)
    watch.start()
    wait_until(lambda: watch.count("a") == 1, "first sync")
    watch.settle()
    assert watch.count("off") == 0
    watch.datasources["off"].enabled = True
    watch.add("new", 60)
    wait_until(lambda: watch.count("off") == 1 and watch.count("new") == 1, "their syncs")


def test_stop_cancels_the_running_sync_and_waits_for_it(watch):
    watch.add("a", 60)
    watch.hold["a"] = threading.Event()
    watch.start()
    wait_until(lambda: watch.count("a") == 1, "first sync")
    watch.stop.set()
    wait_until(lambda: watch.cancels["a"].is_set(), "the cancel")
    assert watch.thread.is_alive(), "watch returned before its sync ended"
    watch.hold["a"].set()
    watch.thread.join(10)
    assert not watch.thread.is_alive()
    assert watch.finished == ["a"]


# ----------------------------------------------------------- due_datasources


def ds(name: str, interval: float = 300, enabled: bool = True, sync_enabled: bool = True):
    return SimpleNamespace(
        name=name, enabled=enabled, sync_enabled=sync_enabled, interval_seconds=interval
    )


def test_a_sync_that_jira_asked_to_wait_longer_than_its_interval_waits_that_long(watch):
    """A 429 whose Retry-After (an hourly quota, say) the request cannot wait out
    ends the sync at once; at a 30 s interval the watch asked again every 30 s,
    which Atlassian says only earns "the same or longer" wait (helper-37)."""
    watch.add("a", 30)
    watch.rate_limited["a"] = 300.0
    watch.start()
    wait_until(lambda: watch.count("a") == 1 and "a" in watch.finished, "first sync")
    watch.now = 31.0
    watch.settle()
    assert watch.count("a") == 1, "asked Jira again before the wait it asked for"
    watch.now = 299.0
    watch.settle()
    assert watch.count("a") == 1
    del watch.rate_limited["a"]
    watch.now = 301.0
    wait_until(lambda: watch.count("a") == 2, "the sync after Jira's wait")
    watch.now = 331.0  # and from then on its interval again
    wait_until(lambda: watch.count("a") == 3, "the next sync one interval later")


def test_a_watch_honours_a_wait_jira_asked_of_another_process(watch):
    """The TUI's scheduled sync (or a watch before a restart) ended on a Retry-After
    and wrote `not_before` in the index: a watch started now does not ask Jira
    again before then (it did, at once: helper-38)."""
    watch.add("a", 30)
    watch.states["a"] = {"not_before": time.time() + 120}
    watch.start()
    watch.settle()
    assert watch.count("a") == 0, "asked Jira before the wait it asked for"
    watch.now = 60.0
    watch.settle()
    assert watch.count("a") == 0
    watch.states["a"] = {}
    watch.now = 125.0
    wait_until(lambda: watch.count("a") == 1, "the sync once the wait is over")


def test_a_hold_shorter_than_the_interval_ends_when_jira_said_and_is_told(monkeypatch):
    """A daily datasource held 120 s by another process's rate limit waited a day:
    the held look counted as a sync start (helper-39). It now syncs once the hold
    ends, and the watch says why it waits."""
    watch = Watch(monkeypatch)
    watch.add("a", 86_400)
    watch.states["a"] = {"not_before": time.time() + 120}
    held: list[tuple[str, float]] = []
    store = SimpleNamespace(close=lambda: None, get_state=lambda name: watch.states.get(name, {}))
    watch.thread = threading.Thread(
        target=scheduler.watch,
        args=(lambda: list(watch.datasources.values()), lambda: store, lambda s: None),
        kwargs={
            "stop": watch.stop,
            "clock": lambda: watch.now,
            "on_held": lambda name, s: held.append((name, s)),
        },
        daemon=True,
    )
    try:
        watch.thread.start()
        wait_until(lambda: held, "the hold said")
        assert held[0][0] == "a" and 100 < held[0][1] <= 120
        watch.states["a"] = {}
        watch.now = 125.0
        wait_until(lambda: watch.count("a") == 1, "the sync once the hold is over")
    finally:
        watch.close()


@pytest.mark.parametrize("written", ["inf", 1e12])
def test_a_hold_written_for_ever_holds_a_day_at_most(tmp_path, written):
    """An older build wrote Infinity (or a date decades ahead) as not_before: read
    as written, it held the datasource's scheduled syncs for ever (helper-39)."""
    from indexer.store import Store

    with Store(tmp_path / "index.db") as store:
        store.set_state("a", {"not_before": float(written)})
        now = time.time()
        listed = [ds("a", interval=30)]
        assert scheduler.due_datasources(listed, store, now=now + 86_400 + 60) == ["a"]


def test_due_datasources_waits_out_what_jira_asked_for(tmp_path):
    from indexer.store import Store

    with Store(tmp_path / "index.db") as store:
        run = store.start_run("limited")
        store.finish_run(run, status="error", error="rate limited")
        now = time.time()
        store.set_state("limited", {"not_before": now + 300})
        listed = [ds("limited", interval=30)]
        assert scheduler.due_datasources(listed, store, now=now + 31) == []
        assert scheduler.due_datasources(listed, store, now=now + 301) == ["limited"]


def test_due_datasources_reads_the_last_run_of_each_whoever_ran_it(tmp_path):
    from indexer.store import Store

    with Store(tmp_path / "index.db") as store:
        run = store.start_run("recent")  # e.g. `jiradex sync` from cron, a minute ago
        store.finish_run(run, status="ok")
        failed = store.start_run("failed")
        store.finish_run(failed, status="error", error="boom")
        listed = [ds("never"), ds("recent"), ds("failed", interval=60)]
        now = time.time()
        assert scheduler.due_datasources(listed, store, now=now) == ["never"]
        # a failed run counts as a sync: retried one interval later, not at every look
        assert scheduler.due_datasources(listed, store, now=now + 61) == ["never", "failed"]
        assert scheduler.due_datasources(listed, store, now=now + 301) == [
            "never",
            "recent",
            "failed",
        ]


def test_due_datasources_skips_disabled_ones_and_ones_being_synced(tmp_path):
    from indexer.locks import sync_lock
    from indexer.store import Store

    with Store(tmp_path / "index.db") as store:
        listed = [ds("off", enabled=False), ds("manual", sync_enabled=False), ds("busy")]
        assert scheduler.due_datasources(listed, store) == ["busy"]
        with sync_lock("busy"):
            assert scheduler.due_datasources(listed, store) == []


# ----------------------------------------------------------- what watch survives


def test_a_configuration_unreadable_for_a_while_pauses_syncs_instead_of_ending_the_watch(
    monkeypatch,
):
    """`datasources.json` saved half-way (an editor, a script) while `sync --watch`
    runs: the watch goes on, each datasource due meanwhile says why it did not sync
    (once per interval, as a failed sync would), and syncs resume once the file reads."""
    from indexer.errors import ConfigError

    watch = Watch(monkeypatch)
    watch.add("a", 60)
    broken = threading.Event()
    summaries: list[SyncSummary] = []

    def load():
        if broken.is_set():
            raise ConfigError("datasources.json: invalid JSON at line 3, column 1")
        return list(watch.datasources.values())

    store = SimpleNamespace(close=lambda: None)
    watch.thread = threading.Thread(
        target=scheduler.watch,
        args=(load, lambda: store, summaries.append),
        kwargs={"stop": watch.stop, "clock": lambda: watch.now},
        daemon=True,
    )
    try:
        watch.thread.start()
        wait_until(lambda: watch.count("a") == 1, "first sync")
        broken.set()
        watch.now = 60.0  # a's next sync falls due while the file is broken
        wait_until(lambda: any(s.status == "error" for s in summaries), "the reason")
        watch.settle()
        assert watch.thread.is_alive(), "the watch ended on a configuration error"
        errors = [s for s in summaries if s.status == "error"]
        assert [(s.datasource, s.error) for s in errors] == [
            ("a", "not synced: datasources.json: invalid JSON at line 3, column 1")
        ]
        assert watch.count("a") == 1
        watch.now = 65.0  # still broken: said once per interval, not every tick
        watch.settle()
        assert len([s for s in summaries if s.status == "error"]) == 1
        broken.clear()  # fixed: a syncs now, not an interval later (helper-38)
        wait_until(lambda: watch.count("a") == 2, "the sync once the file reads again")
        assert watch.starts[-1] == ("a", 65.0)
    finally:
        watch.close()


def test_an_index_that_cannot_be_opened_fails_that_sync_not_the_watch(monkeypatch):
    """The index cannot be opened when a sync falls due (damaged, being replaced):
    that sync fails with the reason, in one line like any failed sync, and the next
    interval tries again."""
    from indexer.errors import StoreError

    watch = Watch(monkeypatch)
    watch.add("a", 60)
    summaries: list[SyncSummary] = []
    opened = []
    threading_errors = []
    monkeypatch.setattr(threading, "excepthook", threading_errors.append)

    def open_store():
        opened.append(watch.now)
        if len(opened) == 1:
            raise StoreError("the index /x/index.db is damaged: run `jiradex index rebuild`")
        return SimpleNamespace(close=lambda: None)

    watch.thread = threading.Thread(
        target=scheduler.watch,
        args=(lambda: list(watch.datasources.values()), open_store, summaries.append),
        kwargs={"stop": watch.stop, "clock": lambda: watch.now},
        daemon=True,
    )
    try:
        watch.thread.start()
        wait_until(lambda: summaries, "the first sync's end")
        assert [(s.status, s.error) for s in summaries] == [
            ("error", "the index /x/index.db is damaged: run `jiradex index rebuild`")
        ]
        assert threading_errors == []
        watch.now = 60.0
        wait_until(lambda: watch.count("a") == 1, "the next interval's sync")
    finally:
        watch.close()
