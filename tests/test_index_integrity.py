"""The index file itself: old schemas migrate, damage and locks get a clear way out.

- A database written at schema version 1 (tests/fixtures/index/schema_v1.sql,
  frozen) opens with today's code, is migrated to the current version and keeps its
  issues, comments and search. The migration machinery itself is checked with an
  extra migration: applied once, and rolled back whole when it fails.
- A damaged index (garbage, truncated, a page overwritten) and a locked one give one
  clear line, exit 1, and `jiradex index rebuild --yes` re-syncs from Jira (replayed)
  without touching the configuration.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from replay_helpers import index_snapshot, world

import cli
import indexer.store as store_module
from indexer import config, paths
from indexer.errors import StoreError
from indexer.search import search
from indexer.store import SCHEMA_VERSION, Store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "index"
FIXTURE = FIXTURES / "schema_v1.sql"


def jiradex(*args: str) -> tuple[int, str, str]:
    with CliRunner().isolation() as (out, err, _):
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, out.getvalue().decode(), err.getvalue().decode()


def _old_index(path: Path, fixture: Path = FIXTURE) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(fixture.read_text())
    conn.close()
    return path


def test_schema_v1_database_opens_and_migrates(tmp_path):
    db = _old_index(tmp_path / "index.db")
    with Store(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        issue = store.get_issue("OLD-1")
        assert issue["summary"] == "Login page times out after upgrade"
        assert [c["body"] for c in issue["comments"]] == ["Seen on staging"]
        assert store.get_state("old") == {"watermark": 1675508400000}
        assert [h.key for h in search(store, "session")] == ["OLD-1"]
        assert [h.key for h in search(store, "张伟")] == ["OLD-2"]
        assert store.integrity_check() == []


def test_schema_v2_database_migrates_to_per_field_columns(tmp_path):
    """Schema 2 shared its stem and CJK columns between fields: `comment:retry` found
    an issue whose description said "retries", `comment:東京` one whose description
    was Japanese. Migration 3 gives each field its own, from the stored rows, and
    migration 4 the parts of code identifiers (`timeout` finds `getTimeout`)."""
    db = _old_index(tmp_path / "index.db", FIXTURES / "schema_v2.sql")
    with Store(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [h.key for h in search(store, "comment:retry")] == ["ABC-2"]
        assert [h.key for h in search(store, "comment:東京")] == ["ABC-4"]
        assert sorted(h.key for h in search(store, "retry")) == ["ABC-1", "ABC-2"]
        assert sorted(h.key for h in search(store, "東京")) == ["ABC-3", "ABC-4"]
        assert [h.key for h in search(store, "description:retry")] == ["ABC-1"]
        assert [h.key for h in search(store, "summary:障害")] == ["ABC-3"]
        assert [h.key for h in search(store, "timeout")] == ["ABC-2"]
        assert store.integrity_check() == []


class _Said(logging.Handler):
    """The messages of a logger (caplog misses one that does not propagate, as the
    CLI makes jiradex.upgrade)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_an_upgrade_rebuilds_the_search_tables_once_and_says_so(tmp_path, monkeypatch):
    """v2 -> v5 rebuilt the FTS tables three times (migrations 3, 4 and 5: 64 s and
    428 MB at 100k issues, said nowhere); the last rebuild serves them all, and
    the upgrade is announced (the CLI prints it, the TUI notifies it)."""
    rebuilds = []
    real = store_module._refill_fts
    monkeypatch.setattr(store_module, "_refill_fts", lambda conn: rebuilds.append(1) or real(conn))
    said = _Said()
    monkeypatch.setattr(store_module.UPGRADE_LOG, "handlers", [said])
    db = _old_index(tmp_path / "index.db", FIXTURES / "schema_v2.sql")
    with Store(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [h.key for h in search(store, "timeout")] == ["ABC-2"]
        # Freed pages zeroed only where it costs no I/O (Debian's SQLite zeroes all).
        assert store.conn.execute("PRAGMA secure_delete").fetchone()[0] == 2
    assert len(rebuilds) == 1
    assert said.messages == [
        f"upgrading the index at {db} to this version of jiradex (once; a large index "
        "takes a minute or so)"
    ]
    with Store(tmp_path / "new.db"):
        pass
    assert len(said.messages) == 1  # a new index is made, not upgraded
    # ...nor one seen between two migrations of another process making it (the TUI
    # notified "Upgrading" while its sync worker created the index).
    half = tmp_path / "half.db"
    conn = sqlite3.connect(half)
    store_module.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store(half) as store:
        assert store.schema_version == SCHEMA_VERSION
    assert len(said.messages) == 1


def test_a_second_process_waits_for_an_upgrade_instead_of_saying_busy(tmp_path, monkeypatch):
    """A `search` started while another process upgraded a large index said "is busy
    (another jiradex process is writing)" after the 5 s a read waits, while the
    upgrade took 15 s (helper-54): it now waits for the upgrade and finds it done."""
    import threading

    db = _old_index(tmp_path / "index.db", FIXTURES / "schema_v2.sql")
    rebuilding, real = threading.Event(), store_module._refill_fts

    def slow_refill(conn):
        rebuilding.set()
        time.sleep(1.0)  # the upgrade of a large index
        real(conn)

    monkeypatch.setattr(store_module, "_refill_fts", slow_refill)
    opened: list = []
    first = threading.Thread(target=lambda: opened.append(Store(db)))
    first.start()
    assert rebuilding.wait(10)
    with Store(db, busy_timeout_ms=200) as second:  # gives up on a busy read in 0.2 s
        assert second.schema_version == SCHEMA_VERSION
        assert [h.key for h in search(second, "timeout")] == ["ABC-2"]
        assert second.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 200
    first.join()
    opened[0].close()


def test_the_cli_says_it_upgrades_an_old_index_then_answers(jiradex_home):
    paths.index_path().parent.mkdir(parents=True, exist_ok=True)
    _old_index(paths.index_path(), FIXTURES / "schema_v2.sql")
    code, out, err = jiradex("search", "timeout")
    assert code == 0
    assert out.splitlines()[1].startswith("ABC-2 ")
    assert err == (
        f"jiradex: upgrading the index at {paths.index_path()} to this version of jiradex "
        "(once; a large index takes a minute or so)\n"
    )
    assert jiradex("search", "timeout")[2] == ""  # once


def test_a_new_migration_runs_once_and_a_failing_one_rolls_back(tmp_path, monkeypatch):
    db = _old_index(tmp_path / "index.db")
    Store(db).close()  # at the current version

    def add_column(conn):
        conn.execute("ALTER TABLE issues ADD COLUMN resolution TEXT")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, add_column])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Store(db) as store:
        assert store.schema_version == SCHEMA_VERSION + 1
        assert store.get_issue("OLD-2")["resolution"] is None
    Store(db).close()  # already there: not applied twice (ALTER would fail)

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, broken])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 2)
    with pytest.raises(StoreError) as info:
        Store(db)
    assert "rebuild" in str(info.value) and "\n" not in str(info.value)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert not conn.execute("SELECT name FROM sqlite_master WHERE name='half_done'").fetchall()
    conn.close()


