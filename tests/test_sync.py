"""Sync correctness against recorded fakejira sessions (cassettes/sync/).

Each test compares the index with the server's own view of its issues, recorded next
to the cassette (see replay_helpers). Re-record with
`JIRADEX_RECORD=1 /work/venv/bin/pytest -q -p no:xdist tests/test_sync.py`.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from replay_helpers import FaultTransport, fast_client, index_snapshot, without, world

import cli
import fakejira.server
from indexer import config, paths, prepare
from indexer import store as store_module
from indexer import sync as sync_module
from indexer.normalize import epoch_ms
from indexer.store import FTS_COLUMNS, Store
from indexer.sync import OVERLAP_MS, sync_datasource

SUMMARY_KEYS = {
    "datasource",
    "status",
    "issues",
    "comments",
    "attachments",
    "deleted",
    "error",
    "seconds",
}


def _jqls(transport) -> list[str]:
    """The JQL of every search the client sent (GET query or POST body not needed)."""
    out = []
    for sent in transport.sent:
        if "/search" in sent.url:
            jql = parse_qs(urlsplit(sent.url).query).get("jql")
            if jql:
                out.append(jql[0])
    return out


def _sync(ds, store, **kw):
    client = fast_client(ds)
    summary = sync_datasource(ds, store=store, client=client, **kw)
    return summary, client


def test_cloud_full_then_incremental_equals_server(tmp_path):
    db = tmp_path / "index.db"
    with world("cloud_incremental", mode="cloud", issues=120) as w:
        ds = w.datasource(index_comments=True)
        with Store(db) as store:
            first, client = _sync(ds, store)
            assert first.status == "ok", first.error
            assert first.issues == 120 and first.full and first.reconciled
            assert index_snapshot(db, "jira") == w.truth("initial")
            assert first.comments == sum(r["comments"] for r in w.truth("initial").values())
            jqls = _jqls(client._http._transport)
            assert jqls and all(j.endswith("ORDER BY updated ASC, key ASC") for j in jqls)
            assert all("/rest/api/3/search/jql" in s.url for s in client._http._transport.sent
                       if "/search" in s.url)  # fmt: skip
            newest = max(epoch_ms(r["updated"]) for r in w.truth("initial").values())

            def change(fj):
                fj.update_issue("DEMO-3", summary="Renamed while indexed", add_comment="late note")
                fj.update_issue("DEMO-77", status="Done")
                fj.add_issue(summary="Brand new issue after the first sync")

            w.server(change)
            second, client = _sync(ds, store)
            assert second.status == "ok", second.error
            assert not second.full
            # Only the overlap window and what changed are fetched again, not the project.
            assert 3 <= second.issues < 120
            assert index_snapshot(db, "jira") == w.truth("after_changes")
            jql = _jqls(client._http._transport)[0]
            assert f"updated >= {newest - OVERLAP_MS}" in jql
            assert jql.endswith("ORDER BY updated ASC, key ASC")

            # Nothing changed: a third run lists the overlap window and changes nothing.
            third, _ = _sync(ds, store)
            assert third.status == "ok" and third.issues < 120
            assert index_snapshot(db, "jira") == w.truth("after_changes")
            assert store.get_issue("DEMO-3")["summary"] == "Renamed while indexed"
            runs = store.runs("jira")
            assert [r["status"] for r in runs] == ["ok", "ok", "ok"]
            assert [r["issues"] for r in runs] == [third.issues, second.issues, 120]
            assert all(r["finished"] and r["seconds"] is not None for r in runs)
            assert store.integrity_check() == []


def test_datacenter_full_and_incremental(tmp_path):
    db = tmp_path / "index.db"
    with world("dc_incremental", mode="datacenter", issues=90) as w:
        ds = w.datasource(username=None, index_comments=True)
        with Store(db) as store:
            first, client = _sync(ds, store)
            assert first.status == "ok", first.error
            assert index_snapshot(db, "jira") == w.truth("initial")
            searches = [s.url for s in client._http._transport.sent if "/search" in s.url]
            assert searches and all("/rest/api/2/search" in u and "startAt=" in u for u in searches)

            w.server(lambda fj: fj.update_issue("DEMO-10", summary="DC rename", add_comment="hi"))
            second, _ = _sync(ds, store)
            assert second.status == "ok" and 1 <= second.issues < 90
            assert index_snapshot(db, "jira") == w.truth("after_changes")
            assert store.integrity_check() == []


@contextmanager
def dc_search_window_of_100(name: str, issues: int):
    """A recorded Data Center whose search window is 100 (10,000 on a real one), its
    datasource, and a client that knows the window."""
    with world(name, mode="datacenter", issues=issues, comments=False, search_window=100) as w:
        ds = w.datasource(username=None)
        client = fast_client(ds)
        client.dc_search_window = 100
        yield w, ds, client


def test_datacenter_project_deeper_than_the_search_window(tmp_path):
    """Data Center refuses to page past its search window (10,000; 100 here): the
    listing goes on in slices of `updated`, the index equals the server, and a
    --full run reconciles through the same slices."""
    db = tmp_path / "index.db"
    with dc_search_window_of_100("dc_search_window", issues=210) as (w, ds, client):
        with Store(db) as store:
            first = sync_datasource(ds, store=store, client=client)
            assert first.status == "ok", first.error
            assert first.listed == 210 and first.issues == 210
            assert index_snapshot(db, "jira") == w.truth("initial")
            w.server(lambda fj: fj.delete_issue("DEMO-3"))
            full = sync_datasource(ds, store=store, client=client, full=True)
            assert full.status == "ok", full.error
            assert full.deleted == 1 and full.listed == 209
            assert index_snapshot(db, "jira") == w.truth("after_delete")
        slices = [
            s.url
            for s in client._http._transport.sent
            if "/rest/api/2/search" in s.url and "startAt=0&" in s.url and "updated" in s.url
        ]
        assert len(slices) >= 4  # two slices or more per listing


@pytest.mark.parametrize(
    ("name", "issues", "window"),
    [
        ("dc_small_window", 320, 250),
        # Every issue of the window's first pages was handed out before the refusal:
        # the slice asked again brings nothing new, which is still progress.
        ("dc_small_window_whole_pages", 700, 300),
    ],
)
def test_datacenter_with_a_smaller_search_window_than_10000_is_learnt(
    tmp_path, name, issues, window
):
    """An admin lowered the search window and the client does not know: the page
    past it is refused ("Search limit exceeded ... must not exceed N"), the window
    is learnt from the refusal and the listing goes on in slices."""
    db = tmp_path / "index.db"
    with world(name, mode="datacenter", issues=issues, comments=False,
               search_window=window, max_results_cap=100) as w:  # fmt: skip
        ds = w.datasource(username=None)
        client = fast_client(ds)
        assert client.dc_search_window == 10_000
        with Store(db) as store:
            summary = sync_datasource(ds, store=store, client=client)
            assert summary.status == "ok", summary.error
            assert summary.listed == issues and summary.issues == issues
            assert index_snapshot(db, "jira") == w.truth("initial")
        assert client.dc_search_window == window


def test_datacenter_bulk_change_bigger_than_the_search_window(tmp_path):
    """A bulk change touches 230 issues within the same minute, more than the search
    window (100 here): slices of `updated` cannot get past that minute, so it is
    listed in slices of keys, and the incremental run leaves the index equal to
    the server."""
    db = tmp_path / "index.db"
    with dc_search_window_of_100("dc_bulk_change", issues=260) as (w, ds, client):
        with Store(db) as store:
            first = sync_datasource(ds, store=store, client=client)
            assert first.status == "ok", first.error
            w.server(lambda fj: fj.dataset.set_now(fj.dataset.now_ms()))  # one minute
            w.server(
                lambda fj: [
                    fj.update_issue(f"DEMO-{n}", summary=f"Bulk {n}") for n in range(1, 231)
                ]
            )
            bulk = sync_datasource(ds, store=store, client=client)
            assert bulk.status == "ok", bulk.error
            assert bulk.issues >= 230
            assert index_snapshot(db, "jira") == w.truth("after_bulk")
            assert store.get_issue("DEMO-77")["summary"] == "Bulk 77"
        by_key = [
            s.url
            for s in client._http._transport.sent
            if "/rest/api/2/search" in s.url and "ORDER+BY+key+ASC" in s.url
        ]
        assert len(by_key) >= 3  # 230 issues through a window of 100


def test_cloud_fetching_starts_while_the_listing_goes_on(tmp_path, monkeypatch):
    """Listing pages come one after the other (nextPageToken): bodies of the first
    page's issues are fetched before the last page is listed. Every listing page
    after the first is held until a bulkfetch was sent: a sync that waited for the
    whole listing would send its first bulkfetch only after the hold timed out."""
    monkeypatch.setattr(fakejira.server, "CLOUD_ID_CAP", 100)
    monkeypatch.setattr(sync_module, "POOL_MIN_ISSUES", 100)  # decide the pool early
    db = tmp_path / "index.db"
    with world("listing_pipelined_cloud", mode="cloud", issues=320, comments=False) as w:
        ds = w.datasource()
        transport = FaultTransport()
        fetching = threading.Event()
        held = []

        def hold_later_listing_pages(request):
            if "/bulkfetch" in request.url.path:
                fetching.set()
            elif "/search/jql" in request.url.path and "nextPageToken" in str(request.url):
                held.append(fetching.wait(5))

        transport.before.append(hold_later_listing_pages)
        with Store(db) as store:
            summary = sync_datasource(ds, store=store, client=fast_client(ds, transport))
            assert summary.status == "ok", summary.error
            assert summary.listed == 320 and summary.issues == 320
            assert index_snapshot(db, "jira") == w.truth("initial")
            assert store.get_state("jira")["watermark"]
        sent = [s.url for s in transport.sent]
        listing = [i for i, url in enumerate(sent) if "/search/jql" in url]
        fetches = [i for i, url in enumerate(sent) if "/bulkfetch" in url]
        assert len(listing) == 4 and len(fetches) == 4
        assert held == [True, True, True]
        assert fetches[0] < listing[-1]


def test_full_reconciles_deleted_and_moved_issues(tmp_path):
    db = tmp_path / "index.db"
    with world("cloud_reconcile", mode="cloud", issues=60) as w:
        demo = w.datasource("demo")
        ops = w.datasource("ops", project_key="OPS")
        w.server(lambda fj: fj.add_issue(project="OPS", summary="First OPS issue"))
        with Store(db) as store:
            assert _sync(demo, store)[0].status == "ok"
            assert _sync(ops, store)[0].status == "ok"
            moved_id = store.get_issue("DEMO-20")["id"]

            def change(fj):
                fj.delete_issue("DEMO-7")
                fj.move_issue("DEMO-20", "OPS")

            w.server(change)
            # An incremental run does not reconcile (it would need a full listing).
            inc, _ = _sync(demo, store)
            assert inc.status == "ok" and inc.deleted == 0
            full, _ = _sync(demo, store, full=True)
            assert full.status == "ok", full.error
            assert full.deleted == 2  # DEMO-7 is gone, DEMO-20 left the project
            assert without(index_snapshot(db, "demo"), "comments") == without(
                w.truth("demo_after"), "comments"
            )
            assert store.get_issue("DEMO-7") is None
            assert _sync(ops, store)[0].status == "ok"
            moved = store.get_issue(moved_id)
            assert moved["key"].startswith("OPS-") and moved["datasource"] == "ops"
            assert store.get_issue("DEMO-20") is None
            assert without(index_snapshot(db, "ops"), "comments") == without(
                w.truth("ops_after", project="OPS"), "comments"
            )
            # The daily reconciliation: an old `last_reconcile` makes an incremental run
            # list the whole scope and remove what is gone.
            w.server(lambda fj: fj.delete_issue("DEMO-8"))
            state = store.get_state("demo")
            state["last_reconcile"] = 0
            store.set_state("demo", state)
            daily, _ = _sync(demo, store)
            assert daily.status == "ok" and daily.reconciled and daily.deleted == 1
            assert store.get_issue("DEMO-8") is None
            assert len(index_snapshot(db, "demo")) == len(w.truth("demo_daily"))
            assert store.integrity_check() == []


def test_turning_on_comments_and_attachments_backfills(tmp_path):
    db = tmp_path / "index.db"
    with world("cloud_backfill", mode="cloud", issues=50, attachments=True) as w:
        ds = w.datasource()
        with Store(db) as store:
            plain, _ = _sync(ds, store)
            assert plain.status == "ok" and plain.comments == 0 and plain.attachments == 0
            truth = w.truth("initial")
            snap = index_snapshot(db, "jira")
            assert without(snap, "comments", "attachments") == without(
                truth, "comments", "attachments"
            )
            assert all(r["comments"] == 0 and not r["attachments"] for r in snap.values())

            ds.index_comments = True
            withc, _ = _sync(ds, store)
            assert withc.status == "ok" and withc.issues == 50  # backfill, not incremental
            assert withc.comments == sum(r["comments"] for r in truth.values()) > 0
            assert without(index_snapshot(db, "jira"), "attachments") == without(
                truth, "attachments"
            )

            ds.index_attachments = True
            witha, client = _sync(ds, store)
            assert witha.status == "ok" and witha.issues == 50
            assert index_snapshot(db, "jira") == truth
            assert witha.attachments > 0  # text of logs, csv, json, md got indexed
            # Cloud downloads are redirected to another origin: no credentials went there.
            other = [s for s in client._http._transport.sent if "/file/" in s.url]
            assert other and not any(s.authorization for s in other)
            texts = store.conn.execute(
                "SELECT count(*) FROM attachments WHERE indexed = 1 AND length(text) > 0"
            ).fetchone()[0]
            assert texts == witha.attachments
            # Turned on once: the next run is incremental again.
            again, _ = _sync(ds, store)
            assert again.status == "ok" and again.issues < 50 and not again.full
            assert index_snapshot(db, "jira") == truth


def test_sync_json_lines_and_exit_1_after_syncing_the_others(tmp_path):
    with world("cli_two_datasources", mode="cloud", issues=30) as w:
        config.add_datasource(w.datasource("broken", project_key="NOPE"))
        config.add_datasource(w.datasource("good"))
        result = CliRunner().invoke(cli.cli, ["sync", "--json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["datasource"] for line in lines] == ["broken", "good"]
    for line in lines:
        assert set(line) >= SUMMARY_KEYS
        assert isinstance(line["seconds"], int | float)
        for key in ("issues", "comments", "attachments", "deleted"):
            assert isinstance(line[key], int)
    broken, good = lines
    assert broken["status"] == "error" and "NOPE" in broken["error"]
    assert "\n" not in broken["error"]
    assert good["status"] == "ok" and good["error"] is None and good["issues"] == 30
    with Store(paths.index_path()) as store:
        assert store.stats("good")["issues"] == 30
        assert store.stats("broken")["issues"] == 0
        assert [r["status"] for r in store.runs("broken")] == ["error"]
        assert re.search("NOPE", store.runs("broken")[0]["error"])
        assert store.runs("good")[0]["issues"] == 30


@pytest.mark.parametrize("mode", ["cloud", "datacenter"])
def test_worker_processes_prepare_the_same_index(tmp_path, monkeypatch, mode):
    """A big sync decodes and normalises on worker processes (bulkfetch pages, DC
    `id in (...)` searches and long comment threads): the index must be exactly
    the server's, as with in-process preparing."""
    monkeypatch.setattr(prepare, "POOL_MIN_ISSUES", 1)  # this small sync counts as big
    monkeypatch.setattr(prepare, "_cpu_count", lambda: 3)  # two workers, even on a small runner
    used = []
    original = prepare.Preparer.for_sync.__func__

    def spy(cls, **kw):
        made = original(cls, **kw)
        used.append(made.processes)
        return made

    monkeypatch.setattr(prepare.Preparer, "for_sync", classmethod(spy))
    computed_here = []
    real_fts_terms = store_module.fts_terms

    def counting_fts_terms(*texts):
        computed_here.append(texts[0])
        return real_fts_terms(*texts)

    monkeypatch.setattr(store_module, "fts_terms", counting_fts_terms)
    db = tmp_path / "index.db"
    with world(f"pool_{mode}", mode=mode, issues=60) as w:
        extra = {"username": None} if mode == "datacenter" else {}
        ds = w.datasource(index_comments=True, **extra)
        with Store(db) as store:
            summary, _ = _sync(ds, store)
            assert summary.status == "ok", summary.error
            assert store.integrity_check() == []
            fts_rows = store.conn.execute(
                f"SELECT {', '.join(FTS_COLUMNS)} FROM issue_fts"
            ).fetchall()
        truth = w.truth("initial")
        assert index_snapshot(db, "jira") == truth
    assert used == [2]
    # With two workers every issue's stem/CJK columns come from them, long threads
    # included (a second round trip once the thread is whole), and they are what the
    # store itself computes from the texts written.
    assert computed_here == []
    for row in fts_rows:
        assert real_fts_terms(*row[:5]) == tuple(row[5:])
    # Some threads are longer than the embedded page: /comment went through the pool.
    assert max(r["comments"] for r in truth.values()) > 20


