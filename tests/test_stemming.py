"""Inflections match (indexer.stem + the stem columns of the index), the exact word
still ranks first, quoted words, prefixes, phrases, identifiers and CJK behave as
before; a v1 index gains all this by migration; rewritten issues take a new rowid
(the pooled ranking follows updates); filter columns have their indexes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from indexer.query import parse_query
from indexer.search import search
from indexer.stem import stem, stem_terms
from indexer.store import Store

V1 = Path(__file__).resolve().parent / "fixtures" / "index" / "schema_v1.sql"


@pytest.mark.parametrize(
    "family",
    [
        ["crash", "crashes", "crashed", "crashing"],
        ["timeout", "timeouts"],
        ["retry", "retries", "retried", "retrying"],
        ["cache", "caches", "cached", "caching"],
        ["stop", "stops", "stopped", "stopping"],
        ["fall", "falls", "falling"],
        ["status", "statuses"],
        ["index", "indexes", "indexed", "indexing"],
        ["need", "needs", "needed"],
    ],
)
def test_inflections_share_a_key(family):
    assert len({stem(w) for w in family}) == 1, {w: stem(w) for w in family}


def test_what_is_not_stemmed():
    assert stem("configure") != stem("configuration")  # derivations stay apart
    assert stem("string") == "string"  # -ing needs a vowel before it
    assert stem("speed") == "speed"
    assert stem("bugs") == "bug" and stem("bus") == "bus"
    assert stem_terms("host44283 E000123x café 设置 API") == ""
    assert stem_terms("Crashes after Timeouts") == "crash timeout"


def test_stem_terms_of_text_beyond_ascii():
    """Only whole tokens of ASCII letters are stemmed: a word glued to an accented
    letter, a CJK character or a digit is part of a longer token; non-ASCII
    punctuation and spaces separate words as ASCII ones do."""
    assert stem_terms("crashesé 设置crashes crashes1 _crashes") == "crash"
    assert stem_terms("Crashes—Retried\u00a0timeouts。caching “stopped”") == (
        "crash retry timeout cach stop"
    )
    assert stem_terms("café crashes Crashes CRASHES") == "crash"  # one key, first seen


def test_stem_terms_same_answer_again():
    """A word's key is remembered between calls (a sync asks the same words for every
    issue): a second call, in either form of text, says the same."""
    for text in ("Uploads retried, timeouts", "Uploads retried, timeouts — 设置"):
        assert stem_terms(text) == "upload retry timeout"
        assert stem_terms(text) == "upload retry timeout"
    assert stem_terms("stopped stopping") == stem_terms("STOPPED STOPPING") == "stop"


def test_stem_terms_does_not_stem_a_known_word_again(monkeypatch):
    """The work a sync repeats for every issue: a word seen before is not stemmed
    again (its key is remembered), in ASCII text and in other text."""
    import indexer.stem as stem_module

    texts = ("Deployments rolled back twice", "Deployments rolled back — 设置")
    first = [stem_terms(text) for text in texts]
    calls: list[str] = []
    monkeypatch.setattr(stem_module, "stem", lambda word: calls.append(word) or word)
    assert (
        [stem_terms(text) for text in texts] == first == ["deployment rol twic", "deployment rol"]
    )
    assert calls == []


def test_stem_terms_does_not_keep_long_tokens():
    """Attachment and description text can hold long unbroken tokens (hex dumps,
    blobs): stemming a sync's worth of them must not keep each one in memory (20,000
    issues with a 20 kB token each kept about 400 MB until the sync's process ended)."""
    import gc
    import tracemalloc

    # 300 distinct 20,000-char tokens with digits (never stemmed), as in a hex dump
    tokens = [f"{chr(97 + n // 26 % 26)}{chr(97 + n % 26)}0f" * 5000 for n in range(300)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for token in tokens:
            assert stem_terms(f"Crashes dumped\n{token}\n") == "crash dump"
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1_000_000  # 300 tokens kept would be 6 MB


def _rec(n: int, summary: str, desc: str = "", updated: str = "", **extra) -> dict:
    return {
        "id": str(n),
        "key": f"ST-{n}",
        "project": "ST",
        "datasource": "d",
        "summary": summary,
        "description": desc,
        "description_text": desc,
        "status": extra.pop("status", "Open"),
        "updated": updated or f"2024-01-{n:02d}T00:00:00.000Z",
        **extra,
    }


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "index.db")
    s.upsert_issues(
        [
            _rec(1, "Exporter crashes on empty report", "Timeouts when the queue is full"),
            _rec(2, "Exporter crash on empty report", "timeout in the queue"),
            _rec(3, "Uploads retried forever", "the client keeps retrying", status="Done"),
            _rec(4, "Login page 登录 fails", "NullPointerException in getUserById"),
            _rec(5, "Unrelated dashboard colour", "nothing to see"),
        ]
    )
    yield s
    s.close()


def keys(store: Store, query: str) -> list[str]:
    return [h.key for h in search(store, query)]