def test_newer_schema_says_upgrade_or_rebuild(tmp_path):
    db = tmp_path / "index.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer jiradex"):
        Store(db)


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _page_overwritten(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page * 2, min(len(data), page * 6), page):
        data[start : start + page] = b"\xa5" * page
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_garbage, _truncated, _page_overwritten],
                         ids=["garbage", "truncated", "page-overwritten"])  # fmt: skip
def test_damaged_index_clear_message_then_rebuild(damage, tmp_path):
    with world("index_rebuild", issues=40, comments=True) as w:
        config.add_datasource(w.datasource(index_comments=True))
        code, out, err = jiradex("sync", "--json")
        assert code == 0, err
        truth = w.truth("server")
        assert index_snapshot(paths.index_path(), "jira") == truth
        config_before = {p.name: p.read_bytes() for p in paths.config_dir().iterdir()}

        db = paths.index_path()
        with Store(db) as store:  # fold the WAL in, so the damage hits real pages
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for suffix in ("-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        damage(db)

        for args in (("index", "check"), ("search", "session"), ("show", "DEMO-1")):
            code, out, err = jiradex(*args)
            assert "Traceback" not in out + err and "internal error" not in err, err
            if code == 0:  # the damage missed what this command reads
                continue
            lines = [line for line in err.splitlines() if line.strip()]
            assert code == 1 and len(lines) == 1 and lines[0].startswith("jiradex: "), err
            assert "rebuild" in err or "index check failed" in err, err
        code, out, err = jiradex("index", "check")
        assert code == 1, "the damage went unnoticed"

        code, out, err = jiradex("index", "rebuild", "--yes")
        assert code == 0, err
        assert "Traceback" not in out + err
    assert index_snapshot(paths.index_path(), "jira") == truth
    assert jiradex("index", "check")[0] == 0
    assert {p.name: p.read_bytes() for p in paths.config_dir().iterdir()} == config_before


def test_locked_index_says_busy_and_works_once_free():
    db = paths.index_path()
    Store(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO sync_state (datasource, json) VALUES ('x', '{}')")
    try:
        code, out, err = jiradex("index", "check")
        assert code == 1 and "Traceback" not in out + err, err
        assert "busy" in err.lower() or "locked" in err.lower(), err
        assert len([line for line in err.splitlines() if line.strip()]) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    code, out, err = jiradex("index", "check")
    assert code == 0 and "index ok" in out, err


def test_check_without_an_index_says_there_is_none_and_makes_none():
    """`index check` in a home with no index (a mistyped JIRADEX_HOME, a first run)
    created an empty index.db and answered "index ok"."""
    code, out, err = jiradex("index", "check")
    assert (code, out) == (1, "")
    assert err.startswith("jiradex: there is no index yet")
    assert not paths.index_path().exists()


def test_rebuild_over_a_directory_at_the_index_path_says_so_before_syncing():
    """A directory where index.db goes: `index rebuild --yes` synced every datasource,
    then ended "internal error (IsADirectoryError)" and threw the fresh index away."""
    config.add_datasource(
        config.Datasource(name="acme", endpoint="https://acme.invalid", project_key="ABC")
    )
    paths.index_path().mkdir(parents=True)
    code, out, err = jiradex("index", "rebuild", "--yes")
    assert (code, out) == (1, "")
    assert err.strip() == (
        f"jiradex: {paths.index_path()} is a directory, not an index: move it away, "
        "then run `jiradex index rebuild` again"
    )
    assert paths.index_path().is_dir()
