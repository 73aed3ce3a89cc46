"""Whatever a person types, search gives results or one clear QueryError, never an
FTS5/SQLite error; and the documented syntax (filters, dates, keys, OR, exclusion,
prefix, phrase) does what it says."""

from __future__ import annotations

import sqlite3
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from indexer import search as search_module
from indexer.errors import QueryError
from indexer.query import parse_query
from indexer.search import search
from indexer.store import Store

NOW = datetime.now(UTC)


def stamp(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def record(key: str, summary: str, description: str = "", **extra) -> dict:
    project, number = key.split("-")
    base = {
        "id": str(hash(key) % 10**9),
        "key": key,
        "project": project,
        "datasource": "work",
        "summary": summary,
        "description": description,
        "description_text": description,
        "issuetype": "Bug",
        "status": "Open",
        "status_category": "To Do",
        "priority": "Medium",
        "assignee": "Ann Example",
        "reporter": "Bob Example",
        "labels": [],
        "components": [],
        "created": "2023-06-01T10:00:00.000Z",
        "updated": "2024-02-01T10:00:00.000Z",
        "url": f"https://jira.example.com/browse/{key}",
        "raw": None,
    }
    base.update(extra)
    return base


RECORDS = [
    record(
        "OPS-1",
        "Connection pool timeout after database failover",
        "Every request waits for the pool timeout; see the hikari logs.",
        status="In Progress",
        priority="High",
        labels=["backend", "db"],
        assignee="Ann Example",
        updated=stamp(2),
        created="2024-01-10T08:00:00.000Z",
    ),
    record(
        "OPS-2",
        "Dark mode for the settings page",
        "Users want a dark theme; mention OPS-1 only in passing.",
        issuetype="Story",
        status="Done",
        priority="Low",
        labels=["ui"],
        assignee=None,
        updated=stamp(40),
        created="2023-03-15T08:00:00.000Z",
    ),
    record(
        "OPS-3",
        "Timeout when exporting large projects",
        "The export job hits the gateway timeout at 10k rows.",
        reporter="Cy Example",
        updated="2023-12-31T23:59:59.000Z",
        created="2023-12-01T08:00:00.000Z",
        comments=[
            {
                "id": "1",
                "author": "Ann Example",
                "created": "2024-01-01T00:00:00.000Z",
                "updated": None,
                "body": "Workaround: export per component.",
                "body_text": "Workaround: export per component.",
            }
        ],
    ),
    record(
        "WEB-10",
        "Login page crashes on Safari",
        "Stack trace shows a null pointer in the session manager.",
        issuetype="Bug",
        priority="Highest",
        assignee="Dee Example",
        updated=stamp(0.5),
    ),
    record(
        "WEB-11",
        "Support 数据库 migration for the 连接 settings",
        "Ünïcode text: café naïve résumé, and an emoji 🔥 hot path.",
        issuetype="Task",
        status="In Progress",
        assignee="Émile Exemple",
    ),
    record(
        "WEB-12",
        "Summary: column names in text, select * from issues; drop table",
        "Paths like C:\\Users\\build\\log.txt and the summary: field and NEAR things.",
        status="Closed",
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("hostile") / "index.db")
    s.upsert_issues(RECORDS)
    yield s
    s.close()


@pytest.fixture(params=["exact", "pooled"])
def mode(request, monkeypatch):
    """Run a test both ways: bm25 over every match, and the path taken for huge match
    sets (forced here by pretending every match set is huge)."""
    if request.param == "pooled":
        monkeypatch.setattr(search_module, "EXACT_MAX", 0)
    return request.param


def keys(hits) -> list[str]:
    return [h.key for h in hits]


HOSTILE = [
    '"',
    '""',
    '"""',
    '"unbalanced phrase',
    'pool"timeout',
    "'",
    "''",
    "it's",
    "OR",
    "AND",
    "NOT",
    "OR OR",
    "pool OR",
    "OR pool",
    "pool OR OR timeout",
    "AND pool",
    "pool AND",
    "NOT NOT pool",
    "-",
    "--",
    "---pool",
    "- pool",
    "pool -",
    "-pool",
    "-pool -timeout",
    "*",
    "**",
    "***pool",
    "pool*",
    "*pool",
    "po*ol",
    "p*",
    "pool**",
    "(",
    ")",
    "()",
    "(pool",
    "pool)",
    "((pool OR timeout) AND",
    ")pool(",
    "-(pool)",
    "NEAR",
    "NEAR(",
    "NEAR(pool timeout)",
    "NEAR(pool timeout, 2)",
    "pool NEAR timeout",
    "NEAR/3",
    ":",
    "::",
    "a:b:c",
    "summary:",
    "summary:pool",
    'summary:"pool timeout"',
    "title:",
    "description:timeout",
    "comments:",
    "comment:workaround",
    "attachment:log",
    "issue_fts:pool",
    "cjk:pool",
    "rowid:1",
    "rank:1",
    "{summary}: pool",
    "{summary tags} : pool",
    "summary : pool",
    "^pool",
    "pool^",
    "+pool",
    "+",
    "'; DROP TABLE issues; --",
    "1=1 OR 1=1",
    '" OR 1=1 --',
    "SELECT * FROM issues",
    "pool') OR ('1'='1",
    "x' UNION SELECT sql FROM sqlite_master --",
    "bm25(issue_fts)",
    "highlight(issue_fts, 0, '[', ']')",
    "🔥",
    "pool 🔥",
    "🔥🔥🔥",
    "👩‍💻",
    "数据库",
    "数据库 连接",
    "接",
    "数",
    "数据库*",
    "-数据库",
    "\x00",
    "pool\x00timeout",
    "\x00\x00\x00",
    "\\",
    "pool\\",
    "C:\\Users\\build",
    '\\"',
    "\\*",
    "%",
    "_",
    "%_%",
    ".*",
    "[a-z]+",
    "$1",
    "!!",
    "!pool",
    "&&",
    "||",
    "pool || timeout",
    "pool && timeout",
    "|",
    "\t\n\r",
    "",
    "   ",
    "\u200b",
    "\ufeffpool",
    "café",
    "CAFE",
    "naïve",
    "OPS-",
    "-OPS-1",
    "OPS-1-2",
    "ops-1",
    "OPS-0",
    "OPS-99999999999999999999999",
    "https://jira.example.com/browse/OPS-1",
    "error: timeout",
    "status:open",
    "status:Open,Done",
    'status:"In Progress"',
    "-status:Done",
    "status:nonexistent",
    "label:%",
    "assignee:%",
    "assignee:_",
    "assignee:none",
    "key:ops-1",
    "key:not-a-key",
    "project:OPS,WEB",
    "project:'OPS'",
    "type:Bug priority:Highest",
    "updated:>-7d",
    "updated:-1y",
    "updated:<=2024",
    "created:2023-12",
    "datasource:work",
    "priority:",
    "unknownfield:value",
    "a" * 300,
    "pool " * 30,
    "日本語のテキスト" * 20,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_gives_results_or_a_clear_message(store, mode, text):
    try:
        hits = search(store, text, limit=50)
    except QueryError as exc:
        message = str(exc)
        assert message and "\n" not in message
        low = message.lower()
        assert "fts5" not in low and "sqlite" not in low and "syntax error" not in low
        return
    except sqlite3.Error as exc:  # pragma: no cover - this is the failure being tested
        pytest.fail(f"sqlite error escaped for {text!r}: {exc}")
    assert isinstance(hits, list)
    for hit in hits:
        doc = hit.to_json()
        assert doc["key"] and isinstance(doc["snippet"], str)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000,
        "pool " * 2_000,
        " ".join(f"word{i}" for i in range(200)),
        "(" * 5000,
        '"' * 3001,
        "🔥" * 5000,
    ],
)
def test_very_long_input_is_a_clear_error(store, text):
    with pytest.raises(QueryError) as info:
        search(store, text)
    assert "\n" not in str(info.value)
    assert "too long" in str(info.value) or "too many words" in str(info.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("status:", "The filter status: needs a value"),
        ('status:""', "The filter status: needs a value"),
        ("status:,", "The filter status: needs a value"),
        ('key:" , "', "The filter key: needs a value"),
        ("updated:", "The filter updated: needs a value"),
        ("updated:>=", "The filter updated: needs a value"),
        ("updated:>=2024-13-45", "Cannot read the date in updated:>=2024-13-45"),
        ("created:<notadate", "Cannot read the date in created:<notadate"),
        ("updated:yesterday", "Cannot read the date"),
        # a text column with nothing to look for searched nothing, silently
        ("summary:", "summary: needs a word to look for"),
        ('pool comment:""', "comment: needs a word to look for"),
        ("-description:!!", "description: needs a word to look for"),
    ],
)
def test_unreadable_filters_name_the_problem(store, text, expected):
    with pytest.raises(QueryError) as info:
        search(store, text)
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize("text", ["caf\udce9", "\ud83d", "pool \udcff timeout", "status:\udce9"])
def test_text_that_is_not_utf8_is_a_clear_error(store, text):
    """A terminal that is not UTF-8 hands `café` over as bytes Python keeps as lone
    surrogates; SQLite cannot take them and the search failed as an internal error."""
    with pytest.raises(QueryError) as info:
        search(store, text)
    assert str(info.value) == "The query is not UTF-8 text: check the terminal's encoding"


