"""Offline search over the index: parse, rank (bm25, summary first), snippet.

`search(store, query)` returns `SearchHit`s, best first. Matched words in
`SearchHit.snippet` are wrapped in HIGHLIGHT_START / HIGHLIGHT_END (`[[` and `]]`);
the CLI turns them into bold, JSON keeps them as they are.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from indexer.camel import camel_split, has_identifiers
from indexer.errors import QueryError
from indexer.fold import fold
from indexer.query import KEY_RE, ParsedQuery, Term, parse_query, term_spellings
from indexer.spelling import spellings
from indexer.stem import key_is_word, stem
from indexer.store import CJK_RUN, TITLE_COLUMNS, Store, cjk_form

HIGHLIGHT_START = "[["
HIGHLIGHT_END = "]]"
ELLIPSIS = "…"
MAX_LIMIT = 1000
# Rank every match with bm25 up to this many matching issues; above it, rank in
# tiers among the RECENT_POOL most recently indexed matches (see _ranked).
EXACT_MAX = 1000
RECENT_POOL = 200
TITLE_PREFIX_MIN = 4
# Word adjacency: the best RERANK_DEPTH bm25 hits get a bonus per pair of neighbouring
# query words found side by side (see _adjacency).
RERANK_DEPTH = 40
PAIR_IN_SUMMARY = 0.15
PAIR_IN_BODY = 0.05
# sort=updated over a huge match set: how many of the newest issues to test one by one.
UPDATED_WALK = 1000
SORTS = ("relevance", "updated")
# The stem columns of title_fts (indexer.store.TITLE_COLUMNS).
_TITLE_STEMS = tuple(c for c in TITLE_COLUMNS if c.endswith("_stems"))

# bm25 column weights of issue_fts (indexer.store.FTS_COLUMNS: the text fields summary,
# tags, description, comments, attachments; then their `_parts`; then their `_stems`):
# a word in the summary counts far more than the same word in a long comment thread,
# and an inflection (stem columns) less than the word typed.
TEXT_WEIGHTS = (10.0, 6.0, 3.0, 1.0, 1.0)
PARTS_WEIGHTS = (5.0, 3.0, 1.5, 0.5, 0.5)
STEMS_WEIGHTS = (5.0, 5.0, 1.0, 1.0, 1.0)
WEIGHTS = (*TEXT_WEIGHTS, *PARTS_WEIGHTS, *STEMS_WEIGHTS)
BM25 = "bm25(issue_fts, " + ", ".join(str(w) for w in WEIGHTS) + ")"

_HIT_FIELDS = (
    "key",
    "summary",
    "status",
    "project",
    "issuetype",
    "assignee",
    "updated",
    "url",
    "datasource",
    "id",
    "description_text",
    "labels",
    "components",
)


@dataclass
class SearchHit:
    key: str
    summary: str
    status: str | None
    project: str | None
    issuetype: str | None
    assignee: str | None
    updated: str | None
    url: str | None
    snippet: str
    score: float
    datasource: str
    matched: str  # "issue" | "comment" | "attachment"
    id: str = ""
    attachment: str | None = None  # the file's name, when matched is "attachment"

    def to_json(self) -> dict[str, Any]:
        """The `search --json` shape (ARCHITECTURE.md)."""
        return {
            "key": self.key,
            "summary": self.summary,
            "status": self.status,
            "project": self.project,
            "issuetype": self.issuetype,
            "assignee": self.assignee,
            "updated": self.updated,
            "url": self.url,
            "snippet": self.snippet,
            "score": self.score,
            "datasource": self.datasource,
            "matched": self.matched,
            "attachment": self.attachment,
        }


def search(
    store: Store,
    query: str | ParsedQuery,
    datasource: str | None = None,
    limit: int = 20,
    sort: str = "relevance",
) -> list[SearchHit]:
    """Search the index; raises QueryError for a query that cannot be read."""
    if sort not in SORTS:
        raise QueryError(f"Unknown sort {sort!r}: use relevance or updated")
    limit = max(1, min(int(limit), MAX_LIMIT))
    parsed = parse_query(query) if isinstance(query, str) else query
    if parsed.empty:
        return []
    # Filters alone are served by indexes when name filters are resolved to names
    # first; after words, the rows the words leave are checked as they are.
    names = store.distinct_names if not parsed.groups and not parsed.symbols else None
    where, params = parsed.sql_filters("i", names=names)
    if datasource:
        where = f"{where} AND i.datasource = ?" if where else "i.datasource = ?"
        params = [*params, datasource]
    with store._reading() as conn:
        try:
            return _search(conn, parsed, where, params, limit, sort)
        except sqlite3.OperationalError as exc:
            # The parser quotes every user word, so this means a parser bug; say so
            # plainly rather than blame the index (store._reading would).
            if "fts5" in str(exc).lower() or "string" in str(exc).lower():
                raise QueryError(
                    "Cannot run this search: try fewer symbols, or put the words in quotes"
                ) from None
            raise


def _search(
    conn: sqlite3.Connection,
    parsed: ParsedQuery,
    where: str,
    params: list,
    limit: int,
    sort: str,
) -> list[SearchHit]:
    key_rowids = _key_rowids(conn, parsed.keys, where, params) if parsed.keys else []
    text_query = _text_query(parsed)
    match = text_query.full_match()
    scored: list[tuple[int, float]] = []
    if match:
        scored = _ranked(conn, text_query, where, params, limit + len(key_rowids), sort)
    elif (
        text_query.excluded
        or text_query.excluded_all
        or parsed.filters
        or parsed.mixed
        or parsed.symbols
    ):
        scan = bool(parsed.symbols)
        scored = _filtered(conn, text_query.exclude_match(), where, params, limit, scan)
    top = max((s for _, s in scored), default=0.0)
    order: list[tuple[int, float]] = [(r, top + 1.0) for r in key_rowids]
    seen = set(key_rowids)
    for rowid, score in scored:
        if rowid not in seen:
            seen.add(rowid)
            order.append((rowid, score))
    order = order[:limit]
    if not order:
        return []
    return _hits(conn, order, match, parsed)


def _text_query(parsed: ParsedQuery) -> ParsedQuery:
    """With keys and other words, search the other words (the key issue comes first
    anyway); with keys alone, search for issues that mention them."""
    if not parsed.keys:
        return parsed
    keys = set(parsed.keys)
    others = [g for g in parsed.groups if not (len(g) == 1 and g[0].text.upper() in keys)]
    if not others:
        return parsed
    return replace(parsed, groups=others, keys=[])


def _key_rowids(conn: sqlite3.Connection, keys: list[str], where: str, params: list) -> list[int]:
    rowids = []
    for key in keys:
        # COLLATE NOCASE so the issues_key index serves it (keys are stored upper-case).
        sql = "SELECT i.rowid FROM issues i WHERE i.key = ? COLLATE NOCASE"
        if where:
            sql += f" AND {where}"
        sql += " ORDER BY i.updated DESC"
        rowids.extend(r[0] for r in conn.execute(sql, [key, *params]))
    return rowids


def _ranked(
    conn: sqlite3.Connection,
    query: ParsedQuery,
    where: str,
    params: list,
    limit: int,
    sort: str,
) -> list[tuple[int, float]]:
    """(rowid, score) best first; higher scores are better.

    Up to EXACT_MAX matching issues, every match is scored with bm25 (the summary
    weighted above the body). Above that, bm25 would score every match and read each
    word's whole posting list for its IDF (about a second for a word found in every
    issue of 300k, when a person expects a result per keystroke), so a huge match
    set is ranked from a pool instead: the most recently indexed matches, plus the
    most recent ones with all the words in the summary (title_fts, a much smaller
    index), ordered by how many of the query's words the summary holds (and side by
    side), then by last update."""
    match = query.full_match()
    assert match is not None
    if _newest_beyond(conn, "issue_fts", match, EXACT_MAX) is None:
        return _exact(conn, query, match, where, params, limit, sort)
    if sort == "updated":
        return _newest_updated(conn, match, where, params, limit)
    pool: dict[int, tuple] = {
        row[0]: row for row in _recent(conn, "issue_fts", match, None, where, params)
    }
    # A full pool means older matches were left out: look further back for issues
    # with every word in the summary. (A pool that is not full holds every match.)
    title = _title_match(query) if len(pool) >= RECENT_POOL else None
    if title is not None:
        for row in _recent(conn, "title_fts", title, query.exclude_match(), where, params):
            pool.setdefault(row[0], row)
    patterns = _group_patterns(query)
    pairs = _pair_patterns(query)
    ranked = []
    for rowid, updated, summary, labels, components in pool.values():
        written = f"{summary or ''}\n{labels or ''}\n{components or ''}"
        head = fold(written)
        found = sum(1 for p in patterns if _holds(p, head, written))
        together = sum(1 for p in pairs if p.search(head))
        ranked.append((found + together, updated or "", rowid))
    ranked.sort(reverse=True)
    return [
        (rowid, round(1.0 + found - min(n, 9999) / 10_000, 4))
        for n, (found, _, rowid) in enumerate(ranked[:limit])
    ]


def _holds(matcher: _Matcher, folded: str, written: str) -> bool:
    """Whether a summary (`folded`, and as `written`) holds a group's words: as words,
    or, for an identifier typed (`NullPointer`), as the start or end of a longer one
    ("NullPointerException"), as the snippet marks it (_Marker.highlight)."""
    if matcher.search(folded, written) is not None:
        return True
    if not matcher.camel or not has_identifiers(written):
        return False
    split, _ = camel_split(written)
    return next(matcher.finditer(fold(split), original=split, split=True), None) is not None


def _newest_updated(
    conn: sqlite3.Connection, match: str, where: str, params: list, limit: int
) -> list[tuple[int, float]]:
    """Most recently updated matches first, for a huge match set: walk the newest
    UPDATED_WALK issues by the `updated` index and test each against the index, which
    is exact when it finds enough; otherwise add the newest-indexed pool."""
    row = conn.execute(
        "SELECT updated FROM issues ORDER BY updated DESC LIMIT 1 OFFSET ?", [UPDATED_WALK]
    ).fetchone()
    bound = row[0] if row else ""
    sql = (
        "SELECT i.rowid, i.updated FROM issues i WHERE i.updated >= ? "
        "AND EXISTS (SELECT 1 FROM issue_fts WHERE issue_fts MATCH ? "
        "AND issue_fts.rowid = i.rowid) "
        f"{'AND ' + where if where else ''} ORDER BY i.updated DESC, i.rowid DESC LIMIT ?"
    )
    rows = conn.execute(sql, [bound or "", match, *params, limit]).fetchall()
    if len(rows) < limit and row is not None:
        found = {r[0]: r[1] for r in rows}
        for extra in _recent(conn, "issue_fts", match, None, where, params):
            found.setdefault(extra[0], extra[1])
        rows = sorted(found.items(), key=lambda r: (r[1] or "", r[0]), reverse=True)[:limit]
    return [(rowid, round(1.0 - n / 10_000, 4)) for n, (rowid, _) in enumerate(rows)]


def _exact(
    conn: sqlite3.Connection,
    query: ParsedQuery,
    match: str,
    where: str,
    params: list,
    limit: int,
    sort: str,
) -> list[tuple[int, float]]:
    """bm25 over every match (callers make sure there are not too many). For
    relevance, the best few are then nudged by word adjacency (see _adjacency)."""
    order = "i.updated DESC, i.rowid DESC" if sort == "updated" else "s"
    pairs = _pair_patterns(query) if sort == "relevance" else []
    fetch = max(limit, RERANK_DEPTH) if pairs else limit
    if not where and sort == "relevance":
        sql = f"SELECT rowid, {BM25} AS s FROM issue_fts WHERE issue_fts MATCH ? ORDER BY s LIMIT ?"
        rows = conn.execute(sql, [match, fetch]).fetchall()
    else:
        sql = (
            f"SELECT issue_fts.rowid, {BM25} AS s FROM issue_fts "
            "JOIN issues i ON i.rowid = issue_fts.rowid "
            f"WHERE issue_fts MATCH ? {'AND ' + where if where else ''} "
            f"ORDER BY {order} LIMIT ?"
        )
        rows = conn.execute(sql, [match, *params, fetch]).fetchall()
    scored = [(rowid, -score) for rowid, score in rows]
    if pairs and len(scored) > 1:
        scored = _adjacency(conn, scored, pairs)
    # Four significant digits, not decimals: a word found in most issues has a bm25
    # near 1e-6 (its IDF bottoms out), and every score would read 0.0.
    return [(rowid, float(f"{score:.4g}")) for rowid, score in scored[:limit]]


def _pair_patterns(query: ParsedQuery) -> list[re.Pattern]:
    """Patterns for each two neighbouring words of the query written next to each
    other (`rate limit` -> "rate" then "limit"), for plain single-word groups."""
    words: list[Term | None] = []
    for group in query.groups:
        term = group[0] if len(group) == 1 else None
        plain = (
            term is not None
            and not term.columns
            and not CJK_RUN.search(term.text)
            and len(_TOKEN.findall(term.text)) == 1
        )
        words.append(term if plain else None)
    out = []
    for first, second in zip(words, words[1:], strict=False):
        if first is None or second is None:
            continue
        a = re.escape(fold(first.text))
        b = re.escape(fold(second.text))
        tail = f"{_PLAIN_WORD_CHAR}*" if second.prefix else f"(?!{_PLAIN_WORD_CHAR})"
        out.append(re.compile(f"(?<!{_PLAIN_WORD_CHAR}){a}{_PLAIN_NOT_WORD}+{b}{tail}"))
    return out


def _adjacency(
    conn: sqlite3.Connection, scored: list[tuple[int, float]], pairs: list[re.Pattern]
) -> list[tuple[int, float]]:
    """bm25 ignores word order; a person typing `memory leak` means the two words
    together. Raise the score of issues holding the typed neighbours side by side:
    PAIR_IN_SUMMARY per pair found in the summary, PAIR_IN_BODY in the description."""
    marks = ",".join("?" * len(scored))
    texts = {
        r[0]: (fold(r[1] or ""), fold((r[2] or "")[:_SCAN_CHARS]))
        for r in conn.execute(
            f"SELECT rowid, summary, description_text FROM issues WHERE rowid IN ({marks})",
            [rowid for rowid, _ in scored],
        )
    }
    out = []
    for rowid, score in scored:
        summary, body = texts.get(rowid, ("", ""))
        boost = sum(
            PAIR_IN_SUMMARY if p.search(summary) else PAIR_IN_BODY if p.search(body) else 0.0
            for p in pairs
        )
        out.append((rowid, score * (1.0 + boost)))
    out.sort(key=lambda r: r[1], reverse=True)
    return out


def _newest_beyond(conn: sqlite3.Connection, table: str, match: str, n: int) -> int | None:
    """The rowid of the (n+1)-th newest match, or None when there are at most n.
    Cheap: FTS5 walks its posting lists in rowid order without scoring anything."""
    row = conn.execute(
        f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
        [match, n],
    ).fetchone()
    return row[0] if row else None


def _recent(
    conn: sqlite3.Connection,
    table: str,
    match: str,
    exclude: str | None,
    where: str,
    params: list,
) -> list[tuple]:
    """The RECENT_POOL most recently indexed matches that pass the filters, as
    (rowid, updated, summary, labels, components). FTS5 yields matches in rowid
    order without scoring them, so this stops as soon as the pool is full; every
    write gives an issue a new rowid and sync writes oldest-updated first, so rowid
    order is update order (see Store._upsert)."""
    conds = []
    args: list = [match]
    if where:
        conds.append(where)
        args.extend(params)
    if exclude:
        conds.append(
            "NOT EXISTS (SELECT 1 FROM issue_fts WHERE issue_fts MATCH ? "
            "AND issue_fts.rowid = i.rowid)"
        )
        args.append(exclude)
    columns = "i.rowid, i.updated, i.summary, i.labels, i.components"
    if conds:
        sql = (
            f"SELECT {columns} FROM {table} JOIN issues i ON i.rowid = {table}.rowid "
            f"WHERE {table} MATCH ? AND {' AND '.join(conds)} "
            f"ORDER BY {table}.rowid DESC LIMIT ?"
        )
    else:
        sql = (
            f"SELECT {columns} FROM (SELECT rowid FROM {table} WHERE {table} MATCH ? "
            "ORDER BY rowid DESC LIMIT ?) m JOIN issues i ON i.rowid = m.rowid"
        )
    return conn.execute(sql, [*args, RECENT_POOL]).fetchall()


def _title_match(query: ParsedQuery) -> str | None:
    """The positive words as a title_fts (summary + tags) expression, or None when a
    word is limited to a body column, holds CJK text (title_fts has no cjk column) or
    is a short prefix (title_fts has no prefix index: `op*` would merge the posting
    lists of every word starting with "op")."""
    parts = []
    for group in query.groups:
        exprs = []
        for term in group:
            if term.columns and term.columns != ("summary",):
                return None
            if CJK_RUN.search(term.text):
                return None
            if term.prefix and len(term.text) < TITLE_PREFIX_MIN:
                return None
            columns = ("summary",) if term.columns else ()
            expr = Term(term.text, term.prefix, columns, term.exact).fts(_TITLE_STEMS)
            if expr is None:
                continue
            exprs.append(expr)
        if len(exprs) == 1:
            parts.append(exprs[0])
        elif exprs:
            parts.append("(" + " OR ".join(exprs) + ")")
    return " AND ".join(parts) if parts else None


def _filtered(
    conn: sqlite3.Connection,
    exclude: str | None,
    where: str,
    params: list,
    limit: int,
    scan: bool = False,
) -> list[tuple[int, float]]:
    """Filter-only (or exclusion-only) queries: newest first. `scan`: the conditions
    look into the summaries (words of symbols, ParsedQuery.symbols), so the rows
    are scanned (`+updated` keeps SQLite from walking the updated index, whose row
    lookups cost more than the scan when few issues match)."""
    conds = [where] if where else []
    args = list(params)
    if exclude:
        conds.append("i.rowid NOT IN (SELECT rowid FROM issue_fts WHERE issue_fts MATCH ?)")
        args.append(exclude)
    sql = "SELECT i.rowid FROM issues i"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    updated = "+i.updated" if scan else "i.updated"
    sql += f" ORDER BY {updated} DESC, i.rowid DESC LIMIT ?"
    return [(r[0], 0.0) for r in conn.execute(sql, [*args, limit])]


# --------------------------------------------------------------------------- hits


def _hits(
    conn: sqlite3.Connection, order: list[tuple[int, float]], match: str | None, parsed: ParsedQuery
) -> list[SearchHit]:
    """Issue rows and snippets for the ranked rowids. Snippets are cut in Python from
    the indexed text (the issue row, then comments and attachments by rowid only
    when needed): FTS5's snippet() would re-run the query once per hit, which for a
    long prefix means re-merging its posting lists twenty times."""
    rowids = [r for r, _ in order]
    marks = ",".join("?" * len(rowids))
    rows = {
        row[0]: dict(zip(_HIT_FIELDS, row[1:], strict=True))
        for row in conn.execute(
            f"SELECT rowid, {', '.join(_HIT_FIELDS)} FROM issues WHERE rowid IN ({marks})", rowids
        )
    }
    marker = _Marker(parsed) if match or parsed.keys or parsed.mixed or parsed.symbols else None
    snippets: dict[int, tuple[str, str]] = {}
    if marker is not None and marker.pattern is not None:
        for rowid, data in rows.items():
            found = _issue_snippet(data, marker)
            if found:
                snippets[rowid] = found
        body = [r for r in rows if r not in snippets]
        if body:
            more = ",".join("?" * len(body))
            for rowid, comments, attachments in conn.execute(
                f"SELECT rowid, comments, attachments FROM issue_fts WHERE rowid IN ({more})",
                body,
            ):
                for text, where in ((comments, "comment"), (attachments, "attachment")):
                    found = marker.highlight(text or "")
                    if found:
                        snippets[rowid] = (found, where)
                        break
    files = _matched_files(
        conn, [r for r, (_, where) in snippets.items() if where == "attachment"], marker
    )
    hits = []
    for rowid, score in order:
        data = rows.get(rowid)
        if data is None:
            continue
        snippet, matched = snippets.get(rowid) or (_plain_snippet(data), "issue")
        hits.append(
            SearchHit(
                key=data["key"],
                summary=data["summary"] or "",
                status=data["status"],
                project=data["project"],
                issuetype=data["issuetype"],
                assignee=data["assignee"],
                updated=data["updated"],
                url=data["url"],
                snippet=snippet,
                score=score,
                datasource=data["datasource"],
                matched=matched,
                id=data["id"],
                attachment=files.get(rowid) if matched == "attachment" else None,
            )
        )
    return hits


def _matched_files(conn: sqlite3.Connection, rowids: list[int], marker: _Marker | None) -> dict:
    """Issue rowid -> name of its first attachment whose name or text holds a match:
    each attachment is a document of its own, and a hit says which one."""
    if not rowids or marker is None:
        return {}
    marks = ",".join("?" * len(rowids))
    found: dict[int, str] = {}
    for issue, filename, text in conn.execute(
        f"SELECT issue, filename, text FROM attachments WHERE issue IN ({marks}) ORDER BY rowid",
        rowids,
    ):
        if issue not in found and marker.highlight(f"{filename or ''}\n{text or ''}"):
            found[issue] = filename or ""
    return found


def _issue_snippet(data: dict, marker: _Marker) -> tuple[str, str] | None:
    """The description if it holds a match, else the summary, else labels/components."""
    tags = " ".join(json.loads(data["labels"] or "[]") + json.loads(data["components"] or "[]"))
    for text in (data["description_text"], data["summary"], tags):
        found = marker.highlight(text or "")
        if found:
            return found, "issue"
    return None


def _plain_snippet(data: dict, max_chars: int = 160) -> str:
    """A hit by key or filter alone: the start of the description (or summary)."""
    text = _tidy(data.get("description_text") or data.get("summary") or "")
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(" ", 1)[0] + ELLIPSIS


_TOKEN = re.compile(r"[^\W_]+")  # a unicode61 token: a run of letters and digits
# Word characters for a match's edges and a phrase's gaps: letters and digits but
# CJK, which the index cuts out of the tokens around (`API` in `调用API接口`,
# indexer.store.cjk_terms), so a word glued to CJK text is marked there.
_CJK_CHARS = CJK_RUN.pattern[1:-2]
_WORD_CHAR = rf"[^\W_{_CJK_CHARS}]"
_NOT_WORD = rf"[\W_{_CJK_CHARS}]"
_PLAIN_WORD_CHAR = r"[^\W_]"
_PLAIN_NOT_WORD = r"[\W_]"
_SCAN_CHARS = 200_000  # a snippet is looked for in the first 200k characters of a column


# A digraph typed for a letter (`ue` for ü, `oe` for ö, ø or œ, `ae` for ä or æ, `aa`
# for å), over
# folded text (fold.py folds ü to u and ø to o, and keeps æ and œ).
_LOOSE = {"ae": "(?:ae|a|æ)", "oe": "(?:oe|o|œ)", "ue": "(?:ue|u)", "aa": "(?:aa|a)"}
_DIGRAPH = re.compile("ae|oe|ue|aa")


_Check = tuple[list[str], bool] | str | None


def _term_patterns(term: Term) -> list[tuple[str, _Check]]:
    """Regular expressions (over folded text) for where a term matches: its tokens in
    a row as whole words (the last one as a prefix for `word*`), and its CJK runs,
    each with None or, for one whose tokens hold a digraph (`mueller`), the tokens
    and whether the last is a prefix: its pattern also matches the letter written
    (`m(?:ue|u)ller` finds "Müller") and a match is kept only where the words
    found are those tokens in one of their spellings (not "Muller"; see _spelled).
    An identifier typed (`HttpRequest`) also has the pattern of its parts, "camel":
    for text split where its case changes ("XMLHttpRequest", see _Marker).
    (Inflections of stemmed words: see _stem_keys.)"""
    out: list[tuple[str, _Check]] = []
    text = CJK_RUN.sub(" ", term.text)
    if text.isascii() and has_identifiers(text):
        tokens = _TOKEN.findall(fold(camel_split(text)[0]))
        body = f"{_NOT_WORD}+".join(re.escape(t) for t in tokens)
        tail = f"{_WORD_CHAR}*" if term.prefix else f"(?!{_WORD_CHAR})"
        out.append((f"(?<!{_WORD_CHAR}){body}{tail}", "camel"))
    for spelling in (text, *term_spellings(" ".join(text.split()))):
        tokens = _TOKEN.findall(fold(spelling)) if spelling else []
        if tokens:
            loose = any(_DIGRAPH.search(t) for t in tokens)
            words = [
                _DIGRAPH.sub(lambda m: _LOOSE[m.group()], re.escape(t)) if loose else re.escape(t)
                for t in tokens
            ]
            body = f"{_NOT_WORD}+".join(words)
            tail = f"{_WORD_CHAR}*" if term.prefix else f"(?!{_WORD_CHAR})"
            out.append((f"(?<!{_WORD_CHAR}){body}{tail}", (tokens, term.prefix) if loose else None))
    out.extend((_kana_pattern(fold(cjk_form(run))), None) for run in CJK_RUN.findall(term.text))
    return out


def _kana_pattern(run: str) -> str:
    """A folded CJK run as a pattern whose voiced kana (デ) also match their half-width
    spelling, a letter and a mark (ﾃﾞ, folded テﾞ)."""
    out = []
    for char in run:
        parts = unicodedata.normalize("NFD", char)
        if len(parts) == 2 and parts[1] in "\u3099\u309a":
            half = "\uff9e" if parts[1] == "\u3099" else "\uff9f"
            out.append(f"(?:{re.escape(char)}|{re.escape(parts[0])}{half})")
        else:
            out.append(re.escape(char))
    return "".join(out)


def _spelled(found: str, tokens: list[str], prefix: bool) -> bool:
    """True when the words of `found` (as written) are `tokens` in one of their
    spellings (indexer.spelling: "Müller" is `mueller`), the last one begun with its
    token when `prefix`."""
    words = _TOKEN.findall(found)
    if len(words) != len(tokens):
        return False
    last = len(tokens) - 1
    for at, (word, token) in enumerate(zip(words, tokens, strict=True)):
        forms = spellings(word)
        if prefix and at == last:
            if not any(form.startswith(token) for form in forms):
                return False
        elif token not in forms:
            return False
    return True


def _stem_keys(terms: list[Term]) -> set[str]:
    return {k for k in (t.stem_key() for t in terms) if k is not None}


def _word_keys(terms: list[Term]) -> set[str]:
    """The stem keys that also match as words of their own (stem.key_is_word)."""
    out = set()
    for term in terms:
        key = term.stem_key()
        if key is not None and key_is_word(term.text.lower(), key):
            out.add(key)
    return out


class _Matcher:
    """The exact patterns of some terms, then (as the last alternative) any word that
    could be an inflection of their stems, kept only when its stem agrees (and the
    bare stem only when it is the word inflected: not "not" for `notes`)."""

    def __init__(self, terms: list[Term], symbols: list[str] = ()):
        patterns = [p for term in terms for p in _term_patterns(term)]
        # Without CJK in the query, text with CJK letters is matched with the plain
        # pattern once they are blanked out (see finditer).
        self.cjk_terms = any(CJK_RUN.search(term.text) for term in terms)
        # Words of symbols as typed (an emoji, `->`): no word edges to keep to.
        patterns.extend((re.escape(fold(symbol)), None) for symbol in symbols)
        # Longest first, so a phrase wins over its own first word.
        patterns.sort(key=lambda p: len(p[0]), reverse=True)
        # Patterns whose matches are checked against the text as written: by group name.
        self.spelled: dict[str, tuple[list[str], bool]] = {}
        self.camel: set[str] = set()  # ...and those for text split where its case changes
        alternatives = []
        unchecked = []  # the alternatives without a check, for a match one refused
        for pattern, check in patterns:
            if check is None:
                unchecked.append(pattern)
            if check == "camel":
                name = f"camel{len(self.camel)}"
                self.camel.add(name)
                pattern = f"(?P<{name}>{pattern})"
            elif check is not None:
                name = f"spelled{len(self.spelled)}"
                self.spelled[name] = check
                pattern = f"(?P<{name}>{pattern})"
            alternatives.append(pattern)
        self.keys = _stem_keys(terms)
        self.words = _word_keys(terms)
        if self.keys:
            roots = sorted({k[:-1] if k.endswith("y") else k for k in self.keys}, key=len)
            roots_re = "|".join(re.escape(r) for r in reversed(roots))
            inflected = f"(?P<inflected>(?<!{_WORD_CHAR})(?:{roots_re})[a-z]*(?!{_WORD_CHAR}))"
            alternatives.append(inflected)
            unchecked.append(inflected)
        self.pattern, self.plain = _compiled(alternatives)
        # A checked alternative tried first (the longest) can match where a plain one
        # would too and then be refused: `Müller`'s `m(?:ue|u)ller`, kept only for
        # "Mueller" and "Müller", matched "Muller", which its `muller` finds. The
        # alternatives without a check are then tried at that place.
        self.fallback, self.plain_fallback = (
            _compiled(unchecked) if len(unchecked) < len(alternatives) else (None, None)
        )

    def _ok(self, m: re.Match, original: str | None, split: bool) -> bool:
        if m.lastgroup in self.camel:
            return split
        check = self.spelled.get(m.lastgroup or "")
        if check is not None:
            # Without the text as written (`original`), a loose match stands.
            return original is None or _spelled(original[m.start() : m.end()], *check)
        word = m.group("inflected") if self.keys else None
        if word is None:
            return True
        key = stem(word)
        return key in self.keys and (key != word or key in self.words)

    def search(self, text: str, original: str | None = None) -> re.Match | None:
        return next(self.finditer(text, original=original), None)

    def finditer(
        self,
        text: str,
        start: int = 0,
        end: int | None = None,
        original: str | None = None,
        split: bool = False,
    ):
        """The matches in `text` (folded); `original`: `text` as written (the same
        length), against which a match of a digraph is checked; `split`: `text` is
        split where the case of its identifiers changes (indexer.camel)."""
        if self.pattern is None:
            return
        cjk = not text.isascii() and CJK_RUN.search(text) is not None
        if cjk and not self.cjk_terms:
            # The CJK letters as spaces (the same length: the matches' places hold):
            # the plain pattern then keeps a word from running into them, as the
            # pattern whose word class leaves them out does, without compiling that
            # pattern (a long set of ranges, repeated: 10-20 ms a query).
            text = CJK_RUN.sub(_blank, text)
            cjk = False
        pattern = self.pattern if cjk else self.plain
        fallback = self.fallback if cjk else self.plain_fallback
        end = len(text) if end is None else end
        done = start  # the end of the last match given: matches never overlap
        for m in pattern.finditer(text, start, end):
            if m.start() < done:
                continue
            if not self._ok(m, original, split):
                m = fallback.match(text, m.start(), end) if fallback is not None else None
                if m is None or not self._ok(m, original, split):
                    continue
            done = m.end()
            yield m


def _blank(m: re.Match) -> str:
    return " " * (m.end() - m.start())


class _OnFirstUse:
    """A regular expression compiled when first used. The word class that leaves CJK
    out (_WORD_CHAR) is a long set of ranges, and a query's pattern repeats it: its
    compilation took 11 ms of every `jiradex search` process, most of whose texts
    hold no CJK letter and are matched with the plain pattern."""

    __slots__ = ("source", "_compiled")

    def __init__(self, source: str):
        self.source = source
        self._compiled: re.Pattern | None = None

    def _get(self) -> re.Pattern:
        if self._compiled is None:
            self._compiled = re.compile(self.source)
        return self._compiled

    def finditer(self, *args):
        return self._get().finditer(*args)

    def match(self, *args):
        return self._get().match(*args)

    def search(self, *args):
        return self._get().search(*args)


def _compiled(alternatives: list[str]) -> tuple[_OnFirstUse | None, re.Pattern | None]:
    """The alternatives as one pattern (compiled when first needed: for text with
    CJK letters), and the same for text without them: word characters of one test
    (a third faster over a long description than the class that leaves CJK out)."""
    if not alternatives:
        return None, None
    joined = "|".join(alternatives)
    plain = joined.replace(_WORD_CHAR, _PLAIN_WORD_CHAR).replace(_NOT_WORD, _PLAIN_NOT_WORD)
    return _OnFirstUse(joined), re.compile(plain)


def _group_patterns(query: ParsedQuery) -> list[_Matcher]:
    """One matcher per AND-ed group of the query (its OR-ed terms)."""
    out = []
    for group in query.groups:
        matcher = _Matcher(group)
        if matcher.pattern is not None:
            out.append(matcher)
    return out


class _Marker:
    """Finds the query's words, prefixes, phrases and CJK runs (and inflections of
    stemmed words) in plain text."""

    def __init__(self, parsed: ParsedQuery):
        self.matcher = _Matcher(parsed.highlighted_terms(), parsed.highlighted_symbols())
        self.pattern = self.matcher.pattern

    def highlight(self, text: str, width: int = 170) -> str | None:
        """A window of about `width` characters around the first match, every match
        in it marked; None when nothing matches. Where a word matches only as a part
        of an identifier (`timeout` in `getTimeout`), that part is marked."""
        if not text or self.pattern is None:
            return None
        text = text[:_SCAN_CHARS]
        spans = ((m.start(), m.end()) for m in self.matcher.finditer(fold(text), original=text))
        if not text.isascii():
            spans = _with_marks(text, spans)
        window = _marked_window(text, spans, width)
        if window is None and has_identifiers(text):
            split, where = camel_split(text)  # cut where the case changes, then folded
            parts = (
                (where[m.start()], where[m.end() - 1] + 1)
                for m in self.matcher.finditer(fold(split), original=split, split=True)
            )
            window = _marked_window(text, parts, width)
        return window


def _with_marks(text: str, spans: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Each span with the combining marks after it (a decomposed é is e + U+0301):
    `cafe` marks all of "cafe\u0301", not the letters with the accent left out."""
    for start, end in spans:
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        yield start, end


