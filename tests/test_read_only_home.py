"""A jiradex home this user cannot write (a read-only mount or volume, a home made
read-only, an index that another user's cron job syncs): what reads it works, what
would write it says it is read-only in one line, and nothing in it changes."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from read_only import python_read_only, run_read_only, writer_may_write

from indexer import config, tasks
from indexer.store import Store


def record(n: int, summary: str, **extra) -> dict:
    base = {
        "id": str(30000 + n),
        "key": f"RO-{n}",
        "project": "RO",
        "datasource": "work",
        "summary": summary,
        "description": f"Description of {summary}",
        "description_text": f"Description of {summary}",
        "issuetype": "Bug",
        "status": "Open",
        "status_category": "To Do",
        "priority": "High",
        "assignee": "Ann Example",
        "reporter": "Bob Example",
        "labels": ["backend"],
        "components": [],
        "created": "2024-01-01T10:00:00.000Z",
        "updated": f"2024-03-{n:02d}T10:00:00.000Z",
        "url": f"https://jira.example.com/browse/RO-{n}",
        "raw": None,
    }
    base.update(extra)
    return base


def snapshot(home: Path) -> dict[str, str]:
    """Every file under the home, with a digest of its bytes."""
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def synced(jiradex_home) -> Path:
    """A home whose index holds two issues, closed cleanly (no -wal or -shm beside it)."""
    with Store() as store:
        store.upsert_issues(
            [record(1, "Connection pool timeout"), record(2, "Dark mode for settings")]
        )
    data = jiradex_home / "data"
    assert sorted(p.name for p in data.iterdir()) == ["index.db"]
    return jiradex_home


def test_search_and_show_read_an_index_whose_directory_cannot_be_written(synced):
    before = snapshot(synced)
    found = run_read_only(synced, "search", "timeout", "--json")
    assert found.returncode == 0, found.stderr
    assert [hit["key"] for hit in json.loads(found.stdout)] == ["RO-1"]
    plain = run_read_only(synced, "search", "settings")
    assert plain.returncode == 0, plain.stderr
    assert "RO-2" in plain.stdout and "Dark mode" in plain.stdout
    shown = run_read_only(synced, "show", "RO-2", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["summary"] == "Dark mode for settings"
    assert snapshot(synced) == before  # no -wal, no -shm, not a byte changed


def test_a_name_filter_with_words_reads_a_read_only_index(jiradex_home):
    """`assignee:mueller timeout` compares names in their other spellings with an SQL
    function: a read-only index has it too (it said "no such function: jx_name_forms",
    and to rebuild the index)."""
    with Store() as store:
        store.upsert_issues(
            [
                record(1, "Connection pool timeout", assignee="Zoë Müller"),
                record(2, "Timeout in the exporter"),
            ]
        )
    before = snapshot(jiradex_home)
    for query in ("assignee:mueller timeout", "timeout assignee:zoe"):
        found = run_read_only(jiradex_home, "search", query, "--json")
        assert found.returncode == 0, found.stderr
        assert [hit["key"] for hit in json.loads(found.stdout)] == ["RO-1"]
    assert snapshot(jiradex_home) == before


def test_a_wal_left_beside_the_index_is_read_with_it(synced):
    """A writer that died (or one still open) leaves -wal and -shm: a read-only reader
    sees what the WAL holds, not only the database file."""
    code = (
        "import os, sys\n"
        "from indexer.store import Store\n"
        "s = Store()\n"
        "s.conn.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "s.upsert_issues([{**json.loads(sys.argv[1])}])\n"
        "os._exit(0)\n"
    )
    new = record(3, "Export stops at ten thousand rows")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    subprocess.run(
        [sys.executable, "-c", "import json\n" + code, json.dumps(new)], env=env, check=True
    )
    data = synced / "data"
    assert (data / "index.db-wal").stat().st_size > 0
    found = run_read_only(synced, "search", "export", "--json")
    assert found.returncode == 0, found.stderr
    assert [hit["key"] for hit in json.loads(found.stdout)] == ["RO-3"]


READER = """
import sys
from indexer import config, tasks
from indexer.store import Store
store = Store()
print("immutable" if store._immutable else "ro", flush=True)
for line in sys.stdin:
    issue = store.get_issue(line.strip())
    print(issue["summary"] if issue else "-", flush=True)
