"""`jiradex search` and `jiradex show` over a store filled directly with records."""

from __future__ import annotations

import json

import pytest
from cli_runner import run

from indexer.store import Store


def record(n: int, summary: str, description: str = "", **extra) -> dict:
    base = {
        "id": str(20000 + n),
        "key": f"OPS-{n}",
        "project": "OPS",
        "datasource": "work",
        "summary": summary,
        "description": description,
        "description_text": description,
        "issuetype": "Bug",
        "status": "In Progress",
        "status_category": "In Progress",
        "priority": "High",
        "assignee": "Ann Example",
        "reporter": "Bob Example",
        "labels": ["backend"],
        "components": ["api"],
        "created": "2024-01-01T10:00:00.000Z",
        "updated": f"2024-03-{n:02d}T10:00:00.000Z",
        "url": f"https://jira.example.com/browse/OPS-{n}",
        "raw": None,
    }
    base.update(extra)
    return base


@pytest.fixture
def indexed():
    records = [
        record(
            1,
            "Connection pool timeout after database failover",
            "The pool keeps dead connections and every request waits for the timeout.",
            comments=[
                {
                    "id": "501",
                    "author": "Cy Example",
                    "created": "2024-03-02T09:00:00.000Z",
                    "updated": "2024-03-02T09:00:00.000Z",
                    "body": "Seen again on **staging**.",
                    "body_text": "Seen again on staging.",
                }
            ],
            attachments=[
                {
                    "id": "901",
                    "filename": "pool.log",
                    "mimetype": "text/plain",
                    "size": 2048,
                    "created": "2024-03-02T09:00:00.000Z",
                    "author": "Cy Example",
                    "content_url": "https://jira.example.com/att/901",
                    "text": "ERROR hikari pool exhausted",
                    "indexed": True,
                }
            ],
        ),
        record(2, "Dark mode for the settings page", "Users want a dark theme.", status="Done"),
        record(
            3,
            "Export fails for large projects",
            "The export job stops at 10k rows.",
            assignee=None,
            comments=[
                {
                    "id": "502",
                    "author": "Ann Example",
                    "created": "2024-03-04T09:00:00.000Z",
                    "updated": "2024-03-04T09:00:00.000Z",
                    "body": "Probably the same hikari problem as the pool one.",
                    "body_text": "Probably the same hikari problem as the pool one.",
                }
            ],
        ),
    ]
    with Store() as store:
        store.upsert_issues(records)
    return records


