"""Relevance: hand-written target issues among seeded distractors; MRR and recall@10
over the query set in tests/fixtures/relevance (see its README)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from indexer import search as search_module
from indexer.query import parse_query
from indexer.search import search
from indexer.store import Store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "relevance"
TARGETS = json.loads((FIXTURE / "targets.json").read_text(encoding="utf-8"))
QUERIES = json.loads((FIXTURE / "queries.json").read_text(encoding="utf-8"))
# Hand-written near misses: they share words (even summary words) with the targets.
DISTRACTORS = json.loads((FIXTURE / "distractors.json").read_text(encoding="utf-8"))
NOISE_ISSUES = 1500
MRR_FLOOR = 0.95
POOLED_MRR_FLOOR = 0.93
RECALL_FLOOR = 0.95

GENERIC = """
add remove update improve fix support allow handle check validate show hide load
save open close create delete rename move copy sync import process render parse
format user users admin account team project board issue ticket comment attachment
field value list table row column page view screen panel menu button link form
dialog tab widget chart graph card sidebar header footer toolbar icon image file
folder document template workflow status priority label component version release
sprint epic story task subtask estimate worklog dashboard gadget plugin app service
job worker scheduler queue event message handler listener client server request
response endpoint config setting option flag property parameter argument variable
default limit size count total number length width height color font style layout
spacing order filter sort group search query result match score rank index cache
store storage disk network host port proxy gateway cluster node container image
build test unit integration suite case step expected actual behaviour error warning
info debug trace log output input text string word line character encoding locale
language date time zone day week month year hour minute second duration delay
interval retry backoff slow fast performance latency throughput memory cpu thread
lock transaction commit rollback batch bulk stream buffer chunk payload schema model
entity record customer order invoice payment refund price tax discount currency
product catalog mobile desktop browser tablet android ios web api rest json xml csv
pdf html markdown minor major blocker regression feature request enhancement cleanup
refactor rework
""".split()  # noqa: SIM905
STOP = {"the", "a", "an", "for", "in", "on", "of", "to", "with", "and", "or", "by", "is"}
PEOPLE = ["Ana Souza", "José Álvarez", "Wei Zhang", "Priya Raman", "Zoë Müller", "Sam Carter"]
STATUSES = ["To Do", "In Progress", "In Review", "Done", "Closed"]
PROJECTS = sorted({t["key"].split("-")[0] for t in TARGETS})


def words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"\w+", text)]


def query_words(query: str) -> list[tuple[str, bool]]:
    """The positive words of a query as (word, is_prefix)."""
    out = []
    for group in parse_query(query).groups:
        for term in group:
            for w in words(term.text):
                out.append((w, term.prefix))
    return out


def covers(summary_words: set[str], qwords: list[tuple[str, bool]]) -> bool:
    def has(w: str, prefix: bool) -> bool:
        if prefix:
            return any(s.startswith(w) for s in summary_words)
        return w in summary_words

    return bool(qwords) and all(has(w, p) for w, p in qwords)


def stamp(rng: random.Random) -> str:
    return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00.000Z"


def target_record(t: dict, rng: random.Random) -> dict:
    project = t["key"].split("-")[0]
    return {
        "id": str(abs(hash(t["key"])) % 10**9),
        "key": t["key"],
        "project": project,
        "datasource": "rel",
        "summary": t["summary"],
        "description": t["description"],
        "description_text": t["description"],
        "issuetype": "Bug",
        "status": t.get("status", "To Do"),
        "status_category": "To Do",
        "priority": "Medium",
        "assignee": t.get("assignee"),
        "reporter": "Reporter Example",
        "labels": t.get("labels", []),
        "components": [],
        "created": "2023-01-01T00:00:00.000Z",
        "updated": stamp(rng),
        "url": None,
        "raw": None,
        "comments": [
            {
                "id": f"{t['key']}-c{i}",
                "author": "Commenter Example",
                "created": "2024-01-01T00:00:00.000Z",
                "updated": None,
                "body": body,
                "body_text": body,
            }
            for i, body in enumerate(t.get("comments", []))
        ],
        "attachments": [
            {
                "id": f"{t['key']}-a{i}",
                "filename": a["filename"],
                "mimetype": "text/plain",
                "size": len(a["text"]),
                "created": "2024-01-01T00:00:00.000Z",
                "author": "Commenter Example",
                "content_url": None,
                "text": a["text"],
                "indexed": True,
            }
            for i, a in enumerate(t.get("attachments", []))
        ],
    }


def noise_records(n: int, seed: int = 5) -> list[dict]:
    """Distractors: generic words plus the targets' summary words in their bodies
    (and at most one in their summary), never all the words of a query in a summary."""
    rng = random.Random(seed)
    shared = sorted({w for t in TARGETS for w in words(t["summary"]) if w not in STOP})
    qwords = [query_words(q) for q, _ in QUERIES]
    target_keys = [t["key"] for t in TARGETS]
    topics = [[w for w in words(t["summary"]) if w not in STOP] for t in TARGETS]
    out = []
    for i in range(n):
        while True:
            parts = rng.sample(GENERIC, rng.randint(3, 7))
            if rng.random() < 0.5:
                parts.insert(rng.randrange(len(parts) + 1), rng.choice(shared))
            summary = " ".join(parts).capitalize()
            sw = set(words(summary))
            if not any(covers(sw, q) for q in qwords):
                break

        topic = rng.choice(topics)

        def body(lo: int, hi: int, topic: list[str] = topic) -> str:
            ws = rng.choices(GENERIC, k=rng.randint(lo, hi))
            for _ in range(rng.randint(1, 5)):
                ws.insert(rng.randrange(len(ws) + 1), rng.choice(shared))
            if rng.random() < 0.6:  # a neighbour of one target: several of its words
                for w in rng.sample(topic, min(len(topic), rng.randint(2, 4))):
                    ws.insert(rng.randrange(len(ws) + 1), w)
            if rng.random() < 0.05:
                ws.append(f"see {rng.choice(target_keys)}")
            return " ".join(ws) + "."

        project = PROJECTS[i % len(PROJECTS)]
        description = body(20, 90)
        comments = [body(8, 40) for _ in range(rng.choice((0, 0, 1, 2)))]
        out.append(
            {
                "id": str(900_000 + i),
                "key": f"{project}-{1000 + i}",
                "project": project,
                "datasource": "rel",
                "summary": summary,
                "description": description,
                "description_text": description,
                "issuetype": rng.choice(["Bug", "Task", "Story"]),
                "status": rng.choice(STATUSES),
                "status_category": "To Do",
                "priority": "Medium",
                "assignee": rng.choice(PEOPLE),
                "reporter": rng.choice(PEOPLE),
                "labels": rng.sample(["backend", "frontend", "security", "db", "ops"], 1),
                "components": [],
                "created": "2023-01-01T00:00:00.000Z",
                "updated": stamp(rng),
                "url": None,
                "raw": None,
                "comments": [
                    {
                        "id": f"n{i}-{k}",
                        "author": rng.choice(PEOPLE),
                        "created": "2024-01-01T00:00:00.000Z",
                        "updated": None,
                        "body": c,
                        "body_text": c,
                    }
                    for k, c in enumerate(comments)
                ],
            }
        )
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = random.Random(1)
    records = noise_records(NOISE_ISSUES)
    targets = [target_record(t, rng) for t in TARGETS + DISTRACTORS]
    # Targets spread through the insertion order, so rowid order says nothing.
    for k, t in enumerate(targets):
        records.insert((k * 37) % len(records), t)
    s = Store(tmp_path_factory.mktemp("relevance") / "index.db")
    for lo in range(0, len(records), 200):
        s.upsert_issues(records[lo : lo + 200])
    yield s
    s.close()


def evaluate(store: Store) -> tuple[float, float, list[tuple[str, list[str], list[str]]]]:
    rr_total = 0.0
    recall_total = 0.0
    misses = []
    for query, expected in QUERIES:
        keys = [h.key for h in search(store, query, limit=10)]
        rank = next((i + 1 for i, k in enumerate(keys) if k in expected), None)
        rr_total += 1.0 / rank if rank else 0.0
        recall_total += len(set(expected) & set(keys)) / len(expected)
        if rank != 1:
            misses.append((query, expected, keys[:3]))
    n = len(QUERIES)
    return rr_total / n, recall_total / n, misses


def test_query_set_is_big_enough():
    assert len(QUERIES) >= 30
    known = {t["key"] for t in TARGETS}
    assert not known & {d["key"] for d in DISTRACTORS}
    assert all(set(expected) <= known for _, expected in QUERIES)


def test_distractors_compete(store):
    """The distractors share words with the targets, so ranking matters: most
    queries match more than their target."""
    crowded = sum(1 for q, _ in QUERIES if len(search(store, q, limit=50)) > 3)
    assert crowded >= len(QUERIES) // 2


def test_relevance(store, capsys):
    mrr, recall, misses = evaluate(store)
    with capsys.disabled():
        print(f"\nrelevance: {len(QUERIES)} queries, MRR {mrr:.3f}, recall@10 {recall:.3f}")
        for query, expected, got in misses:
            print(f"  not first: {query!r} expected {expected} got {got}")
    assert mrr >= MRR_FLOOR, misses
    assert recall >= RECALL_FLOOR, misses


def test_relevance_of_the_huge_match_set_path(store, capsys, monkeypatch):
    """Above EXACT_MAX matches the engine ranks a pool (summary words, then recency)
    instead of bm25 over everything; forced here for every query, it must stay close."""
    monkeypatch.setattr(search_module, "EXACT_MAX", 10)
    mrr, recall, misses = evaluate(store)
    with capsys.disabled():
        print(f"\nrelevance, pooled path: MRR {mrr:.3f}, recall@10 {recall:.3f}")
    assert mrr >= POOLED_MRR_FLOOR, misses
    assert recall >= RECALL_FLOOR, misses
