"""The sync engine's bookkeeping (checkpoint, reconcile, run records) against a
scripted Jira: a client double whose issues, edits and failures a test sets up
move by move, where a recorded fakejira session cannot time them (an issue edited
between its listing and its fetch, a page that fails after another was written).

The HTTP side of the same paths is covered by the cassette tests (test_sync*.py);
here no request is made: the double answers the engine's client calls directly.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

import indexer.sync as sync_module
from indexer.config import Datasource
from indexer.jira.errors import (
    IssueNotFoundError,
    JiraAuthError,
    JiraPermissionError,
    JiraRateLimitError,
    JiraRetryAborted,
    JiraServerError,
    ProjectNotFoundError,
)
from indexer.normalize import to_utc_iso
from indexer.search import search
from indexer.store import Store
from indexer.sync import (
    ATTACHMENT_RETRIES,
    OVERLAP_MS,
    RECONCILE_LOOKBACK_MS,
    sync_datasource,
)

DAY_MS = 24 * 3600 * 1000
START_MS = (int(time.time()) - 400 * 86_400) * 1000  # issues were last changed long ago


def _jira_time(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(ms / 1000))


class ScriptedJira:
    """A Cloud-like client: `search_ids` lists in `updated` order (ids and keys only,
    as Cloud's large pages do), `bulkfetch` answers from the current state. Hooks
    run before each bulkfetch call (`before_fetch(call_number, ids)`) to edit the
    project or fail the call, as a real project changes under a sync."""

    site_url = "https://scripted.atlassian.net"
    is_cloud = True
    max_concurrency = 1  # batches complete in order
    attachment_max_bytes = 1 << 20

    def __init__(self, count: int, project: str = "DEMO"):
        self.project = project
        # id -> {"key", "summary", "updated" (ms)}; issue n changed one minute after n-1
        self.issues: dict[str, dict[str, Any]] = {
            str(10_000 + n): {
                "key": f"{project}-{n}",
                "summary": f"Issue number {n}",
                "updated": START_MS + n * 60_000,
            }
            for n in range(1, count + 1)
        }
        self.before_fetch: list[Callable[[int, list[str]], None]] = []
        self.fetch_calls = 0
        self.listed_since: list[int | None] = []
        self.pass_over: set[str] = set()  # ids the next listing passes over (once)
        self.attachments: dict[str, list[dict[str, Any]]] = {}  # id -> Jira's attachment list
        self.files: dict[str, bytes | Exception] = {}  # content URL -> bytes, or what fails
        self.downloads: list[str] = []

    def edit(self, ident: str, summary: str) -> None:
        issue = self.issues[ident]
        issue["summary"] = summary
        issue["updated"] = int(time.time() * 1000)

    def search_ids(self, jql: str, page_size: int | None = None) -> Iterator[dict]:
        """Cloud lists ids and keys; Data Center (`is_cloud` False) adds `updated`."""
        found = re.search(r"updated >= (-?\d+)", jql)
        since = int(found.group(1)) if found else None
        self.listed_since.append(since)
        order = sorted(
            ((i, v) for i, v in self.issues.items() if v.get("project", self.project) == "DEMO"),
            key=lambda kv: (kv[1]["updated"], kv[0]),
        )
        passed_over, self.pass_over = self.pass_over, set()
        for ident, issue in order:
            if ident in passed_over:
                continue
            if since is None or issue["updated"] >= since:
                updated = None if self.is_cloud else _jira_time(issue["updated"])
                yield {"id": ident, "key": issue["key"], "updated": updated}

    def bulkfetch(self, ids, fields, decode=None) -> list[dict]:
        self.fetch_calls += 1
        ids = [str(i) for i in ids]
        for hook in self.before_fetch:
            hook(self.fetch_calls, ids)
        raw = [self._raw(i) for i in ids if i in self.issues]
        page = {"issues": raw}
        return (decode(page) if decode else page)["issues"]

    def move(self, ident: str, project: str, number: int) -> None:
        """Move an issue to another project (its new key; Jira follows the id)."""
        issue = self.issues[ident]
        issue["key"], issue["project"] = f"{project}-{number}", project
        issue["updated"] = int(time.time() * 1000)

    def _raw(self, ident: str) -> dict[str, Any]:
        issue = self.issues[ident]
        stamp = _jira_time(issue["updated"])
        return {
            "id": ident,
            "key": issue["key"],
            "fields": {
                "summary": issue["summary"],
                "project": {"key": issue.get("project", self.project)},
                "issuetype": {"name": "Task"},
                "status": {"name": "Open", "statusCategory": {"name": "To Do"}},
                "created": _jira_time(START_MS),
                "updated": stamp,
                "attachment": self.attachments.get(ident, []),
            },
        }

    def attach(self, ident: str, attachment_id: str, filename: str, text: str) -> str:
        url = f"{self.site_url}/rest/api/3/attachment/content/{attachment_id}"
        self.attachments.setdefault(ident, []).append(
            {"id": attachment_id, "filename": filename, "mimeType": "text/plain",
             "size": len(text), "created": _jira_time(START_MS), "content": url}
        )  # fmt: skip
        self.files[url] = text.encode()
        return url

    def download_attachment(self, url: str, limit: int, mime_type: str = "", named_text=False):
        self.downloads.append(url)
        answer = self.files[url]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        pass


def _datasource(**options: Any) -> Datasource:
    """The scripted project's datasource; `options` such as index_attachments=True."""
    return Datasource(name="jira", endpoint=ScriptedJira.site_url, project_key="DEMO", **options)


def _indexed(store: Store) -> dict[str, str]:
    rows = store.conn.execute("SELECT id, summary FROM issues WHERE datasource = 'jira'")
    return dict(rows.fetchall())


def _expected(jira: ScriptedJira) -> dict[str, str]:
    """The issues of the datasource's project DEMO, by id."""
    return {
        ident: issue["summary"]
        for ident, issue in jira.issues.items()
        if issue.get("project", jira.project) == "DEMO"
    }


def test_an_issue_edited_between_listing_and_fetch_does_not_move_the_checkpoint_past_the_rest(
    tmp_path,
):
    """The first batch holds an issue edited after it was listed (its fetched
    `updated` is now), the second batch fails: the checkpoint may only say "done up
    to the first batch's listed order", so the next run still fetches every issue
    the failed run did not write."""
    jira = ScriptedJira(300)

    def edit_then_fail(call: int, ids: list[str]) -> None:
        if call == 1:
            jira.edit(ids[0], "Edited while the sync ran")
        elif call == 2:
            raise JiraServerError("Jira answered 500 (server error)")

    jira.before_fetch.append(edit_then_fail)
    with Store(tmp_path / "index.db") as store:
        failed = sync_datasource(_datasource(), store=store, client=jira)
        assert failed.status == "error", failed
        assert len(_indexed(store)) == 100  # the first batch, whole
        checkpoint = store.get_state("jira")["checkpoint"]
        # Not past the first issue the failed run did not write (listed 101st).
        first_unwritten = min(
            issue["updated"] for ident, issue in jira.issues.items() if ident not in _indexed(store)
        )
        assert checkpoint <= first_unwritten

        jira.before_fetch.clear()
        again = sync_datasource(_datasource(), store=store, client=jira)
        assert again.status == "ok", again.error
        assert _indexed(store) == _expected(jira)
        # ... and it resumed rather than starting over.
        assert jira.listed_since[1] is not None


class _JiraWithClock(ScriptedJira):
    """The double with Jira's clock (the real one), as JiraClient.server_now() reads
    it from the Date header of Jira's answers."""

    def server_now(self) -> datetime:
        return datetime.now(UTC)


def _clock_ahead(monkeypatch, seconds: float) -> None:
    """The sync's local clock runs `seconds` ahead of Jira's (the real one)."""
    shifted = SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("__")}
    )
    shifted.time = lambda: time.time() + seconds
    monkeypatch.setattr(sync_module, "time", shifted)


