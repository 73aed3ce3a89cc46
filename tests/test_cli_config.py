"""CLI for datasources, connectors and the global Jira connection (no network).

Every command goes through `cli.main`, so exit codes and the one-line error mapping
are the real ones. Fixtures in tests/fixtures/config/ are copies of Coco's documented
datasource payloads (see ../shared/ARCHITECTURE.md); they are read, never written.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run

from indexer import paths

REPO = Path(__file__).resolve().parent.parent
CONFIG_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "config"
BASIC_FIXTURE = CONFIG_FIXTURES / "coco_cloud_basic.json"


def ok(*args: str, **kwargs):
    result = run(*args, **kwargs)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def error(*args: str, code: int = 1, **kwargs) -> str:
    """Run a command that must fail with one line on stderr; return that line."""
    result = run(*args, **kwargs)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    if code == 1:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("jiradex: ")
        return lines[0]
    return result.stderr


def show_json(name: str) -> dict:
    return json.loads(ok("datasource", "show", name, "--json").stdout)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add_basic(name: str = "main", *extra: str, env: dict | None = None):
    return ok(
        "datasource",
        "add",
        name,
        "--endpoint",
        "https://acme.atlassian.net",
        "--project",
        "PROJ",
        *extra,
        env=env,
    )


# ------------------------------------------------------------------ datasource add (flags)


def test_add_with_flags_then_show_json_is_the_coco_shape():
    result = ok(
        "datasource",
        "add",
        "Acme",
        "--endpoint",
        "https://acme.atlassian.net/",
        "--project",
        "proj",
        "--username",
        "me@example.com",
        "--token-env",
        "ACME_TOKEN",
        "--comments",
        "--interval",
        "1h",
        env={"ACME_TOKEN": "acme-secret-token-7f3a"},
    )
    assert result.stdout.startswith('Added datasource "Acme": PROJ on https://acme.atlassian.net')
    assert "acme-secret-token" not in result.stdout + result.stderr
    assert show_json("acme") == {
        "name": "Acme",
        "type": "connector",
        "enabled": True,
        "connector": {
            "id": "jira",
            "config": {
                "endpoint": "https://acme.atlassian.net",
                "username": "me@example.com",
                "token": "****7f3a",
                "project_key": "PROJ",
                "index_comments": True,
                "index_attachments": False,
            },
        },
        "sync": {"enabled": True, "interval": "1h"},
    }
    # the file holds the real token, private to the user
    stored = json.loads(paths.datasources_path().read_text())
    assert stored[0]["connector"]["config"]["token"] == "acme-secret-token-7f3a"
    assert mode_of(paths.datasources_path()) == 0o600


def test_add_anonymous_bearer_and_disabled_flags():
    add_basic("anon", "--disabled", "--attachments")
    add_basic("dc", "--token", "dc-pat-000000001234")
    anon, dc = show_json("anon"), show_json("dc")
    assert anon["enabled"] is False
    assert "token" not in anon["connector"]["config"]
    assert "username" not in anon["connector"]["config"]
    assert anon["connector"]["config"]["index_attachments"] is True
    assert dc["connector"]["config"]["token"] == "****1234"
    listing = ok("datasource", "list").stdout.splitlines()
    header = ["NAME", "ENABLED", "PROJECT", "AUTH", "SYNC", "LAST", "SYNC", "ENDPOINT"]
    assert listing[0].split() == header
    assert listing[1].split()[:6] == ["anon", "no", "PROJ", "anonymous", "5m", "never"]
    assert listing[2].split()[:4] == ["dc", "yes", "PROJ", "bearer"]


def test_list_shows_each_datasources_last_sync_in_local_time(monkeypatch):
    """Whether cron's `jiradex sync` still works was in `datasource show NAME` only,
    one datasource at a time: the list now says each one's last run."""
    import time

    from indexer.store import Store

    add_basic("work")
    add_basic("home")
    add_basic("new")
    with Store() as store:
        run = store.start_run("work")
        store.finish_run(run, "ok", issues=3)
        store.conn.execute("UPDATE sync_runs SET started = '2024-05-02T07:12:00Z'")
        store.finish_run(store.start_run("home"), "error", error="Jira cannot be reached")
        store.conn.execute(
            "UPDATE sync_runs SET started = '2024-05-02T07:17:00Z' WHERE datasource = 'home'"
        )
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    time.tzset()
    rows = {line.split()[0]: line for line in ok("datasource", "list").stdout.splitlines()[1:]}
    assert " ok 2024-05-02 09:12 CEST " in rows["work"]
    assert " error 2024-05-02 09:17 CEST " in rows["home"]
    assert " never " in rows["new"]


def test_add_missing_options_is_a_usage_error():
    assert "Missing option --endpoint and --project" in error("datasource", "add", "x", code=2)
    assert "Missing argument NAME" in error("datasource", "add", code=2)
    both = error(
        "datasource",
        "add",
        "x",
        "--endpoint",
        "https://a.example.com",
        "--project",
        "AB",
        "--token",
        "t1234",
        "--token-env",
        "V",
        code=2,
    )
    assert "not both" in both


