"""Property: any string a person can type (operators, quotes, filters, Unicode,
control characters, all mixed) gives hits or one clear QueryError; nothing the
parser writes ever reaches SQLite as an FTS5 syntax error. Random queries from a
fixed seed, both ranking paths, so a failure replays."""

from __future__ import annotations

import random
import sqlite3

import pytest

from indexer import search as search_module
from indexer.errors import QueryError
from indexer.search import search, split_highlights
from indexer.store import Store
from tests.test_query_hostile import RECORDS

# Pieces a person types: operators, syntax FTS5 would read, filters with and without
# values, words from the index, scripts, marks and characters SQLite treats apart.
ATOMS = [
    '"', "'", "*", "-", "+", "!", "(", ")", ":", ",", "OR", "AND", "NOT", "NEAR",
    "NEAR(", "^", "{", "}", "\\", "/", ".", "_", "%", "|", "&", "<", ">", "=", ">=",
    "\x00", "\t", "\n", "\x7f", "\u200b", "\u0301", "\u3099", "\ufeff", "\udce9", "🔥", "👩‍💻",
    "数据", "库", "データ", "데이터", "café", "ß", "İ", "ﬁ", "①", "pool", "timeout",
    "notes", "crashes", "OPS-1", "ops-1", "status:", "status:Open", 'status:"In',
    "project:OPS,WEB", "key:", "assignee:", "assignee:émile", "label:", "updated:",
    "created:", "updated:>=", "updated:>-7d", "2024-01-01", "-7d", "summary:",
    "comment:", "title:", "foo:", "type:", "priority:", "datasource:", "rowid:",
    "issue_fts:", "{summary}:", "x", "1", "1.2.3", "a_b", "C:\\Users", "https://x.y/z?a=1",
]  # fmt: skip


def _random_query(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 8)):
        roll = rng.random()
        if roll < 0.7:
            parts.append(rng.choice(ATOMS))
        elif roll < 0.85:
            parts.append("".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(1, 6))))
        else:  # any code point, lone surrogates too (argv keeps bytes that are not UTF-8 so)
            parts.append("".join(chr(rng.randint(0xA0, 0x2FFFF)) for _ in range(rng.randint(1, 3))))
        parts.append(" " if rng.random() < 0.5 else "")
    return "".join(parts)


QUERIES = [_random_query(random.Random(seed)) for seed in range(600)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("fuzz") / "index.db")
    s.upsert_issues(RECORDS)
    yield s
    s.close()


@pytest.mark.parametrize("exact_max", [1000, 0], ids=["exact", "pooled"])
def test_random_queries_give_hits_or_a_clear_message(store, monkeypatch, exact_max):
    monkeypatch.setattr(search_module, "EXACT_MAX", exact_max)
    failures = []
    for text in QUERIES:
        try:
            hits = search(store, text, limit=10)
        except QueryError as exc:
            message = str(exc)
            # "Cannot run this search" is the net under a parser bug: FTS5 refused.
            if not message or "\n" in message or "Cannot run this search" in message:
                failures.append((text, message))
            continue
        except (sqlite3.Error, Exception) as exc:  # noqa: BLE001 - the failure looked for
            failures.append((text, f"{type(exc).__name__}: {exc}"))
            continue
        for hit in hits:
            doc = hit.to_json()
            assert doc["matched"] in ("issue", "comment", "attachment"), text
            assert "".join(part for part, _ in split_highlights(hit.snippet)), text
    assert not failures, failures[:5]


# --------------------------------------------------------------------------- mixed groups
# Words ORed with filters (`crash OR label:crash`) and negated groups (`-(a -b)`)
# are conditions of their own (ParsedQuery.mixed): random nestings of words, keys,
# phrases, prefixes, column words, exclusions and every kind of filter value.

WORDS = [
    "pool", "timeout", "notes", "crashes", "OPS-1", "ops-1", "café", "数据", "x", "1.2.3",
    "poo*", '"pool timeout"', "summary:pool", "comment:notes", "a_b", "-pool", "-OPS-1",
    "NOT timeout", "*", "-", '"', "é", "🔥", "C:\\Users",
]  # fmt: skip
FILTERS = [
    "status:Open", 'status:"In Progress"', "label:ui", "label:été", "assignee:none",
    "assignee:émile", "datasource:work", 'datasource:"my ds"', "updated:>=2024-01-01",
    "created:<2024-06", "updated:-7d", "updated:(>=2024-01 <2024-03)", "-status:Done",
    "project:OPS,WEB", "key:OPS-1", "type:Bug", "priority:High", "-label:ui",
    "reporter:ann", "component:api", "updated:zz", "label:",
]  # fmt: skip


def _random_group(rng: random.Random, depth: int = 0) -> str:
    parts = [_random_operand(rng, depth)]
    for _ in range(rng.randint(0, 3)):
        parts.append(rng.choice([" OR ", " ", " OR ", " AND "]))
        parts.append(_random_operand(rng, depth))
    return "".join(parts)


def _random_operand(rng: random.Random, depth: int) -> str:
    if depth < 3 and rng.random() < 0.25:
        return rng.choice(["", "", "-", "NOT "]) + "(" + _random_group(rng, depth + 1) + ")"
    return rng.choice(WORDS if rng.random() < 0.5 else FILTERS)


MIXED_QUERIES = [_random_group(random.Random(seed)) for seed in range(400)]


@pytest.mark.parametrize("exact_max", [1000, 0], ids=["exact", "pooled"])
def test_random_mixed_groups_give_hits_or_a_clear_message(store, monkeypatch, exact_max):
    monkeypatch.setattr(search_module, "EXACT_MAX", exact_max)
    failures, answered = [], 0
    for text in MIXED_QUERIES:
        try:
            hits = search(store, text, limit=10)
        except QueryError as exc:
            message = str(exc)
            if not message or "\n" in message or "Cannot run this search" in message:
                failures.append((text, message))
            continue
        except Exception as exc:  # noqa: BLE001 - the failure looked for
            failures.append((text, f"{type(exc).__name__}: {exc}"))
            continue
        answered += 1
        for hit in hits:
            assert "".join(part for part, _ in split_highlights(hit.snippet)), text
    assert not failures, failures[:5]
    assert answered > len(MIXED_QUERIES) // 2  # mostly searched, not refused