def test_ctrl_c_is_recorded_as_an_interrupted_run_and_still_stops(tmp_path):
    def press_ctrl_c(progress):
        if progress.phase == "fetching" and progress.done >= 100:
            raise KeyboardInterrupt

    with world("cloud_incremental", mode="cloud", issues=120, replay_only=True) as w:
        ds = w.datasource(index_comments=True)
        with Store(tmp_path / "index.db") as store:
            with pytest.raises(KeyboardInterrupt):
                _sync(ds, store, progress=press_ctrl_c)
            (run,) = store.runs("jira")
            assert run["status"] == "interrupted" and run["issues"] >= 100
            assert store.stats("jira")["issues"] == run["issues"]  # what was written stays


def test_a_run_left_running_by_a_killed_process_reads_interrupted(tmp_path):
    with Store(tmp_path / "index.db") as store:
        killed = store.start_run("jira")  # never finished: kill -9
        other = store.start_run("other")
        store.start_run("jira")  # the next run of that datasource (under its lock)
        status = {r["id"]: r["status"] for r in store.runs("jira") + store.runs("other")}
        assert status[killed] == "interrupted"
        assert status[other] == "running"  # another datasource's run is not touched


def test_long_threads_fetch_only_the_rest_of_the_comments(tmp_path):
    with world("cloud_incremental", mode="cloud", issues=120, replay_only=True) as w:
        ds = w.datasource(index_comments=True)
        with Store(tmp_path / "index.db") as store:
            summary, client = _sync(ds, store)
            assert summary.status == "ok", summary.error
    starts = [
        parse_qs(urlsplit(s.url).query)["startAt"][0]
        for s in client._http._transport.sent
        if s.url.split("?")[0].endswith("/comment")
    ]
    assert starts and set(starts) == {"20"}  # fakejira embeds the first 20