def test_token_env_that_is_unset_is_refused():
    line = error(
        "datasource",
        "add",
        "x",
        "--endpoint",
        "https://a.example.com",
        "--project",
        "AB",
        "--token-env",
        "NOT_SET_ANYWHERE",
    )
    assert "NOT_SET_ANYWHERE" in line
    assert not paths.datasources_path().exists()


# ------------------------------------------------------------------ datasource add --from-json


def test_from_json_accepts_the_coco_cloud_basic_payload_unchanged():
    payload = json.loads(BASIC_FIXTURE.read_text())
    result = ok("datasource", "add", "--from-json", str(BASIC_FIXTURE))
    assert result.stdout.strip() == (
        'Added datasource "My Jira Cloud": PROJ on https://your-domain.atlassian.net, '
        "basic auth, sync every 30s"
    )
    masked = json.loads(json.dumps(payload))
    masked["connector"]["config"]["token"] = "****oken"
    assert show_json("My Jira Cloud") == masked
    assert json.loads(ok("datasource", "list", "--json").stdout) == [masked]
    # stored exactly as given (real token), mode 0600
    assert json.loads(paths.datasources_path().read_text()) == [payload]
    assert mode_of(paths.datasources_path()) == 0o600


def test_from_json_list_keeps_order_and_extra_keys(tmp_path):
    ok("datasource", "add", "--from-json", str(CONFIG_FIXTURES / "coco_list.json"))
    ok("datasource", "add", "--from-json", str(CONFIG_FIXTURES / "coco_extra_keys.json"))
    listed = json.loads(ok("datasource", "list", "--json").stdout)
    assert [item["name"] for item in listed] == [
        "My Self-Hosted Jira",
        "Apache Lucene",
        "With extras",
    ]
    extras = show_json("With extras")
    assert extras["id"] == "ds-42"
    assert extras["description"] == "kept by Coco"
    assert extras["custom_top"] == {"a": 1}
    assert extras["connector"]["config"]["future_option"] == [1, 2, 3]
    assert extras["connector"]["config"]["project_key"] == "EXT"
    assert extras["connector"]["config"]["token"] == "****9876"
    assert extras["sync"] == {"enabled": True, "interval": "1h30m", "jitter": "5s"}
    lucene = show_json("apache lucene")
    assert lucene["connector"]["config"]["jql"] == "created >= 2020-01-01"
    assert lucene["enabled"] is False


def test_from_json_reads_stdin_and_refuses_other_options():
    ok("datasource", "add", "--from-json", "-", stdin=BASIC_FIXTURE.read_text())
    assert show_json("My Jira Cloud")["sync"]["interval"] == "30s"
    # a byte order mark, as a file read from disk may carry, was "invalid JSON" on stdin
    payload = json.loads(BASIC_FIXTURE.read_text()) | {"name": "With BOM"}
    ok("datasource", "add", "--from-json", "-", stdin="\ufeff" + json.dumps(payload))
    assert show_json("With BOM")["name"] == "With BOM"
    usage = error("datasource", "add", "--from-json", str(BASIC_FIXTURE), "--project", "AB", code=2)
    assert "--from-json takes no NAME or other options (got --project)" in usage


def test_from_json_missing_file_and_bad_json(tmp_path):
    assert "cannot read" in error("datasource", "add", "--from-json", str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x",\n  "type": }\n')
    line = error("datasource", "add", "--from-json", str(bad))
    assert str(bad) in line and "line 2" in line
    # the user's own input, not a file of jiradex's: no advice to remove it
    assert "remove the file" not in line and "overwrite" not in line
    line = error("datasource", "add", "--from-json", "-", stdin="")
    assert line == "jiradex: stdin is empty: expected a datasource payload (JSON)"


def test_from_json_warns_of_unknown_keys_only_when_it_adds(tmp_path):
    """A failed add is one line: the notes about unknown keys come with success only."""
    payload = json.loads(BASIC_FIXTURE.read_text())
    payload["connector"]["config"]["index_comment"] = True  # a typo
    source = tmp_path / "typo.json"
    source.write_text(json.dumps(payload))
    added = ok("datasource", "add", "--from-json", str(source))
    notes = added.stderr.splitlines()
    assert len(notes) == 1 and notes[0].startswith("jiradex: warning: datasource ")
    assert "index_comment" in notes[0]
    payload["name"] = "Second"
    payload["connector"]["config"]["endpoint"] = "ftp://nope"
    source.write_text(json.dumps(payload))
    assert "must be an http(s) URL" in error("datasource", "add", "--from-json", str(source))


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (
            ("datasource", "add", "x", "--endpoint", "http://[::1", "--project", "AB"),
            {},
            'jiradex: datasource "x": endpoint "http://[::1" is not a valid URL, ',
        ),
        (
            ("jira", "status"),
            {"JIRA_ENABLED": "true", "JIRA_BASE_URL": "http://[::1", "JIRA_EMAIL": "a@b.c"},
            'jiradex: JIRA_BASE_URL "http://[::1" is not a valid URL, ',
        ),
        (
            ("task", "show", "99999999999999999999999"),
            {},
            "jiradex: No task T-99999999999999999999999: `jiradex task list` shows the tasks",
        ),
    ],
)
def test_unreadable_values_are_one_clear_line(argv, env, expected):
    """Each of these used to end as `internal error (ValueError|OverflowError)`."""
    assert error(*argv, env=env).startswith(expected)