"""


def test_a_long_reader_follows_a_writer_that_starts_later(synced):
    """The TUI's Store stays open for hours while a cron job (the owner of the home)
    syncs: the reader opened without a -wal (immutable) sees the writer's commits."""
    with python_read_only(synced, READER) as reader:

        def ask(key: str) -> str:
            reader.stdin.write(key + "\n")
            reader.stdin.flush()
            return reader.stdout.readline().strip()

        assert reader.stdout.readline().strip() == "immutable", reader.stderr.read()
        assert ask("RO-1") == "Connection pool timeout"
        with writer_may_write(synced), Store() as writer:
            writer.upsert_issues([record(1, "Connection pool timeout, fixed")])
            assert ask("RO-1") == "Connection pool timeout, fixed"
            writer.upsert_issues([record(4, "Written while the reader reads")])
            assert ask("RO-4") == "Written while the reader reads"
        with writer_may_write(synced), Store() as writer:
            writer.upsert_issues([record(5, "A second sync")])
        assert ask("RO-5") == "A second sync"


def test_a_write_to_a_read_only_index_says_so(synced):
    code = (
        "from indexer.store import Store\n"
        "from indexer.errors import StoreError\n"
        "store = Store()\n"
        "try:\n"
        "    store.set_state('work', {'a': 1})\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
    )
    before = snapshot(synced)
    with python_read_only(synced, code) as proc:
        proc.stdin.close()
        said = proc.stdout.read()
    assert "is read-only" in said and "nothing was written" in said, said
    assert snapshot(synced) == before
    with Store() as store:
        assert store.get_state("work") == {}


@pytest.fixture
def configured(synced) -> Path:
    """The synced home with a datasource, a Jira connection and a task with a result,
    as a cron job's owner would have set it up."""
    config.add_datasource(
        config.Datasource(
            name="work", endpoint="https://jira.example.com", project_key="RO", token="t0ken"
        )
    )
    config.save_jira_connection(
        config.JiraConnection(
            enabled=True, base_url="https://jira.example.com", email="a@example.com", api_token="t"
        )
    )
    store = tasks.TaskStore()
    link = tasks.TaskLink("RO-1", "30001", "work", "https://jira.example.com/browse/RO-1")
    task = store.create("task", "RO-1: Connection pool timeout", "#", link)
    store.set_result(task.id, "Fixed the pool.")
    return synced


WRITES = [
    ("sync",),
    ("sync", "work", "--full", "--json"),
    ("index", "rebuild", "--yes"),
    ("task", "import", "RO-2"),
    ("task", "result", "1", "-"),
    ("task", "post", "1"),
    ("task", "unlink", "1"),
    ("datasource", "add", "more", "--endpoint", "https://jira.example.com", "--project", "MORE"),
    ("datasource", "set", "work", "--comments"),
    ("datasource", "remove", "work"),
    ("datasource", "disable", "work"),
    ("jira", "disconnect"),
]


@pytest.mark.parametrize("args", WRITES, ids=" ".join)
def test_a_write_in_a_read_only_home_fails_in_one_line_that_says_so(configured, args):
    before = snapshot(configured)
    done = run_read_only(configured, *args, stdin="A result\n")
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jiradex: "), done.stderr
    assert "read-only" in lines[0], lines[0]
    assert "internal error" not in lines[0]
    assert snapshot(configured) == before


