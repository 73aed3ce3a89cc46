"""Tab completion: what `jiradex` offers a shell, through Click's completion protocol."""

from __future__ import annotations

import os

import pytest
from cli_runner import run
from test_cli_search import record

from indexer import config, paths, tasks
from indexer.store import Store


def offered(line: str, shell: str = "bash") -> list[str]:
    """The values `jiradex` offers for the last word of `line` (bash: the words)."""
    words = line.split(" ")
    env = {
        "_JIRADEX_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1),
    }
    result = run(env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    if shell == "zsh":  # type, value, help: three lines each
        lines = result.stdout.split("\n")
        return [f"{lines[i + 1]}|{lines[i + 2]}" for i in range(0, len(lines) - 2, 3)]
    return [entry.split(",", 1)[1] for entry in result.stdout.split("\n") if entry]


def add_datasource(name: str) -> None:
    config.add_datasource(
        config.Datasource(name=name, endpoint="https://jira.example.com", project_key="OPS")
    )


@pytest.fixture
def indexed():
    summaries = {
        1: "First",
        2: "Second",
        12: "Twelfth",
        13: "Thirteenth",
        120: "A hundred and twenty",
    }
    with Store() as store:
        store.upsert_issues(
            [
                record(n, summary, updated=f"2024-03-{min(n, 28):02d}T10:00:00.000Z")
                for n, summary in summaries.items()
            ]
        )


def test_datasource_names_complete_for_every_command_that_takes_one():
    add_datasource("work")
    add_datasource("Wiki")
    add_datasource("home")
    assert offered("jiradex sync w") == ["work", "Wiki"]
    assert offered("jiradex sync work ") == ["Wiki", "home"]  # not twice
    assert offered("jiradex datasource show h") == ["home"]
    assert offered("jiradex datasource remove ") == ["work", "Wiki", "home"]
    assert offered("jiradex search --datasource wo") == ["work"]
    assert offered("jiradex show --datasource h") == ["home"]
    assert offered("jiradex task import --datasource W") == ["work", "Wiki"]


def test_a_new_datasource_name_is_not_completed_from_the_old_ones():
    add_datasource("work")
    assert offered("jiradex datasource add w") == []


def test_issue_keys_complete_shortest_first_with_their_summaries(indexed):
    assert offered("jiradex show ops-1") == ["OPS-1", "OPS-12", "OPS-13", "OPS-120"]
    assert offered("jiradex task import OPS-12") == ["OPS-12", "OPS-120"]
    assert offered("jiradex show OPS-12", shell="zsh") == [
        "OPS-12|Twelfth",
        "OPS-120|A hundred and twenty",
    ]


def test_before_a_dash_the_most_recently_updated_issues_are_offered(indexed):
    assert offered("jiradex show ") == ["OPS-120", "OPS-13", "OPS-12", "OPS-2", "OPS-1"]
    assert offered("jiradex show o") == ["OPS-120", "OPS-13", "OPS-12", "OPS-2", "OPS-1"]
    assert offered("jiradex show X") == []


def test_a_key_several_datasources_hold_is_offered_once_with_its_newest_summary(indexed):
    with Store() as store:
        store.upsert_issues(
            [record(12, "Twelfth, renamed", datasource="home", updated="2024-04-01T10:00:00.000Z")]
        )
    assert offered("jiradex show ", shell="zsh")[:2] == [
        "OPS-12|Twelfth, renamed",
        "OPS-120|A hundred and twenty",
    ]
    assert offered("jiradex show OPS-12") == ["OPS-12", "OPS-120"]


def test_recent_keys_are_read_by_walking_the_updated_index(indexed, monkeypatch):
    """`jiradex show <Tab>` runs on every Tab: its query stops at the limit instead
    of sorting every issue (300 ms at 100k issues, with a GROUP BY key)."""
    from indexer import completion

    asked = []
    read = completion._read
    monkeypatch.setattr(
        completion,
        "_read",
        lambda path, sql, params: asked.append((sql, params)) or read(path, sql, params),
    )
    assert [key for key, _ in completion.issue_keys("")][:1] == ["OPS-120"]
    with Store() as store:
        plan = str(store.conn.execute("EXPLAIN QUERY PLAN " + asked[0][0], asked[0][1]).fetchall())
    assert "issues_updated" in plan and "TEMP B-TREE" not in plan, plan


def test_like_wildcards_typed_in_a_key_are_literal(indexed):
    assert offered("jiradex show OPS-1_") == []
    assert offered("jiradex show %") == []


def test_task_ids_complete_newest_first_with_key_and_title():
    store = tasks.TaskStore()
    for n in range(1, 12):
        link = tasks.TaskLink(
            f"OPS-{n}", str(n), "work", f"https://jira.example.com/browse/OPS-{n}"
        )
        store.create("task", f"OPS-{n}: fix {n}", "#", link)
    assert offered("jiradex task show 1") == ["11", "10", "1"]
    assert offered("jiradex task post 7", shell="zsh") == ["7|OPS-7 OPS-7: fix 7"]
    assert offered("jiradex task result 3 ") == []  # the file argument: the shell's own


def test_completion_creates_nothing_in_an_empty_home():
    assert offered("jiradex show ") == []
    assert offered("jiradex task show ") == []
    assert offered("jiradex sync ") == []
    assert not paths.index_path().exists()
    assert not paths.tasks_path().exists()
    assert not paths.config_dir().exists()


def test_completion_leaves_the_index_directory_as_it_found_it(indexed):
    """Tab read the index with `mode=ro`, which made index.db-wal and index.db-shm
    that a read-only connection cannot remove: each Tab left them behind."""
    tasks.TaskStore().create(
        "task", "OPS-1: fix", "#", tasks.TaskLink("OPS-1", "1", "work", "https://j/OPS-1")
    )
    data = paths.index_path().parent

    def listing() -> list[str]:
        return sorted(str(p.relative_to(data)) for p in data.rglob("*"))

    before = listing()
    assert offered("jiradex show OPS-12") == ["OPS-12", "OPS-120"]
    assert offered("jiradex show ")[:1] == ["OPS-120"]
    assert offered("jiradex task show ") == ["1"]
    assert listing() == before
    assert "index.db-wal" not in before


def test_completion_reads_what_an_open_writer_committed_and_leaves_its_files(indexed):
    with Store() as writer:  # a sync in progress: its -wal and -shm are there
        writer.conn.execute("PRAGMA wal_autocheckpoint = 0")
        writer.upsert_issues([record(77, "Committed, not checkpointed")])
        data = paths.index_path().parent
        before = sorted(p.name for p in data.iterdir())
        assert "index.db-wal" in before
        assert offered("jiradex show OPS-77", shell="zsh") == ["OPS-77|Committed, not checkpointed"]
        assert sorted(p.name for p in data.iterdir()) == before


def test_a_broken_config_offers_nothing_and_prints_nothing():
    paths.ensure_dir(paths.config_dir())
    paths.datasources_path().write_text("{not json")
    assert offered("jiradex sync ") == []  # the error is `jiradex sync`'s to report


def test_a_file_that_is_not_a_database_offers_nothing():
    paths.ensure_dir(paths.index_path().parent)
    paths.index_path().write_text("not sqlite")
    assert offered("jiradex show OPS-") == []


def test_summaries_reach_the_shell_without_terminal_escapes():
    with Store() as store:
        store.upsert_issues([record(5, "Evil \x1b]0;owned\x07title\nsecond line")])
    assert offered("jiradex show OPS-5", shell="zsh") == ["OPS-5|Evil title second line"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_for_each_shell(shell):
    result = run("completion", shell)
    assert result.exit_code == 0
    assert f"_JIRADEX_COMPLETE={shell}_complete" in result.stdout
    assert "jiradex" in result.stdout


def test_completion_of_an_unknown_shell_is_a_usage_error():
    result = run("completion", "powershell")
    assert result.exit_code == 2
    assert "powershell" in result.stderr


# --------------------------------------------------------------------------- in bash itself


def bash_completes(words: list[str], tmp_path) -> list[str]:
    """COMPREPLY of the printed bash script's function for `words` (the last is the
    word at the cursor) as bash splits a line: `--opt=value` is three words."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / "jiradex"
    program.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m cli "$@"\n')
    program.chmod(0o755)
    script = run("completion", "bash").stdout
    ask = (
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}; _jiradex_completion jiradex; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script + "\n" + ask],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line for line in done.stdout.split("\n") if line]


def test_bash_inserts_a_name_with_a_space_as_one_word(tmp_path):
    """`jiradex sync m<Tab>` gave `jiradex sync my ds`: two datasources."""
    add_datasource("my ds")
    add_datasource("a&b")
    assert bash_completes(["jiradex", "sync", "m"], tmp_path) == ["my\\ ds"]
    assert bash_completes(["jiradex", "sync", "a"], tmp_path) == ["a\\&b"]
    # Begun with a quote, the name goes in as it is: bash closes the quote.
    assert bash_completes(["jiradex", "sync", '"m'], tmp_path) == ["my ds"]


def test_bash_completes_the_value_of_an_option_written_with_an_equals_sign(tmp_path, indexed):
    """bash breaks `--datasource=wo` into `--datasource`, `=`, `wo`: nothing was
    offered, and a key after `--datasource=work` was not completed either."""
    add_datasource("work")
    add_datasource("home")
    assert bash_completes(["jiradex", "search", "--datasource", "=", "wo"], tmp_path) == ["work"]
    assert bash_completes(["jiradex", "search", "--datasource", "="], tmp_path) == [
        "work",
        "home",
    ]
    words = ["jiradex", "task", "import", "--datasource", "=", "work", "OPS-12"]
    assert bash_completes(words, tmp_path) == ["OPS-12", "OPS-120"]