def test_a_local_clock_ahead_of_jiras_does_not_move_the_checkpoint_past_unwritten_issues(
    tmp_path, monkeypatch
):
    """Cloud lists ids only, so the sync tells an issue edited after it was listed
    by its fetched `updated` being newer than the run's start. With the local clock
    two hours ahead of Jira's, that start was taken from the local clock: an issue
    edited just now passed for one that was not, the checkpoint jumped to it over
    batches not yet written, and the resumed run (from that checkpoint) never fetched
    them. The run's start is read on Jira's clock too."""
    jira = _JiraWithClock(300)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        # Offline for a week: every issue changed since, one after the other.
        week_ago = int(time.time() * 1000) - 7 * DAY_MS
        for n, issue in enumerate(jira.issues.values()):
            issue["summary"] = f"Changed this week ({n})"
            issue["updated"] = week_ago + n * 60_000

        calls_before = jira.fetch_calls

        def edit_then_fail(call: int, ids: list[str]) -> None:
            if call - calls_before == 1:
                jira.edit(ids[0], "Edited again while the sync ran")
            elif call - calls_before == 2:
                raise JiraServerError("Jira answered 500 (server error)")

        jira.before_fetch.append(edit_then_fail)
        _clock_ahead(monkeypatch, 2 * 3600)
        failed = sync_datasource(_datasource(), store=store, client=jira)
        assert failed.status == "error", failed
        first_unwritten = min(
            issue["updated"]
            for ident, issue in jira.issues.items()
            if _indexed(store)[ident] != issue["summary"]
        )
        assert store.get_state("jira")["checkpoint"] <= first_unwritten

        jira.before_fetch.clear()
        again = sync_datasource(_datasource(), store=store, client=jira)
        assert again.status == "ok", again.error
        assert not again.reconciled  # nothing else would bring the skipped ones back
        assert _indexed(store) == _expected(jira)


class _JiraWithFrozenClock(ScriptedJira):
    """A Jira whose clock stands still (fakejira's while a cassette is recorded),
    its newest issue changed at that very second."""

    frozen_ms = 1_700_000_000_000

    def __init__(self, count: int):
        super().__init__(count)
        newest = max(self.issues.values(), key=lambda issue: issue["updated"])
        newest["updated"] = self.frozen_ms

    def server_now(self) -> datetime:
        return datetime.fromtimestamp(self.frozen_ms / 1000, UTC)


@pytest.mark.parametrize("slow_ms", [3, 700, 9_000])
def test_the_watermark_from_jiras_clock_does_not_depend_on_how_long_the_run_took(
    tmp_path, monkeypatch, slow_ms
):
    """The watermark took Jira's start as our start less how far Jira's clock was
    behind, in milliseconds of our clock: two runs over the same answers saved
    watermarks some milliseconds apart (the next run's JQL too, so a cassette
    recorded against a frozen fakejira did not replay). It is whole minutes now,
    never later than Jira's start."""
    real_time = time.time
    started: list[float] = []

    def later() -> float:  # the run's later clock readings come slow_ms after its start
        now = real_time()
        if not started:
            started.append(now)
        return started[0] + slow_ms / 1000 if now > started[0] else now

    monkeypatch.setattr(sync_module, "time", SimpleNamespace(**{**vars(time), "time": later}))
    jira = _JiraWithFrozenClock(5)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        watermark = store.get_state("jira")["watermark"]
    assert watermark % 60_000 == 0
    assert jira.frozen_ms - 60_000 < watermark <= jira.frozen_ms


