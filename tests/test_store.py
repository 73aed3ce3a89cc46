"""The SQLite store: schema and migrations, upsert by id, FTS kept in step, state, runs."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from indexer import paths
from indexer import store as store_module
from indexer.errors import StoreError
from indexer.store import MIGRATIONS, SCHEMA_VERSION, Store, cjk_terms, precomputed_fts


def record(n: int, **extra) -> dict:
    base = {
        "id": str(10000 + n),
        "key": f"ABC-{n}",
        "project": "ABC",
        "datasource": "work",
        "summary": f"Issue number {n}",
        "description": f"**Description** {n}",
        "description_text": f"Description {n}",
        "issuetype": "Bug",
        "status": "Open",
        "status_category": "To Do",
        "priority": "High",
        "assignee": "Ann Example",
        "reporter": "Bob Example",
        "labels": ["backend"],
        "components": ["api"],
        "created": "2024-01-01T10:00:00.000Z",
        "updated": f"2024-02-{1 + n % 27:02d}T10:00:00.000Z",
        "url": f"https://jira.example.com/browse/ABC-{n}",
        "raw": {"id": str(10000 + n), "fields": {"summary": f"Issue number {n}"}},
    }
    base.update(extra)
    return base


def fts_text(store: Store, column: str, key: str) -> str:
    row = store.conn.execute(
        f"SELECT f.{column} FROM issue_fts f JOIN issues i ON i.rowid = f.rowid WHERE i.key = ?",
        [key],
    ).fetchone()
    return row[0]


def match_keys(store: Store, expr: str) -> list[str]:
    rows = store.conn.execute(
        "SELECT i.key FROM issue_fts f JOIN issues i ON i.rowid = f.rowid "
        "WHERE issue_fts MATCH ? ORDER BY i.key",
        [expr],
    )
    return [r[0] for r in rows]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "index.db")
    yield s
    s.close()


def test_default_path_and_pragmas(jiradex_home):
    with Store() as s:
        assert s.path == paths.index_path()
        assert s.path.exists()
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        tables = set(s.db.table_names())
        assert {"issues", "comments", "attachments", "sync_state", "sync_runs"} <= tables
        assert "issue_fts" in tables


def test_migrates_an_empty_v0_database_and_reopens(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # an empty file at user_version 0
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        s.upsert_issues([record(1)])
    with Store(path) as s:  # reopening runs no migration again and keeps the data
        assert s.schema_version == SCHEMA_VERSION
        assert s.get_issue("ABC-1")["summary"] == "Issue number 1"


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer jiradex"):
        Store(path)


def test_corrupt_file_gives_clear_error(tmp_path):
    path = tmp_path / "index.db"
    path.write_bytes(b"this is not a database at all, just junk " * 200)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert "damaged" in str(info.value)
    assert "jiradex index rebuild" in str(info.value)


def test_locked_database_gives_clear_error(tmp_path):
    path = tmp_path / "index.db"
    Store(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        s = Store(path, busy_timeout_ms=50)
        with pytest.raises(StoreError, match="busy"):
            s.upsert_issues([record(1)])
        s.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_upsert_insert_then_update_by_id(store):
    assert store.upsert_issues([record(1), record(2)]) == 2
    issue = store.get_issue("abc-1")
    assert issue["id"] == "10001"
    assert issue["labels"] == ["backend"]
    assert issue["components"] == ["api"]
    assert issue["raw"]["fields"]["summary"] == "Issue number 1"
    # Same id, new key and summary (the issue moved): one row, re-keyed.
    store.upsert_issues([record(1, key="XYZ-9", project="XYZ", summary="Moved issue")])
    assert store.get_issue("ABC-1") is None
    assert store.get_issue("XYZ-9")["summary"] == "Moved issue"
    assert store.get_issue("10001")["key"] == "XYZ-9"
    assert store.stats()["issues"] == 2
    assert match_keys(store, '"moved"') == ["XYZ-9"]
    assert match_keys(store, '"number"') == ["ABC-2"]
    assert store.integrity_check() == []


def test_duplicate_ids_in_one_page_keep_the_last(store):
    store.upsert_issues([record(1, summary="first"), record(1, summary="second")])
    assert store.stats()["issues"] == 1
    assert store.get_issue("ABC-1")["summary"] == "second"
    assert store.integrity_check() == []


def test_same_id_in_two_datasources_are_two_issues(store):
    store.upsert_issues([record(1), record(1, datasource="other", summary="other copy")])
    assert store.stats()["issues"] == 2
    assert store.get_issue("ABC-1", datasource="other")["summary"] == "other copy"
    assert store.issue_ids("work") == {"10001": "2024-02-02T10:00:00.000Z"}


def test_comments_and_attachments_replaced_only_when_key_present(store):
    comments = [
        {
            "id": "c1",
            "author": "Ann",
            "created": "2024-01-02T00:00:00.000Z",
            "updated": None,
            "body": "**hi**",
            "body_text": "hello zebra",
        },
    ]
    attachments = [
        {
            "id": "a1",
            "filename": "trace.log",
            "mimetype": "text/plain",
            "size": 12,
            "created": None,
            "author": "Ann",
            "content_url": "https://x/a1",
            "text": "giraffe exception",
            "indexed": True,
        },
    ]
    store.upsert_issues([record(1, comments=comments, attachments=attachments)])
    assert match_keys(store, '"zebra"') == ["ABC-1"]
    assert match_keys(store, '"giraffe"') == ["ABC-1"]
    assert match_keys(store, '"trace" "log"') == ["ABC-1"]  # filenames are searchable
    # Without the keys: comments, attachments and their FTS text are kept.
    store.upsert_issues([record(1, summary="changed")])
    issue = store.get_issue("ABC-1")
    assert [c["id"] for c in issue["comments"]] == ["c1"]
    assert issue["attachments"][0]["indexed"] is True
    assert match_keys(store, '"zebra"') == ["ABC-1"]
    assert match_keys(store, '"giraffe"') == ["ABC-1"]
    # With empty lists: removed, and gone from the index.
    store.upsert_issues([record(1, comments=[], attachments=[])])
    issue = store.get_issue("ABC-1")
    assert issue["comments"] == [] and issue["attachments"] == []
    assert match_keys(store, '"zebra"') == []
    assert match_keys(store, '"giraffe"') == []
    assert store.stats() == {"issues": 1, "comments": 0, "attachments": 0, "last_sync": None}
    assert store.integrity_check() == []


def test_delete_issues_removes_everything(store):
    comments = [{"id": "c1", "body_text": "walrus", "body": "walrus"}]
    store.upsert_issues([record(1, comments=comments), record(2), record(3)])
    assert store.delete_issues("work", ["10001", "10003", "999"]) == 2
    assert store.delete_issues("other", ["10002"]) == 0
    assert sorted(store.issue_ids("work")) == ["10002"]
    assert store.stats()["comments"] == 0
    assert match_keys(store, '"walrus"') == []
    assert store.integrity_check() == []


def test_remove_datasource(store):
    store.upsert_issues([record(1), record(2, datasource="other")])
    store.set_state("work", {"watermark": 1})
    store.finish_run(store.start_run("work"))
    assert store.remove_datasource("work") == 1
    assert store.get_state("work") == {}
    assert store.runs("work") == []
    assert store.stats()["issues"] == 1
    assert store.integrity_check() == []


def test_state_commits_with_the_page_or_not_at_all(store):
    store.upsert_issues([record(1)], state={"work": {"page": 1}})
    assert store.get_state("work") == {"page": 1}

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.transaction():
        store.upsert_issues([record(2)])
        store.set_state("work", {"page": 2})
        raise Boom
    assert store.get_state("work") == {"page": 1}
    assert store.get_issue("ABC-2") is None
    assert store.integrity_check() == []


def test_readers_never_see_half_a_transaction(tmp_path):
    path = tmp_path / "index.db"
    writer = Store(path)
    reader = Store(path)
    with writer.transaction():
        writer.upsert_issues([record(1)])
        writer.upsert_issues([record(2)])
        assert reader.stats()["issues"] == 0  # WAL: the reader sees the last commit
    assert reader.stats()["issues"] == 2
    writer.close()
    reader.close()


def test_precomputed_fts_columns_are_taken_only_while_their_texts_hold(store):
    """A sync's workers may send the stem/CJK columns along; the store uses them
    for the texts they were computed from and computes afresh for any other."""
    comments = [{"id": "1", "body_text": "Retried the uploads"}]
    fresh = record(1, comments=comments)
    fresh["fts"] = precomputed_fts(fresh, comments, [])
    sentinel = record(2, comments=comments)
    summary, tags, desc, ctext, atext, *_ = precomputed_fts(sentinel, comments, [])
    # The derived columns: five `_parts`, then five `_stems` (comments_stems 4th).
    derived = ["", "", "", "", "", "", "", "", "zzmarker", ""]
    sentinel["fts"] = (summary, tags, desc, ctext, atext, *derived)
    # Computed for other comments than the ones written: ignored.
    stale = record(3, comments=[{"id": "9", "body_text": "Crashed on startup"}])
    stale["fts"] = (*precomputed_fts(stale, comments, [])[:5], *derived)
    plain = record(4, comments=comments)
    store.upsert_issues([fresh, sentinel, stale, plain])
    stems = "comments_stems"
    assert fts_text(store, stems, "ABC-1") == fts_text(store, stems, "ABC-4")
    assert "retry" in fts_text(store, stems, "ABC-1").split()
    assert match_keys(store, f"{stems} : zzmarker") == ["ABC-2"]
    assert "crash" in fts_text(store, stems, "ABC-3").split()


def test_lean_cache_shrinks_the_page_cache_while_a_sync_writes(tmp_path):
    store = Store(tmp_path / "index.db")

    def cache_kib():
        return -store.conn.execute("PRAGMA cache_size").fetchone()[0]

    assert cache_kib() == store_module.READ_CACHE_KIB
    with store.lean_cache():
        assert cache_kib() == store_module.WRITE_CACHE_KIB < store_module.READ_CACHE_KIB
        store.upsert_issues([record(1)])
    assert cache_kib() == store_module.READ_CACHE_KIB
    with pytest.raises(RuntimeError), store.lean_cache(kib=4096):
        assert cache_kib() == 4096
        raise RuntimeError("a failed sync")
    assert cache_kib() == store_module.READ_CACHE_KIB
    store.close()


def test_checkpoints_aside_copy_the_wal_on_their_own_thread(tmp_path):
    path = tmp_path / "index.db"
    store = Store(path)
    before = path.stat().st_size
    with store.checkpoints_aside(every_s=0.05):
        assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        big = "lorem ipsum dolor " * 2000
        for start in range(0, 60, 10):
            store.upsert_issues([record(n, description_text=big) for n in range(start, start + 10)])
        # The writer does not checkpoint: only the side thread can grow the file.
        deadline = time.monotonic() + 5
        while path.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size > before
        assert [t for t in threading.enumerate() if t.name == "jiradex-checkpoint"]
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    assert not [t for t in threading.enumerate() if t.name == "jiradex-checkpoint"]
    assert store.stats()["issues"] == 60
    store.close()


def test_checkpoints_aside_keep_the_wal_from_growing_like_the_database(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "WAL_RESTART_BYTES", 512 * 1024)
    path = tmp_path / "index.db"
    wal = tmp_path / "index.db-wal"
    store = Store(path)
    big = "lorem ipsum dolor sit amet " * 4000  # ~100 kB a record, ~40 MB in all
    largest = 0
    with store.checkpoints_aside(every_s=0.02):
        for start in range(0, 400, 10):
            store.upsert_issues([record(n, description_text=big) for n in range(start, start + 10)])
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
    assert path.stat().st_size > 20 * 1024 * 1024  # the data went to the database file
    # while the WAL started over (without that it grows to some 200 MB here)
    assert largest < 24 * 1024 * 1024, largest
    assert store.stats()["issues"] == 400
    store.close()


def test_runs_history(store):
    run = store.start_run("work")
    assert store.runs("work")[0]["status"] == "running"
    store.finish_run(run, "ok", issues=5, comments=2, deleted=1)
    failed = store.start_run("work")
    store.finish_run(failed, "error", error="HTTP 500")
    runs = store.runs("work")
    assert [r["status"] for r in runs] == ["error", "ok"]
    assert runs[1]["issues"] == 5 and runs[1]["deleted"] == 1
    assert runs[1]["seconds"] is not None
    assert store.stats("work")["last_sync"] == runs[1]["finished"]
    assert len(store.runs("work", limit=1)) == 1
    with pytest.raises(StoreError):
        store.finish_run(9999)


def test_a_run_record_counts_each_write_in_the_write_transaction(store):
    """A sync's counts reach its run record with each batch, atomically with it: a
    run that dies without finish_run (kill -9) still says what it wrote."""
    run = store.start_run("work")
    comments = [{"id": "1", "author": "A", "created": "", "updated": "", "body": "b"}]
    store.upsert_issues(
        [record(1, comments=comments), record(2)],
        run={"id": run, "issues": 2, "comments": 1, "attachments": 0},
    )
    store.upsert_issues([record(3)], run={"id": run, "issues": 1, "comments": 0})
    [row] = store.runs("work")
    assert (row["status"], row["issues"], row["comments"], row["attachments"]) == (
        "running",
        3,
        1,
        0,
    )

    class Boom(Exception):
        pass

    # A batch rolled back is not counted either.
    with pytest.raises(Boom), store.transaction():
        store.upsert_issues([record(4)], run={"id": run, "issues": 1})
        raise Boom
    assert store.runs("work")[0]["issues"] == 3 == store.stats("work")["issues"]

    # The next run finds it dead: interrupted, with what it had written.
    store.start_run("work")
    assert [(r["status"], r["issues"]) for r in store.runs("work")] == [
        ("running", 0),
        ("interrupted", 3),
    ]


def test_integrity_check_reports_fts_drift(store):
    store.upsert_issues([record(1), record(2)])
    assert store.integrity_check() == []
    store.conn.execute("DELETE FROM issues WHERE key = 'ABC-2'")  # bypass the store
    problems = store.integrity_check()
    assert any("issue_fts" in p for p in problems)


def test_tokenizer_finds_identifiers_and_diacritics(store):
    store.upsert_issues(
        [
            record(1, summary="Crash in parse_config on startup"),
            record(2, description_text="Calling HttpClient.get() times out"),
            record(3, summary="Café menu broken for Zoë"),
        ]
    )
    assert match_keys(store, '"parse"') == ["ABC-1"]
    assert match_keys(store, '"parse_config"') == ["ABC-1"]
    assert match_keys(store, '"httpclient.get"') == ["ABC-2"]
    assert match_keys(store, '"httpclient"') == ["ABC-2"]
    assert match_keys(store, '"cafe"') == ["ABC-3"]
    assert match_keys(store, '"zoe"') == ["ABC-3"]


def test_cjk_two_character_word_inside_a_sentence(store):
    store.upsert_issues(
        [
            record(1, summary="登录页面在移动端无法加载"),
            record(2, description_text="東京のサーバーで障害が発生しました"),
            record(3, summary="Gateway服务器 timeout"),
        ]
    )
    assert match_keys(store, 'summary_parts : "页面"') == ["ABC-1"]
    assert match_keys(store, 'description_parts : "障害"') == ["ABC-2"]
    assert match_keys(store, 'summary_parts : "服务"') == ["ABC-3"]
    assert match_keys(store, 'summary_parts : "障害"') == []  # each field its own column
    assert match_keys(store, '"gateway"') == ["ABC-3"]  # the Latin part of a mixed token


def test_cjk_terms_shape():
    assert cjk_terms("plain text only") == ""
    terms = cjk_terms("東京都").split()
    assert terms[:3] == ["東京", "京都", "都"]


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Gateway服务器 timeout", "服务 务器 器 | Gateway"),  # glued before the run
        ("服务器Gateway timeout", "服务 务器 器 | Gateway"),  # after it
        ("v2服务器é", "服务 务器 器 | v2 é"),  # both sides, digits and accents too
        ("Gateway 服务器 timeout", "服务 务器 器 |"),  # a space apart: nothing mixes
        ("Gateway。服务器", "服务 务器 器 |"),  # CJK punctuation ends a token
        ("Gateway・服务器", "・服 服务 务器 器 |"),  # the middle dot too (in the run)
        ("服务器_Gateway", "服务 务器 器 |"),  # so does an underscore
    ],
)
def test_cjk_terms_of_tokens_that_mix_scripts(text, terms):
    """The other part of a token that mixes scripts is indexed after the bigrams; a
    CJK run that only sits next to other words adds nothing more."""
    assert cjk_terms(text) == terms


def test_cjk_terms_splits_text_only_where_scripts_mix(monkeypatch):
    """Finding the tokens that mix scripts takes splitting the whole text into
    tokens: done only when some CJK run is glued to other letters or digits."""
    import indexer.store as store_module

    split = []
    real = store_module._MIXED_TOKEN

    class Spy:
        def findall(self, text):
            split.append(text)
            return real.findall(text)

    monkeypatch.setattr(store_module, "_MIXED_TOKEN", Spy())
    assert cjk_terms("Ask Wei Zhang 张伟 about 登录, é") == "张伟 伟 | 登录 录 |"
    assert split == []
    assert cjk_terms("Ask Wei Zhang张伟") == "张伟 伟 | Zhang"
    assert split == ["Ask Wei Zhang张伟"]


def test_store_shared_between_threads(store):
    errors = []

    def work(base: int) -> None:
        try:
            for n in range(base, base + 20):
                store.upsert_issues([record(n)])
                store.get_issue(f"ABC-{n}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 100,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.stats()["issues"] == 80
    assert store.integrity_check() == []


class _BusyAtFirst:
    """A connection whose first `times` journal-mode switches answer "database is
    locked" at once, as SQLite can while another process creates the index."""

    def __init__(self, conn: sqlite3.Connection, failures: list[int]) -> None:
        self._conn, self._failures = conn, failures

    def execute(self, sql: str, *args):
        if sql.startswith("PRAGMA journal_mode") and self._failures[0] > 0:
            self._failures[0] -= 1
            raise sqlite3.OperationalError("database is locked")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_an_index_busy_at_once_while_another_process_creates_it_is_opened(tmp_path, monkeypatch):
    """A second jiradex opening a fresh index that a sync was creating got "The index
    … is busy" at once (SQLite's busy handler does not cover every case): opening is
    tried again until the busy timeout has gone by; past it, the clear error stays."""
    failures = [3]
    connect = sqlite3.connect
    monkeypatch.setattr(
        store_module.sqlite3, "connect", lambda *a, **k: _BusyAtFirst(connect(*a, **k), failures)
    )
    with Store(tmp_path / "index.db") as store:
        assert store.schema_version == SCHEMA_VERSION
    assert failures == [0]
    failures[0] = 10**6  # busy for good
    with pytest.raises(StoreError, match="is busy"):
        Store(tmp_path / "index.db", busy_timeout_ms=200)


def test_a_full_disk_says_so_and_keeps_what_the_index_had(store):
    """SQLite's "database or disk is full" read "Index error ...; run `jiradex index
    rebuild` to start a fresh index": advice that would throw the index away."""
    store.upsert_issues([record(1)])
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # as good as a full disk
    big = [record(n, description_text="word " * 20_000) for n in range(2, 40)]
    with pytest.raises(StoreError) as info:
        store.upsert_issues(big)
    message = str(info.value)
    assert "is full: free some space and try again" in message
    assert "rebuild" not in message
    assert store.get_issue("ABC-1")["summary"] == "Issue number 1"
    assert store.get_issue("ABC-2") is None  # the failed page was rolled back whole