def test_inflections_find_each_other_and_the_exact_word_ranks_first(store):
    assert keys(store, "crash") == ["ST-2", "ST-1"]
    assert keys(store, "crashes") == ["ST-1", "ST-2"]
    assert set(keys(store, "exporter crashing")) == {"ST-1", "ST-2"}
    assert set(keys(store, "timeouts")) == {"ST-1", "ST-2"}
    assert keys(store, "timeouts")[0] == "ST-1"
    assert keys(store, "retry upload") == ["ST-3"]


def test_quoted_prefix_phrase_identifiers_and_cjk_stay_exact(store):
    assert keys(store, '"crashes"') == ["ST-1"]
    assert keys(store, '"exporter crash"') == ["ST-2"]
    assert set(keys(store, "crash*")) == {"ST-1", "ST-2"}
    assert keys(store, "nullpointerexception") == ["ST-4"]
    assert keys(store, "getuserbyid") == ["ST-4"]
    assert keys(store, "登录") == ["ST-4"]
    assert keys(store, "summary:crashing") == ["ST-2", "ST-1"]
    assert keys(store, "description:crash") == []  # the word is only in summaries
    assert keys(store, "crash -timeouts") == []
    assert keys(store, "retries status:Done") == ["ST-3"]


def test_an_inflection_is_highlighted(store):
    assert search(store, "retry upload")[0].snippet == "the client keeps [[retrying]]"
    assert search(store, "uploaded")[0].snippet == "[[Uploads]] retried forever"
    # The plain word of an inflection typed is marked too.
    assert search(store, "dashboards")[0].snippet == "Unrelated [[dashboard]] colour"


def test_stemmed_terms_are_still_quoted_fts(store):
    expr = parse_query('crashes "NEAR" AND timeouts*').full_match()
    assert expr == '("crashes" OR "crash") AND "NEAR" AND "timeouts" *'


def test_a_rewritten_issue_takes_a_new_rowid_and_keeps_its_children(store):
    store.upsert_issues(
        [_rec(3, "Uploads retried", "x", comments=[{"id": "c1", "body_text": "seen twice"}])]
    )
    old = store.conn.execute("SELECT rowid FROM issues WHERE key = 'ST-3'").fetchone()[0]
    # No comments key: the stored comments stay, under the new rowid.
    store.upsert_issues([_rec(3, "Uploads retried again", "x", "2024-02-01T00:00:00.000Z")])
    rowids = dict(store.conn.execute("SELECT key, rowid FROM issues"))
    assert rowids["ST-3"] > old and rowids["ST-3"] == max(rowids.values())
    assert [c["body_text"] for c in store.get_issue("ST-3")["comments"]] == ["seen twice"]
    assert keys(store, "seen") == ["ST-3"]
    assert store.integrity_check() == []


def test_a_v1_index_migrates_to_stems_update_order_and_filter_indexes(tmp_path):
    db = tmp_path / "index.db"
    conn = sqlite3.connect(db)
    conn.executescript(V1.read_text())
    conn.close()
    with Store(db) as store:
        # "Login page times out after upgrade": `time` finds `times`.
        assert "OLD-1" in keys(store, "time")
        assert keys(store, "sessions") == ["OLD-1"]
        assert keys(store, "张伟") == ["OLD-2"]
        order = [r[0] for r in store.conn.execute("SELECT updated FROM issues ORDER BY rowid")]
        assert order == sorted(order)
        assert [c["body"] for c in store.get_issue("OLD-1")["comments"]] == ["Seen on staging"]
        names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
        assert {"issues_status", "issues_type", "issues_priority", "issues_assignee"} <= names
        plan = store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT rowid FROM issues i WHERE i.status = ? COLLATE NOCASE "
            "ORDER BY i.updated DESC",
            ["Done"],
        ).fetchall()
        assert "issues_status" in str(plan)
        assert store.integrity_check() == []


def test_a_key_that_is_another_word_is_not_looked_for_as_that_word(tmp_path):
    """`notes` has the key `not` (silent e dropped); the index holds it for note,
    notes, noted, but the word "not" in a text is another word: `notes` found every
    issue that says "not", first. A key that is the word inflected (crashes ->
    crash, fixes -> fix, stopped -> stop) is still looked for as typed."""
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                _rec(1, "Release notes for 2.0", "draft"),
                _rec(2, "Exporter does not start", "it is not a timeout"),
                _rec(3, "Team sync", "noted in the meeting"),
                _rec(4, "Fix the exporter", "one fix"),
                _rec(5, "Bus schedule page", "stop the scheduler"),
                _rec(6, "Flight plan", "planes land late"),
            ]
        )
        assert set(keys(s, "notes")) == {"ST-1", "ST-3"}
        assert set(keys(s, "noted")) == {"ST-1", "ST-3"}
        assert set(keys(s, "summary:notes")) == {"ST-1"}
        assert keys(s, "planes") == ["ST-6"]
        assert "[[not]]" not in " ".join(h.snippet for h in search(s, "notes"))
        assert search(s, "planes")[0].snippet == "[[planes]] land late"
        # the inflected word's own base is still found
        assert keys(s, "fixes") == ["ST-4"]
        assert keys(s, "buses") == ["ST-5"]
        assert keys(s, "stopped") == ["ST-5"]
        assert search(s, "stopped")[0].snippet == "[[stop]] the scheduler"