def test_a_checkpoint_still_moves_when_nothing_is_edited(tmp_path):
    """The bound above costs nothing on a quiet project: a failed run's checkpoint
    is the newest `updated` of the batches it wrote, and the next run asks Jira
    only for what comes after it (minus the overlap window)."""
    jira = ScriptedJira(300)

    def fail_third(call: int, ids: list[str]) -> None:
        if call == 3:
            raise JiraServerError("Jira answered 500 (server error)")

    jira.before_fetch.append(fail_third)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "error"
        newest_written = max(jira.issues[i]["updated"] for i in _indexed(store))
        assert store.get_state("jira")["checkpoint"] == newest_written
        jira.before_fetch.clear()
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        assert jira.listed_since[1] == newest_written - OVERLAP_MS  # [2]: reconcile
        assert _indexed(store) == _expected(jira)


def test_issue_times_in_the_scripted_jira_read_back_as_stored(tmp_path):
    """The double's times are Jira's format: the index stores them as UTC."""
    jira = ScriptedJira(3)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        stored = dict(store.conn.execute("SELECT id, updated FROM issues").fetchall())
    assert stored == {i: to_utc_iso(_jira_time(v["updated"])) for i, v in jira.issues.items()}


def _reconcile_due(store: Store) -> None:
    state = store.get_state("jira")
    state["last_reconcile"] = 0
    store.set_state("jira", state)


def test_the_daily_reconcile_takes_the_new_keys_of_a_renamed_project(tmp_path):
    """A project whose key is renamed gives its issues the new key and leaves their
    `updated` as it was: incremental runs never fetched them again, and the index
    kept the old keys (`jiradex show NEW-3` said it was not indexed). The daily
    reconcile compares the keys it lists with the index's."""
    jira = ScriptedJira(30)
    for n, issue in enumerate(jira.issues.values()):  # two days apart: a reconcile's
        issue["updated"] = START_MS + n * 2 * DAY_MS  # day of look-back holds one
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        for issue in jira.issues.values():
            issue["key"] = issue["key"].replace("DEMO-", "NEW-")  # `updated` unchanged
        quiet = sync_datasource(_datasource(), store=store, client=jira)
        assert quiet.status == "ok" and not quiet.reconciled
        assert store.get_issue("NEW-3") is None  # no incremental run can see it
        fetched: list[str] = []
        jira.before_fetch.append(lambda call, ids: fetched.extend(ids))
        _reconcile_due(store)
        summary = sync_datasource(_datasource(), store=store, client=jira)
        assert summary.status == "ok", summary.error
        assert summary.reconciled and summary.deleted == 0
        assert store.get_issue("NEW-3")["summary"] == "Issue number 3"
        assert store.get_issue("DEMO-3") is None
        assert set(store.issue_keys("jira").values()) == {f"NEW-{n}" for n in range(1, 31)}
        assert len(set(fetched)) >= 30
        fetched.clear()
        _reconcile_due(store)
        assert sync_datasource(_datasource(), store=store, client=jira).reconciled
        assert len(set(fetched)) <= 1  # the keys agree now: only the overlap's newest


def test_a_listing_that_passes_over_a_live_issue_does_not_delete_it(tmp_path):
    """Offset pages that moved (or any listing hiccup) can leave a live issue out of
    one listing: reconcile deletes only what a second listing lacks too."""
    jira = ScriptedJira(250)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        jira.pass_over = {"10007"}
        del jira.issues["10009"]  # really deleted
        summary = sync_datasource(_datasource(), store=store, client=jira, full=True)
        assert summary.status == "ok", summary.error
        assert summary.deleted == 1
        assert _indexed(store) == _expected(jira)
        assert "10007" in _indexed(store)


@pytest.mark.parametrize("how", ["deleted", "moved out"])
def test_an_issue_gone_after_it_was_listed_goes_in_the_same_full_run(tmp_path, how):
    """A full run reconciles from its own listing, where an issue listed and then
    deleted (bulkfetch leaves it out) or moved to another project (Cloud bulkfetch
    follows it there) is no "gone" candidate: the fetch says so, and a second listing
    confirms, instead of the issue staying until the next daily reconcile."""
    jira = ScriptedJira(250)
    gone: list[str] = []

    def change_before_fetch(call: int, ids: list[str]) -> None:
        if not gone:
            gone.append(ids[5])
            if how == "deleted":
                jira.issues.pop(ids[5])
            else:
                jira.move(ids[5], "OPS", 1)

    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        jira.before_fetch.append(change_before_fetch)
        summary = sync_datasource(_datasource(), store=store, client=jira, full=True)
        assert summary.status == "ok", summary.error
        assert summary.deleted == 1 and gone[0] not in _indexed(store)
        assert _indexed(store) == _expected(jira)


def test_the_daily_reconcile_fetches_issues_the_index_missed(tmp_path):
    """An issue an earlier run missed (a listing passed over it, and it has not
    changed since) comes back with the next reconcile, not only on --full."""
    jira = ScriptedJira(250)
    with Store(tmp_path / "index.db") as store:
        jira.pass_over = {"10042"}
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        assert "10042" not in _indexed(store)  # the first run's reconcile used its listing
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        assert "10042" not in _indexed(store)  # an incremental run does not list it
        _reconcile_due(store)
        daily = sync_datasource(_datasource(), store=store, client=jira)
        assert daily.status == "ok" and daily.reconciled and daily.deleted == 0
        assert _indexed(store) == _expected(jira)