class _ThreadClient:
    """comments() as Jira would answer after the thread changed between two calls."""

    site_url = "https://example.atlassian.net"

    def __init__(self, now: list[dict]):
        self.now = now
        self.calls: list[int] = []

    def comments(self, issue_id, start_at=0, decode=None):
        self.calls.append(start_at)
        return self.now[start_at:]


def _comment(n: int) -> dict:
    return {"id": str(n), "body": f"c{n}"}


@pytest.mark.parametrize(
    ("now", "calls"),
    [
        ([_comment(n) for n in range(5)], [2]),  # unchanged: only the rest
        ([_comment(n) for n in (0, 2, 3, 4)], [2, 0]),  # one deleted: all again
        ([_comment(n) for n in range(6)], [2, 0]),  # one added: all again
    ],
)
def test_a_thread_that_changed_meanwhile_is_fetched_whole(now, calls):
    from indexer.sync import _Run

    client = _ThreadClient(now)
    run = _Run(config.Datasource(name="j", endpoint=client.site_url, project_key="DEMO"),
               None, client, None, None, None)  # fmt: skip
    issue = {"id": "1", "comments": [_comment(0), _comment(1)], "comment_total": 5}
    assert run._comment_thread(issue) == now
    assert client.calls == calls


def test_turning_off_comments_and_attachments_removes_them_from_the_index(tmp_path):
    """Turned off, comments and attachments leave the index (and its full-text rows)
    on the next sync, not only for the issues that happen to change."""
    db = tmp_path / "index.db"
    with world("cloud_turn_off", mode="cloud", issues=30, attachments=True) as w:
        ds = w.datasource(index_comments=True, index_attachments=True)
        with Store(db) as store:
            assert _sync(ds, store)[0].status == "ok"
            truth = w.truth("initial")
            assert index_snapshot(db, "jira") == truth

            def count(sql: str) -> int:
                return store.conn.execute(sql).fetchone()[0]

            assert count("SELECT count(*) FROM comments") > 0
            assert count("SELECT count(*) FROM issue_fts WHERE comments != ''") > 0

            ds.index_comments = False
            off, _ = _sync(ds, store)
            assert off.status == "ok" and off.issues == 30
            assert count("SELECT count(*) FROM comments") == 0
            assert count("SELECT count(*) FROM issue_fts WHERE comments != ''") == 0
            assert without(index_snapshot(db, "jira"), "comments") == without(truth, "comments")
            assert count("SELECT count(*) FROM attachments") > 0  # still wanted

            ds.index_attachments = False
            assert _sync(ds, store)[0].status == "ok"
            assert count("SELECT count(*) FROM attachments") == 0
            assert count("SELECT count(*) FROM issue_fts WHERE attachments != ''") == 0
            # Done once: the next run is incremental again.
            again, _ = _sync(ds, store)
            assert again.status == "ok" and again.issues < 30
            assert store.integrity_check() == []