def test_unknown_sort_is_a_query_error(store):
    with pytest.raises(QueryError, match="Unknown sort"):
        search(store, "pool", sort="random")


# --------------------------------------------------------------------------- the syntax works


@pytest.mark.parametrize(
    "text, expected",
    [
        # words are ANDed
        ("pool timeout", {"OPS-1"}),
        ("timeout", {"OPS-1", "OPS-3"}),
        # phrase: adjacent words only
        ('"pool timeout"', {"OPS-1"}),
        ('"timeout pool"', set()),
        ('"gateway timeout"', {"OPS-3"}),
        # prefix
        ("time*", {"OPS-1", "OPS-3"}),
        ("expo*", {"OPS-3"}),
        ("dar* mo*", {"OPS-2"}),
        # OR (binds tighter than the implicit AND)
        ("safari OR dark", {"WEB-10", "OPS-2"}),
        ("pool OR export timeout", {"OPS-1", "OPS-3"}),
        ("pool OR export failover", {"OPS-1"}),
        # exclusion
        ("timeout -pool", {"OPS-3"}),
        ("timeout NOT pool", {"OPS-3"}),
        ("timeout -export -pool", set()),
        # column-restricted text
        ("summary:timeout", {"OPS-1", "OPS-3"}),
        ("description:gateway", {"OPS-3"}),
        ("comment:workaround", {"OPS-3"}),
        ("summary:workaround", set()),
        # field filters
        ("project:OPS", {"OPS-1", "OPS-2", "OPS-3"}),
        ("project:ops timeout", {"OPS-1", "OPS-3"}),
        ("project:WEB,OPS safari", {"WEB-10"}),
        ('status:"In Progress"', {"OPS-1", "WEB-11"}),
        ("status:done", {"OPS-2"}),
        ("status:Open status:Closed", {"OPS-3", "WEB-10", "WEB-12"}),
        ("-status:Open project:WEB", {"WEB-11", "WEB-12"}),
        ("assignee:ann", {"OPS-1", "OPS-3", "WEB-12"}),
        ("assignee:none", {"OPS-2"}),
        ("assignee:Émile", {"WEB-11"}),
        ("assignee:emile", {"WEB-11"}),  # accents and case folded, as in the text
        ("assignee:ÉMILE", {"WEB-11"}),
        ("assignee:exemple project:WEB", {"WEB-11"}),
        ("assignee:emilia", set()),
        ("reporter:böb", {"OPS-1", "OPS-2", "WEB-10", "WEB-11", "WEB-12"}),
        ("reporter:cy", {"OPS-3"}),
        ("label:db", {"OPS-1"}),
        ("label:DB,ui", {"OPS-1", "OPS-2"}),
        ("type:story", {"OPS-2"}),
        ("issuetype:Task", {"WEB-11"}),
        ("priority:highest", {"WEB-10"}),
        ("key:ops-3", {"OPS-3"}),
        ("datasource:work project:WEB type:Task", {"WEB-11"}),
        # datasource names are case-insensitive everywhere else (--datasource too)
        ("datasource:WORK type:Task", {"WEB-11"}),
        ("source:Work migration", {"WEB-11"}),
        # dates: comparisons, periods, ages
        ("updated:>=2024-01-01 project:OPS", {"OPS-1", "OPS-2"}),
        ("updated:<2024-01-01", {"OPS-3"}),
        ("updated:<=2023-12-31", {"OPS-3"}),
        ("updated:2023-12-31", {"OPS-3"}),
        ("updated:2023-12", {"OPS-3"}),
        ("updated:>2023-12-31 project:OPS", {"OPS-1", "OPS-2"}),
        ("created:<2024-01-01 project:OPS", {"OPS-2", "OPS-3"}),
        ("created:2023 project:OPS", {"OPS-2", "OPS-3"}),
        ("created:>=2024-01-10 created:<2024-01-11", {"OPS-1"}),
        ("updated:-7d", {"OPS-1", "WEB-10"}),
        ("updated:>-7d", {"OPS-1", "WEB-10"}),
        ("updated:>=7d", {"OPS-1", "WEB-10"}),
        ("updated:-1d", {"WEB-10"}),
        ("updated:-2w project:OPS", {"OPS-1"}),
        ("updated:<-7d project:OPS", {"OPS-2", "OPS-3"}),
        # CJK, diacritics, emoji-adjacent text
        ("数据库", {"WEB-11"}),
        ("据库", {"WEB-11"}),
        ("连接 migration", {"WEB-11"}),
        ("cafe", {"WEB-11"}),
        ("RESUME", {"WEB-11"}),
        # text that looks like syntax is searched as text
        ("error: timeout", set()),
        ("pool\x00timeout", {"OPS-1"}),
        ("C:\\Users\\build", {"WEB-12"}),
        ("NEAR things", {"WEB-12"}),
        ("select * from issues", {"WEB-12"}),
    ],
)
def test_syntax(store, mode, text, expected):
    assert set(keys(search(store, text, limit=50))) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # OR between two filters of different fields was dropped: they were ANDed
        ("status:Done OR priority:Highest", {"OPS-2", "WEB-10"}),
        ("status:Done OR priority:Highest project:OPS", {"OPS-2"}),
        ("timeout status:Closed OR priority:High", {"OPS-1"}),
        ("-status:Open OR label:db", {"OPS-1", "OPS-2", "WEB-11", "WEB-12"}),
        ("updated:-1d OR created:2023-03", {"WEB-10", "OPS-2"}),
        ("type:Story OR type:Task OR assignee:dee", {"OPS-2", "WEB-10", "WEB-11"}),
        ("label:ui OR label:db", {"OPS-1", "OPS-2"}),
        # one field's values OR-ed are one list, however they are written: a third
        # value beside an OR of two was AND-ed with them (and found nothing)
        ("status:Done OR status:Closed status:Open", {"OPS-2", "WEB-12", "OPS-3", "WEB-10"}),
        ("status:Done status:Closed OR status:Open", {"OPS-2", "WEB-12", "OPS-3", "WEB-10"}),
        ("type:Story OR type:Task type:Bug project:WEB", {"WEB-10", "WEB-11", "WEB-12"}),
        ("label:ui OR label:db label:backend", {"OPS-1", "OPS-2"}),
    ],
)
def test_or_joins_filters(store, mode, text, expected):
    assert set(keys(search(store, text, limit=50))) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("timeout OR status:Done", {"OPS-1", "OPS-3", "OPS-2"}),
        ("status:Done OR timeout", {"OPS-1", "OPS-3", "OPS-2"}),
        ("OPS-1 OR key:OPS-2", {"OPS-1", "OPS-2"}),
        ("safari OR assignee:émile", {"WEB-10", "WEB-11"}),
        ("timeout OR -project:OPS", {"OPS-1", "OPS-3", "WEB-10", "WEB-11", "WEB-12"}),
        ("🔥 OR status:Done", {"OPS-2"}),  # a word with no token matches nothing
        ("dark (theme OR updated:<2020-01-01)", {"OPS-2"}),
    ],
)
def test_or_between_a_word_and_a_filter_takes_either(store, mode, text, expected):
    """`timeout OR status:Done` was refused ("OR joins words or filters, not a word
    and a filter"); before that it searched `timeout status:Done`, an AND."""
    assert set(keys(search(store, text, limit=50))) == expected