def _attachment_text(store: Store, attachment_id: str) -> str | None:
    row = store.conn.execute("SELECT text FROM attachments WHERE id = ?", [attachment_id])
    found = row.fetchone()
    return found[0] if found else None


def test_a_failed_attachment_download_keeps_the_text_the_index_had(tmp_path):
    """An issue changed, and this time its attachment fails to download (a timeout,
    a 5xx): the text the index had for that attachment stays searchable."""
    jira = ScriptedJira(3)
    url = jira.attach("10001", "900", "notes.txt", "alpha version of the notes")
    ds = _datasource(index_attachments=True)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(ds, store=store, client=jira).status == "ok"
        assert _attachment_text(store, "900") == "alpha version of the notes"

        jira.edit("10001", "Edited, and its attachment now fails to download")
        jira.files[url] = JiraServerError("Jira answered 503 (service unavailable)")
        failing = sync_datasource(ds, store=store, client=jira)
        assert failing.status == "ok" and failing.skipped_attachments == 1
        assert _indexed(store)["10001"] == "Edited, and its attachment now fails to download"
        assert _attachment_text(store, "900") == "alpha version of the notes"
        assert store.get_state("jira")["attachment_retry"] == {"10001": 1}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
        pytest.param(b'{"log": "emoji cut in half: \\ud83d"}', id="lone-surrogate"),
    ],
)
def test_an_attachment_whose_text_cannot_be_had_does_not_fail_the_sync(tmp_path, body):
    """A JSON attachment nested deeper than Python parses (RecursionError), or whose
    escapes decode to a lone surrogate (SQLite refuses the write), failed the whole
    sync of its datasource, and again at every run that fetched the issue. Its issue
    is indexed; the text is what could be had (the raw text, the surrogate replaced)."""
    jira = ScriptedJira(3)
    url = jira.attach("10002", "900", "payload.json", "unused")
    jira.files[url] = body
    ds = _datasource(index_attachments=True)
    with Store(tmp_path / "index.db") as store:
        summary = sync_datasource(ds, store=store, client=jira)
        assert summary.status == "ok", summary.error
        assert _indexed(store) == _expected(jira)
        text = _attachment_text(store, "900")
        assert text is not None and "\ud83d" not in text


@pytest.mark.parametrize("where", ["label", "component", "attachment name", "attachment author"])
def test_half_an_emoji_in_a_label_or_attachment_does_not_fail_the_sync(tmp_path, where):
    """Jira cuts an emoji in two, JSON escapes carry the half through (`"\\ud83d"`),
    and SQLite cannot store it: one such label, component or attachment name failed
    every sync of the datasource. It is stored with the half replaced."""
    half = "rocket \ud83d"
    jira = ScriptedJira(3)
    plain = jira._raw

    def with_half(ident: str) -> dict[str, Any]:
        raw = plain(ident)
        if ident == "10002":
            fields = raw["fields"]
            if where == "label":
                fields["labels"] = ["launch", half]
            elif where == "component":
                fields["components"] = [{"name": half}]
            else:
                fields["attachment"] = [
                    {"id": "900", "mimeType": "image/png", "size": 3, "content": "x",
                     "filename": f"{half}.png" if where == "attachment name" else "a.png",
                     "author": {"displayName": half}}
                ]  # fmt: skip
        return raw

    jira._raw = with_half
    ds = _datasource(index_attachments=True)
    with Store(tmp_path / "index.db") as store:
        summary = sync_datasource(ds, store=store, client=jira)
        assert summary.status == "ok", summary.error
        assert _indexed(store) == _expected(jira)
        if where != "attachment author":  # the others are searchable
            assert [hit.key for hit in search(store, "rocket")] == ["DEMO-2"]


def test_a_failed_attachment_download_is_fetched_again_though_its_issue_did_not_change(
    tmp_path,
):
    """The issue is far older than the watermark (no overlap window brings it back):
    the next run fetches it again for its attachment, once, and then no more."""
    jira = ScriptedJira(3)
    url = jira.attach("10001", "900", "notes.txt", "unused")
    jira.files[url] = JiraServerError("Jira answered 503 (service unavailable)")
    jira.edit("10003", "The newest issue")  # the watermark lands on today
    ds = _datasource(index_attachments=True)
    with Store(tmp_path / "index.db") as store:
        first = sync_datasource(ds, store=store, client=jira)
        assert first.status == "ok" and first.skipped_attachments == 1
        assert _attachment_text(store, "900") is None
        assert store.get_state("jira")["attachment_retry"] == {"10001": 1}

        jira.files[url] = b"the notes, readable at last"
        healed = sync_datasource(ds, store=store, client=jira)
        assert healed.status == "ok" and healed.skipped_attachments == 0
        assert _attachment_text(store, "900") == "the notes, readable at last"
        assert store.get_state("jira")["attachment_retry"] == {}
        assert sync_datasource(ds, store=store, client=jira).status == "ok"
        assert jira.downloads.count(url) == 2  # nothing left to retry