def test_search_json_contract(indexed):
    result = run("search", "pool", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert [h["key"] for h in hits] == ["OPS-1", "OPS-3"]
    first = hits[0]
    assert set(first) >= {
        "key",
        "summary",
        "status",
        "project",
        "issuetype",
        "assignee",
        "updated",
        "url",
        "snippet",
        "score",
        "datasource",
        "matched",
        "attachment",
    }
    assert first["matched"] == "issue" and first["attachment"] is None
    assert "[[pool]]" in first["snippet"].lower()
    assert first["datasource"] == "work"
    assert first["url"] == "https://jira.example.com/browse/OPS-1"
    assert hits[1]["matched"] == "comment"


def test_search_hit_in_attachment_says_so(indexed):
    hits = json.loads(run("search", "exhausted", "--json").stdout)
    assert [(h["key"], h["matched"]) for h in hits] == [("OPS-1", "attachment")]
    assert hits[0]["attachment"] == "pool.log"
    assert "[pool.log]" in run("search", "exhausted").stdout


def test_an_attachment_hit_names_the_file_that_matched(indexed):
    def attachment(number: int, filename: str, text: str) -> dict:
        return {"id": str(number), "filename": filename, "mimetype": "text/plain", "size": 10,
                "created": "2024-03-02T09:00:00.000Z", "author": "Cy Example",
                "content_url": f"https://jira.example.com/att/{number}", "text": text,
                "indexed": True}  # fmt: skip

    files = [
        attachment(911, "heap.txt", "GC pauses of 4 s under load"),
        attachment(912, "replica.log", "WARN replication lag 90 s on db-2"),
        attachment(913, "notes.md", "replication was fine yesterday"),
    ]
    with Store() as store:
        store.upsert_issues([record(9, "Slow reports", attachments=files)])
    hits = json.loads(run("search", "lag", "--json").stdout)
    assert [(h["key"], h["matched"], h["attachment"]) for h in hits] == [
        ("OPS-9", "attachment", "replica.log")
    ]
    # A file name matches as well as its text.
    hits = json.loads(run("search", "heap", "--json").stdout)
    assert [(h["key"], h["attachment"]) for h in hits] == [("OPS-9", "heap.txt")]


def test_search_table_on_terminal_bolds_matches(indexed):
    result = run("search", "dark", "mode", color=True)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "KEY" in lines[0] and "SUMMARY" in lines[0] and "UPDATED" in lines[0]
    row = lines[1]
    assert row.startswith("OPS-2") and "Done" in row and "Ann Example" in row
    assert "2024-03-02" in row
    assert "\x1b[1m" in result.stdout  # bold highlight of the matched words


def test_search_table_without_terminal_has_no_escape_codes(indexed):
    result = run("search", "hikari")
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout
    assert "[comment]" in result.stdout and "[attachment]" not in result.stdout.split("OPS-3")[0]
    assert "[[" not in result.stdout


def test_search_table_fits_the_terminal_with_wide_characters(monkeypatch):
    """A CJK snippet was cut by characters, not columns: twice the terminal's width."""
    import unicodedata

    text = "日本語のテキストです。" * 40
    with Store() as store:
        store.upsert_issues([record(7, "Unicode 测试", text, assignee="张伟", status="进行中")])
    monkeypatch.setenv("COLUMNS", "80")
    result = run("search", "テキスト")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and "テキスト" in lines[2]
    for line in lines:
        columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
        assert columns <= 80, line


def test_search_table_names_the_datasource_when_hits_come_from_several(indexed):
    """One issue indexed by two datasources printed two identical rows."""
    with Store() as store:
        store.upsert_issues([record(2, "Dark mode for the settings page", datasource="old-server")])
    lines = run("search", "dark", "mode").stdout.splitlines()
    assert lines[0].split()[-1] == "SOURCE"
    rows = [line for line in lines[1:] if line.startswith("OPS-2")]
    assert sorted(row.split()[-1] for row in rows) == ["old-server", "work"]
    lines = run("search", "dark", "mode", "--datasource", "work").stdout.splitlines()
    assert lines[0].split()[-1] == "UPDATED"  # one datasource: no column for it


def test_search_sort_updated_and_limit(indexed):
    hits = json.loads(run("search", "project:OPS", "--sort", "updated", "--json").stdout)
    assert [h["key"] for h in hits] == ["OPS-3", "OPS-2", "OPS-1"]
    hits = json.loads(run("search", "project:OPS", "--limit", "1", "--json").stdout)
    assert len(hits) == 1


def test_search_datasource_option(indexed):
    with Store() as store:
        store.upsert_issues([record(7, "Pool sizing guide", datasource="other", id="777")])
    keys = [h["key"] for h in json.loads(run("search", "pool", "--json").stdout)]
    assert "OPS-7" in keys
    only = json.loads(run("search", "pool", "--datasource", "other", "--json").stdout)
    assert [(h["key"], h["datasource"]) for h in only] == [("OPS-7", "other")]
    # Names are case-insensitive here too, as for `sync` and `datasource show`.
    assert json.loads(run("search", "pool", "--datasource", "OTHER", "--json").stdout) == only


def test_search_unknown_datasource_is_one_line_error(indexed):
    result = run("search", "pool", "--datasource", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "jiradex: unknown datasource 'nope' (see `jiradex datasource list`)"
    ]


def test_search_bad_query_exits_2_with_one_line(indexed):
    result = run("search", "updated:>=yesterday-ish")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jiradex: Cannot read the date")
    assert result.stdout == ""


def test_search_no_results_says_so_on_stderr(indexed):
    result = run("search", "zebra")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No issues match" in result.stderr
    assert json.loads(run("search", "zebra", "--json").stdout) == []


def test_search_without_an_index_explains(jiradex_home):
    result = run("search", "pool")
    assert result.exit_code == 1
    assert "no index yet" in result.stderr
    assert not (jiradex_home / "data" / "index.db").exists()


def test_an_unquoted_excluded_word_says_to_quote_the_query(indexed):
    """The README's `-word excludes`, typed unquoted (`jiradex search pool -timeout`),
    got Click's "No such option '-t'"."""
    result = run("search", "pool", "-timeout")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "jiradex: -timeout is read as an option: to exclude a word, quote the whole query "
        "(jiradex search 'pool -timeout') or put -- before it"
    ]
    assert "No such option '--lmit'" in run("search", "pool", "--lmit", "3").stderr


def test_search_bad_limit_is_usage_error(indexed):
    assert run("search", "pool", "--limit", "0").exit_code == 2


def test_show_markdown(indexed):
    result = run("show", "ops-1")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("# OPS-1: Connection pool timeout after database failover\n")
    assert "- **Status:** In Progress" in out
    assert "- **Assignee:** Ann Example" in out
    assert "## Description" in out and "every request waits" in out
    assert "## Comments (1)" in out and "### Cy Example, 2024-03-02 09:00" in out
    assert "Seen again on **staging**." in out
    assert "## Attachments (1)" in out
    assert "- pool.log (text/plain, 2.0 KB, text indexed)" in out


def test_show_unassigned_and_without_comments(indexed):
    out = run("show", "OPS-2").stdout
    assert "## Comments" not in out and "## Attachments" not in out
    out = run("show", "OPS-3").stdout
    assert "- **Assignee:** Unassigned" in out


