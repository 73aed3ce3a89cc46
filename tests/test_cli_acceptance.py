"""Acceptance regressions: what an outside tester of the CLI found, one test per fix.

Each test drives the real `cli.main` (exit-code mapping included) through CliRunner.
HTTP is replayed from `cassettes/qa/` (recorded against fakejira, no server on
replay). Re-recording (starts fakejira; serially):

    JIRADEX_RECORD=1 /work/venv/bin/pytest -q -p no:xdist tests/test_cli_acceptance.py
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from cassette_utils import FAKE_GATEWAY, FAKE_SITE, OriginMap, make_vcr, recording, scrub
from cli_runner import run

import cli
from indexer import config, paths
from indexer.store import Store
from indexer.sync import SyncSummary

PROJECT = "QAX"
EMAIL = "qa.tester@example.com"
TOKEN = "qa-accept-token-7f3d"
CLOUD_ID = "9d2c4e61-0b5a-4f7e-8c3d-2a1b0c9d8e7f"
scrub(TOKEN)


def one_error_line(result, code: int = 1) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


class Jira:
    """fakejira (Cloud, or the service-account gateway) while recording; the fixed
    origins on replay."""

    def __init__(self, mode: str = "cloud"):
        self.fj = None
        mapping: dict[str, str] = {}
        if recording():
            from fakejira import FakeJira

            self.fj = FakeJira(
                mode=mode, issues=3, project=PROJECT, email=EMAIL, token=TOKEN, cloud_id=CLOUD_ID
            ).start()
            self.site, self.gateway = self.fj.url, self.fj.gateway_url
            if mode == "gateway":  # one port serves both: /ex/jira tells them apart
                mapping[f"{self.gateway}/ex/jira"] = f"{FAKE_GATEWAY}/ex/jira"
            mapping[self.site] = FAKE_SITE
        else:
            self.site, self.gateway = FAKE_SITE, FAKE_GATEWAY
        self.origins = OriginMap(mapping)

    def cassette(self, name: str):
        return make_vcr(self.origins).use_cassette(f"qa/{name}.yaml")

    def stop(self) -> None:
        if self.fj is not None:
            self.fj.stop()


@pytest.fixture
def jira():
    j = Jira()
    yield j
    j.stop()


@pytest.fixture
def gateway(monkeypatch):
    j = Jira("gateway")
    monkeypatch.setenv("JIRADEX_GATEWAY_URL", j.gateway)
    yield j
    j.stop()


def add(name: str, *, enabled: bool = True, sync_enabled: bool = True) -> None:
    config.add_datasource(
        config.Datasource(
            name=name,
            endpoint="http://127.0.0.1:9",
            project_key=PROJECT,
            enabled=enabled,
            sync_enabled=sync_enabled,
        )
    )


# --------------------------------------------------------------------------- jira connect


def test_connect_with_site_email_and_token_env_asks_nothing(jira, monkeypatch):
    """All three flags given: no account-type prompt (it used to abort on a closed stdin)."""
    monkeypatch.setenv("QA_JIRA_TOKEN", TOKEN)
    with jira.cassette("connect_token_env"):
        result = run(
            "jira",
            "connect",
            "--site",
            jira.site,
            "--email",
            EMAIL,
            "--token-env",
            "QA_JIRA_TOKEN",
            stdin="",
        )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Account type" not in result.output
    assert "Saved the Jira connection" in result.stdout
    assert TOKEN not in result.output
    saved = json.loads(paths.jira_config_path().read_text())
    assert saved == {
        "enabled": True,
        "baseUrl": jira.site,
        "auth": {"email": EMAIL, "apiToken": TOKEN},
    }


def test_connect_service_account_with_all_flags_uses_the_fetched_cloud_id(gateway, monkeypatch):
    """It used to stop at a "Cloud id [...]" prompt even with every value given."""
    monkeypatch.setenv("QA_JIRA_TOKEN", TOKEN)
    args = ["jira", "connect", "--service-account", "--site", gateway.site, "--email", EMAIL]
    with gateway.cassette("connect_service_account_flags"):
        result = run(*args, "--token-env", "QA_JIRA_TOKEN", stdin="")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Cloud id [" not in result.output and "Account type" not in result.output
    saved = json.loads(paths.jira_config_path().read_text())
    assert saved["cloudId"] == CLOUD_ID and saved["baseUrl"] == gateway.site
    assert f"{gateway.gateway}/ex/jira/{CLOUD_ID}" in result.stdout


# --------------------------------------------------------------------------- show


@pytest.mark.parametrize("key", ["bad key!", "", "ABC-", "12-ABC", "AB C-1", "ABC-12; DROP"])
def test_show_bad_key_says_what_a_key_looks_like(key):
    line = one_error_line(run("show", key))
    assert line.startswith("jiradex: Issue key must look like PROJECT-123"), line


def test_show_good_key_shape_without_index_says_sync():
    line = one_error_line(run("show", "abc-12"))
    assert "no index yet" in line


# --------------------------------------------------------------------------- sync


def test_sync_json_reports_a_cancelled_run_as_status_error(monkeypatch):
    """The contract's status is "ok" or "error"; a cancelled run used to say "cancelled"."""
    add("qa")

    def cancelled(ds, **_):
        return SyncSummary(ds.name, status="cancelled", issues=3, error='sync of "qa" cancelled')

    monkeypatch.setattr("indexer.sync.sync_datasource", cancelled)
    result = run("sync", "--json")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["status"] == "error" and line["cancelled"] is True
    assert line["error"] == 'sync of "qa" cancelled' and line["issues"] == 3
    for key in ("datasource", "issues", "comments", "attachments", "deleted", "seconds"):
        assert key in line