def test_a_gateway_that_is_not_an_https_url_is_named_as_such():
    env = {
        "JIRADEX_GATEWAY_URL": "ftp://proxy.example.com",
        "JIRA_ENABLED": "true",
        "JIRA_BASE_URL": "https://acme.atlassian.net",
        "JIRA_CLOUD_ID": "11111111-2222-3333-4444-555555555555",
        "JIRA_EMAIL": "bot@serviceaccount.atlassian.com",
        "JIRA_API_TOKEN": "tok-secret-1234",
    }
    line = error("jira", "test", env=env)
    assert line.startswith('jiradex: JIRADEX_GATEWAY_URL "ftp://proxy.example.com" must be')


def test_a_jiradex_home_that_is_a_file_is_one_clear_line(tmp_path):
    home = tmp_path / "afile"
    home.write_text("")
    line = error("datasource", "list", env={"JIRADEX_HOME": str(home)})
    assert line == f"jiradex: JIRADEX_HOME {str(home)!r} is a file, not a directory"


def test_a_group_without_its_command_prints_its_help_not_an_error_line():
    result = run("datasource")
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: jiradex datasource [OPTIONS] COMMAND")
    assert "jiradex:" not in result.stderr.splitlines()[0]


def test_unknown_connector_id_is_refused(tmp_path):
    payload = json.loads(BASIC_FIXTURE.read_text())
    payload["connector"]["id"] = "confluence"
    source = tmp_path / "other.json"
    source.write_text(json.dumps(payload))
    line = error("datasource", "add", "--from-json", str(source))
    assert '"confluence"' in line and "jira" in line
    assert not paths.datasources_path().exists()


def test_connector_id_missing_is_refused(tmp_path):
    payload = json.loads(BASIC_FIXTURE.read_text())
    del payload["connector"]["id"]
    source = tmp_path / "noid.json"
    source.write_text(json.dumps(payload))
    assert "connector" in error("datasource", "add", "--from-json", str(source))


# ------------------------------------------------------------------ validation errors


def test_duplicate_names_are_refused_case_insensitively():
    ok("datasource", "add", "--from-json", str(BASIC_FIXTURE))
    before = paths.datasources_path().read_bytes()
    line = error(
        "datasource",
        "add",
        "my jira CLOUD",
        "--endpoint",
        "https://acme.atlassian.net",
        "--project",
        "PROJ",
    )
    assert 'a datasource named "My Jira Cloud" already exists' in line
    assert "already exists" in error("datasource", "add", "--from-json", str(BASIC_FIXTURE))
    assert paths.datasources_path().read_bytes() == before


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("acme.atlassian.net", "has no scheme; write it as https://acme.atlassian.net"),
        ("file:///etc/passwd", "must be an http(s) URL"),
        ("javascript:alert(1)", "must be an http(s) URL"),
        ("ftp://acme.example.com", "must be an http(s) URL"),
        ("https://bob:hunter22@acme.atlassian.net", "must not contain credentials"),
        (
            "http://jira.example.com",
            "plain http, which would send credentials and issues in clear text",
        ),
        ("http://192.168.1.10:8080", "plain http is allowed only for localhost"),
        ("https://acme.atlassian.net/rest/api/3/myself", "(try https://acme.atlassian.net)"),
    ],
)
def test_bad_endpoints_are_refused_with_a_reason(url, reason):
    line = error("datasource", "add", "x", "--endpoint", url, "--project", "PROJ")
    assert reason in line
    assert "hunter22" not in line  # a password in the URL is never echoed
    assert not paths.datasources_path().exists()


@pytest.mark.parametrize("url", ["http://localhost:8080", "http://127.0.0.1:5000/jira"])
def test_plain_http_on_loopback_is_allowed(url):
    ok("datasource", "add", "local", "--endpoint", url, "--project", "PROJ")
    assert show_json("local")["connector"]["config"]["endpoint"] == url


@pytest.mark.parametrize("key", ["1ABC", "A", "AB-12", "A B", "ÄB"])
def test_bad_project_keys_are_refused(key):
    line = error("datasource", "add", "x", "--endpoint", "https://a.example.com", "--project", key)
    assert "project key" in line
    assert "must start with a letter" in line


@pytest.mark.parametrize("interval", ["30s", "5m", "1h", "1d", "1h30m"])
def test_good_intervals(interval):
    add_basic("main", "--interval", interval)
    assert show_json("main")["sync"]["interval"] == interval


@pytest.mark.parametrize(
    ("interval", "reason"),
    [
        ("0s", "must be longer than zero"),
        ("-5m", "must be a duration like 30s, 5m, 1h, 1d"),
        ("soon", "must be a duration like"),
        ("5", "(a unit is required)"),
        ("400d", "at most 365d"),
    ],
)
def test_bad_intervals(interval, reason):
    line = error(
        "datasource",
        "add",
        "x",
        "--endpoint",
        "https://a.example.com",
        "--project",
        "AB",
        "--interval",
        interval,
    )
    assert f'interval "{interval}"' in line and reason in line


