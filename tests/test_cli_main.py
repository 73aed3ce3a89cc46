"""The console-script wrapper: exit codes and one-line errors, whatever a command does."""

from __future__ import annotations

import sys

import click
import pytest

import cli
from indexer.errors import ConfigError


@pytest.fixture
def temporary_command():
    """Add a command to the real group for one test, then take it away."""
    added = []

    def add(fn):
        command = click.command(fn.__name__.replace("_", "-"))(click.pass_context(fn))
        cli.cli.add_command(command)
        added.append(command.name)
        return command.name

    yield add
    for name in added:
        cli.cli.commands.pop(name, None)


def test_ctx_exit_code_reaches_the_shell(temporary_command):
    def exits_three(ctx):
        ctx.exit(3)

    name = temporary_command(exits_three)
    with pytest.raises(SystemExit) as info:
        cli.main([name])
    assert info.value.code == 3


def test_success_exits_zero_or_returns(temporary_command):
    def does_nothing(ctx):
        click.echo("fine")

    name = temporary_command(does_nothing)
    try:
        cli.main([name])
    except SystemExit as exc:  # pragma: no cover - either is a success
        assert exc.code in (0, None)


def test_engine_error_is_one_line_exit_one(temporary_command, capsys):
    def fails(ctx):
        raise ConfigError("interval must look like 5m, not 'soon'")

    name = temporary_command(fails)
    with pytest.raises(SystemExit) as info:
        cli.main([name])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == "jiradex: interval must look like 5m, not 'soon'\n"


def test_unexpected_exception_is_one_line_not_a_traceback(temporary_command, capsys, monkeypatch):
    monkeypatch.delenv("JIRADEX_DEBUG", raising=False)

    def breaks(ctx):
        raise RuntimeError("boom\nsecond line")

    name = temporary_command(breaks)
    with pytest.raises(SystemExit) as info:
        cli.main([name])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError): boom second line" in err


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        ("n\n", "jiradex: cancelled, nothing changed"),  # was "aborted (no answer at a prompt)"
        ("", "jiradex: aborted (no answer at a prompt)"),
    ],
)
def test_declining_a_confirmation_is_not_taken_for_no_answer(temporary_command, answer, line):
    from click.testing import CliRunner

    def asks(ctx):
        click.confirm("Remove it?", abort=True)

    name = temporary_command(asks)
    with CliRunner().isolation(input=answer) as (_, err, _):
        with pytest.raises(SystemExit) as info:
            cli.main([name])
        assert info.value.code == 1
        assert err.getvalue().decode().splitlines()[-1] == line


def test_index_rebuild_without_a_terminal_needs_yes(tmp_path, capsys):
    from indexer import config, paths

    config.add_datasource(
        config.Datasource(name="work", endpoint="https://x.atlassian.net", project_key="PROJ")
    )
    paths.ensure_dir(paths.index_path().parent)
    paths.index_path().write_bytes(b"precious")
    with pytest.raises(SystemExit) as info:
        cli.main(["index", "rebuild"])  # pytest's stdin is not a terminal
    assert info.value.code == 2
    assert "--yes" in capsys.readouterr().err
    assert paths.index_path().read_bytes() == b"precious"


def _indexed_keys() -> set[str]:
    from indexer.store import Store

    with Store() as store:
        return {row[0] for row in store.conn.execute("SELECT key FROM issues")}


def _rebuild_with(monkeypatch, capsys, outcomes: dict[str, str]) -> tuple[int, str]:
    """`index rebuild --yes` where each datasource's sync ends as `outcomes` says; a
    sync that succeeds writes one issue, NEW-1, into the store it is given."""
    import indexer.sync
    from indexer import config

    for name in outcomes:
        config.add_datasource(
            config.Datasource(name=name, endpoint="https://x.atlassian.net", project_key="NEW")
        )

    def fake_sync(ds, *, store, full=False, progress=None, **_):
        assert full
        if outcomes[ds.name] != "ok":
            return indexer.sync.SyncSummary(ds.name, status="error", error=outcomes[ds.name])
        store.upsert_issues([{"id": "9", "key": "NEW-1", "datasource": ds.name, "summary": "x"}])
        return indexer.sync.SyncSummary(ds.name, issues=1)

    monkeypatch.setattr(indexer.sync, "sync_datasource", fake_sync)
    try:
        cli.main(["index", "rebuild", "--yes"])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def _old_index() -> None:
    from indexer.store import Store

    with Store() as store:
        store.upsert_issues([{"id": "1", "key": "OLD-1", "datasource": "one", "summary": "x"}])


def test_index_rebuild_that_cannot_reach_jira_keeps_the_index(monkeypatch, capsys):
    """It deleted the index first: a Jira that was down, or an expired token, left
    the user with an empty index."""
    from indexer import paths

    _old_index()
    code, err = _rebuild_with(monkeypatch, capsys, {"one": "ok", "two": "Connection refused"})
    assert code == 1
    assert err.count("\n") == 1 and "the index is kept as it was" in err
    assert _indexed_keys() == {"OLD-1"}
    assert sorted(p.name for p in paths.index_path().parent.glob("index.db*")) == ["index.db"]


def test_index_rebuild_replaces_the_index_once_every_sync_succeeded(monkeypatch, capsys):
    from indexer import paths

    _old_index()
    code, err = _rebuild_with(monkeypatch, capsys, {"one": "ok"})
    assert code == 0, err
    assert _indexed_keys() == {"NEW-1"}
    assert sorted(p.name for p in paths.index_path().parent.glob("index.db*")) == ["index.db"]