def test_a_word_ored_with_a_filter_is_highlighted(store):
    hits = search(store, "failover OR status:Done", limit=50)
    assert {h.key for h in hits} == {"OPS-1", "OPS-2"}
    snippet = next(h.snippet for h in hits if h.key == "OPS-1")
    assert "[[failover]]" in snippet


@pytest.mark.parametrize(
    "text, expected",
    [
        # a period ending after year 9999 runs to the end of time, not to an overflow
        ("updated:<=9999-12-31 project:OPS", {"OPS-1", "OPS-2", "OPS-3"}),
        ("updated:<=9999-12 project:OPS", {"OPS-1", "OPS-2", "OPS-3"}),
        ("updated:<=9999 project:OPS", {"OPS-1", "OPS-2", "OPS-3"}),
        ("updated:>9999-12-31T23:59:59", set()),
        ("created:>=9999-12-31", set()),
        # an age reaching past year 1 covers every date
        ("updated:-99999y project:OPS", {"OPS-1", "OPS-2", "OPS-3"}),
        # years before 1000 keep four digits, so they sort before 2024
        ("updated:>=0099-01-01 project:OPS", {"OPS-1", "OPS-2", "OPS-3"}),
        ("created:>=0999 project:OPS", {"OPS-1", "OPS-2", "OPS-3"}),
        ("updated:<0999-06 project:OPS", set()),
    ],
)
def test_dates_at_the_ends_of_the_calendar(store, text, expected):
    assert set(keys(search(store, text, limit=50))) == expected