def test_an_attachment_that_always_fails_is_retried_a_bounded_number_of_times(tmp_path):
    jira = ScriptedJira(3)
    url = jira.attach("10001", "901", "log.txt", "unused")
    jira.files[url] = JiraServerError("Jira answered 500 (server error)")
    jira.edit("10003", "The newest issue")
    ds = _datasource(index_attachments=True)
    with Store(tmp_path / "index.db") as store:
        for _ in range(ATTACHMENT_RETRIES + 3):
            assert sync_datasource(ds, store=store, client=jira).status == "ok"
        assert jira.downloads.count(url) == ATTACHMENT_RETRIES + 1
        assert store.get_state("jira")["attachment_retry"] == {}
        assert _attachment_text(store, "901") is None


def test_the_daily_reconcile_on_data_center_fetches_an_update_that_showed_late(tmp_path):
    """Jira's search index is eventually consistent: an update can become visible
    with an `updated` already older than the overlap window of the next run, which
    then never lists it. Data Center listings carry `updated`: the daily reconcile
    compares them with the index and fetches what is out of date."""
    jira = ScriptedJira(250)
    jira.is_cloud = False
    jira.edit("10250", "The newest issue")  # the watermark lands on today
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        late = jira.issues["10005"]
        late["summary"], late["updated"] = "Changed, seen late", late["updated"] + 1000
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        assert _indexed(store)["10005"] == "Issue number 5"  # the incremental run missed it
        _reconcile_due(store)
        daily = sync_datasource(_datasource(), store=store, client=jira)
        assert daily.status == "ok" and daily.reconciled
        assert _indexed(store) == _expected(jira)


class _StormJira(ScriptedJira):
    """Its second bulkfetch is in a long retry wait (a 429 storm asking for a
    minute), which ends only when the client is told to stop."""

    def __init__(self, count: int):
        super().__init__(count)
        self.stopping = threading.Event()
        self.waiting = threading.Event()  # the second bulkfetch is in its wait
        self.stopped_waiting: list[float] = []

    def bulkfetch(self, ids, fields, decode=None):
        if self.fetch_calls >= 1:
            self.fetch_calls += 1
            started = time.monotonic()
            self.waiting.set()
            self.stopping.wait(60)
            self.stopped_waiting.append(time.monotonic() - started)
            raise JiraRetryAborted("stopped while waiting to retry a request to Jira")
        return super().bulkfetch(ids, fields, decode)


def test_cancel_ends_a_sync_whose_requests_wait_out_a_rate_limit(tmp_path):
    jira = _StormJira(300)
    cancel = threading.Event()

    def cancel_after_first_batch(progress):
        if progress.written >= 100 and jira.waiting.wait(10):
            cancel.set()

    with Store(tmp_path / "index.db") as store:
        started = time.monotonic()
        summary = sync_datasource(
            _datasource(), store=store, client=jira, progress=cancel_after_first_batch,
            cancel=cancel,
        )  # fmt: skip
        assert time.monotonic() - started < 20  # not the minute the wait asked for
        assert summary.status == "cancelled", summary
        assert jira.stopped_waiting and max(jira.stopped_waiting) < 20
        assert len(_indexed(store)) == 100


def test_ctrl_c_ends_a_sync_whose_requests_wait_out_a_rate_limit(tmp_path):
    jira = _StormJira(300)

    def ctrl_c_after_first_batch(progress):
        if progress.written >= 100 and jira.waiting.wait(10):
            raise KeyboardInterrupt

    with Store(tmp_path / "index.db") as store:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            sync_datasource(_datasource(), store=store, client=jira,
                            progress=ctrl_c_after_first_batch)  # fmt: skip
        assert time.monotonic() - started < 20
        assert jira.stopped_waiting and max(jira.stopped_waiting) < 20
        (run,) = store.runs("jira")
        assert run["status"] == "interrupted" and run["issues"] == 100


def test_the_daily_run_on_cloud_looks_a_day_back_for_updates_that_showed_late(tmp_path):
    """Cloud listings carry no `updated` for reconcile to compare: the run that
    reconciles lists a day back from the watermark instead of the overlap window,
    so an update that became visible late is fetched within a day."""
    jira = ScriptedJira(250)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        newest = max(issue["updated"] for issue in jira.issues.values())
        late = jira.issues["10005"]
        late["summary"], late["updated"] = "Changed, seen late", newest - 2 * 3600 * 1000
        assert sync_datasource(_datasource(), store=store, client=jira).status == "ok"
        assert _indexed(store)["10005"] == "Issue number 5"  # past the overlap window
        _reconcile_due(store)
        daily = sync_datasource(_datasource(), store=store, client=jira)
        assert daily.status == "ok" and daily.reconciled
        assert jira.listed_since[-2] == newest - RECONCILE_LOOKBACK_MS  # [-1]: reconcile
        assert _indexed(store) == _expected(jira)


def test_a_download_the_cancel_cuts_short_is_not_an_attachment_failure(tmp_path):
    """A cancel (or the TUI quitting) ends the requests in flight: an attachment
    download it cut was taken for a failed attachment, so its batch was written
    without the text and the attachment used up one of its retries."""
    jira = ScriptedJira(150)
    for n in range(1, 151):
        jira.attach(str(10_000 + n), str(900 + n), f"notes-{n}.txt", f"notes of issue {n}")
    cancel = threading.Event()
    real = jira.download_attachment

    def download(url, limit, mime_type="", named_text=False):
        if len(jira.downloads) == 120:  # the second batch is downloading
            cancel.set()
        if cancel.is_set():
            jira.downloads.append(url)
            raise JiraRetryAborted("stopped before sending a request to Jira")
        return real(url, limit, mime_type, named_text)

    jira.download_attachment = download
    ds = _datasource(index_attachments=True)
    with Store(tmp_path / "index.db") as store:
        summary = sync_datasource(ds, store=store, client=jira, cancel=cancel)
        assert summary.status == "cancelled"
        assert summary.skipped_attachments == 0
        assert not (store.get_state("jira") or {}).get("attachment_retry")
        written = _indexed(store)
        assert len(written) == 100  # the first batch, whole; the cut one is dropped
        for ident in written:
            number = int(ident) - 10_000
            assert _attachment_text(store, str(900 + number)) == f"notes of issue {number}"