def test_a_run_left_running_by_a_dead_process_reads_interrupted_at_once(tmp_path):
    """`datasource show` and the TUI need not wait for the next sync to say that a
    killed run ended: no sync holds the datasource's lock, so it reads interrupted,
    while a run that holds it reads running."""
    from indexer.locks import sync_lock
    from indexer.sync import recent_runs

    with Store(tmp_path / "index.db") as store:
        store.start_run("jira")  # its process was killed: nothing holds the lock
        assert [r["status"] for r in store.runs("jira")] == ["running"]
        assert [r["status"] for r in recent_runs(store, "jira")] == ["interrupted"]
        with sync_lock("jira"):
            store.start_run("jira")
            assert [r["status"] for r in recent_runs(store, "jira")] == [
                "running",
                "interrupted",
            ]


def test_a_sync_starting_while_the_lock_is_probed_waits_its_turn(tmp_path):
    """Probing a datasource's lock holds it for an instant: a sync that starts then
    retries briefly instead of failing with "another sync is running"."""
    import fcntl
    import os

    from indexer import locks

    with locks.sync_lock("jira"):
        pass  # the lock file exists
    fd = os.open(locks._lock_path("jira"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a probe, or a sync ending
    release = threading.Timer(0.15, os.close, [fd])
    release.start()
    with locks.sync_lock("jira"):
        assert locks.sync_running("jira")
    release.join()
    assert not locks.sync_running("jira")


def test_a_lock_that_cannot_be_made_is_one_clear_line(monkeypatch):
    """On a read-only file system the sync ended "unexpected OSError: [Errno 30]"."""
    import os

    from indexer import locks
    from indexer.errors import JiradexError

    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(30, "Read-only file system")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(locks.os, "open", read_only)
    with pytest.raises(JiradexError) as info, locks.sync_lock("jira"):
        pass
    assert str(info.value) == (
        f"cannot open the sync lock {locks._lock_path('jira')}: "
        "the jiradex home is on a read-only file system"
    )
    assert not locks._held  # a later try in this process is not told a sync runs
