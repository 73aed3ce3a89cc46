"""Readers while a sync writes, and two syncs of one datasource at once.

- Every write transaction of the sync is held open (rows written, COMMIT not yet
  reached) while another connection searches: it must see the index exactly as it
  was before that batch, consistent, and no search may fail. A free-running reader
  searches throughout as well.
- Two `jiradex sync` processes on one datasource: the second waits or says another
  sync is running; nothing is corrupt and the index ends equal to the server.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cassette_utils import FAKE_SITE
from replay_helpers import fast_client, index_snapshot, world

from indexer import config, paths
from indexer import sync as sync_module
from indexer.locks import SyncBusy, sync_lock
from indexer.search import search
from indexer.store import Store
from indexer.sync import sync_datasource

RUNNER = Path(__file__).resolve().parent / "sync_runner.py"
QUERIES = ["timeout", "connection pool", "DEMO-5", "status:Done", "exception OR error", "lock*"]


def _snapshot_counts(db: Path) -> tuple[int, int, int, int]:
    """(issues, issue_fts rows, title_fts rows, issues whose comments are incomplete)
    read in one read transaction of a fresh connection."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("BEGIN")
        issues = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
        fts = conn.execute("SELECT count(*) FROM issue_fts").fetchone()[0]
        titles = conn.execute("SELECT count(*) FROM title_fts").fetchone()[0]
        orphans = conn.execute(
            "SELECT count(*) FROM comments WHERE issue NOT IN (SELECT rowid FROM issues)"
        ).fetchone()[0]
        conn.execute("COMMIT")
        return issues, fts, titles, orphans
    finally:
        conn.close()


class PausingStore(Store):
    """Holds every write transaction open until a reader has looked."""

    def __init__(self, path, probes: queue.Queue):
        super().__init__(path)
        self.probes = probes

    def _upsert(self, records):
        count = super()._upsert(records)
        done = threading.Event()
        self.probes.put((len(records), done))
        assert done.wait(30), "the reader never came"
        return count


def test_searches_during_sync_see_whole_batches_only(tmp_path, monkeypatch):
    # One transaction per batch, so that there is one to look inside per batch (a
    # sync writes batches that finish together in one: 3 batches could be 1 write).
    monkeypatch.setattr(sync_module, "GROUP_MAX", 1)
    db = tmp_path / "index.db"
    probes: queue.Queue = queue.Queue()
    errors: list[BaseException] = []
    seen: list[int] = []
    stop = threading.Event()

    def probe_reader() -> None:
        committed = 0
        with Store(db) as reader:
            while not stop.is_set():
                try:
                    size, done = probes.get(timeout=0.1)
                except queue.Empty:
                    continue
                try:
                    issues, fts, titles, orphans = _snapshot_counts(db)
                    # The open transaction is invisible: the index as before this batch.
                    assert (issues, fts, titles, orphans) == (committed, committed, committed, 0)
                    for q in QUERIES:
                        search(reader, q, limit=50)
                    seen.append(issues)
                except BaseException as exc:
                    errors.append(exc)
                finally:
                    done.set()
                committed += size

    def free_reader() -> None:
        with Store(db) as reader:
            while not stop.is_set():
                try:
                    issues, fts, titles, orphans = _snapshot_counts(db)
                    assert issues == fts == titles and orphans == 0
                    for q in QUERIES:
                        for hit in search(reader, q, limit=20):
                            assert hit.key and hit.summary is not None
                except BaseException as exc:
                    errors.append(exc)
                    return

    with world("concurrent_search", issues=210, comments=False) as w:
        ds = w.datasource(index_comments=True)
        Store(db).close()  # create the schema before the readers start
        threads = [threading.Thread(target=probe_reader), threading.Thread(target=free_reader)]
        for t in threads:
            t.start()
        try:
            with PausingStore(db, probes) as store:
                summary = sync_datasource(ds, store=store, client=fast_client(ds))
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert summary.status == "ok", summary.error
        assert not errors, errors[0]
        assert len(seen) >= 3 and seen == sorted(seen)  # a look inside every batch
        assert index_snapshot(db, "jira") == w.truth("server")
        with Store(db) as store:
            assert store.integrity_check() == []


def _run(args: list[str], env: dict | None = None, cassette: str | None = None):
    cmd = [sys.executable, str(RUNNER)]
    if cassette:
        cmd += ["--cassette", cassette]
    return subprocess.Popen(
        [*cmd, "--", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, **(env or {})},
    )


def test_second_sync_process_says_another_is_running(tmp_path):
    config.add_datasource(
        config.Datasource(name="jira", endpoint=FAKE_SITE, project_key="DEMO", username=None)
    )
    with sync_lock("jira"):  # a sync of "jira" is running in this process
        proc = _run(["sync", "jira", "--json"])
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    line = json.loads(out)
    assert line["status"] == "error" and "another sync" in line["error"]
    assert "Traceback" not in out + err
    with Store(paths.index_path()) as store:
        assert store.stats("jira")["issues"] == 0
        assert store.integrity_check() == []


def test_a_sync_kept_out_by_a_removal_says_so_not_that_another_sync_runs(tmp_path):
    """`datasource remove` holds the sync lock while the index forgets the issues: a
    sync started meanwhile said "another sync of "jira" is running", which no one
    had started. It now names the removal, in this process and in another."""
    config.add_datasource(
        config.Datasource(name="jira", endpoint=FAKE_SITE, project_key="DEMO", username=None)
    )
    with sync_lock("jira", doing="remove"):
        proc = _run(["sync", "jira", "--json"])
        out, err = proc.communicate(timeout=60)
        with pytest.raises(SyncBusy) as here, sync_lock("jira"):
            pass
    assert str(here.value) == 'datasource "jira" is being removed'
    assert proc.returncode == 1, err
    line = json.loads(out)
    assert line["error"] == 'datasource "jira" is being removed (in another process)'
    with sync_lock("jira"):  # released, and a sync holding it says it is a sync
        proc = _run(["sync", "jira", "--json"])
        out, _ = proc.communicate(timeout=60)
    assert json.loads(out)["error"] == 'another sync of "jira" is running (in another process)'


def test_two_sync_processes_at_once(tmp_path):
    """Both start together; the HTTP of each is replayed (full or incremental run)."""
    cassette = "sync/two_syncs.yaml"
    with world("two_syncs", issues=80, comments=False) as w:
        # Record (or check) what either process may ask: a full run, then an
        # incremental one, into a scratch index.
        ds = w.datasource()
        with Store(tmp_path / "scratch.db") as scratch:
            assert sync_datasource(ds, store=scratch, client=fast_client(ds)).status == "ok"
            assert sync_datasource(ds, store=scratch, client=fast_client(ds)).status == "ok"
        truth = w.truth("server")
    config.add_datasource(w.datasource(endpoint=FAKE_SITE))
    slow = {"JIRADEX_TEST_REQUEST_DELAY": "0.2"}
    procs = [_run(["sync", "--json"], slow, cassette) for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 1]), results
    for code, out, err in results:
        assert "Traceback" not in out + err
        assert out.strip(), (code, err)  # a summary line even when refused
        line = json.loads(out)
        if code == 1:
            assert line["status"] == "error" and "another sync" in line["error"]
        else:
            assert line["status"] == "ok", line
    assert index_snapshot(paths.index_path(), "jira") == truth
    with Store(paths.index_path()) as store:
        assert store.integrity_check() == []
        # A refused start is not a run: one record per process that synced.
        assert [r["status"] for r in store.runs("jira")] == ["ok"] * codes.count(0)