def test_a_read_only_home_without_tasks_lists_none(synced):
    """`task list` said "cannot create the directory .../data/tasks" in a read-only
    home where no task was ever imported: it has none to list, and says so."""
    before = snapshot(synced)
    listed = run_read_only(synced, "task", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    plain = run_read_only(synced, "task", "list")
    assert plain.returncode == 0 and "No tasks yet" in plain.stderr, plain.stderr
    shown = run_read_only(synced, "task", "show", "1")
    assert shown.returncode == 1 and shown.stderr.startswith("jiradex: No task T-1"), shown.stderr
    imported = run_read_only(synced, "task", "import", "RO-1")
    assert imported.returncode == 1
    assert "is read-only" in imported.stderr and len(imported.stderr.splitlines()) == 1
    assert snapshot(synced) == before
    assert not (synced / "data" / "tasks").exists()


def test_index_check_of_a_read_only_index_is_not_reported_as_damage(synced):
    """`index check` said "index check failed: issue_fts: attempt to write a readonly
    database": FTS5's integrity-check is a write, which a read-only index refuses."""
    before = snapshot(synced)
    checked = run_read_only(synced, "index", "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == "index ok\n"
    assert "read-only" in checked.stderr and "left out" in checked.stderr
    assert snapshot(synced) == before


def test_index_check_of_a_read_only_index_still_finds_damage(synced):
    with sqlite3.connect(synced / "data" / "index.db") as db:
        db.execute("DELETE FROM title_fts WHERE rowid = (SELECT min(rowid) FROM title_fts)")
    db.close()
    checked = run_read_only(synced, "index", "check")
    assert checked.returncode == 1
    assert checked.stderr.startswith("jiradex: index check failed: title_fts has 1 rows"), (
        checked.stderr
    )


def test_a_wal_without_its_shm_in_a_read_only_directory_is_explained(synced):
    """A -wal with no -shm (a writer killed mid-way whose -shm was lost, or a copy
    of two of the three files): SQLite must make the -shm to read through the WAL,
    and the index must not be read without the WAL's commits. It said "cannot be
    written", which is no reason for a search to fail."""
    code = (
        "import os\n"
        "from indexer.store import Store\n"
        "s = Store()\n"
        "s.conn.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "s.set_state('work', {'a': 1})\n"
        "os._exit(0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    data = synced / "data"
    (data / "index.db-shm").unlink()
    found = run_read_only(synced, "search", "timeout")
    assert found.returncode == 1
    lines = found.stderr.splitlines()
    assert len(lines) == 1 and "cannot be read here" in lines[0], found.stderr
    assert "index.db-shm" in lines[0]


def test_an_index_this_user_cannot_write_in_a_directory_it_can_gets_no_files_beside_it(
    synced, monkeypatch
):
    """An index owned by another user in a shared directory: opening it read-only
    the `mode=ro` way made index.db-wal and index.db-shm owned by this user, in the
    way of the owner's syncs. It is read immutable instead (no -wal: nobody has it
    open), and a writer that starts later is followed."""
    from indexer import store as store_module

    writable = store_module._writable
    monkeypatch.setattr(store_module, "_writable", lambda path: False)
    data = synced / "data"
    reader = Store()
    assert reader.read_only and reader._immutable is not None
    assert reader.get_issue("RO-1")["summary"] == "Connection pool timeout"
    assert sorted(p.name for p in data.iterdir()) == ["index.db"]
    monkeypatch.setattr(store_module, "_writable", writable)  # the owner's sync
    with Store() as writer:
        writer.upsert_issues([record(1, "Connection pool timeout, fixed")])
        assert reader.get_issue("RO-1")["summary"] == "Connection pool timeout, fixed"
    reader.close()


def test_an_immutable_reader_reads_on_while_a_writer_has_made_only_its_wal(synced, monkeypatch):
    """A writer opening the index makes its -wal, then its -shm, and commits nothing
    before both are there: a read in between said the index could not be read."""
    from indexer import store as store_module

    monkeypatch.setattr(store_module, "_writable", lambda path: False)
    reader = Store()
    assert reader._immutable is not None
    wal = synced / "data" / "index.db-wal"
    wal.write_bytes(b"")
    try:
        assert reader.get_issue("RO-2")["summary"] == "Dark mode for settings"
    finally:
        wal.unlink()
        reader.close()