def test_a_failed_sync_says_so_on_stderr_after_syncing_the_others(monkeypatch):
    """Exit 1 comes with one `jiradex:` line on stderr; the summaries stay on stdout."""
    add("qa")
    add("ops")

    def half_broken(ds, **_):
        if ds.name == "qa":
            return SyncSummary(ds.name, status="error", error="Connection refused")
        return SyncSummary(ds.name, issues=2)

    monkeypatch.setattr("indexer.sync.sync_datasource", half_broken)
    result = run("sync")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["jiradex: 1 of 2 datasource syncs failed: qa"]
    assert "Connection refused" in result.stdout and "ops" in result.stdout


def test_an_unexpected_error_in_a_sync_is_logged_nowhere_the_user_sees(tmp_path):
    """A bug inside one sync ends as that datasource's error line: no traceback, which
    Python's last-resort log handler printed when nothing configured logging."""
    import subprocess
    import sys

    home = tmp_path / "home"
    script = (
        "import indexer.sync as s\n"
        "def boom(self, full): raise RuntimeError('boom in the engine')\n"
        "s._Run.execute = boom\n"
        "import cli\n"
        "from indexer import config\n"
        "config.add_datasource(config.Datasource(name='qa', "
        "endpoint='https://qa.example.com', project_key='QA'))\n"
        "cli.main(['sync'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "JIRADEX_HOME": str(home)},
        cwd=Path(cli.__file__).parent,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "jiradex: 1 of 1 datasource syncs failed: qa"
    assert "unexpected RuntimeError: boom in the engine" in done.stdout


def test_ctrl_c_during_sync_exits_130_with_one_line(monkeypatch):
    """Click turns Ctrl-C into Abort; it used to end as "Aborted." with exit 1."""
    add("qa")

    def interrupted(ds, **_):
        raise KeyboardInterrupt

    monkeypatch.setattr("indexer.sync.sync_datasource", interrupted)
    result = run("sync")
    assert result.exit_code == 130
    assert "Traceback" not in result.output
    assert [ln for ln in result.stderr.splitlines() if ln.strip()] == ["jiradex: interrupted"]


def test_ctrl_c_during_sync_json_still_prints_what_the_run_wrote(monkeypatch):
    """Scripts reading `sync --json` get the interrupted run's line before exit 130."""
    from indexer.sync import SyncInterrupted

    add("qa")
    add("ops")

    def interrupted(ds, **_):
        raise SyncInterrupted(
            SyncSummary(ds.name, status="interrupted", issues=5, error="interrupted (Ctrl-C)")
        )

    monkeypatch.setattr("indexer.sync.sync_datasource", interrupted)
    result = run("sync", "--json")
    assert result.exit_code == 130
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 1  # the second datasource never started
    assert lines[0]["datasource"] == "qa" and lines[0]["issues"] == 5
    assert lines[0]["status"] == "error" and lines[0]["interrupted"] is True
    assert result.stderr.strip().splitlines()[-1] == "jiradex: interrupted"


def test_end_of_input_at_a_prompt_is_still_aborted_with_exit_1():
    """Only Ctrl-C is 130: a wizard that reads end-of-file is aborted with 1."""
    result = run("jira", "connect", stdin="")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == "jiradex: aborted (no answer at a prompt)"
    assert not paths.jira_config_path().exists()


def test_watch_on_only_disabled_datasources_fails_instead_of_idling(monkeypatch):
    add("off", enabled=False)
    add("manual", sync_enabled=False)
    monkeypatch.setattr("indexer.scheduler.watch", lambda *a, **k: pytest.fail("watched"))
    result = run("sync", "off", "manual", "--watch")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    err = result.stderr
    assert "'off' is disabled: --watch skips it" in err
    assert "'manual' has scheduled sync turned off" in err
    assert err.strip().splitlines()[-1].startswith("jiradex: nothing to watch")


def test_watch_warns_about_a_disabled_one_and_watches_the_rest(monkeypatch):
    add("on")
    add("off", enabled=False)
    calls = []

    def fake_watch(load, open_store, on_summary, stop, progress=None, **_):
        calls.append([ds.name for ds in load()])

    monkeypatch.setattr("indexer.scheduler.watch", fake_watch)
    result = run("sync", "on", "off", "--watch")
    assert result.exit_code == 0, result.stderr
    assert "'off' is disabled" in result.stderr
    assert "watching on: Ctrl-C to stop" in result.stderr
    assert calls == [["on", "off"]]  # the scheduler itself skips disabled ones


# --------------------------------------------------------------------------- start-up


def test_ctrl_c_guard_while_importing_is_removed_once_cli_is_loaded():
    """The import-time SIGINT handler must not outlive the import (pytest, TUI)."""
    assert signal.getsignal(signal.SIGINT) is not cli._interrupted_while_starting
    with pytest.raises(SystemExit) as exc:
        cli._interrupted_while_starting(signal.SIGINT, None)
    assert exc.value.code == 130


# --------------------------------------------------------------------------- store


def test_a_second_process_opening_a_fresh_index_does_not_migrate_twice(tmp_path):
    """Two `jiradex sync` on a fresh home: the loser of the write lock read version 0
    before the winner migrated, then failed with "table issues already exists"."""
    path = tmp_path / "index.db"
    Store(path).close()  # the other process got there first

    class LateStore(Store):
        stale = True

        @property
        def schema_version(self) -> int:
            if LateStore.stale:  # what it read before waiting for the lock
                LateStore.stale = False
                return 0
            return super().schema_version

    store = LateStore(path)
    try:
        assert store.integrity_check() == []
    finally:
        store.close()


# --------------------------------------------------------------------------- demo, search table


@pytest.mark.parametrize(
    "args", [["--issues", "-5"], ["--issues", "0"], ["--latency-ms", "-1"], ["--issues", "x"]]
)
def test_demo_refuses_impossible_sizes_as_usage_errors(args, monkeypatch):
    """`demo --issues -5` used to start a server and sync an empty project."""
    monkeypatch.setattr("indexer.demo.demo_server", lambda *a: pytest.fail("server started"))
    result = run("demo", "--headless", *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_demo_leaves_a_users_demo_datasource_alone_and_retires_its_own():
    """The demo replaced a datasource of the user's called `demo`, and left its own
    enabled on a port that closes with the demo, failing every later `sync`."""
    from indexer.demo import demo_server

    mine = config.Datasource(
        name="demo", endpoint="https://jira.example.com", project_key="OPS", token="pat-1234"
    )
    config.add_datasource(mine)
    with demo_server(issue_count=3) as demo:
        assert demo.datasource == "jiradex-demo-2"
        ours = config.get_datasource(demo.datasource)
        assert ours.enabled and ours.endpoint == demo.url
    assert config.get_datasource("demo") == config.validate_datasource(mine)
    assert not config.get_datasource("jiradex-demo-2").enabled
    with demo_server(issue_count=3) as again:  # the next demo reuses its own
        assert again.datasource == "jiradex-demo-2"
        assert config.get_datasource(again.datasource).enabled
    assert [ds.name for ds in config.load_datasources()] == ["demo", "jiradex-demo-2"]
    config.remove_datasource("demo")
    with demo_server(issue_count=3) as fresh:
        assert fresh.datasource == "demo"


@pytest.mark.parametrize(
    "text, width, expected",
    [
        ("Wei Zhang 张伟", 16, "Wei Zhang 张伟  "),
        ("张伟张伟张伟", 7, "张伟张…"),
        ("abc", 5, "abc  "),
        ("abcdef", 4, "abc…"),
    ],
)
def test_search_table_cells_count_wide_characters_twice(text, width, expected):
    """CJK names pushed the UPDATED column right: padding counted characters, not cells."""
    fitted = cli._fit(text, width)
    assert fitted == expected
    assert cli._cells(fitted) == width


# --------------------------------------------------------------------------- sync end to end

SYNC_KEYS = {"datasource", "status", "issues", "comments", "attachments", "deleted", "error"}
HIT_KEYS = {
    "key", "summary", "status", "project", "issuetype", "assignee", "updated", "url",
    "snippet", "score", "datasource", "matched",
}  # fmt: skip
SHOW_KEYS = {
    "key", "id", "summary", "description", "status", "priority", "issuetype", "assignee",
    "reporter", "labels", "created", "updated", "url", "comments", "attachments",
}  # fmt: skip


def test_sync_two_datasources_one_missing_project_then_search_and_show(jira):
    """One datasource names a project Jira does not have: the other still syncs, the
    run exits 1, and the error is the project message (it was Jira's raw 400 text)."""
    for name, project in (("good", PROJECT), ("missing", "NOPE")):
        config.add_datasource(
            config.Datasource(
                name=name,
                endpoint=jira.site,
                project_key=project,
                username=EMAIL,
                token=TOKEN,
                index_comments=True,
                index_attachments=True,
            )
        )
    with jira.cassette("sync_one_missing_project"):
        result = run("sync", "--json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["datasource"] for line in lines] == ["good", "missing"]
    good, missing = lines
    assert set(good) >= SYNC_KEYS and isinstance(good["seconds"], float | int)
    assert good["status"] == "ok" and good["issues"] == 3 and good["error"] is None
    assert missing["status"] == "error" and missing["issues"] == 0
    assert missing["error"] == "Project NOPE does not exist or you do not have permission to see it"

    hits = json.loads(run("search", "--json", f"project:{PROJECT}").stdout)
    assert len(hits) == 3 and all(set(h) >= HIT_KEYS for h in hits)
    assert {h["matched"] for h in hits} <= {"issue", "comment", "attachment"}
    key = hits[0]["key"]
    shown = run("show", key.lower(), "--json")
    assert shown.exit_code == 0, shown.stderr
    issue = json.loads(shown.stdout)
    assert set(issue) >= SHOW_KEYS and issue["key"] == key
    assert issue["url"] == f"{jira.site}/browse/{key}"
    for comment in issue["comments"]:
        assert set(comment) >= {"id", "author", "created", "body"}
    for attachment in issue["attachments"]:
        assert set(attachment) >= {"id", "filename", "mimetype", "size", "indexed"}


def test_watch_with_full_is_a_usage_error_not_silently_incremental(monkeypatch):
    add("qa")
    monkeypatch.setattr("indexer.scheduler.watch", lambda *a, **k: pytest.fail("watched"))
    result = run("sync", "--watch", "--full")
    assert result.exit_code == 2
    assert "--full and --watch cannot be combined" in result.stderr