def test_bare_key_comes_first_then_mentions(store, mode):
    hits = search(store, "OPS-1")
    assert keys(hits)[0] == "OPS-1"
    assert "OPS-2" in keys(hits)  # mentions the key in its description
    assert keys(search(store, "ops-1"))[0] == "OPS-1"


def test_bare_key_with_words_ranks_key_first(store, mode):
    hits = search(store, "safari OPS-3")
    assert keys(hits) == ["OPS-3", "WEB-10"]


def test_bare_key_respects_filters(store, mode):
    assert keys(search(store, "OPS-1 status:Done")) == ["OPS-2"]


def test_unknown_key_is_just_text(store):
    assert search(store, "NOPE-42") == []


def test_sort_updated(store, mode):
    hits = search(store, "project:OPS", sort="updated")
    assert keys(hits) == ["OPS-1", "OPS-2", "OPS-3"]
    hits = search(store, "timeout", sort="updated")
    assert keys(hits) == ["OPS-1", "OPS-3"]


def test_sort_updated_when_the_walk_finds_too_few(store, monkeypatch):
    """A huge match set sorted by update walks only the newest issues; when they hold
    too few matches the newest-indexed pool fills in, still in update order."""
    exact = keys(search(store, "the", sort="updated"))
    assert len(exact) >= 4
    monkeypatch.setattr(search_module, "EXACT_MAX", 0)
    monkeypatch.setattr(search_module, "UPDATED_WALK", 1)
    assert keys(search(store, "timeout", sort="updated")) == ["OPS-1", "OPS-3"]
    assert keys(search(store, "the", sort="updated")) == exact