def test_bad_interval_in_json(tmp_path):
    payload = json.loads(BASIC_FIXTURE.read_text())
    payload["sync"]["interval"] = "0s"
    source = tmp_path / "zero.json"
    source.write_text(json.dumps(payload))
    line = error("datasource", "add", "--from-json", str(source))
    assert str(source) in line and "longer than zero" in line


def test_username_without_token_is_an_error():
    line = error(
        "datasource",
        "add",
        "x",
        "--endpoint",
        "https://a.example.com",
        "--project",
        "AB",
        "--username",
        "me@example.com",
    )
    assert "username is set but token is empty" in line


# ------------------------------------------------------------------ corrupt files


def test_corrupt_datasources_json_is_reported_and_left_alone():
    path = paths.datasources_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b'[\n  {"name": "a",\n   "type": connector}\n]\n'
    path.write_bytes(body)
    for args in (
        ("datasource", "list"),
        ("datasource", "show", "a"),
        ("datasource", "remove", "a", "--yes"),
        ("datasource", "enable", "a"),
    ):
        line = error(*args)
        assert str(path) in line and "line 3" in line and "will not overwrite" in line
    line = error("datasource", "add", "b", "--endpoint", "https://b.example.com", "--project", "BB")
    assert str(path) in line and "line 3" in line
    assert path.read_bytes() == body


def test_corrupt_jira_json_is_reported_and_left_alone():
    path = paths.jira_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b'{"enabled": true,\n "baseUrl": "https://a.atlassian.net",,\n}'
    path.write_bytes(body)
    assert str(path) in error("jira", "status")
    line = error(
        "jira",
        "connect",
        "--yes",
        "--no-test",
        "--site",
        "https://b.atlassian.net",
        "--email",
        "me@example.com",
        "--token-env",
        "TOK",
        env={"TOK": "token-abcdef-1234"},
    )
    assert str(path) in line and "line 2" in line
    assert path.read_bytes() == body
    # disconnect is how the user asks to drop it
    assert ok("jira", "disconnect").stdout.startswith(f"Removed {path}")
    assert not path.exists()


def test_wrong_shape_in_datasources_json():
    path = paths.datasources_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"name": "not a list"}')
    line = error("datasource", "list")
    assert "expected a JSON list of datasources, found an object" in line


# ------------------------------------------------------------------ list, show, remove, enable


def test_list_empty_says_how_to_add():
    result = ok("datasource", "list")
    assert result.stdout == ""
    assert "jiradex datasource add" in result.stderr
    assert json.loads(ok("datasource", "list", "--json").stdout) == []


def test_list_keeps_its_columns_under_a_wide_name():
    """A datasource named in Chinese (each character two terminal columns) pushed
    its row's ENABLED, PROJECT... one column right per character."""
    import unicodedata

    def cells(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)

    add_basic("工作区")
    add_basic("main")
    lines = ok("datasource", "list").stdout.splitlines()
    starts = {cells(line[: line.index(" yes ") + 1]) for line in lines[1:]}
    assert starts == {cells(lines[0][: lines[0].index("ENABLED")])}


def test_show_text_and_unknown_name():
    ok("datasource", "add", "--from-json", str(BASIC_FIXTURE))
    text = ok("datasource", "show", "My Jira Cloud").stdout
    assert "token        ****oken" in text
    assert "your-api-token" not in text
    assert "auth         basic (username your-email@example.com)" in text
    line = error("datasource", "show", "missing")
    assert line == 'jiradex: no datasource named "missing" (configured: My Jira Cloud)'


def test_show_text_says_the_requests_in_flight_and_the_attachment_limit():
    """`datasource set NAME --max-concurrency 2` (or `attachment_max_bytes` in the
    JSON) changed nothing `datasource show` printed: only --json showed them."""
    add_basic()
    lines = ok("datasource", "show", "main").stdout.splitlines()
    assert "requests     at most 6 at once while syncing (default)" in lines
    assert "attachments  no" in lines
    ok("datasource", "set", "main", "--max-concurrency", "2", "--attachments")
    lines = ok("datasource", "show", "main").stdout.splitlines()
    assert "requests     at most 2 at once while syncing" in lines
    assert "attachments  yes, files up to 10.0 MB (default)" in lines
    payload = show_json("main")
    payload["connector"]["config"]["attachment_max_bytes"] = 512 * 1024
    paths.datasources_path().write_text(json.dumps([payload]))
    lines = ok("datasource", "show", "main").stdout.splitlines()
    assert "attachments  yes, files up to 512.0 KB" in lines


def test_show_without_index_does_not_create_one():
    add_basic()
    text = ok("datasource", "show", "main").stdout
    assert "last syncs" not in text
    assert not paths.index_path().exists()


