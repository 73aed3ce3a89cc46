"""The bad input catalogue: hostile or broken input gets one clear line or is handled.

Each row runs the real CLI entry (`cli.main`, in-process) or an engine function and
checks: the exit code is the documented one (0 handled, 1 error, 2 usage), an error
is one line `jiradex: ...`, and neither "Traceback" nor the last-resort "internal
error" (a bug caught by the safety net) ever shows. No row talks to Jira.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import CliRunner

import cli
from indexer import markup, paths
from indexer.normalize import normalize_issue
from indexer.search import search
from indexer.store import Store


def jiradex(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the console entry point in-process: (exit code, stdout, stderr)."""
    with CliRunner().isolation(input=stdin) as (out, err, _):
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, out.getvalue().decode(), err.getvalue().decode()


def _write(relative: str, text: str | bytes) -> None:
    path = paths.config_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def _coco(**config: Any) -> dict:
    base = {"endpoint": "https://acme.atlassian.net", "project_key": "ABC"}
    base.update(config)
    return {
        "name": "acme",
        "type": "connector",
        "enabled": True,
        "connector": {"id": "jira", "config": {k: v for k, v in base.items() if v is not None}},
        "sync": {"enabled": True, "interval": "5m"},
    }


@dataclass
class Row:
    id: str
    args: tuple[str, ...]
    codes: tuple[int, ...]  # accepted exit codes
    says: str = ""  # expected in stderr (case-insensitive)
    files: dict[str, Any] = field(default_factory=dict)  # config files to write first
    hidden: str = ""  # must appear nowhere in the output
    stdin: str | None = None
    index: bool = False  # create an (empty) index first


ADD = ("datasource", "add", "x", "--project", "ABC")
GOOD_URL = ("--endpoint", "https://acme.atlassian.net")