def test_summary_hit_outranks_description_hit(store):
    # "timeout" is in both summaries; "gateway" only in OPS-3's description.
    hits = search(store, "session")
    assert keys(hits) == ["WEB-10"]
    hits = search(store, "export")
    assert keys(hits)[0] == "OPS-3"


def test_snippet_marks_the_matched_words(store, mode):
    hit = search(store, "gateway")[0]
    assert "[[gateway]]" in hit.snippet
    hit = search(store, "数据库")[0]
    assert "[[数据库]]" in hit.snippet


def test_parse_query_never_emits_user_text_as_syntax():
    parsed = parse_query('NEAR(a b) summary:"x" -y z* "p q"')
    match = parsed.full_match()
    assert match is not None
    # Every user word is inside a quoted FTS5 string.
    assert "NEAR(" not in match and '"a"' in match and '"z" *' in match


def test_a_query_of_symbols_finds_them_in_summaries(tmp_path):
    """FTS5 indexes no emoji or `#`: a query made only of them is looked for in the
    summaries as typed, newest first, instead of finding nothing."""
    store = Store(tmp_path / "symbols.db")
    store.upsert_issues(
        [
            record("REL-1", "🚀 Launch checklist", updated="2024-03-01T10:00:00.000Z"),
            record("REL-2", "Rollback plan 🚀 ⛔", updated="2024-03-02T10:00:00.000Z"),
            record("REL-3", "Launch notes", "🚀 only in the description"),
            record("REL-4", "Ticket #42 → done", datasource="other"),
        ]
    )
    assert keys(search(store, "🚀")) == ["REL-2", "REL-1"]
    assert keys(search(store, '"⛔" 🚀')) == ["REL-2"]
    assert keys(search(store, "→ #")) == ["REL-4"]
    assert keys(search(store, "→", datasource="work")) == []
    for text in ("-", "*", '"', "( )", "🌵"):
        assert search(store, text) == []
    store.close()