def test_show_lists_recent_sync_runs_when_the_index_exists():
    from indexer.store import Store

    add_basic()
    store = Store()
    try:
        first = store.start_run("main")
        store.finish_run(first, "ok", issues=12, comments=3, attachments=1, seconds=2.5)
        second = store.start_run("main")
        store.finish_run(second, "error", error="Authentication failed for x", seconds=0.25)
        other = store.start_run("someone-else")
        store.finish_run(other, "ok", issues=99)
    finally:
        store.close()
    lines = ok("datasource", "show", "main").stdout.splitlines()
    at = lines.index("last syncs")
    runs = lines[at + 1 :]
    assert len(runs) == 2  # only this datasource's runs, newest first
    assert runs[0].endswith("error: 0 issues, 0 comments, 0 attachments, 0 deleted in 0.2s: "
                            "Authentication failed for x")  # fmt: skip
    assert runs[1].endswith("ok: 12 issues, 3 comments, 1 attachment, 0 deleted in 2.5s")


def test_show_with_an_empty_index_says_none_yet():
    from indexer.store import Store

    add_basic()
    Store().close()
    assert (
        "last syncs   none yet (run `jiradex sync main`)" in ok("datasource", "show", "main").stdout
    )


def test_enable_disable_remove():
    add_basic("one")
    add_basic("two")
    assert ok("datasource", "disable", "ONE").stdout.strip() == 'Disabled datasource "one".'
    assert show_json("one")["enabled"] is False
    ok("datasource", "enable", "one")
    assert show_json("one")["enabled"] is True
    assert ok("datasource", "remove", "one", "--yes").stdout.strip() == 'Removed datasource "one".'
    assert [d["name"] for d in json.loads(ok("datasource", "list", "--json").stdout)] == ["two"]
    assert error("datasource", "remove", "one") == (
        'jiradex: no datasource named "one" (configured: two)'
    )
    assert mode_of(paths.datasources_path()) == 0o600


def test_remove_forgets_the_datasources_issues_unless_asked_to_keep_them():
    """The TUI offered to delete a removed datasource's issues; the CLI left them
    in search results with no way to drop them short of `index rebuild`."""
    from indexer.store import Store

    add_basic("one")
    add_basic("two")
    add_basic("three")
    with Store() as store:
        for n, name in enumerate(("one", "two", "three")):
            store.upsert_issues(
                [{"id": str(n), "key": f"ABC-{n}", "datasource": name, "summary": "pool"}]
            )
    out = ok("datasource", "remove", "one", "--yes").stdout.strip()
    assert out == 'Removed datasource "one" and its 1 indexed issue.'
    out = ok("datasource", "remove", "two", "--yes", "--keep-issues").stdout.strip()
    assert out == 'Removed datasource "two".'
    with Store() as store:
        assert store.stats("one")["issues"] == 0
        assert store.stats("two")["issues"] == 1 and store.stats("three")["issues"] == 1


def test_remove_that_cannot_forget_the_issues_keeps_the_datasource():
    """It removed the datasource from the config first: a damaged index then failed
    the command with the datasource gone all the same, its issues left behind."""
    add_basic("one")
    paths.ensure_dir(paths.index_path().parent)
    paths.index_path().write_bytes(b"not a database, a shopping list\n" * 200)
    line = error("datasource", "remove", "one", "--yes")
    assert "damaged" in line and "--keep-issues" in line
    assert [d["name"] for d in json.loads(ok("datasource", "list", "--json").stdout)] == ["one"]
    ok("datasource", "remove", "one", "--yes", "--keep-issues")
    assert json.loads(ok("datasource", "list", "--json").stdout) == []


def test_remove_waits_for_no_sync_of_the_datasource():
    from indexer.locks import sync_lock

    add_basic("one")
    with sync_lock("one"):
        line = error("datasource", "remove", "one", "--yes")
    assert line == 'jiradex: a sync of "one" is running: let it finish (or stop it), then remove it'
    assert [d["name"] for d in json.loads(ok("datasource", "list", "--json").stdout)] == ["one"]


# ------------------------------------------------------------------ connectors


def test_connector_list_and_show_json():
    listed = json.loads(ok("connector", "list", "--json").stdout)
    assert [item["id"] for item in listed] == ["jira"]
    jira = listed[0]
    assert jira["name"] == "Jira Connector"
    assert jira["category"] == "project_management"
    assert jira["processor"] == {"enabled": True, "name": "jira"}
    assert {"description", "tags", "icon", "url"} <= set(jira)
    assert set(jira["config"]) >= {
        "endpoint",
        "username",
        "token",
        "project_key",
        "index_comments",
        "index_attachments",
    }
    assert json.loads(ok("connector", "show", "jira", "--json").stdout) == jira
    text = ok("connector", "show", "jira").stdout
    assert text.startswith("Jira Connector (jira):")
    assert "project_key" in text
    assert ok("connector", "list").stdout.startswith("jira     Jira Connector (project_management)")
    line = error("connector", "show", "confluence")
    assert line == 'jiradex: unknown connector "confluence" (known connectors: jira)'


# ------------------------------------------------------------------ jira status / disconnect


def connect_offline(*extra: str, token: str = "personal-token-abcd9876", env: dict | None = None):
    """`jira connect` without a network test, token from the environment."""
    return ok(
        "jira",
        "connect",
        "--yes",
        "--no-test",
        "--token-env",
        "TOK",
        *extra,
        env={"TOK": token, **(env or {})},
    )