def test_a_quiet_cloud_project_resyncs_with_nothing_written(tmp_path):
    """Cloud listings carry no `updated`, so the issues of the overlap window are
    fetched again on every run; the ones whose fetched `updated` is what the index
    holds are not written again (nor counted), as on Data Center. An edit is."""
    jira = ScriptedJira(60)
    with Store(tmp_path / "index.db") as store:
        first = sync_datasource(_datasource(), store=store, client=jira)
        assert first.status == "ok" and first.issues == 60
        calls = jira.fetch_calls
        read_whole = []
        whole = store.issue_ids
        store.issue_ids = lambda name: read_whole.append(name) or whole(name)
        again = sync_datasource(_datasource(), store=store, client=jira)
        assert again.status == "ok"
        assert jira.fetch_calls > calls  # the overlap window was fetched
        assert again.issues == 0
        # Compared by the fetched ids, not by reading every issue of the index (0.5 s
        # at 100k issues, for a re-sync that fetches a handful).
        assert read_whole == []
        del store.issue_ids
        jira.edit("10059", "Edited while nobody looked")
        edited = sync_datasource(_datasource(), store=store, client=jira)
        assert edited.issues == 1
        assert _indexed(store) == _expected(jira)


def test_a_sync_ended_by_a_wait_jira_asked_for_says_when_to_come_back(tmp_path):
    """A rate limit whose Retry-After the request cannot wait out ends the run: the
    summary carries the wait and the sync state when it ends (`not_before`), which
    the schedulers honour; the next run, whenever it is, clears it."""
    jira = ScriptedJira(150)

    def quota(call: int, ids: list[str]) -> None:
        error = JiraRateLimitError("Jira is rate limiting requests (HTTP 429): try again later")
        error.retry_after = 300.0
        raise error

    def quota_years(call: int, ids: list[str]) -> None:
        error = JiraRateLimitError("Jira is rate limiting requests (HTTP 429): try again later")
        error.retry_after = 70 * 365 * 86400.0
        raise error

    jira.before_fetch.append(quota)
    with Store(tmp_path / "index.db") as store:
        before = time.time()
        limited = sync_datasource(_datasource(), store=store, client=jira)
        assert limited.status == "error" and limited.retry_after == 300.0
        assert limited.to_json()["retry_after"] == 300.0
        assert before + 300 <= store.get_state("jira")["not_before"] <= time.time() + 300
        # A Retry-After date years ahead holds the scheduled syncs a day at most.
        jira.before_fetch[0] = lambda call, ids: quota_years(call, ids)
        held = sync_datasource(_datasource(), store=store, client=jira)
        assert held.retry_after == 24 * 3600
        assert store.get_state("jira")["not_before"] <= time.time() + 24 * 3600
        jira.before_fetch.clear()
        again = sync_datasource(_datasource(), store=store, client=jira)
        assert again.status == "ok" and again.retry_after is None
        assert "not_before" not in store.get_state("jira")
        assert _indexed(store) == _expected(jira)


def test_a_cloud_re_sync_downloads_nothing_again_for_unchanged_issues(tmp_path):
    """The overlap window brings the same issues back every run: their attachments
    are not downloaded (nor their text extracted) again when their `updated` is what
    the index holds (b0c495a did so, on every run of `sync --watch`; helper-38)."""
    jira = ScriptedJira(60)
    for n in (58, 59, 60):  # in the overlap window of the next runs
        jira.attach(str(10_000 + n), str(900 + n), f"notes-{n}.txt", f"notes of {n}")
    ds = _datasource(index_attachments=True)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(ds, store=store, client=jira).status == "ok"
        assert len(jira.downloads) == 3
        again = sync_datasource(ds, store=store, client=jira)
        assert again.status == "ok" and again.issues == 0
        assert len(jira.downloads) == 3, "unchanged issues' attachments fetched again"


class _ThreadedJira(ScriptedJira):
    """ScriptedJira with comment threads longer than the 20 embedded; a thread in
    `deep` cannot be parsed (a comment nested deeper than a JSON parser goes)."""

    def __init__(self, count: int):
        super().__init__(count)
        self.threads: dict[str, int] = {}  # id -> comments
        self.deep: set[str] = set()

    def _comment(self, ident: str, n: int) -> dict:
        return {"id": f"{ident}{n:03d}", "author": {"displayName": "Ann"},
                "created": _jira_time(START_MS), "body": f"comment {n} of {ident}"}  # fmt: skip

    def _raw(self, ident: str) -> dict:
        raw = super()._raw(ident)
        total = self.threads.get(ident, 0)
        raw["fields"]["comment"] = {
            "comments": [self._comment(ident, n) for n in range(min(total, 20))],
            "total": total, "maxResults": 20, "startAt": 0,
        }  # fmt: skip
        return raw

    def comments(self, ident, page_size=100, *, start_at=0, decode=None):
        if str(ident) in self.deep:
            raise RecursionError("maximum recursion depth exceeded while decoding")
        page = [self._comment(str(ident), n) for n in range(start_at, self.threads[str(ident)])]
        return (decode({"comments": page}) if decode else {"comments": page})["comments"]