def test_a_word_of_symbols_with_filters_is_looked_for_as_it_is_alone(tmp_path):
    """A word of symbols ORed with a filter (`"->" OR label:cpp`) was dropped, so the
    query listed the filter's issues only; beside a filter alone (`🚀 status:Done`)
    too, so it listed every Done issue. It is looked for in the summaries, as a
    query of symbols alone is; beside words it is still passed over."""
    store = Store(tmp_path / "symbols.db")
    store.upsert_issues(
        [
            record("REL-1", "🚀 Launch checklist", status="Done", updated=stamp(5)),
            record("REL-2", "Rollback plan 🚀", status="Open", updated=stamp(4)),
            record("REL-3", "Arrow -> in the template", status="Open", updated=stamp(3)),
            record("REL-4", "Compiler flags", status="Done", labels=["cpp"], updated=stamp(2)),
            record("REL-5", "Launch notes", status="Open", updated=stamp(1)),
        ]
    )
    for query, expected in [
        ('"🚀" OR status:Done', {"REL-1", "REL-2", "REL-4"}),
        ("status:Done OR 🚀", {"REL-1", "REL-2", "REL-4"}),
        ('"->" OR label:cpp', {"REL-3", "REL-4"}),
        ("🚀 status:Done", {"REL-1"}),
        ("🚀 -status:Done", {"REL-2"}),
        ("🚀 OR →", {"REL-1", "REL-2"}),
        ("summary:🚀", {"REL-1", "REL-2"}),
        ("🚀 -launch", {"REL-2"}),
        ("🚀 launch", {"REL-1", "REL-5"}),  # beside a word, passed over as punctuation
        ("-(🚀 x) status:Done", {"REL-1", "REL-4"}),
    ]:
        assert set(keys(search(store, query, limit=10))) == expected, query
    assert keys(search(store, '"🚀" OR status:Done')) == ["REL-4", "REL-2", "REL-1"]
    store.close()


def test_a_word_of_symbols_is_marked_in_the_snippet(tmp_path):
    """A hit found by a word of symbols showed the start of its description, the
    symbols nowhere marked (the summary holding them was not the snippet)."""
    store = Store(tmp_path / "symbols.db")
    store.upsert_issues(
        [
            record("REL-1", "Deploy 🚀 failed", "The pipeline stopped", updated=stamp(2)),
            record("REL-2", "Arrow -> in the template", "Rendering", updated=stamp(1)),
        ]
    )
    for query, key, snippet in [
        ("🚀", "REL-1", "Deploy [[🚀]] failed"),
        ("🚀 status:Open", "REL-1", "Deploy [[🚀]] failed"),
        ('"->" OR label:none', "REL-2", "Arrow [[->]] in the template"),
    ]:
        assert [(h.key, h.snippet) for h in search(store, query)] == [(key, snippet)], query
    store.close()


def test_scores_of_a_word_in_most_issues_still_rank_the_hits(tmp_path):
    """bm25 gives a word found in most issues a tiny score; rounded to four decimals
    every hit read 0.0 in `search --json`."""
    store = Store(tmp_path / "common.db")
    store.upsert_issues(
        [record(f"COM-{n}", f"error {'error ' * (n % 3)}in step {n}") for n in range(1, 9)]
    )
    scores = [hit.score for hit in search(store, "error")]
    assert len(scores) == 8 and all(score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    store.close()


def test_name_filters_alone_see_names_written_after_the_last_search(tmp_path):
    """Filters alone resolve names from a list kept until the index changes: a name
    written since (by this connection, or a sync's own) is found at once."""
    path = tmp_path / "index.db"
    with Store(path) as reader, Store(path) as sync:
        sync.upsert_issues([{**RECORDS[0], "id": "1", "key": "OPS-101", "assignee": "Ann Lee"}])
        assert keys(search(reader, "assignee:zoë")) == []
        assert keys(search(reader, "assignee:nobodyxyz")) == []
        sync.upsert_issues(
            [{**RECORDS[0], "id": "2", "key": "OPS-102", "assignee": "Zoë Ångström"}]
        )
        assert keys(search(reader, "assignee:zoe")) == ["OPS-102"]  # another connection wrote
        reader.upsert_issues([{**RECORDS[0], "id": "3", "key": "OPS-103", "assignee": "ZOË Roy"}])
        assert sorted(keys(search(reader, "assignee:zoe"))) == ["OPS-102", "OPS-103"]
        assert keys(search(reader, "-assignee:zoe")) == ["OPS-101"]


@pytest.mark.parametrize("filters_only", [True, False])
def test_name_filters_match_across_composed_and_decomposed_accents(tmp_path, filters_only):
    """A name stored decomposed (e + U+0301, as macOS and some directories give it)
    and a name typed decomposed both match their composed spelling, accent-free."""
    decomposed = unicodedata.normalize("NFD", "José Álvarez")
    composed = "Zoë Müller"
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                record("NFD-1", "Decomposed assignee pool", assignee=decomposed),
                record("NFD-2", "Composed assignee pool", assignee=composed),
            ]
        )
        words = "" if filters_only else " pool"
        for query, expected in [
            ('assignee:"jose alvarez"', {"NFD-1"}),
            ("assignee:josé", {"NFD-1"}),
            ("assignee:" + unicodedata.normalize("NFD", "álvarez"), {"NFD-1"}),
            ("assignee:" + unicodedata.normalize("NFD", "zoë"), {"NFD-2"}),
            ('assignee:"zoe muller"', {"NFD-2"}),
        ]:
            assert set(keys(search(s, query + words, limit=10))) == expected, query


