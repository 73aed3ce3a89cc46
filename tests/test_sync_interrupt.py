"""Ctrl-C during `jiradex sync` and `jiradex sync --watch`, in a real subprocess.

The subprocess (tests/sync_runner.py) replays a cassette of a first sync and sends
itself SIGINT inside a write transaction (JIRADEX_TEST_SIGINT_IN_WRITE), so the
Ctrl-C surely lands mid-sync. Either command then records the run as interrupted,
with what it wrote, says `jiradex: interrupted` and exits 130. Ctrl-C while
`--watch` waits between two syncs is a clean stop: exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from replay_helpers import record_first_sync

from indexer import paths
from indexer.store import Store

RUNNER = Path(__file__).resolve().parent / "sync_runner.py"
CASSETTE = "sync/sync_interrupt.yaml"
WAIT_S = 60.0  # bound of every wait (each ends as soon as its condition holds)


@pytest.fixture
def datasource(tmp_path):
    """Datasource "jira" whose first sync (250 issues, one request at a time) the
    cassette holds; recorded here when JIRADEX_RECORD=1."""
    record_first_sync("sync_interrupt", tmp_path / "scratch.db")


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(RUNNER), "--cassette", CASSETTE, "--", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def _runs() -> list[tuple[str, int]]:
    """(status, issues) of the sync runs of "jira", newest first, read-only."""
    db = paths.index_path()
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(
            "SELECT status, issues FROM sync_runs WHERE datasource = 'jira' ORDER BY id DESC"
        ).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()
    return [(status, issues) for status, issues in rows]


def _stored_issues() -> int:
    with Store(paths.index_path()) as store:
        return store.stats("jira")["issues"]


def _assert_interrupted(code: int, out: str, err: str) -> None:
    assert code == 130, (code, out, err)
    assert err.rstrip().endswith("jiradex: interrupted"), err
    assert "Traceback" not in out + err
    [line] = [json.loads(text) for text in out.splitlines()]
    assert line["status"] == "error" and line["interrupted"] is True, line
    assert 0 < line["issues"] < 250
    # The run record says the same, and counts exactly what the index holds.
    [(status, issues)] = _runs()
    assert status == "interrupted" and issues == line["issues"] == _stored_issues()


def test_ctrl_c_during_a_plain_sync_records_an_interrupted_run_and_exits_130(datasource):
    code, out, err = _finish(_start(["sync", "--json"], {"JIRADEX_TEST_SIGINT_IN_WRITE": "2"}))
    _assert_interrupted(code, out, err)


def test_ctrl_c_during_a_watched_sync_records_an_interrupted_run_and_exits_130(datasource):
    proc = _start(["sync", "--watch", "--json"], {"JIRADEX_TEST_SIGINT_IN_WRITE": "2"})
    code, out, err = _finish(proc)
    _assert_interrupted(code, out, err)
    assert "stopping: ending the running syncs" in err


def test_ctrl_c_while_watch_waits_between_syncs_is_a_clean_stop(datasource):
    proc = _start(["sync", "--watch", "--json"])
    try:
        deadline = time.monotonic() + WAIT_S
        while _runs() != [("ok", 250)]:  # the first sync done; the next is 5 minutes away
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the watched sync never finished"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
    finally:
        code, out, err = _finish(proc)
    assert code == 0, (code, out, err)
    assert "Traceback" not in out + err and "interrupted" not in err
    [line] = [json.loads(text) for text in out.splitlines()]
    assert line["status"] == "ok" and line["issues"] == 250
    assert _runs() == [("ok", 250)]
