"""Sync throughput: jiradex against fakejira, beside a page-at-a-time client and bare FTS5.

    python bench/sync.py                 # both scenarios of issue 4
    python bench/sync.py --latency-issues 20000 --bulk-issues 100000
    python bench/sync.py --quick         # small sizes, for a smoke run
    python bench/sync.py --only latency --concurrency 12

Scenario "latency": fakejira adds 250 ms to every request; jiradex syncs N issues with
comments; a page-at-a-time client (search pages of 100 with every field, one after the
other, as most connectors do) syncs a slice of the same project in the same run.

Scenario "bulk": no added latency, N issues: end-to-end rate, peak memory of the sync
process, a re-sync with nothing changed, and the floor: a bare sqlite3 + FTS5 insert of
the same records.

fakejira runs in its own process so that serving does not share our GIL. Every sync
runs as `jiradex sync --json` in a child process: the peak RSS of that process and its
preparing workers together is the figure reported. The CPU line says where the
machine's CPU went (jiradex's process tree, fakejira) and how many cores the two kept
busy: on a small machine fakejira's share is CPU a real Jira would not take from us.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EMAIL = "bench@example.com"
TOKEN = "bench-token-0000"


class Server:
    """A running fakejira child: its base URL and the CPU it has used so far."""

    def __init__(self, url: str, pid: int):
        self.url, self.pid = url, pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process (Linux /proc; 0 elsewhere)."""
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0