@pytest.mark.parametrize("filters_only", [True, False])
def test_value_filters_ignore_the_case_of_letters_beyond_ascii(tmp_path, filters_only):
    """A French Jira's statuses are "À faire" and "Terminé": `status:"à faire"` and
    `status:TERMINÉ` found nothing, as SQLite's NOCASE folds ASCII letters only;
    so did `type:tâche`, `label:été` and `datasource:ÉQUIPE`. Accents still count (a status
    "Termine" is another status)."""
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                record("FR-1", "Page pool", status="À faire", issuetype="Tâche", labels=["Été"]),
                record("FR-2", "Export pool", status="Terminé", datasource="équipe"),
                record("FR-3", "Import pool", status="Termine", priority="Élevée"),
            ]
        )
        words = "" if filters_only else " pool"
        for query, expected in [
            ('status:"à faire"', {"FR-1"}),
            ('status:"À FAIRE"', {"FR-1"}),
            ("status:TERMINÉ", {"FR-2"}),
            ("status:termine", {"FR-3"}),
            ("type:tâche", {"FR-1"}),
            ("type:TÂCHE", {"FR-1"}),
            ("datasource:ÉQUIPE", {"FR-2"}),
            ("priority:élevée", {"FR-3"}),
            ("-status:TERMINÉ", {"FR-1", "FR-3"}),
            ("status:ÉTEINT", set()),
            ("label:ÉTÉ", {"FR-1"}),
            ("label:été", {"FR-1"}),
        ]:
            assert set(keys(search(s, query + words, limit=10))) == expected, query


@pytest.mark.parametrize("mode", ["exact", "pooled"])
def test_eszett_and_ss_find_each_other(tmp_path, mode, monkeypatch):
    """unicode61 folds accents but not ß: `strasse` missed "Straße", and `schließen`
    a Swiss "schliessen" (Switzerland writes ss). Either spelling finds both, and the
    snippet marks the one written."""
    if mode == "pooled":
        monkeypatch.setattr(search_module, "EXACT_MAX", 0)
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                record("DE-1", "Fenster schließen hängt"),
                record("DE-2", "Dialog", description="Button schliessen reagiert nicht"),
                record("DE-3", "Adresse Hauptstraße 5"),
                record("DE-4", "Session timeout"),
            ]
        )
        for query, expected in [
            ("schliessen", {"DE-1", "DE-2"}),
            ("schließen", {"DE-1", "DE-2"}),
            ("HAUPTSTRASSE", {"DE-3"}),
            ("hauptstr*", {"DE-3"}),
            ("session", {"DE-4"}),
            ("-schliessen", {"DE-3", "DE-4"}),
        ]:
            assert set(keys(search(s, query, limit=10))) == expected, query
        [hit] = search(s, "hauptstrasse")
        assert "[[Hauptstraße]]" in hit.snippet


def _comment(body: str) -> dict:
    return {"id": "c1", "author": "Ann", "created": None, "updated": None,
            "body": body, "body_text": body}  # fmt: skip


def test_kana_with_voicing_marks_and_hangul_are_marked_where_they_match(tmp_path):
    """Folding for highlights took デ apart into テ + a voicing mark, ｶ to カ, and
    every Hangul syllable down to its first consonant, while the query's CJK words
    stayed as typed: a word found only in a comment gave matched "issue" and no
    mark, and assignee:김민수 also found 강민수 (both folded to ᄀᄆᄉ)."""
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                record("KO-1", "Dashboard slow", "nothing here",
                       comments=[_comment("データベースの接続が切れた")]),
                record("KO-2", "Login slow", "다른 문제",
                       comments=[_comment("데이터베이스 연결 시간 초과")], assignee="김민수"),
                record("KO-3", "Export slow", "no comment", assignee="강민수"),
                record("KO-4", "Input slow", "none", comments=[_comment("ｶﾀｶﾅ入力")]),
            ]
        )  # fmt: skip
        hit = search(s, "ｶﾀｶﾅ")[0]  # half-width kana fold to full-width ones
        assert (hit.key, hit.matched, hit.snippet) == ("KO-4", "comment", "[[ｶﾀｶﾅ]]入力")
        hit = search(s, "データベース")[0]
        assert (hit.key, hit.matched) == ("KO-1", "comment")
        assert hit.snippet == "[[データベース]]の接続が切れた"
        hit = search(s, "데이터베이스")[0]
        assert (hit.key, hit.matched) == ("KO-2", "comment")
        assert hit.snippet == "[[데이터베이스]] 연결 시간 초과"
        assert keys(search(s, "assignee:김민수")) == ["KO-2"]
        assert keys(search(s, "assignee:김민수 slow")) == ["KO-2"]