def test_show_json_contract(indexed):
    result = run("show", "OPS-1", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    for name in (
        "key",
        "id",
        "summary",
        "description",
        "status",
        "priority",
        "issuetype",
        "assignee",
        "reporter",
        "labels",
        "created",
        "updated",
        "url",
    ):
        assert name in doc
    assert doc["key"] == "OPS-1" and doc["id"] == "20001"
    assert doc["labels"] == ["backend"]
    assert doc["comments"] == [
        {
            "id": "501",
            "author": "Cy Example",
            "created": "2024-03-02T09:00:00.000Z",
            "body": "Seen again on **staging**.",
        }
    ]
    assert doc["attachments"] == [
        {
            "id": "901",
            "filename": "pool.log",
            "mimetype": "text/plain",
            "size": 2048,
            "indexed": True,
        }
    ]


def test_show_by_jira_id(indexed):
    assert json.loads(run("show", "20002", "--json").stdout)["key"] == "OPS-2"


def test_show_missing_key(indexed):
    result = run("show", "OPS-99")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "jiradex: OPS-99 is not in the index (check the key, or sync its datasource)"
    )


def test_show_an_issue_two_datasources_hold_names_them_and_picks_with_datasource(indexed):
    """The same project indexed by two datasources (with and without comments, say):
    show said nothing and picked a copy by chance."""
    with Store() as store:
        store.upsert_issues([record(1, "Pool timeout (copy)", datasource="mirror")])
    plain = run("show", "OPS-1")
    assert plain.exit_code == 0
    assert "OPS-1 is in 2 datasources (mirror, work)" in plain.stderr
    shown = plain.stdout.splitlines()[0]
    assert run("show", "OPS-1").stdout.splitlines()[0] == shown  # the same copy each time
    mirror = run("show", "OPS-1", "--datasource", "MIRROR", "--json")
    assert mirror.exit_code == 0 and mirror.stderr == ""
    assert json.loads(mirror.stdout)["summary"] == "Pool timeout (copy)"
    work = run("show", "OPS-1", "-d", "work", "--json")
    assert json.loads(work.stdout)["summary"] != "Pool timeout (copy)"
    missing = run("show", "OPS-1", "-d", "nope")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == (
        'jiradex: OPS-1 is not in datasource "nope" (it is in mirror, work)'
    )


EVIL = "\x1b[2J\x1b[H\x1b]0;owned\x07\x1b]52;c;cm0gLXJmIH4=\x07\x9b31m\x1bPdcs\x1b\\\r"


def test_text_from_jira_cannot_drive_the_terminal():
    """An issue's summary, description, status or comment holding escape sequences
    (anyone who can edit an issue, on a public instance anyone at all) reached the
    terminal as-is from `show`, `search` and the task commands: it could clear the
    screen, retitle the window or write the clipboard (OSC 52)."""
    comment = {"id": "7", "author": f"Eve{EVIL}", "created": "2024-03-02T09:00:00.000Z",
               "body": f"hello{EVIL}", "body_text": "hello"}  # fmt: skip
    evil = record(9, f"Escape{EVIL} hatch", f"Body{EVIL} text", status=f"Done{EVIL}",
                  assignee=f"Mallory{EVIL}", comments=[comment])  # fmt: skip
    with Store() as store:
        store.upsert_issues([evil])
    outputs = [
        run("show", "OPS-9", color=True),
        run("search", "hatch", color=True),
        run("task", "import", "OPS-9", "--comments", color=True),
        run("task", "list", color=True),
        run("task", "show", "1", color=True),
        run("task", "show", "1", "--markdown", color=True),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.stderr
        text = result.stdout + result.stderr
        assert "Escape" in text or "OPS-9" in text
        for unsafe in ("\x1b[2J", "\x1b[H", "\x1b]", "\x9b", "\x1bP", "\x07", "\r"):
            assert unsafe not in text, (unsafe, text)


def test_a_stray_control_character_hides_none_of_the_text_after_it():
    """A lone U+009D (the mojibake of a closing quote: "â\\x80\\x9d") or an ESC ] with
    no terminator was read as the start of a terminal string: `show` printed nothing
    after it, the rest of the description and every comment gone."""
    comment = {"id": "7", "author": "Ann", "created": "2024-03-02T09:00:00.000Z",
               "body": "Comment after", "body_text": "Comment after"}  # fmt: skip
    stray = record(8, "Quoted â\x80\x9dsummary\x1b]0;tail", "Body â\x80\x9d text after it",
                   comments=[comment])  # fmt: skip
    with Store() as store:
        store.upsert_issues([stray])
    text = run("show", "OPS-8").stdout
    for kept in ("summary", "0;tail", "text after it", "Comment after"):
        assert kept in text, (kept, text)
    assert "\x9d" not in text and "\x1b" not in text