ROWS = [
    # --- config files ---------------------------------------------------------------
    Row("cfg-corrupt-json", ("datasource", "list"), (1,), "datasources.json",
        {"datasources.json": "[{not json"}),
    Row("cfg-binary", ("datasource", "list"), (1,), "datasources.json",
        {"datasources.json": b"\x00\xff\xfe garbage"}),
    Row("cfg-empty-file", ("datasource", "list"), (0, 1), "", {"datasources.json": ""}),
    Row("cfg-not-a-list", ("datasource", "list"), (0, 1), "", {"datasources.json": "42"}),
    Row("cfg-entry-not-object", ("datasource", "list"), (1,), "", {"datasources.json": "[5]"}),
    Row("cfg-wrong-type-name", ("datasource", "list"), (1,), "name",
        {"datasources.json": json.dumps([{**_coco(), "name": 5}])}),
    Row("cfg-wrong-type-comments", ("datasource", "list"), (1,), "index_comments",
        {"datasources.json": json.dumps([_coco(index_comments="yes please")])}),
    Row("cfg-wrong-type-token", ("datasource", "list"), (1,), "token",
        {"datasources.json": json.dumps([_coco(token=12345)])}),
    Row("cfg-missing-endpoint", ("datasource", "list"), (1,), "endpoint",
        {"datasources.json": json.dumps([_coco(endpoint=None)])}),
    Row("cfg-missing-project", ("datasource", "list"), (1,), "project",
        {"datasources.json": json.dumps([_coco(project_key=None)])}),
    Row("cfg-unknown-keys-kept", ("datasource", "list"), (0,), "",
        {"datasources.json": json.dumps([{**_coco(colour="blue"), "extra": {"a": 1}}])}),
    Row("cfg-bad-interval", ("datasource", "list"), (1,), "interval",
        {"datasources.json": json.dumps([{**_coco(), "sync": {"interval": "soon"}}])}),
    Row("cfg-jira-corrupt", ("jira", "status"), (1,), "jira.json", {"jira.json": "{"}),
    Row("cfg-jira-wrong-types", ("jira", "status"), (1,), "",
        {"jira.json": json.dumps({"enabled": "maybe", "baseUrl": 7, "auth": []})}),
    Row("cfg-sync-corrupt", ("sync",), (1,), "datasources.json", {"datasources.json": "]["}),
    Row("from-json-corrupt", ("datasource", "add", "--from-json", "-"), (1,), "", stdin="{oops"),
    Row("from-json-array-of-junk", ("datasource", "add", "--from-json", "-"), (1,), "",
        stdin="[1, 2, 3]"),
    Row("from-json-missing-file", ("datasource", "add", "--from-json", "/nonexistent/x.json"),
        (1, 2), ""),
    # --- CLI arguments --------------------------------------------------------------
    Row("cli-unknown-option", ("sync", "--bogus"), (2,), "no such option"),
    Row("cli-unknown-command", ("frobnicate",), (2,), "no such command"),
    Row("cli-add-no-name", ("datasource", "add"), (2,), "NAME"),
    Row("cli-add-no-project", ("datasource", "add", "x", *GOOD_URL), (2,), "--project"),
    Row("cli-token-and-env", (*ADD, *GOOD_URL, "--token", "t0ken", "--token-env", "X"), (2,),
        "not both", hidden="t0ken"),
    Row("cli-token-env-unset", (*ADD, *GOOD_URL, "--token-env", "JIRADEX_NO_SUCH_VAR"), (1,),
        "JIRADEX_NO_SUCH_VAR"),
    Row("cli-sync-unknown-ds", ("sync", "nosuch"), (1,), "nosuch"),
    Row("cli-sync-no-ds", ("sync",), (1,), "datasource"),
    Row("cli-show-unknown-ds", ("datasource", "show", "ghost"), (1,), "ghost"),
    Row("cli-remove-unknown-ds", ("datasource", "remove", "ghost", "--yes"), (1, 2), ""),
    Row("cli-search-limit-0", ("search", "x", "--limit", "0"), (2,), "limit"),
    Row("cli-search-limit-text", ("search", "x", "--limit", "many"), (2,), "limit"),
    Row("cli-search-no-query", ("search",), (2,), "QUERY"),
    Row("cli-task-show-unknown", ("task", "show", "nope"), (1,), ""),
    Row("cli-name-with-slash", ("datasource", "add", "a/b", "--project", "ABC", *GOOD_URL),
        (0, 1), ""),
    Row("cli-name-empty", ("datasource", "add", "", "--project", "ABC", *GOOD_URL), (1, 2), ""),
    Row("cli-project-bad", ("datasource", "add", "x", "--project", "A B;--", *GOOD_URL), (1,),
        "project"),
    # --- URLs -----------------------------------------------------------------------
    Row("url-no-scheme", (*ADD, "--endpoint", "acme.atlassian.net"), (1,), "scheme"),
    Row("url-file", (*ADD, "--endpoint", "file:///etc/passwd"), (1,), "http"),
    Row("url-javascript", (*ADD, "--endpoint", "javascript:alert(1)"), (1,), "http"),
    Row("url-ftp", (*ADD, "--endpoint", "ftp://acme.example.com"), (1,), "http"),
    Row("url-data", (*ADD, "--endpoint", "data:text/html,<script>x</script>"), (1,), ""),
    Row("url-credentials", (*ADD, "--endpoint", "https://bob:hunter2pw@acme.atlassian.net"),
        (1,), "", hidden="hunter2pw"),
    Row("url-no-host", (*ADD, "--endpoint", "https://"), (1,), ""),
    Row("url-bad-port", (*ADD, "--endpoint", "https://acme.example.com:99999"), (1,), "port"),
    Row("url-space", (*ADD, "--endpoint", "https://acme example.com"), (1,), ""),
    Row("url-newline", (*ADD, "--endpoint", "https://acme.example.com/\nX-Evil: 1"), (1,), ""),
    Row("url-empty", (*ADD, "--endpoint", ""), (1, 2), ""),
    Row("url-plain-http-remote", (*ADD, "--endpoint", "http://jira.example.com",
        "--username", "a@b.c", "--token", "s3cr3t-t0k"), (0, 1), "", hidden="s3cr3t-t0k"),
    # --- intervals ------------------------------------------------------------------
    *[
        Row(f"interval-{name}", (*ADD, *GOOD_URL, "--interval", value), (1,), "interval")
        for name, value in [("zero", "0s"), ("negative", "-5m"), ("unit", "5x"),
                            ("empty", ""), ("huge", "400d"), ("words", "every day"),
                            ("float", "1.5h"), ("overflow", "9" * 40 + "s")]
    ],
    Row("interval-combined-ok", (*ADD, *GOOD_URL, "--interval", "1h30m"), (0,), ""),
    # --- issue keys -----------------------------------------------------------------
    *[
        Row(f"key-{name}", ("show", value), (1, 2), "")
        for name, value in [("lower-no-number", "abc"), ("dotdot", "../../etc/passwd"),
                            ("zero", "ABC-0"), ("dash", "ABC-"), ("sql", "' OR 1=1 --"),
                            ("space", "AB C-1"), ("empty", ""), ("long", "A" * 5000 + "-1"),
                            ("nul", "ABC-1\x00"), ("emoji", "😀-1")]
    ],
    Row("key-task-import-bad", ("task", "import", "not a key"), (1, 2), ""),
    # --- search strings -------------------------------------------------------------
    *[
        Row(f"search-{i}", ("search", "--json", "--", value), (0, 2), "", index=True)
        for i, value in enumerate([
            '"unbalanced', "AND", "OR OR", "NOT", "*", "**", "NEAR(a b)", "-", "- -x",
            "status:", "updated:>=notadate", "created:<<2024", "(((", ")", "a" * 10000,
            "\x00", "😀", "a:b:c", "key:", "label:\"", "project:ABC status:\"In", "'; DROP TABLE issues; --",
            "title:x", "^a", "a + b", "{x}", "col:*", "\\", "%", "?", "updated:-7x",
        ])
    ],
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_bad_input_row(row: Row):
    for name, content in row.files.items():
        _write(name, content)
    if row.index:
        Store(paths.index_path()).close()
    code, out, err = jiradex(*row.args, stdin=row.stdin)
    both = out + err
    assert "Traceback" not in both
    assert "internal error" not in err, err
    assert code in row.codes, (code, out, err)
    if code == 1:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("jiradex: "), err
    if row.says:
        assert row.says.lower() in err.lower(), err
    if row.hidden:
        assert row.hidden not in both
        for path in paths.config_dir().rglob("*") if paths.config_dir().exists() else []:
            if path.is_file() and row.hidden in path.read_text(errors="replace"):
                assert path.stat().st_mode & 0o077 == 0  # only in a private file


# --- Jira payloads through normalize (and into the store and search) -------------------

HUGE = "log line with a needle-word inside\n" * 40_000  # > 1 MB


def _nested_adf(depth: int) -> dict:
    node: dict = {"type": "text", "text": "deep"}
    for _ in range(depth):
        node = {"type": "bulletList", "content": [{"type": "listItem", "content": [node]}]}
    return {"type": "doc", "version": 1, "content": [node]}


PAYLOADS = {
    "empty": {},
    "fields-null": {"id": "1", "key": "ABC-1", "fields": None},
    "fields-list": {"id": "2", "key": "ABC-2", "fields": [1, 2]},
    "id-int-key-null": {"id": 3, "key": None, "fields": {"summary": "x"}},
    "all-null": {"id": "4", "key": "ABC-4", "fields": dict.fromkeys(
        ["summary", "description", "issuetype", "status", "priority", "assignee", "reporter",
         "labels", "components", "created", "updated", "project", "comment", "attachment"])},
    "custom-fields-strings": {"id": "5", "key": "ABC-5", "fields": {
        "summary": "s", "customfield_10010": "a string", "customfield_10020": 7,
        "status": "Done", "priority": "High", "issuetype": "Bug", "project": "ABC",
        "assignee": "just a name", "labels": "notalist", "components": "core"}},
    "null-assignee": {"id": "6", "key": "ABC-6", "fields": {"summary": "s", "assignee": None}},
    "empty-description": {"id": "7", "key": "ABC-7", "fields": {"summary": "", "description": ""}},
    "empty-adf": {"id": "8", "key": "ABC-8", "fields": {"description": {"type": "doc"}}},
    "huge-wiki-description": {"id": "9", "key": "ABC-9",
                              "fields": {"summary": "huge", "description": HUGE}},
    "huge-adf-description": {"id": "10", "key": "ABC-10", "fields": {"summary": "huge adf",
        "description": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": HUGE}]}]}}},
    "deep-adf": {"id": "11", "key": "ABC-11", "fields": {"description": _nested_adf(150)}},
    "unknown-adf-nodes": {"id": "12", "key": "ABC-12", "fields": {"description": {
        "type": "doc", "content": [{"type": "hologram", "attrs": None, "content": "x"},
                                   None, 5, {"type": "text", "text": None}]}}},
    "bad-dates": {"id": "13", "key": "ABC-13", "fields": {"created": "yesterday",
                                                          "updated": 10**20}},
    "dates-out-of-range": {"id": "17", "key": "ABC-17", "fields": {
        "created": "0001-01-01T00:00:00.000+0500", "updated": "9999-12-31T23:59:59.999-0500"}},
    "dates-wrong-types": {"id": "18", "key": "ABC-18", "fields": {"created": True,
                                                                  "updated": float("nan")}},
    "components-junk": {"id": "14", "key": "ABC-14", "fields": {
        "components": [None, 3, {"name": None}, {"name": "ok"}], "labels": [None, "", 5]}},
    "comment-page-junk": {"id": "15", "key": "ABC-15", "fields": {
        "comment": {"comments": "none", "total": "many"}, "attachment": {"a": 1}}},
    "nul-and-surrogates": {"id": "16", "key": "ABC-16", "fields": {
        "summary": "nul\x00byte and \ud800 lone surrogate", "description": "\x00\x01\x02"}},
}  # fmt: skip


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_jira_payload_is_handled(name, tmp_path):
    raw = PAYLOADS[name]
    record = normalize_issue(raw, datasource="ds", site_url="https://acme.atlassian.net")
    for key in ("id", "key", "summary", "description", "description_text", "status",
                "assignee", "created", "updated"):  # fmt: skip
        assert isinstance(record[key], str), key
    assert isinstance(record["labels"], list) and isinstance(record["components"], list)
    assert len(record["description_text"]) < 1_100_000 // 4  # capped for the index
    if not record["id"]:
        return  # nothing to key it by: the sync skips such an issue
    with Store(tmp_path / "index.db") as store:
        store.upsert_issues([record])
        assert store.get_issue(record["id"])["id"] == record["id"]
        assert store.integrity_check() == []
        if name.startswith("huge"):
            assert [h.key for h in search(store, "needle")] == [record["key"]]


# --- Markdown for post-back ------------------------------------------------------------

MARKDOWN = {
    "empty": "",
    "whitespace": " \n\t\n",
    "unclosed-fence": "```python\nprint('x')\n",
    "html": "<script>alert(1)</script><b>bold</b>",
    "deep-list": "".join("  " * i + "- item\n" for i in range(500)),
    "deep-quote": ">" * 2000 + " quoted",
    "broken-table": "| a | b |\n|---|\n| 1 | 2 | 3 |\n",
    "bad-link": "[x](javascript:alert(1)) [y]( ) ![img](file:///etc/passwd)",
    "nul": "a\x00b",
    "huge": "word " * 300_000,
    "emphasis-soup": "*_*_**__~~`" * 500,
    "mentions-and-emoji": "@someone 😀 ${jndi:ldap://x} {{template}}",
}


@pytest.mark.parametrize("name", list(MARKDOWN))
def test_markdown_for_post_back_is_handled(name):
    text = MARKDOWN[name]
    adf = markup.markdown_to_adf(text)
    assert isinstance(adf, dict) and adf.get("type") == "doc"
    assert isinstance(adf.get("content"), list)
    json.dumps(adf)  # serialisable as the request body
    wiki = markup.markdown_to_wiki(text)
    assert isinstance(wiki, str)
    if name == "bad-link":  # no clickable javascript: or file: link is made
        hrefs = [
            mark["attrs"]["href"]
            for block in adf["content"]
            for node in block.get("content") or []
            for mark in node.get("marks") or []
            if mark.get("type") == "link"
        ]
        assert not [h for h in hrefs if h.lower().startswith(("javascript:", "file:"))]
        assert "[x|javascript:" not in wiki


@pytest.mark.parametrize("blocked", ["../data", "../data/locks"])
def test_a_home_whose_data_directory_is_a_file_says_so(blocked):
    """`data` (or `data/locks`) under JIRADEX_HOME being a file, not a directory,
    ended `sync` as "internal error (FileExistsError)" (or "unexpected
    FileExistsError" in its summary)."""
    _write("datasources.json", json.dumps([_coco()]))
    _write(blocked, "")
    code, out, err = jiradex("sync")
    assert code == 1 and "Traceback" not in out + err
    assert "internal error" not in err and "unexpected" not in out, (out, err)
    where = (paths.config_dir() / blocked).resolve()
    assert f"{where} is a file, not a directory" in out + err, (out, err)


def test_from_json_over_1_mb_is_refused_unread(tmp_path):
    """`datasource add --from-json FILE` read any file whole: /dev/zero (or a wrong
    pipe on stdin) never ended. A payload over 1 MB is no datasource list."""
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b" " * (1024 * 1024) + b"]")
    for args, stdin in (((str(big),), None), (("-",), big.read_text())):
        code, out, err = jiradex("datasource", "add", "--from-json", *args, stdin=stdin)
        assert (code, out) == (1, ""), err
        assert err.strip().endswith("is over 1 MB: that is no datasource payload"), err