def test_an_issue_whose_comments_cannot_be_parsed_is_left_as_the_index_had_it(tmp_path):
    """A comment nested too deeply to parse, past the embedded page, failed every
    sync with 'unexpected RecursionError', --full too (helper-38). That issue is now
    left out of the run, and the index keeps the version it had; the rest syncs."""
    jira = _ThreadedJira(30)
    jira.threads = {"10010": 25, "10020": 30}
    ds = _datasource(index_comments=True)
    with Store(tmp_path / "index.db") as store:
        assert sync_datasource(ds, store=store, client=jira).status == "ok"
        jira.edit("10010", "Edited, and a deep comment added")
        jira.threads["10010"] = 26
        jira.deep.add("10010")
        jira.edit("10020", "Edited too")
        for full in (False, True):
            listings = len(jira.listed_since)
            run = sync_datasource(ds, store=store, client=jira, full=full)
            assert run.status == "ok" and run.skipped_issues == 1  # once, not per fetch
            # Not taken for gone: no second listing of the scope to confirm it
            # (helper-39), nor fetched again by reconcile's heal.
            assert len(jira.listed_since) == listings + 1
            assert _indexed(store)["10010"] == "Issue number 10"  # as it was
            assert _indexed(store)["10020"] == "Edited too"
            assert len(store.get_issue("10010")["comments"]) == 25


class _UnparsableJira(ScriptedJira):
    """A client whose fetches leave one issue out as too deeply nested to read
    (JiraClient.unreadable_ids), as the real one does."""

    def __init__(self, count: int, unparsable: str):
        super().__init__(count)
        self.unparsable = unparsable

    def bulkfetch(self, ids, fields, decode=None) -> list[dict]:
        return [i for i in super().bulkfetch(ids, fields, decode) if i["id"] != self.unparsable]

    def unreadable_ids(self) -> set[str]:
        return {self.unparsable}


def test_an_issue_the_client_could_not_parse_is_counted_once_and_not_taken_for_gone(tmp_path):
    jira = _UnparsableJira(40, "10005")
    with Store(tmp_path / "index.db") as store:
        run = sync_datasource(_datasource(), store=store, client=jira, full=True)
        assert run.status == "ok" and run.skipped_issues == 1
        assert len(jira.listed_since) == 1  # no second listing to confirm a deletion
        assert set(_indexed(store)) == set(_expected(jira)) - {"10005"}


def test_a_request_jira_rejects_names_the_datasources_own_jql(tmp_path):
    """A JQL Jira refuses failed the sync with Jira's words only ("Field 'sprint'
    does not exist …"): nothing said that the datasource's jql was the query."""
    from indexer.jira.errors import JiraBadRequestError

    class RejectsTheJql(ScriptedJira):
        def search_ids(self, jql, page_size=None):
            raise JiraBadRequestError(
                "Jira rejected the request (HTTP 400): Field 'sprint' does not exist or "
                "you do not have permission to view it."
            )
            yield  # a generator, as the real listing is

    with Store(tmp_path / "index.db") as store:
        summary = sync_datasource(
            _datasource(jql="sprint in openSprints()"), store=store, client=RejectsTheJql(3)
        )
        assert summary.status == "error"
        assert summary.error == (
            "Jira rejected the request (HTTP 400): Field 'sprint' does not exist or you do "
            "not have permission to view it. (the datasource's jql is 'sprint in "
            'openSprints()\': check it with `jiradex datasource test "jira"`)'
        )
        # without a jql of its own, Jira's words are the whole message
        summary = sync_datasource(_datasource(), store=store, client=RejectsTheJql(3))
        assert summary.error.endswith("view it.")


def test_once_a_batch_fails_no_queued_batch_is_begun(tmp_path):
    """A batch failing after its whole retry budget (Jira down) ended the run only
    after the next queued batch, begun at once by the same worker, had spent a whole
    budget more: twice the wait at concurrency 1. The queued batches are left now,
    and the run fails with the first batch's error."""
    jira = ScriptedJira(500)  # five batches, one worker, two queued at a time

    def jira_down(call: int, ids: list[str]) -> None:
        time.sleep(0.05)  # the answer takes a moment: the next batch is queued by then
        raise JiraServerError("Jira answered 503 (unavailable) after 11 attempts")

    jira.before_fetch.append(jira_down)
    with Store(tmp_path / "index.db") as store:
        summary = sync_datasource(_datasource(), store=store, client=jira)
    assert summary.status == "error"
    assert summary.error == "Jira answered 503 (unavailable) after 11 attempts"
    assert jira.fetch_calls == 1


class _LongThreads(ScriptedJira):
    """Each issue embeds 20 comments of a 30-comment thread, as Cloud's search caps
    its embedded page: the sync pages `/comment` for the other 10. Comment pages of
    an issue in `gone` answer 404, as Jira does for one deleted or hidden since."""

    def __init__(self, count: int):
        super().__init__(count)
        self.gone: set[str] = set()

    def _comment(self, ident: str, n: int) -> dict[str, Any]:
        return {"id": f"{ident}-{n}", "body": f"comment {n} of {ident}",
                "created": _jira_time(START_MS), "author": {"displayName": "A"}}  # fmt: skip

    def _raw(self, ident: str) -> dict[str, Any]:
        raw = super()._raw(ident)
        shown = [self._comment(ident, n) for n in range(20)]
        raw["fields"]["comment"] = {"comments": shown, "total": 30, "maxResults": 20, "startAt": 0}
        return raw

    def comments(self, key, page_size=100, *, start_at=0, decode=None) -> list[dict]:
        if key in self.gone:
            self.issues.pop(key, None)
            raise IssueNotFoundError(
                f"Issue {key} does not exist or you do not have permission to see it"
            )
        page = {"startAt": start_at, "maxResults": 100, "total": 30,
                "comments": [self._comment(key, n) for n in range(start_at, 30)]}  # fmt: skip
        return (decode(page) if decode else page)["comments"]