def test_status_when_nothing_is_configured():
    text = ok("jira", "status").stdout
    assert text.startswith("Jira connection: not configured")
    status = json.loads(ok("jira", "status", "--json").stdout)
    assert status["configured"] is False
    assert status["enabled"] is False
    assert status["token"] is None
    assert len(status["problems"]) == 3


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_token_file_others_can_read_is_warned_of_until_it_is_0600():
    """A jira.json or datasources.json written by hand (or copied in) keeps the
    umask's 0644: every user of the machine could read the token, without a word."""
    token = "hand-written-token-77x1"
    jira = paths.jira_config_path()
    jira.parent.mkdir(parents=True, exist_ok=True)
    jira.write_text(json.dumps({"baseUrl": "https://acme.atlassian.net",
                                "auth": {"email": "me@example.com", "apiToken": token}}))  # fmt: skip
    jira.chmod(0o644)
    result = ok("jira", "status")
    assert result.stderr == (
        f"jiradex: warning: {jira} holds a token and other users can read it (mode 0644): "
        f"run `chmod 600 {jira}`\n"
    )
    assert token not in result.stdout + result.stderr
    status = json.loads(ok("jira", "status", "--json").stdout)
    assert status["warnings"] == [result.stderr.removeprefix("jiradex: warning: ").strip()]
    jira.chmod(0o600)
    assert ok("jira", "status").stderr == ""
    assert json.loads(ok("jira", "status", "--json").stdout)["warnings"] == []
    # A file without a token is nobody's secret.
    jira.write_text(json.dumps({"baseUrl": "https://acme.atlassian.net"}))
    jira.chmod(0o644)
    assert ok("jira", "status").stderr == ""
    # datasources.json with a token: `sync` says so too (and still runs).
    ok("datasource", "add", "--from-json", str(BASIC_FIXTURE))
    sources = paths.datasources_path()
    sources.chmod(0o640)
    result = run("sync", "--json", "no-such-datasource")
    assert f"{sources} holds a token and other users can read it (mode 0640)" in result.stderr


def test_connect_writes_jira_json_0600_and_status_masks_the_token():
    result = connect_offline("--site", "https://acme.atlassian.net", "--email", "me@example.com")
    path = paths.jira_config_path()
    assert f"Saved the Jira connection to {path}" in result.stdout
    assert mode_of(path) == 0o600
    assert json.loads(path.read_text()) == {
        "enabled": True,
        "baseUrl": "https://acme.atlassian.net",
        "auth": {"email": "me@example.com", "apiToken": "personal-token-abcd9876"},
    }
    status = json.loads(ok("jira", "status", "--json").stdout)
    assert status["configured"] is True
    assert status["site_url"] == "https://acme.atlassian.net"
    assert status["api_mode"] == "personal"
    assert status["api_url"] == "https://acme.atlassian.net"
    assert status["email"] == "me@example.com"
    assert status["token"] == "****9876"
    assert status["sources"]["base_url"] == "file"
    text = ok("jira", "status").stdout
    assert "personal-token" not in text
    assert "token     ****9876  [file]" in text
    assert "API mode  personal" in text


def test_service_account_status_uses_the_gateway():
    connect_offline(
        "--site",
        "https://acme.atlassian.net",
        "--email",
        "bot@serviceaccount.atlassian.com",
        "--cloud-id",
        "11111111-2222-3333-4444-555555555555",
    )
    status = json.loads(
        ok("jira", "status", "--json", env={"JIRADEX_GATEWAY_URL": "http://127.0.0.1:9"}).stdout
    )
    assert status["api_mode"] == "service_account"
    assert status["cloud_id"] == "11111111-2222-3333-4444-555555555555"
    assert status["api_url"] == "http://127.0.0.1:9/ex/jira/11111111-2222-3333-4444-555555555555"
    assert status["site_url"] == "https://acme.atlassian.net"
    assert "API mode  service account" in ok("jira", "status").stdout


def test_environment_overrides_jira_json_field_by_field():
    connect_offline("--site", "https://file.atlassian.net", "--email", "file@example.com")
    env = {
        "JIRA_BASE_URL": "https://env.atlassian.net",
        "JIRA_API_TOKEN": "env-token-zyxw5555",
        "JIRA_ENABLED": "false",
    }
    status = json.loads(ok("jira", "status", "--json", env=env).stdout)
    assert status["site_url"] == "https://env.atlassian.net"
    assert status["email"] == "file@example.com"
    assert status["token"] == "****5555"
    assert status["enabled"] is False
    assert status["sources"] == {
        "enabled": "env",
        "base_url": "env",
        "cloud_id": None,
        "email": "file",
        "api_token": "env",
    }
    text = ok("jira", "status", env=env).stdout
    assert "[env JIRA_BASE_URL]" in text and "env-token" not in text
    # the file itself is untouched by the override
    assert json.loads(paths.jira_config_path().read_text())["baseUrl"] == (
        "https://file.atlassian.net"
    )