def _marked_window(text: str, spans: Iterator[tuple[int, int]], width: int) -> str | None:
    """The window of about `width` characters from a little before the first of
    `spans` (ascending (start, end) pairs), with the spans inside it marked."""
    first = next(spans, None)
    if first is None:
        return None
    start = 0 if first[0] < width // 3 else first[0] - width // 3
    if start:
        space = text.find(" ", start, first[0])
        start = space + 1 if space >= 0 else start
    end = min(len(text), max(start + width, first[1]))
    if end < len(text):
        space = text.rfind(" ", first[1], end)
        end = space if space > 0 else end
    out: list[str] = []
    at = start
    for span_start, span_end in itertools.chain([first], spans):
        if span_end > end:
            break
        out.append(text[at:span_start])
        out.append(HIGHLIGHT_START + text[span_start:span_end] + HIGHLIGHT_END)
        at = span_end
    out.append(text[at:end])
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(text) else ""
    return prefix + _tidy("".join(out)) + suffix


def _tidy(text: str) -> str:
    return " ".join(text.split())


def split_highlights(snippet: str) -> list[tuple[str, bool]]:
    """Split a snippet into (text, highlighted) parts, for front ends that style them."""
    parts: list[tuple[str, bool]] = []
    rest = snippet
    while rest:
        start = rest.find(HIGHLIGHT_START)
        if start < 0:
            parts.append((rest, False))
            break
        end = rest.find(HIGHLIGHT_END, start + len(HIGHLIGHT_START))
        if end < 0:
            parts.append((rest, False))
            break
        if start:
            parts.append((rest[:start], False))
        parts.append((rest[start + len(HIGHLIGHT_START) : end], True))
        rest = rest[end + len(HIGHLIGHT_END) :]
    return parts


def is_issue_key(text: str) -> bool:
    return bool(KEY_RE.match(text.strip()))


__all__ = [
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "SearchHit",
    "Term",
    "is_issue_key",
    "search",
    "split_highlights",
]