def test_half_width_and_full_width_katakana_find_each_other(tmp_path):
    """Older Japanese systems write half-width katakana (ﾃﾞｰﾀﾍﾞｰｽ for データベース):
    each width found only itself, the index making bigrams of the run as written."""
    db = tmp_path / "index.db"
    with Store(db) as s:
        s.upsert_issues(
            [
                record("JA-1", "ｶﾀｶﾅ入力", "ﾃﾞｰﾀﾍﾞｰｽ接続"),
                record("JA-2", "カタカナの件", "データベース接続エラー"),
                record("JA-3", "漢字だけ", "接続なし"),
            ]
        )
        for query in ("カタカナ", "ｶﾀｶﾅ", "データベース", "ﾃﾞｰﾀﾍﾞｰｽ", "ﾍﾞｰｽ", "カ"):
            assert set(keys(search(s, query))) == {"JA-1", "JA-2"}, query
        snippets = {h.key: h.snippet for h in search(s, "データベース")}
        assert snippets == {"JA-1": "[[ﾃﾞｰﾀﾍﾞｰｽ]]接続", "JA-2": "[[データベース]]接続エラー"}
        # an index made before gains them when opened
        s.conn.execute("DELETE FROM issue_fts")
        s.conn.execute("DELETE FROM title_fts")
        s.conn.execute("PRAGMA user_version = 7")
    with Store(db) as s:
        assert set(keys(search(s, "カタカナ"))) == {"JA-1", "JA-2"}


def test_a_decomposed_accent_is_marked_with_its_letter(tmp_path):
    """Text can hold an accent as a mark of its own (e + U+0301, as macOS writes
    file names): the highlight closed before it, leaving the mark outside the bold
    (and after `]]` in --json)."""
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues([record("FR-1", "Cafe\u0301 ferme\u0301", "Rien")])
        assert search(s, "cafe")[0].snippet == "[[Cafe\u0301]] ferme\u0301"
        assert search(s, '"café fermé"')[0].snippet == "[[Cafe\u0301 ferme\u0301]]"


def test_a_word_glued_to_cjk_text_is_marked_where_it_matches(tmp_path):
    """The index cuts CJK runs out of the tokens around them, so `API` finds
    "调用API接口失败", but the snippet marked no match there: a latin word touching
    CJK letters was not a whole word for the highlighter."""
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                record("ZH-1", "Gateway", "调用API接口失败"),
                record("ZH-2", "Login", "ユーザーIDが空です"),
            ]
        )
        assert [(h.key, h.snippet) for h in search(s, "api")] == [("ZH-1", "调用[[API]]接口失败")]
        assert search(s, "id")[0].snippet == "ユーザー[[ID]]が空です"
        assert search(s, "ID が")[0].snippet == "ユーザー[[ID]][[が]]空です"


def test_a_word_with_both_ss_and_eszett_is_found_from_either_spelling(tmp_path, mode, monkeypatch):
    """A word can hold an ss and an ß both ("Wasserstraße", "Schlossstraße"): the
    one other spelling of `wasserstrasse` was `waßerstraße`, so a Swiss user's
    search missed the German one, and `-wasserstrasse` kept it."""
    if mode == "pooled":
        monkeypatch.setattr(search_module, "EXACT_MAX", 0)
    with Store(tmp_path / "index.db") as s:
        s.upsert_issues(
            [
                record("DE-1", "Wasserstraße gesperrt"),
                record("DE-2", "Umleitung", description="Die Schlossstraße ist zu"),
                record("DE-3", "Swiss Wasserstrasse"),
            ]
        )
        for query, expected in [
            ("wasserstrasse", {"DE-1", "DE-3"}),
            ("WASSERSTRAẞE", {"DE-1", "DE-3"}),
            ("schlossstrasse", {"DE-2"}),
            ('"schlossstrasse ist"', {"DE-2"}),
            ("-wasserstrasse", {"DE-2"}),
        ]:
            assert set(keys(search(s, query, limit=10))) == expected, query
        [hit] = search(s, "schlossstrasse")
        assert "[[Schlossstraße]]" in hit.snippet
