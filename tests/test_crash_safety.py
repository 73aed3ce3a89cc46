"""kill -9 a running `jiradex sync` again and again, then check nothing was lost.

Why a live fakejira here and not a cassette: a run killed half-way leaves a
checkpoint, and the next run asks Jira for `updated >= <checkpoint - overlap>`, a
JQL that depends on where the kill landed. A cassette can only answer requests it
recorded, so replaying would either fail or (with a looser matcher) answer a
resumed run with the full listing and hide exactly the bug this test hunts (a
checkpoint that skips an unfinished batch). fakejira evaluates any JQL; it runs in
this process on loopback (no outside network), with a fixed clock.

The runs are forked from a pre-imported runner (tests/sync_runner.py --zygote), so
each is a real process running `cli.main` that `kill -9` ends, without paying the
interpreter start-up per run.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

from replay_helpers import EMAIL, FIXED_NOW_MS, TOKEN, index_snapshot, server_truth

from fakejira import FakeJira
from indexer import config, paths
from indexer.store import Store, decode_raw

RUNNER = Path(__file__).resolve().parent / "sync_runner.py"
MIN_KILLS = 20
TIME_LIMIT_S = 150


class Zygote:
    """Drives `sync_runner.py --zygote`: one forked CLI run at a time."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.proc = subprocess.Popen(
            [sys.executable, str(RUNNER), "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._line() == "ready"
        self.runs = 0

    def _line(self) -> str:
        line = self.proc.stdout.readline().strip()
        assert line, "the runner died"
        return line

    def start(self, args: list[str], env: dict | None = None, kill_after: float | None = None):
        """Fork a run; with `kill_after` the runner kill -9s it then if still running."""
        self.runs += 1
        self.out = self.workdir / f"run{self.runs}.out"
        self.err = self.workdir / f"run{self.runs}.err"
        job = {"args": args, "env": env or {}, "out": str(self.out), "err": str(self.err)}
        if kill_after is not None:
            job["kill_after"] = kill_after
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        kind, pid = self._line().split()
        assert kind == "pid"
        return int(pid)

    def finish(self) -> int:
        kind, _pid, code = self._line().split()
        assert kind == "exit"
        return int(code)

    def run(self, args: list[str], env: dict | None = None) -> tuple[int, str, str]:
        self.start(args, env)
        code = self.finish()
        return code, self.out.read_text(), self.err.read_text()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _assert_whole_batches(db: Path) -> None:
    """After any kill: SQLite and FTS intact, and every stored issue complete (its
    comment rows are exactly the thread its stored JSON announces)."""
    with Store(db) as store:
        assert store.integrity_check() == []
        rows = store.conn.execute(
            "SELECT i.raw, (SELECT count(*) FROM comments c WHERE c.issue = i.rowid) FROM issues i"
        ).fetchall()
    for raw, comments in rows:
        thread = (decode_raw(raw).get("fields") or {}).get("comment") or {}
        assert comments == thread.get("total", len(thread.get("comments") or [])), raw[:80]


def _assert_run_counts_what_is_stored(db: Path) -> int:
    """After a kill -9 of a first sync: its run record, still 'running', counts the
    issues and comments that are in the index. Returns the issue count."""
    with Store(db) as store:
        [run] = store.runs("jira")
        issues = store.conn.execute("SELECT count(*) FROM issues").fetchone()[0]
        comments = store.conn.execute("SELECT count(*) FROM comments").fetchone()[0]
    assert run["status"] == "running"
    assert (run["issues"], run["comments"]) == (issues, comments)
    return issues


def _change_server(fj, rng: random.Random, step: int) -> None:
    fj.set_now(FIXED_NOW_MS + step * 60_000)
    for _ in range(2):
        fj.update_issue(f"DEMO-{rng.randint(1, 150)}", summary=f"Edited in round {step}")
    fj.update_issue(f"DEMO-{rng.randint(1, 150)}", add_comment=f"comment of round {step}")
    if step % 3 == 0:
        fj.add_issue(summary=f"Added in round {step}")


def _add_datasource(fj: FakeJira, **options) -> None:
    """Datasource "jira" on the live fake, comments on, with the fake's clock fixed."""
    fj.set_now(FIXED_NOW_MS)
    config.add_datasource(
        config.Datasource(
            name="jira",
            endpoint=fj.url,
            username=EMAIL,
            token=TOKEN,
            project_key="DEMO",
            index_comments=True,
            **options,
        )
    )


def test_kill_9_at_random_points_then_rerun(tmp_path):
    rng = random.Random(20240501)
    db = paths.index_path()
    started = time.monotonic()
    with FakeJira(issues=150, comments=True, attachments=False, email=EMAIL, token=TOKEN) as fj:
        _add_datasource(fj)
        zygote = Zygote(tmp_path)
        try:
            # Killed inside a write transaction (rows written, COMMIT not reached).
            for nth in (1, 2):
                code, _, _ = zygote.run(
                    ["sync", "--full", "--json"], {"JIRADEX_TEST_KILL_IN_WRITE": str(nth)}
                )
                assert code == -9
                _assert_whole_batches(db)

            # How long does a whole run take? Kills are spread over that span.
            t0 = time.monotonic()
            code, out, err = zygote.run(["sync", "--full", "--json"])
            span = time.monotonic() - t0
            assert code == 0, err
            assert json.loads(out)["status"] == "ok"

            kills = completed = 0
            step = 0
            while kills < MIN_KILLS and time.monotonic() - started < TIME_LIMIT_S:
                step += 1
                _change_server(fj, rng, step)
                args = ["sync", "--json"] + (["--full"] if rng.random() < 0.5 else [])
                zygote.start(args, kill_after=rng.uniform(0.0, span))
                code = zygote.finish()
                if code == -9:
                    kills += 1
                else:
                    assert code == 0, zygote.err.read_text()
                    completed += 1
                _assert_whole_batches(db)
            print(f"crash safety: {kills} kills, {completed} runs completed, span {span:.2f}s")
            assert kills >= MIN_KILLS

            # A plain re-run (resume, not --full) brings the index level with Jira.
            code, out, err = zygote.run(["sync", "--json"])
            assert code == 0, err
            assert "Traceback" not in err
            assert index_snapshot(db, "jira") == server_truth(fj, "DEMO")
            code, out, err = zygote.run(["index", "check"])
            assert code == 0 and "index ok" in out, err

            # Deleted issues go on the next --full, even after kills.
            fj.delete_issue("DEMO-10")
            fj.delete_issue("DEMO-11")
            zygote.run(["sync", "--full", "--json"], {"JIRADEX_TEST_KILL_IN_WRITE": "1"})
            code, out, err = zygote.run(["sync", "--json"])
            assert code == 0, err
            assert index_snapshot(db, "jira") == server_truth(fj, "DEMO")
        finally:
            zygote.close()


def test_a_killed_first_sync_with_comments_resumes_from_its_checkpoint(tmp_path):
    """The first sync of a datasource with comments is a backfill; killed half-way,
    the next run goes on from the checkpoint instead of fetching everything again."""
    db = paths.index_path()
    with FakeJira(issues=450, comments=True, attachments=False, email=EMAIL, token=TOKEN) as fj:
        _add_datasource(fj, max_concurrency=1)  # batches complete in order: the checkpoint moves
        zygote = Zygote(tmp_path)
        try:
            code, _, _ = zygote.run(["sync", "--json"], {"JIRADEX_TEST_KILL_IN_WRITE": "4"})
            assert code == -9
            _assert_whole_batches(db)
            # The run record counted each batch with it: it says what the dead run wrote.
            kept = _assert_run_counts_what_is_stored(db)
            assert kept >= 300  # three batches of 100 committed before the kill
            # No sync holds the datasource's lock: the dead run reads interrupted at once.
            code, out, err = zygote.run(["datasource", "show", "jira"])
            assert code == 0, err
            assert f"interrupted: {kept} issues" in out, out
            code, out, err = zygote.run(["sync", "--json"])
            assert code == 0, err
            summary = json.loads(out)
            assert summary["status"] == "ok"
            assert 0 < summary["issues"] < 450 - 200  # three batches of 100 were kept
            code, out, err = zygote.run(["datasource", "show", "jira"])
            assert f"interrupted: {kept} issues" in out, out
            assert index_snapshot(db, "jira") == server_truth(fj, "DEMO")
            # Finished: the next run is incremental, comments count as indexed.
            code, out, err = zygote.run(["sync", "--json"])
            assert code == 0, err
            assert json.loads(out)["issues"] < 50
        finally:
            zygote.close()