def test_environment_alone_configures_the_connection():
    env = {
        "JIRA_BASE_URL": "https://env.atlassian.net",
        "JIRA_EMAIL": "env@example.com",
        "JIRA_API_TOKEN": "env-token-zyxw5555",
        "JIRA_CLOUD_ID": "abc-123",
    }
    status = json.loads(ok("jira", "status", "--json", env=env).stdout)
    assert status["configured"] is True and status["enabled"] is True
    assert status["api_mode"] == "service_account"
    assert status["problems"] == []


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        (
            "JIRA_ENABLED",
            "maybe",
            'JIRA_ENABLED must be true or false (also 1/0, yes/no), not "maybe"',
        ),
        ("JIRA_BASE_URL", "http://jira.example.com", "JIRA_BASE_URL"),
        ("JIRA_CLOUD_ID", "a/b", "JIRA_CLOUD_ID"),
    ],
)
def test_bad_environment_values_are_one_line_errors(name, value, fragment):
    assert fragment in error("jira", "status", env={name: value})


def test_disconnect():
    connect_offline("--site", "https://acme.atlassian.net", "--email", "me@example.com")
    path = paths.jira_config_path()
    assert ok("jira", "disconnect").stdout.strip() == f"Removed {path}."
    assert not path.exists()
    again = ok("jira", "disconnect", env={"JIRA_BASE_URL": "https://env.atlassian.net"})
    assert again.stdout.strip() == f"No saved Jira connection ({path} does not exist)."
    assert "JIRA_BASE_URL still set in the environment" in again.stderr
    assert json.loads(ok("jira", "status", "--json").stdout)["configured"] is False


def test_connect_non_interactive_needs_its_values():
    usage = error("jira", "connect", "--yes", "--email", "a@b.c", code=2)
    assert "Missing option --site" in usage
    usage = error("jira", "connect", "--yes", "--site", "https://a.atlassian.net", code=2)
    assert "Missing option --email" in usage
    usage = error(
        "jira", "connect", "--yes", "--site", "https://a.atlassian.net", "--email", "a@b.c", code=2
    )
    assert "Missing token" in usage
    line = error(
        "jira",
        "connect",
        "--yes",
        "--no-test",
        "--site",
        "jira.example.com",
        "--email",
        "a@b.c",
        "--token-env",
        "TOK",
        env={"TOK": "abcd-1234"},
    )
    assert "--site" in line and "has no scheme" in line
    line = error(
        "jira",
        "connect",
        "--no-test",
        "--token-stdin",
        "--site",
        "https://a.atlassian.net",
        "--email",
        "a@b.c",
        stdin="   \n",
    )
    assert line == "jiradex: no API token on stdin (--token-stdin)"
    assert not paths.jira_config_path().exists()


def test_connect_token_from_stdin_without_test():
    ok(
        "jira",
        "connect",
        "--no-test",
        "--token-stdin",
        "--site",
        "https://a.atlassian.net/",
        "--email",
        "a@example.com",
        stdin="stdin-token-4242\n",
    )
    saved = json.loads(paths.jira_config_path().read_text())
    assert saved["auth"]["apiToken"] == "stdin-token-4242"
    assert saved["baseUrl"] == "https://a.atlassian.net"


def test_connect_warns_when_environment_overrides_it():
    result = connect_offline(
        "--site",
        "https://acme.atlassian.net",
        "--email",
        "me@example.com",
        env={"JIRA_EMAIL": "other@example.com"},
    )
    assert result.stderr == (
        "jiradex: warning: JIRA_EMAIL is set in the environment and overrides the value "
        "saved: unset it to use the saved one\n"
    )
    result = connect_offline(
        "--site",
        "https://acme.atlassian.net",
        "--email",
        "me@example.com",
        env={"JIRA_EMAIL": "other@example.com", "JIRA_BASE_URL": "https://b.atlassian.net"},
    )
    assert result.stderr == (
        "jiradex: warning: JIRA_BASE_URL, JIRA_EMAIL are set in the environment and override "
        "the values saved: unset them to use the saved ones\n"
    )


def test_connect_with_the_token_from_jira_api_token_does_not_warn_of_an_override():
    """`connect --token-env JIRA_API_TOKEN` saved that token, then warned that
    "JIRA_API_TOKEN set in the environment override the saved values": the value
    in use was the one just saved."""
    result = ok(
        "jira", "connect", "--yes", "--no-test", "--site", "https://acme.atlassian.net",
        "--email", "me@example.com", "--token-env", "JIRA_API_TOKEN",
        env={"JIRA_API_TOKEN": "the-same-token-5151"},
    )  # fmt: skip
    assert result.stderr == ""
    assert json.loads(paths.jira_config_path().read_text())["auth"]["apiToken"] == (
        "the-same-token-5151"
    )


def test_jira_test_without_a_connection_fails_in_one_line():
    line = error("jira", "test")
    assert line.startswith("jiradex: Jira integration not enabled")
    connect_offline("--site", "https://acme.atlassian.net", "--email", "me@example.com")
    line = error("jira", "test", env={"JIRA_ENABLED": "0"})
    assert line.startswith(
        "jiradex: the Jira connection to https://acme.atlassian.net is switched off by "
        "JIRA_ENABLED in the environment"
    )
    assert "must start with a letter" in error("jira", "test", "--project", "1X")


# ------------------------------------------------------------------ entry points