def test_sync_of_a_datasource_named_twice_runs_it_once(monkeypatch, capsys):
    import indexer.sync
    from indexer import config

    config.add_datasource(
        config.Datasource(name="one", endpoint="https://x.atlassian.net", project_key="ONE")
    )
    synced = []

    def fake_sync(ds, *, store, **_):
        synced.append(ds.name)
        return indexer.sync.SyncSummary(ds.name)

    monkeypatch.setattr(indexer.sync, "sync_datasource", fake_sync)
    try:
        cli.main(["sync", "--json", "one", "ONE", "one"])
    except SystemExit as exc:
        assert exc.code == 0
    assert synced == ["one"]
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_a_watched_datasource_removed_meanwhile_does_not_hold_up_the_others(capsys):
    """`sync --watch a b`, then `datasource remove b`: looking b up failed every
    tick, and a stopped syncing for good ("not synced: unknown datasource",
    helper-38). The watch now goes on with a, and says once that b is gone."""
    from indexer import config

    for name in ("a", "b"):
        config.add_datasource(
            config.Datasource(name=name, endpoint="https://x.atlassian.net", project_key="PR")
        )
    load = cli._watched_loader(("A", "b"))
    assert [ds.name for ds in load()] == ["a", "b"]
    config.remove_datasource("b")
    assert [ds.name for ds in load()] == ["a"]
    assert [ds.name for ds in load()] == ["a"]
    gone = "jiradex: warning: datasource 'b' no longer exists: --watch stops syncing it"
    assert capsys.readouterr().err.splitlines() == [gone]
    # Added back: watched again; removed again: said again (helper-39).
    config.add_datasource(
        config.Datasource(name="b", endpoint="https://x.atlassian.net", project_key="PR")
    )
    assert [ds.name for ds in load()] == ["a", "b"]
    config.remove_datasource("b")
    assert [ds.name for ds in load()] == ["a"]
    assert capsys.readouterr().err.splitlines() == [gone]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["sync", "--bogus"], "No such option '--bogus'"),
        (["search"], "Missing argument"),
        (["task", "show"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line_exit_two(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jiradex: ") and fragment in err
    assert f"try 'jiradex {argv[0]}" in err


def test_sync_progress_line_says_what_is_written_while_the_listing_goes_on():
    from indexer.sync import SyncProgress

    listing = SyncProgress("jira", "listing", 15000, None, written=1200)
    assert cli.ProgressLine.describe(listing) == "jira: listing issues… 15000 (1200 written)"
    first = SyncProgress("jira", "listing", 0, None)
    assert cli.ProgressLine.describe(first) == "jira: listing issues… 0"


def test_a_stopped_sync_says_so_once_and_takes_its_bar_off_the_terminal(capsys, monkeypatch):
    """On a terminal the progress bar has no line end until the run is done: a run
    that stops (Ctrl-C, cancel) erases it before its summary, which says how it
    ended once ("interrupted (Ctrl-C)", not "interrupted: interrupted (Ctrl-C)") and
    what it kept."""
    import cli
    from indexer.sync import SyncProgress, SyncSummary

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    progress = cli.ProgressLine()
    progress(SyncProgress("w", "fetching", 400, 3000))
    stopped = SyncSummary("w", status="interrupted", issues=400, error="interrupted (Ctrl-C)")
    cli._print_summary(stopped, as_json=False)
    out, err = capsys.readouterr()
    assert err.endswith("\r\x1b[2K")  # the bar drawn, then erased
    assert (
        out
        == "w: interrupted (Ctrl-C), 400 issues written before it stopped (kept; the next sync resumes)\n"
    )
    cancelled = SyncSummary("w", status="cancelled", issues=0, error='sync of "w" cancelled')
    cli._print_summary(cancelled, as_json=False)
    out, err = capsys.readouterr()
    assert err == ""  # nothing left to erase
    assert out.startswith("w: cancelled, 0 issues written")


def test_the_tui_without_a_terminal_says_so_instead_of_drawing_forever(monkeypatch):
    """`jiradex < /dev/null > out 2>&1` (cron, CI, a pipe) started the TUI: it never
    ended and filled the file with escape codes. `demo` without --headless too."""
    from cli_runner import run

    import tui.app

    def never(*_args, **_kwargs):
        raise AssertionError("started without a terminal")

    monkeypatch.setattr(tui.app, "run_app", never)
    for args in ((), ("tui",)):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("jiradex: the TUI needs a terminal")


def test_the_demo_without_a_terminal_runs_headless(monkeypatch, jiradex_home):
    """The README's first command (`jiradex demo`) run by a script or CI: it drew a
    TUI forever, then it refused; it now does the headless demo's job, exit 0."""
    from cli_runner import run

    import tui.app

    def never(*_args, **_kwargs):
        raise AssertionError("started without a terminal")

    import contextlib
    import types

    import cli
    import indexer.demo

    @contextlib.contextmanager
    def server(issues, latency_ms):
        yield types.SimpleNamespace(url="http://127.0.0.1:9", datasource="jiradex-demo")

    ran = []
    monkeypatch.setattr(tui.app, "run_app", never)
    monkeypatch.setattr(indexer.demo, "demo_server", server)
    monkeypatch.setattr(cli, "_demo_headless", lambda name, query: ran.append(name))
    result = run("demo", "--issues", "40")
    assert result.exit_code == 0, result.output
    assert "no terminal here: running it headless" in result.stderr
    assert ran == ["jiradex-demo"]
