"""Offline search over the index: parse, rank (bm25, summary first), snippet.

`search(store, query)` returns `SearchHit`s, best first. Matched words in
`SearchHit.snippet` are wrapped in HIGHLIGHT_START / HIGHLIGHT_END (`[[` and `]]`);
the CLI turns them into bold, JSON keeps them as they are.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from indexer.errors import QueryError
from indexer.query import KEY_RE, ParsedQuery, Term, parse_query
from indexer.store import CJK_RUN, Store

HIGHLIGHT_START = "[["
HIGHLIGHT_END = "]]"
ELLIPSIS = "…"
SNIPPET_TOKENS = 14
MAX_LIMIT = 1000
SORTS = ("relevance", "updated")

# bm25 column weights of issue_fts (summary, tags, description, comments, attachments, cjk):
# a word in the summary counts far more than the same word in a long comment thread.
WEIGHTS = (10.0, 6.0, 3.0, 1.0, 1.0, 4.0)
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
    where, params = parsed.sql_filters("i")
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
        scored = _ranked(conn, match, where, params, limit + len(key_rowids), sort)
    elif text_query.excluded or parsed.filters:
        scored = _filtered(conn, text_query.exclude_match(), where, params, limit)
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
    return ParsedQuery(parsed.text, others, parsed.excluded, parsed.filters, [])


def _key_rowids(conn: sqlite3.Connection, keys: list[str], where: str, params: list) -> list[int]:
    rowids = []
    for key in keys:
        sql = "SELECT i.rowid FROM issues i WHERE i.key = ?"
        if where:
            sql += f" AND {where}"
        sql += " ORDER BY i.updated DESC"
        rowids.extend(r[0] for r in conn.execute(sql, [key, *params]))
    return rowids


def _ranked(
    conn: sqlite3.Connection, match: str, where: str, params: list, limit: int, sort: str
) -> list[tuple[int, float]]:
    """(rowid, score) best first; score is -bm25 so higher is better."""
    order = "i.updated DESC" if sort == "updated" else "s"
    if not where and sort == "relevance":
        sql = f"SELECT rowid, {BM25} AS s FROM issue_fts WHERE issue_fts MATCH ? ORDER BY s LIMIT ?"
        rows = conn.execute(sql, [match, limit])
    else:
        sql = (
            f"SELECT issue_fts.rowid, {BM25} AS s FROM issue_fts "
            "JOIN issues i ON i.rowid = issue_fts.rowid "
            f"WHERE issue_fts MATCH ? {'AND ' + where if where else ''} "
            f"ORDER BY {order} LIMIT ?"
        )
        rows = conn.execute(sql, [match, *params, limit])
    return [(rowid, round(-score, 4)) for rowid, score in rows]


def _filtered(
    conn: sqlite3.Connection, exclude: str | None, where: str, params: list, limit: int
) -> list[tuple[int, float]]:
    """Filter-only (or exclusion-only) queries: newest first."""
    conds = [where] if where else []
    args = list(params)
    if exclude:
        conds.append("i.rowid NOT IN (SELECT rowid FROM issue_fts WHERE issue_fts MATCH ?)")
        args.append(exclude)
    sql = "SELECT i.rowid FROM issues i"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    sql += " ORDER BY i.updated DESC LIMIT ?"
    return [(r[0], 0.0) for r in conn.execute(sql, [*args, limit])]


# --------------------------------------------------------------------------- hits


def _hits(
    conn: sqlite3.Connection, order: list[tuple[int, float]], match: str | None, parsed: ParsedQuery
) -> list[SearchHit]:
    rowids = [r for r, _ in order]
    marks = ",".join("?" * len(rowids))
    rows = {
        row[0]: row[1:]
        for row in conn.execute(
            f"SELECT rowid, {', '.join(_HIT_FIELDS)} FROM issues WHERE rowid IN ({marks})", rowids
        )
    }
    snippets: dict[int, tuple] = {}
    if match:
        s, e = HIGHLIGHT_START, HIGHLIGHT_END
        sql = (
            f"SELECT rowid, highlight(issue_fts, 0, '{s}', '{e}'), "
            f"snippet(issue_fts, 1, '{s}', '{e}', '{ELLIPSIS}', {SNIPPET_TOKENS}), "
            f"snippet(issue_fts, 2, '{s}', '{e}', '{ELLIPSIS}', {SNIPPET_TOKENS}), "
            f"snippet(issue_fts, 3, '{s}', '{e}', '{ELLIPSIS}', {SNIPPET_TOKENS}), "
            f"snippet(issue_fts, 4, '{s}', '{e}', '{ELLIPSIS}', {SNIPPET_TOKENS}), "
            "comments, attachments "
            f"FROM issue_fts WHERE issue_fts MATCH ? AND rowid IN ({marks})"
        )
        for row in conn.execute(sql, [match, *rowids]):
            snippets[row[0]] = row[1:]
    hits = []
    words = parsed.words()
    for rowid, score in order:
        row = rows.get(rowid)
        if row is None:
            continue
        data = dict(zip(_HIT_FIELDS, row, strict=True))
        snippet, matched = _snippet(data, snippets.get(rowid), words)
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
            )
        )
    return hits


def _marked(text: str | None) -> bool:
    return bool(text) and HIGHLIGHT_START in text


def _snippet(data: dict, fts_row: tuple | None, words: list[str]) -> tuple[str, str]:
    """The snippet to show and where the query matched (issue, comment, attachment)."""
    description = data.get("description_text") or ""
    if fts_row is None:  # key or filter hit: the start of the description
        return _plain_snippet(description or data.get("summary") or ""), "issue"
    summary, tags, desc, comments, attachments, comments_text, attachments_text = fts_row
    if _marked(desc):
        return _tidy(desc), "issue"
    if _marked(summary) or _marked(tags):
        return _tidy(summary if _marked(summary) else tags), "issue"
    if _marked(comments):
        return _tidy(comments), "comment"
    if _marked(attachments):
        return _tidy(attachments), "attachment"
    # Matched through the CJK bigram column: find the words in the source texts.
    cjk_words = [run for w in words for run in CJK_RUN.findall(w)]
    for text, where in (
        (data.get("summary") or "", "issue"),
        (description, "issue"),
        (comments_text or "", "comment"),
        (attachments_text or "", "attachment"),
    ):
        found = _highlight_words(text, cjk_words)
        if found:
            return found, where
    return _plain_snippet(description or data.get("summary") or ""), "issue"


def _tidy(text: str) -> str:
    return " ".join(text.split())


def _plain_snippet(text: str, max_chars: int = 160) -> str:
    text = _tidy(text)
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(" ", 1)[0] + ELLIPSIS


def _highlight_words(text: str, words: list[str], width: int = 60) -> str | None:
    """Mark the first occurrence of any word in text and cut a window around it."""
    words = [w for w in words if w]
    if not text or not words:
        return None
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    first = pattern.search(text)
    if not first:
        return None
    start = max(0, first.start() - width)
    end = min(len(text), first.end() + width)
    window = pattern.sub(lambda m: f"{HIGHLIGHT_START}{m.group(0)}{HIGHLIGHT_END}", text[start:end])
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(text) else ""
    return prefix + _tidy(window) + suffix


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
