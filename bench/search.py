"""Search latency benchmark: `search()` in-process versus the bare FTS5 bm25 query.

    python bench/search.py [--issues 300000] [--runs 40] [--rebuild] [--no-process]

Builds (once; cached under the temp dir, keyed by size, generator and schema version)
a synthetic index through the Store API, with a Zipf vocabulary so that some words
are rare, some common (about a third of the issues) and some near-stopwords (nearly
every issue). Query words are then picked by their measured document frequency, so
each class means the same thing whatever the generator does. For each class it
prints p50/p99 of `search()` and of the bare `bm25 ... ORDER BY bm25 LIMIT 20` query
on the same database, and the ratio; then the wall time of `jiradex search` as a
whole process. Not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer import store as store_module  # noqa: E402
from indexer.query import parse_query  # noqa: E402
from indexer.search import search  # noqa: E402
from indexer.store import Store  # noqa: E402

GENERATOR_VERSION = 1
PROJECTS = ["CORE", "WEB", "API", "INFRA", "DATA", "MOBILE", "OPS", "SEC"]
STATUSES = ["To Do", "In Progress", "In Review", "Done", "Done", "Closed"]
TYPES = ["Bug", "Bug", "Task", "Story", "Improvement"]
PRIORITIES = ["Highest", "High", "Medium", "Medium", "Low"]
PEOPLE = [
    "Ana Souza",
    "José Álvarez",
    "Wei Zhang",
    "Priya Raman",
    "Zoë Müller",
    "Kwame Mensah",
    "Olga Ivanova",
    "Sam Carter",
    "Yuki Tanaka",
    "Liam O'Brien",
]
LABELS = ["backend", "frontend", "regression", "customer", "tech-debt", "security", "perf"]
# Ordinary words first (the head of the Zipf curve), then made-up ones for the tail.
HEAD = """
the to a and of in is for on that it with be this not when after we should error
from are an by as at or if but service fails can test user page request data build
release update new add support configuration server client file time issue
connection timeout cache query index session token login export import report job
sync upload memory database api config log logs retry failure null exception crash
slow performance latency deadlock thread worker queue message event schema migration
version upgrade plugin module dependency network proxy certificate ssl dashboard
settings search filter sort column table row field value default option button
dialog screen layout theme dark mode mobile browser safari firefox chrome windows
linux docker kubernetes pod node cluster deploy deployment rollback backup restore
permission role admin account password email notification webhook payment invoice
billing customer order cart checkout price discount tax currency locale encoding
unicode utf date timezone calendar schedule cron batch pipeline stage artifact
cleanup leak spike regression flaky intermittent reproduce steps expected actual
workaround hotfix patch refactor document documentation guide example
""".split()  # noqa: SIM905
SYLLABLES = """
ka lo mi ne su ra te vo pi da ge fu zo ri ba ce hu ly mo xi
""".split()  # noqa: SIM905


def _made_up_words(rng: random.Random, n: int) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(out)


class Generator:
    """Deterministic issue records (the normalised shape sync hands to the store)."""

    def __init__(self, seed: int = 7, vocab_size: int = 40_000):
        rng = random.Random(seed)
        tail = [w for w in _made_up_words(rng, vocab_size) if w not in HEAD]
        self.vocab = HEAD + tail[: vocab_size - len(HEAD)]
        weights = [1.0 / (rank + 1) ** 1.07 for rank in range(len(self.vocab))]
        self.cum = list(_accumulate(weights))
        # Summaries skip the function words at the head.
        self.title_vocab = self.vocab[25:]
        self.title_cum = list(_accumulate(weights[25:]))
        self.rng = rng

    def words(self, n: int, title: bool = False) -> list[str]:
        if title:
            return self.rng.choices(self.title_vocab, cum_weights=self.title_cum, k=n)
        return self.rng.choices(self.vocab, cum_weights=self.cum, k=n)

    def text(self, n: int) -> str:
        words = self.words(n)
        return " ".join(words) + "."

    def record(self, i: int, total: int, start: float, span: float) -> dict:
        rng = self.rng
        project = PROJECTS[i % len(PROJECTS)]
        number = i // len(PROJECTS) + 1
        created = start + span * i / total
        updated = min(start + span, created + rng.expovariate(1 / (30 * 86400)))
        summary = " ".join(self.words(rng.randint(4, 11), title=True)).capitalize()
        desc_len = int(min(400, rng.lognormvariate(4.0, 0.7)))
        description = self.text(desc_len)
        if rng.random() < 0.3:  # a rare identifier: error code, host name, build id
            description += f" code E{rng.randrange(10**6):06d}x host{rng.randrange(10**5)}"
        comments = []
        for c in range(rng.choice((0, 0, 1, 1, 2, 3, 5))):
            body = self.text(int(min(200, rng.lognormvariate(3.3, 0.7))))
            comments.append(
                {
                    "id": f"{i}-{c}",
                    "author": rng.choice(PEOPLE),
                    "created": _iso(updated),
                    "updated": _iso(updated),
                    "body": body,
                    "body_text": body,
                }
            )
        return {
            "id": str(100_000 + i),
            "key": f"{project}-{number}",
            "project": project,
            "datasource": "bench",
            "summary": summary,
            "description": description,
            "description_text": description,
            "issuetype": rng.choice(TYPES),
            "status": rng.choice(STATUSES),
            "status_category": "To Do",
            "priority": rng.choice(PRIORITIES),
            "assignee": rng.choice(PEOPLE) if rng.random() < 0.8 else None,
            "reporter": rng.choice(PEOPLE),
            "labels": rng.sample(LABELS, rng.choice((0, 1, 1, 2))),
            "components": [],
            "created": _iso(created),
            "updated": _iso(updated),
            "url": f"https://jira.example.com/browse/{project}-{number}",
            "raw": None,
            "comments": comments,
        }


def _accumulate(values):
    total = 0.0
    for v in values:
        total += v
        yield total


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def cache_path(n: int) -> Path:
    root = Path(
        os.environ.get("JIRADEX_BENCH_DIR") or Path(tempfile.gettempdir()) / "jiradex-bench"
    )
    root.mkdir(parents=True, exist_ok=True)
    return root / f"search-{n}-g{GENERATOR_VERSION}-s{store_module.SCHEMA_VERSION}.db"


def build(path: Path, n: int) -> None:
    """Write n issues in sync's order (updated ascending, in pages of 500), then
    re-sync a tenth of them with newer content, as incremental syncs do."""
    tmp = path.with_name(path.name + ".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    gen = Generator()
    start = time.time() - 3 * 365 * 86400
    span = 3 * 365 * 86400 - 86400
    t0 = time.perf_counter()
    with Store(tmp) as store:
        page: list[dict] = []
        for i in range(n):
            page.append(gen.record(i, n, start, span))
            if len(page) == 500:
                store.upsert_issues(page)
                page = []
            if i and i % 50_000 == 0:
                print(f"  built {i:,} issues ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
        if page:
            store.upsert_issues(page)
        rng = random.Random(11)
        again = sorted(rng.sample(range(n), n // 10))
        for lo in range(0, len(again), 500):
            page = []
            for i in again[lo : lo + 500]:
                rec = gen.record(i, n, start, span)
                rec["updated"] = _iso(time.time() - rng.uniform(0, 60 * 86400))
                page.append(rec)
            store.upsert_issues(page)
        store.conn.execute("INSERT INTO issue_fts(issue_fts) VALUES ('optimize')")
        for table in ("title_fts",):
            store.conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.conn.execute("ANALYZE")
    print(f"  built {n:,} issues in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    tmp.rename(path)


# --------------------------------------------------------------------------- queries


def doc_freqs(conn: sqlite3.Connection) -> dict[str, int]:
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_vocab USING fts5vocab(main, issue_fts, 'row')"
    )
    return dict(conn.execute("SELECT term, doc FROM temp.bench_vocab"))


def pick_queries(conn: sqlite3.Connection, n_docs: int, per_class: int) -> dict[str, list[str]]:
    rng = random.Random(3)
    df = doc_freqs(conn)
    words = [w for w in df if w.isalpha() and len(w) >= 3]

    def band(lo: float, hi: float) -> list[str]:
        found = sorted(w for w in words if lo * n_docs <= df[w] <= hi * n_docs)
        return found

    # Rare: identifiers and tail words found in a handful of issues.
    rare = sorted(w for w, d in df.items() if 2 <= d <= 30 and w.isalnum() and len(w) >= 4)
    common = band(0.2, 0.45)
    stop = band(0.9, 1.0)
    mid = band(0.01, 0.2)
    top = conn.execute("SELECT max(rowid) FROM issues").fetchone()[0]
    picks = [rng.randint(1, top) for _ in range(600)]
    marks = ",".join("?" * len(picks))
    rows = conn.execute(f"SELECT summary, key FROM issues WHERE rowid IN ({marks})", picks)
    rows = sorted(rows.fetchall())
    summaries = [r[0] for r in rows]
    keys = [r[1] for r in rows]

    def sample(pool: list[str], k: int) -> list[str]:
        return [rng.choice(pool) for _ in range(k)] if pool else []

    phrases = []
    for s in summaries:
        ws = s.lower().split()
        if len(ws) >= 3:
            j = rng.randrange(len(ws) - 1)
            phrases.append(f'"{ws[j]} {ws[j + 1]}"')
    prefix_short = sorted({w[:2] for w in words if df[w] > 50})
    prefix_long = [w[:5] for w in band(0.001, 0.2) if len(w) >= 6]
    people = ["ana", "wei", "priya", "sam"]
    return {
        "rare": sample(rare, per_class),
        "common": sample(common, per_class),
        "near-stopword": sample(stop, per_class),
        "two-word": [
            f"{a} {b}"
            for a, b in zip(sample(common + mid, per_class), sample(mid, per_class), strict=True)
        ],
        "two-common": [
            f"{a} {b}"
            for a, b in zip(
                sample(common, per_class), sample(common + stop, per_class), strict=True
            )
        ],
        "phrase": sample(phrases, per_class),
        "prefix-short": [p + "*" for p in sample(prefix_short, per_class)],
        "prefix-long": [p + "*" for p in sample(prefix_long, per_class)],
        "or": [
            f"{a} OR {b}"
            for a, b in zip(sample(mid, per_class), sample(common, per_class), strict=True)
        ],
        "filter": [
            f"{w} status:Done assignee:{rng.choice(people)}"
            for w in sample(common + mid, per_class)
        ],
        "filter-date": [f"{w} updated:>=-30d" for w in sample(common + mid, per_class)],
        "key": sample(keys, per_class),
        # Last, so the classes above keep their queries. A selective filter (a few
        # hundred issues) with a common word: walking the word's matches to test the
        # filter on each is the slow way round.
        "filter-rare": [
            f'{w} status:"In Review" type:Improvement priority:Highest'
            if n % 2
            else f"{w} type:Improvement priority:Highest assignee:{rng.choice(people)}"
            for n, w in enumerate(sample(common, per_class))
        ],
    }


def bare_sql(query: str) -> tuple[str, list]:
    """The bare FTS5 query a naive engine would run for the same text: the parser's
    MATCH expression (so both search the same words), bm25, LIMIT 20; filters as a
    join."""
    parsed = parse_query(query)
    match = parsed.full_match()
    where, params = parsed.sql_filters("i")
    if parsed.keys and not match:
        match = " ".join(f'"{k.replace("-", " ")}"' for k in parsed.keys)
    if where:
        return (
            "SELECT f.rowid FROM issue_fts f JOIN issues i ON i.rowid = f.rowid "
            f"WHERE issue_fts MATCH ? AND {where} ORDER BY bm25(issue_fts) LIMIT 20",
            [match, *params],
        )
    return (
        "SELECT rowid FROM issue_fts WHERE issue_fts MATCH ? ORDER BY bm25(issue_fts) LIMIT 20",
        [match],
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[k]


def time_call(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run_engine(
    path: Path, classes: dict[str, list[str]], repeat: int, best: bool = False
) -> tuple[list[tuple], list[float], list[float]]:
    rows = []
    mix: list[float] = []
    mix_bare: list[float] = []
    store = Store(path)
    conn = store.conn
    # Warm the page cache once so the first class does not pay for it.
    for queries in classes.values():
        for q in queries[:3]:
            search(store, q)
    for name, queries in classes.items():
        eng: list[float] = []
        bare: list[float] = []
        ratios: list[float] = []
        for q in queries:
            sql, params = bare_sql(q)
            e = time_call(lambda q=q: search(store, q), repeat)
            b = time_call(
                lambda sql=sql, params=params: conn.execute(sql, params).fetchall(), repeat
            )
            if best:  # each query's fastest run: robust to a busy machine
                e, b = [min(e)], [min(b)]
            eng.extend(e)
            bare.extend(b)
            mix.extend(e)
            mix_bare.extend(b)
            ratios.append(statistics.median(e) / max(statistics.median(b), 1e-6))
        rows.append(
            (
                name,
                len(queries),
                statistics.median(eng),
                pct(eng, 0.99),
                statistics.median(bare),
                pct(bare, 0.99),
                statistics.median(ratios),
                max(ratios),
            )
        )
    store.close()
    return rows, mix, mix_bare


def run_process(path: Path, queries: list[str], runs: int, bytecode: bool) -> list[float]:
    """Wall time of `jiradex search QUERY --json` as a fresh process. With `bytecode`,
    compiled modules are cached (under the bench dir, not the repo) as on an installed
    package; without, every module is compiled from source at each start (what
    PYTHONDONTWRITEBYTECODE=1 gives)."""
    home = Path(tempfile.mkdtemp(prefix="jiradex-bench-home-"))
    (home / "data").mkdir()
    (home / "data" / "index.db").symlink_to(path)
    env = {**os.environ, "JIRADEX_HOME": str(home)}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(path.parent / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    exe = Path(sys.executable).with_name("jiradex")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import cli; cli.main()"]
    times = []
    if bytecode:  # one untimed run fills the cache
        subprocess.run([*cmd, "search", "x", "--json"], env=env, check=True, capture_output=True)
    for i in range(runs):
        q = queries[i % len(queries)]
        t0 = time.perf_counter()
        subprocess.run([*cmd, "search", q, "--json"], env=env, check=True, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", type=int, default=300_000)
    ap.add_argument("--queries", type=int, default=20, help="queries per class")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per query")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--no-process", action="store_true")
    ap.add_argument("--only", help="comma-separated classes")
    ap.add_argument(
        "--best", action="store_true", help="per query, keep its fastest run (busy machines)"
    )
    args = ap.parse_args()

    path = cache_path(args.issues)
    if args.rebuild or not path.exists():
        print(f"building {args.issues:,} synthetic issues at {path} …", file=sys.stderr)
        build(path, args.issues)
    else:
        print(f"reusing {path}", file=sys.stderr)
    with Store(path) as store:
        n_docs = store.conn.execute("SELECT count(*) FROM issues").fetchone()[0]
        classes = pick_queries(store.conn, n_docs, args.queries)
        df = doc_freqs(store.conn)
    if args.only:
        keep = set(args.only.split(","))
        classes = {k: v for k, v in classes.items() if k in keep}
    classes = {k: v for k, v in classes.items() if v}
    print(f"\n{n_docs:,} issues; {args.queries} queries per class, {args.repeat} runs each")
    for name, queries in classes.items():
        if not queries:
            print(f"  {name:<14} (no query of this class in this index)")
            continue
        sample = queries[0]
        words = [w for w in sample.lower().replace('"', " ").split() if w in df]
        dfs = ", ".join(f"{w}:{df[w]:,}" for w in words[:2])
        print(f"  {name:<14} e.g. {sample!r:<42} {dfs}")
    rows, mix, mix_bare = run_engine(path, classes, args.repeat, args.best)
    print(
        f"\n{'class':<14} {'search p50':>10} {'p99':>8}   {'bare p50':>8} {'p99':>8}   "
        f"{'ratio p50':>9} {'max':>6}"
    )
    for name, _n, e50, e99, b50, b99, r50, rmax in rows:
        print(
            f"{name:<14} {e50:>8.2f}ms {e99:>6.2f}ms   {b50:>6.2f}ms {b99:>6.2f}ms   "
            f"{r50:>9.2f} {rmax:>6.2f}"
        )
    print(
        f"{'all (mix)':<14} {statistics.median(mix):>8.2f}ms {pct(mix, 0.99):>6.2f}ms   "
        f"{statistics.median(mix_bare):>6.2f}ms {pct(mix_bare, 0.99):>6.2f}ms"
    )
    if not args.no_process:
        queries = [q for qs in classes.values() for q in qs[:2]]
        print()
        for bytecode, label in ((True, "cached bytecode"), (False, "compiling every module")):
            times = run_process(path, queries, 20, bytecode)
            print(
                f"jiradex search as a process ({label}): p50 {statistics.median(times):.0f} ms, "
                f"max {max(times):.0f} ms ({len(times)} runs)"
            )
        start = []
        for _ in range(10):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            start.append((time.perf_counter() - t0) * 1000)
        print(f"bare python start-up for comparison: p50 {statistics.median(start):.0f} ms")


if __name__ == "__main__":
    main()