def test_python_dash_m_cli_runs(jiradex_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIRA_")}
    env["JIRADEX_HOME"] = str(jiradex_home)
    done = subprocess.run(
        [sys.executable, "-m", "cli", "connector", "list", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["id"] == "jira"
    bad = subprocess.run(
        [sys.executable, "-m", "cli", "datasource", "show", "nope"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        'jiradex: no datasource named "nope": none is configured yet '
        "(add one with `jiradex datasource add`)"
    ]


def test_add_with_max_concurrency_and_a_bad_one():
    add_basic("polite", "--max-concurrency", "3")
    assert show_json("polite")["connector"]["config"]["max_concurrency"] == 3
    message = error(
        "datasource", "add", "greedy", "--endpoint", "https://acme.atlassian.net",
        "--project", "PR", "--max-concurrency", "64",
    )  # fmt: skip
    assert "max_concurrency must be a whole number from 1 to 32" in message
    assert "greedy" not in paths.datasources_path().read_text()


def test_set_changes_a_datasources_settings_and_keeps_its_issues():
    """Turning comments on or off, the interval, the JQL, the concurrency or the
    token without removing the datasource (which would forget its issues)."""
    from indexer import config
    from indexer.store import Store

    add_basic("main")
    with Store() as store:
        store.upsert_issues([{"id": "1", "key": "PROJ-1", "datasource": "main", "summary": "x"}])
    said = ok("datasource", "set", "MAIN", "--comments", "--attachments", "--interval", "1h")
    assert said.stdout.startswith('Updated datasource "main": ')
    connector = show_json("main")["connector"]["config"]
    assert connector["index_comments"] is True and connector["index_attachments"] is True
    assert show_json("main")["sync"]["interval"] == "1h"
    ok("datasource", "set", "main", "--no-comments", "--jql", "labels = ops")
    ok("datasource", "set", "main", "--max-concurrency", "12", "--token", "new-token-7788")
    ds = config.get_datasource("main")
    assert (ds.index_comments, ds.index_attachments, ds.jql) == (False, True, "labels = ops")
    assert ds.max_concurrency == 12 and ds.token == "new-token-7788"
    ok("datasource", "set", "main", "--jql", "")
    assert config.get_datasource("main").jql is None
    ok("datasource", "set", "main", "--token-env", "NEW_TOKEN", env={"NEW_TOKEN": "env-tok-9911"})
    assert config.get_datasource("main").token == "env-tok-9911"
    assert error("datasource", "set", "main", "--token-env", "UNSET_VAR_X") == (
        "jiradex: environment variable UNSET_VAR_X (from --token-env) is not set or empty"
    )
    with Store() as store:
        assert store.stats("main")["issues"] == 1  # kept
    assert error("datasource", "set", "main", code=2).startswith("jiradex: Nothing to change")
    assert error("datasource", "set", "main", "--interval", "5x") == (
        'jiradex: datasource "main": interval "5x" must be a duration like 30s, 5m, 1h, 1d or 1h30m'
    )
    assert error("datasource", "set", "nope", "--comments") == (
        'jiradex: no datasource named "nope" (configured: main)'
    )
    assert mode_of(paths.datasources_path()) == 0o600


def test_adding_a_second_datasource_for_the_same_issues_warns():
    """Two datasources for one project on one site: every search hit came twice, and
    nothing said why. Adding the second now says so (it is still added: another
    interval or token can be what the user wants); another JQL or project is quiet."""
    first = add_basic("one")
    assert first.stderr == ""
    second = add_basic("two")
    assert second.stderr.strip() == (
        'jiradex: warning: "two" indexes the same issues as "one" (PROJ on '
        "https://acme.atlassian.net): search will list each of them twice; remove one "
        "with `jiradex datasource remove NAME`"
    )
    assert add_basic("bugs", "--jql", "type = Bug").stderr == ""
    payload = {
        "name": "three",
        "type": "connector",
        "connector": {
            "id": "jira",
            "config": {"endpoint": "https://ACME.atlassian.net/", "project_key": "proj"},
        },
    }
    result = ok("datasource", "add", "--from-json", "-", stdin=json.dumps(payload))
    assert '"three" indexes the same issues as "one"' in result.stderr
    assert '"three" indexes the same issues as "two"' in result.stderr
    names = [d["name"] for d in json.loads(ok("datasource", "list", "--json").stdout)]
    assert names == ["one", "two", "bugs", "three"]


def test_a_cloud_endpoint_saved_with_a_path_is_read_as_its_root():
    """A datasources.json from an older version, holding a Cloud endpoint with a
    path (it took /jira for a context path; every call then 404ed): the site's
    root is used, and the other datasources and commands keep working."""
    entry = {
        "name": "old",
        "type": "connector",
        "connector": {
            "id": "jira",
            "config": {"endpoint": "https://acme.atlassian.net/jira", "project_key": "OLD"},
        },
    }
    paths.datasources_path().parent.mkdir(parents=True, exist_ok=True)
    paths.datasources_path().write_text(json.dumps([entry]))
    add_basic("good")
    listed = json.loads(ok("datasource", "list", "--json").stdout)
    assert [(d["name"], d["connector"]["config"]["endpoint"]) for d in listed] == [
        ("old", "https://acme.atlassian.net"),
        ("good", "https://acme.atlassian.net"),
    ]
    ok("datasource", "remove", "old")