def test_an_issue_gone_before_the_rest_of_its_comments_is_left_out_not_the_whole_run(tmp_path):
    """An issue deleted (or hidden) between its fetch and the pages of its long
    comment thread answers 404 there: the run failed with "Issue ... does not exist",
    writing none of the batch. Jira's 404 says deleted or hidden: the issue is left
    out like one the fetch did not return, and reconcile removes it from the index."""
    jira = _LongThreads(50)
    doomed = sorted(jira.issues)[10]
    with Store(tmp_path / "index.db") as store:
        first = sync_datasource(_datasource(index_comments=True), store=store, client=jira)
        assert first.status == "ok", first.error
        assert first.comments == 50 * 30

        jira.gone.add(doomed)
        jira.edit(doomed, "Edited, then deleted")
        again = sync_datasource(
            _datasource(index_comments=True), store=store, client=jira, full=True
        )
        assert again.status == "ok", again.error
        assert again.deleted == 1
        assert _indexed(store) == _expected(jira)
        assert doomed not in _indexed(store)


class _RefusedAsAnonymous(ScriptedJira):
    """Jira taking credentials it refused for anonymous: searches answer 200 with
    what anonymous may see (nothing here), `/myself` answers 401 (jira-api.md (b))."""

    auth_mode = "basic"

    def __init__(self, count: int):
        super().__init__(count)
        self.refused = False
        self.myself_error: Exception | None = None
        self.myself_calls = 0

    def search_ids(self, jql: str, page_size: int | None = None) -> Iterator[dict]:
        if self.refused:
            return iter(())
        return super().search_ids(jql, page_size)

    def myself(self) -> dict[str, Any]:
        self.myself_calls += 1
        if self.myself_error is not None:
            raise self.myself_error
        if self.refused:
            raise JiraAuthError("Authentication failed for Jira: check the e-mail and API token")
        return {"accountId": "me"}


def test_credentials_jira_answers_as_anonymous_fail_the_sync_and_delete_nothing(tmp_path):
    """An expired or wrong token that Jira answers as anonymous (200, no issues) made
    a --full sync reconcile the whole index away, and a first sync say "ok, 0
    issues". A listing that finds nothing is checked against /myself first."""
    jira = _RefusedAsAnonymous(30)
    with Store(tmp_path / "index.db") as store:
        first = sync_datasource(_datasource(), store=store, client=jira)
        assert first.status == "ok", first.error
        assert jira.myself_calls == 0  # issues were found: nothing to check
        assert len(_indexed(store)) == 30

        jira.refused = True
        full = sync_datasource(_datasource(), store=store, client=jira, full=True)
        assert full.status == "error"
        assert "check the e-mail and API token" in (full.error or "")
        assert full.deleted == 0 and len(_indexed(store)) == 30

    with Store(tmp_path / "fresh.db") as store:
        fresh = sync_datasource(_datasource(), store=store, client=jira)
        assert fresh.status == "error" and fresh.issues == 0


def test_an_empty_project_still_syncs_with_a_token_that_may_not_read_myself(tmp_path):
    """A scoped token without the user scope gets 403 at /myself: no proof of
    refused credentials, so a project with no issues is simply empty."""
    jira = _RefusedAsAnonymous(0)
    jira.myself_error = JiraPermissionError("Permission denied by Jira (HTTP 403)")
    with Store(tmp_path / "index.db") as store:
        summary = sync_datasource(_datasource(), store=store, client=jira)
        assert summary.status == "ok", summary.error
        assert summary.issues == 0 and jira.myself_calls == 1


class _Anonymous(ScriptedJira):
    """Read without credentials; `visible` says whether anonymous may see the project
    (Jira Cloud answers a search it shows nothing to with 200 and no issues)."""

    auth_mode = "anonymous"

    def __init__(self, count: int, visible: bool):
        super().__init__(count)
        self.visible = visible
        self.project = self.project_info  # JiraClient.project(key); no issue reads it here

    def search_ids(self, jql: str, page_size: int | None = None) -> Iterator[dict]:
        return super().search_ids(jql, page_size) if self.visible else iter(())

    def project_info(self, key: str) -> dict[str, Any]:
        if not self.visible:
            raise ProjectNotFoundError(
                f"Project {key} does not exist or you do not have permission to see it"
            )
        return {"key": key}


def test_an_anonymous_sync_of_a_project_anonymous_cannot_see_says_so(tmp_path):
    """An anonymous datasource on a site that hides the project got 200 and no
    issues from every search, and its sync said "ok, 0 issues"; a visible project
    with no issues is still simply empty."""
    with Store(tmp_path / "index.db") as store:
        hidden = sync_datasource(_datasource(), store=store, client=_Anonymous(5, False))
        assert hidden.status == "error"
        assert hidden.error == "Project DEMO does not exist or you do not have permission to see it"
        empty = sync_datasource(_datasource(), store=store, client=_Anonymous(0, True))
        assert empty.status == "ok", empty.error