@contextmanager
def fakejira(issues: int, latency_ms: float, comments: bool = True, attachments: bool = False):
    """A fakejira child process; yields a Server."""
    cmd = [sys.executable, "-m", "fakejira", "--mode", "cloud", "--issues", str(issues)]
    cmd += ["--latency-ms", str(latency_ms), "--email", EMAIL, "--token", TOKEN, "--seed", "3"]
    if not comments:
        cmd.append("--no-comments")
    if not attachments:
        cmd.append("--no-attachments")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://\S+)", line)
        if not match:
            raise SystemExit(f"fakejira did not start: {line!r}")
        yield Server(match.group(1), proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def new_home(
    url: str, comments: bool = True, attachments: bool = False, concurrency: int | None = None
) -> Path:
    home = Path(tempfile.mkdtemp(prefix="jiradex-bench-"))
    env = {**os.environ, "JIRADEX_HOME": str(home)}
    cmd = [sys.executable, "-m", "cli", "datasource", "add", "bench", "--endpoint", url]
    cmd += ["--username", EMAIL, "--token", TOKEN, "--project", "DEMO"]
    cmd += ["--comments" if comments else "--no-comments"]
    cmd += ["--attachments" if attachments else "--no-attachments"]
    if concurrency:
        cmd += ["--max-concurrency", str(concurrency)]
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    return home


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc), in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(c) for c in children.read().split())
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total / 1024


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_sync(home: Path, *extra: str) -> tuple[dict, float, float, float]:
    """`jiradex sync --json` in a child: (summary, wall seconds, peak RSS MB, CPU s).

    The peak is of the whole process tree (the sync and its preparing workers),
    sampled every 50 ms where /proc exists, else the largest single process. The CPU
    is the tree's user + system time (workers are reaped by the sync, so counted)."""
    env = {**os.environ, "JIRADEX_HOME": str(home)}
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "sync", "--json", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak_tree = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak_tree[0] = max(peak_tree[0], _tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if Path("/proc").is_dir():
        sampler.start()
    stdout, stderr = proc.communicate()
    stop.set()
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        raise SystemExit(f"sync failed ({proc.returncode}): {stderr.strip()[-500:]}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    return summary, wall, max(peak, peak_tree[0]), _children_cpu() - cpu_before


def served_requests(url: str) -> dict[str, int]:
    """fakejira's request counts by path (its /_fake/stats), reset afterwards."""
    import httpx

    counts = httpx.get(f"{url}/_fake/stats", timeout=30).json()["requests"]
    httpx.post(f"{url}/_fake/stats/reset", timeout=30)
    return counts


def requests_line(counts: dict[str, int], seconds: float, concurrency: int, wall: float) -> str:
    """What the sync asked of the server, and the least time those requests can take
    when each takes `seconds` and at most `concurrency` are in flight: the bound
    latency puts on any client that stays within the limit."""
    total = sum(counts.values())
    comment_pages = sum(n for p, n in counts.items() if p.endswith("/comment"))
    bulk = sum(n for p, n in counts.items() if p.endswith("/bulkfetch"))
    least = total * seconds / concurrency
    return (
        f"requests       : {total} (bulkfetch {bulk}, comment pages {comment_pages}, "
        f"other {total - bulk - comment_pages}); at {concurrency} in flight x "
        f"{seconds * 1000:.0f} ms they take >= {least:.1f}s ({wall / least:.2f}x that)"
    )


def cpu_line(issues: int, wall: float, ours: float, server: float) -> str:
    """Where the machine's CPU went: jiradex's tree and fakejira's, per issue, and how
    many of the cores the two kept busy together (all of them: the run was CPU-bound)."""
    cores = os.cpu_count() or 1
    busy = (ours + server) / wall if wall else 0.0
    return (
        f"CPU            : jiradex {ours:.1f}s ({ours / issues * 1000:.2f} ms/issue), "
        f"fakejira {server:.1f}s ({server / issues * 1000:.2f} ms/issue); "
        f"{busy:.1f} of {cores} cores busy"
    )


def page_at_a_time(url: str, limit: int, comments: bool = True) -> tuple[int, float]:
    """The common connector: one search page of 100 with all fields, then the next."""
    import httpx

    from indexer.normalize import embedded_comments, normalize_comment, normalize_issue
    from indexer.store import Store

    home = Path(tempfile.mkdtemp(prefix="jiradex-bench-base-"))
    store = Store(home / "index.db")
    fields = "summary,description,issuetype,status,priority,assignee,reporter,labels,"
    fields += "components,created,updated,project,resolution"
    if comments:
        fields += ",comment"
    done, token = 0, None
    started = time.perf_counter()
    with httpx.Client(base_url=url, auth=(EMAIL, TOKEN), timeout=60) as http:
        while done < limit:
            params = {"jql": "project = DEMO ORDER BY updated ASC", "maxResults": 100}
            params["fields"] = fields
            if token:
                params["nextPageToken"] = token
            page = http.get("/rest/api/3/search/jql", params=params).json()
            records = []
            for raw in page.get("issues", []):
                found = None
                if comments:
                    embedded, total = embedded_comments(raw)
                    if total > len(embedded):
                        body = http.get(f"/rest/api/3/issue/{raw['id']}/comment").json()
                        embedded = body.get("comments", [])
                    found = [normalize_comment(c) for c in embedded]
                records.append(
                    normalize_issue(raw, datasource="base", site_url=url, comments=found)
                )
            store.upsert_issues(records)
            done += len(records)
            token = page.get("nextPageToken")
            if page.get("isLast") or not token or not records:
                break
    seconds = time.perf_counter() - started
    store.close()
    shutil.rmtree(home, ignore_errors=True)
    return done, seconds


def bare_fts_floor(index_db: Path) -> tuple[int, float]:
    """Insert the same records into a bare table + FTS5 table: the cost no sync can beat."""
    src = sqlite3.connect(index_db)
    cols = [r[1] for r in src.execute("PRAGMA table_info(issues)")]
    rows = src.execute("SELECT * FROM issues").fetchall()
    comments: dict = {}
    if src.execute("SELECT 1 FROM sqlite_master WHERE name = 'comments'").fetchone():
        ccols = [r[1] for r in src.execute("PRAGMA table_info(comments)")]
        key = "issue" if "issue" in ccols else ccols[1]
        body = "body_text" if "body_text" in ccols else "body"
        for owner, text in src.execute(f"SELECT {key}, {body} FROM comments"):
            comments.setdefault(owner, []).append(text or "")
    src.close()
    home = Path(tempfile.mkdtemp(prefix="jiradex-bench-floor-"))
    db = sqlite3.connect(home / "floor.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"CREATE TABLE issues ({', '.join(cols)})")
    db.execute("CREATE VIRTUAL TABLE fts USING fts5(summary, description, comments)")
    si, di = cols.index("summary"), cols.index("description")
    marks = ", ".join("?" for _ in cols)
    started = time.perf_counter()
    for start in range(0, len(rows), 100):
        with db:
            for row in rows[start : start + 100]:
                cur = db.execute(f"INSERT INTO issues VALUES ({marks})", row)
                text = "\n".join(comments.get(row[0], ()))
                db.execute(
                    "INSERT INTO fts(rowid, summary, description, comments) VALUES (?, ?, ?, ?)",
                    [cur.lastrowid, row[si], row[di], text],
                )
    seconds = time.perf_counter() - started
    db.close()
    shutil.rmtree(home, ignore_errors=True)
    return len(rows), seconds


def scenario_latency(
    issues: int, baseline_issues: int, comments: bool = True, concurrency: int = 6
) -> None:
    what = "with comments" if comments else "without comments"
    print(f"\n== latency: {issues} issues {what}, fakejira +250 ms per request")
    with fakejira(issues, 250, comments=comments) as server:
        url = server.url
        home = new_home(url, comments=comments, concurrency=concurrency)
        served = server.cpu_seconds()
        served_requests(url)
        summary, wall, peak, cpu = run_sync(home)
        rate = summary["issues"] / wall
        print(
            f"jiradex        : {summary['issues']} issues in {wall:.1f}s = {rate:,.0f}/s "
            f"(concurrency {concurrency})"
        )
        print(f"                 peak RSS {peak:.0f} MB (sync process and its workers)")
        print(cpu_line(summary["issues"], wall, cpu, server.cpu_seconds() - served))
        print(requests_line(served_requests(url), 0.25, concurrency, wall))
        done, seconds = page_at_a_time(url, baseline_issues, comments=comments)
        base = done / seconds
        print(f"page-at-a-time : {done} issues in {seconds:.1f}s = {base:,.0f}/s")
        print(f"speed-up       : {rate / base:.1f}x")
        shutil.rmtree(home, ignore_errors=True)


def scenario_bulk(issues: int) -> None:
    print(f"\n== bulk: {issues} issues with comments, no added latency")
    with fakejira(issues, 0) as server:
        home = new_home(server.url)
        served = server.cpu_seconds()
        summary, wall, peak, cpu = run_sync(home)
        rate = summary["issues"] / wall
        print(f"jiradex        : {summary['issues']} issues in {wall:.1f}s = {rate:,.0f}/s")
        print(f"peak RSS       : {peak:.0f} MB (sync process and its workers)")
        print(cpu_line(summary["issues"], wall, cpu, server.cpu_seconds() - served))
        again, wall2, _, _ = run_sync(home)
        print(f"re-sync        : {again['issues']} written, {wall2:.2f}s (process wall)")
        print(f"                 engine {again['seconds']:.2f}s")
        rows, floor = bare_fts_floor(home / "data" / "index.db")
        print(f"bare FTS5      : {rows} rows in {floor:.1f}s = {rows / floor:,.0f}/s")
        print(f"ratio          : {wall / floor:.1f}x the floor")
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-issues", type=int, default=20000)
    ap.add_argument("--baseline-issues", type=int, default=3000)
    ap.add_argument("--bulk-issues", type=int, default=100000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--no-comments",
        action="store_true",
        help="latency scenario without comments (isolates the issue pipeline)",
    )
    ap.add_argument("--only", choices=("latency", "bulk"))
    ap.add_argument(
        "--concurrency",
        type=int,
        default=6,
        help="the datasource's max_concurrency in the latency scenario (default 6)",
    )
    a = ap.parse_args()
    if a.quick:
        a.latency_issues, a.baseline_issues, a.bulk_issues = 2000, 600, 5000
    if a.only in (None, "latency"):
        scenario_latency(
            a.latency_issues, a.baseline_issues, comments=not a.no_comments,
            concurrency=a.concurrency,
        )  # fmt: skip
    if a.only in (None, "bulk"):
        scenario_bulk(a.bulk_issues)


if __name__ == "__main__":
    main()
