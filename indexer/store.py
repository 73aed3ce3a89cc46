"""The local index: SQLite (WAL) with an FTS5 table of issue documents.

One row per Jira issue (keyed by datasource + Jira issue id, since keys change when
issues move), its comments and attachments in their own tables, and one FTS5 row
per issue holding the summary, description, comment and attachment text in separate
columns, so a hit in a comment ranks and groups under its issue and the column that
matched says where. The FTS rows are written in the same transaction as the issue
rows, so readers (WAL) never see one without the other or half a page.

Threading: a Store may be shared between threads (calls are serialised by a lock);
for parallel reads open one Store per thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import string
import threading
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from indexer import paths
from indexer.camel import camel_terms
from indexer.errors import StoreError
from indexer.fold import fold_name
from indexer.spelling import name_forms, spelling_terms
from indexer.stem import stem_terms

if TYPE_CHECKING:
    import sqlite_utils

# The text fields of an issue, each an FTS5 column of `issue_fts` (`tags` holds labels
# and components).
TEXT_FIELDS = ("summary", "tags", "description", "comments", "attachments")
# Each text field has two derived columns of its own, so a search limited to a field
# (`comment:retry`) only ever matches in that field:
# - `<field>_parts`: pieces of its words that unicode61 does not make tokens of:
#   bigrams of CJK runs (it does not segment CJK text into words), the other
#   scripts' parts of tokens that mix them, and the parts of code identifiers
#   and versions (`get Timeout` for `getTimeout`, `v 1.2.3` for `v1.2.3`,
#   indexer.camel);
# - `<field>_stems`: the stems of its inflected English words (indexer.stem), so
#   `crash` finds `crashes` while the exact word, in its own column, scores higher.
FTS_COLUMNS = (
    *TEXT_FIELDS,
    *(f"{field}_parts" for field in TEXT_FIELDS),
    *(f"{field}_stems" for field in TEXT_FIELDS),
)
# title_fts: the summary and tags with their derived columns, named as in issue_fts
# so one expression (indexer.query.Term.fts) serves both tables.
TITLE_COLUMNS = ("summary", "tags", "summary_parts", "tags_parts", "summary_stems", "tags_stems")
TOKENIZER = "unicode61 remove_diacritics 2"

ISSUE_FIELDS = (
    "id",
    "datasource",
    "key",
    "project",
    "summary",
    "description",
    "description_text",
    "issuetype",
    "status",
    "status_category",
    "priority",
    "assignee",
    "reporter",
    "labels",
    "components",
    "created",
    "updated",
    "url",
    "raw",
)
COMMENT_FIELDS = ("id", "issue", "author", "created", "updated", "body", "body_text")
ATTACHMENT_FIELDS = (
    "id",
    "issue",
    "filename",
    "mimetype",
    "size",
    "created",
    "author",
    "content_url",
    "text",
    "indexed",
)

_SCHEMA_1 = f"""
CREATE TABLE issues (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    datasource TEXT NOT NULL,
    key TEXT NOT NULL,
    project TEXT,
    summary TEXT,
    description TEXT,
    description_text TEXT,
    issuetype TEXT,
    status TEXT,
    status_category TEXT,
    priority TEXT,
    assignee TEXT,
    reporter TEXT,
    labels TEXT,
    components TEXT,
    created TEXT,
    updated TEXT,
    url TEXT,
    raw BLOB,
    UNIQUE (datasource, id)
);
CREATE INDEX issues_key ON issues (key COLLATE NOCASE);
CREATE INDEX issues_updated ON issues (updated);
CREATE INDEX issues_project ON issues (project COLLATE NOCASE, updated);
CREATE TABLE comments (
    rowid INTEGER PRIMARY KEY,
    id TEXT,
    issue INTEGER NOT NULL,
    author TEXT,
    created TEXT,
    updated TEXT,
    body TEXT,
    body_text TEXT
);
CREATE INDEX comments_issue ON comments (issue);
CREATE TABLE attachments (
    rowid INTEGER PRIMARY KEY,
    id TEXT,
    issue INTEGER NOT NULL,
    filename TEXT,
    mimetype TEXT,
    size INTEGER,
    created TEXT,
    author TEXT,
    content_url TEXT,
    text TEXT,
    indexed INTEGER
);
CREATE INDEX attachments_issue ON attachments (issue);
CREATE TABLE sync_state (
    datasource TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    updated TEXT
);
CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    datasource TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    status TEXT,
    issues INTEGER DEFAULT 0,
    comments INTEGER DEFAULT 0,
    attachments INTEGER DEFAULT 0,
    deleted INTEGER DEFAULT 0,
    error TEXT,
    seconds REAL
);
CREATE INDEX sync_runs_datasource ON sync_runs (datasource, id);
CREATE VIRTUAL TABLE issue_fts USING fts5(
    {", ".join(FTS_COLUMNS)},
    tokenize = '{TOKENIZER}',
    prefix = '2 3'
);
CREATE VIRTUAL TABLE title_fts USING fts5(
    summary, tags,
    tokenize = '{TOKENIZER}'
);
"""


def _migration_1(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_1.split(";\n"):
        if statement.strip():
            conn.execute(statement)


_ISSUES_V2 = _SCHEMA_1.split("CREATE INDEX issues_key")[0].replace(
    "CREATE TABLE issues (", "CREATE TABLE issues_v2 ("
)
# The filter indexes of schema 2. (Its FTS tables are made by migration 3, which
# makes them anew with today's columns: see _rebuild_fts.)
_INDEXES_V2 = """
CREATE INDEX issues_key ON issues (key COLLATE NOCASE);
CREATE INDEX issues_updated ON issues (updated);
CREATE INDEX issues_project ON issues (project COLLATE NOCASE, updated);
CREATE INDEX issues_status ON issues (status COLLATE NOCASE, updated);
CREATE INDEX issues_type ON issues (issuetype COLLATE NOCASE, updated);
CREATE INDEX issues_priority ON issues (priority COLLATE NOCASE, updated);
CREATE INDEX issues_assignee ON issues (assignee COLLATE NOCASE, updated);
CREATE INDEX issues_reporter ON issues (reporter COLLATE NOCASE, updated)
"""


def _migration_2(conn: sqlite3.Connection) -> None:
    """Stems and filter indexes, built from the rows already stored (no re-sync).

    - issue_fts and title_fts are dropped (the rowids they point at change); migration
      3, which always follows, makes them with today's columns and fills them.
    - Issues are renumbered in `updated` order, so that rowid order (which the
      pooled ranking of huge match sets walks) is update order, as the store keeps
      it from now on (a rewritten issue gets a new rowid).
    - Indexes on status, type, priority, assignee and reporter (NOCASE, then
      updated) for filter queries."""
    conn.execute("DROP TABLE IF EXISTS issue_fts")
    conn.execute("DROP TABLE IF EXISTS title_fts")
    conn.execute("CREATE TEMP TABLE renumber (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
    conn.execute(
        "INSERT INTO renumber SELECT rowid, row_number() OVER "
        "(ORDER BY coalesce(updated, ''), rowid) FROM issues"
    )
    conn.execute(_ISSUES_V2)
    columns = ", ".join(ISSUE_FIELDS)
    conn.execute(
        f"INSERT INTO issues_v2 (rowid, {columns}) SELECT r.new, {columns} "
        "FROM issues JOIN renumber r ON r.old = issues.rowid ORDER BY r.new"
    )
    conn.execute("DROP TABLE issues")
    conn.execute("ALTER TABLE issues_v2 RENAME TO issues")
    for table in ("comments", "attachments"):
        conn.execute(
            f"UPDATE {table} SET issue = coalesce("
            f"(SELECT new FROM renumber WHERE old = {table}.issue), -{table}.issue)"
        )
    conn.execute("DROP TABLE temp.renumber")
    for statement in _INDEXES_V2.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _refill_fts(conn: sqlite3.Connection) -> None:
    """Write the FTS rows of every stored issue from its issue, comment and
    attachment rows (what _upsert would have written), in rowid order."""

    def children(sql: str) -> Iterator[tuple[int, list[tuple]]]:
        issue, rows = None, []
        for row in conn.execute(sql):
            if row[0] != issue and rows:
                yield issue, rows
                rows = []
            issue = row[0]
            rows.append(row[1:])
        if rows:
            yield issue, rows

    def merged(source: Iterator[tuple[int, list[tuple]]]):
        pending = next(source, None)

        def take(rowid: int) -> list[tuple]:
            nonlocal pending
            while pending is not None and pending[0] < rowid:
                pending = next(source, None)
            if pending is not None and pending[0] == rowid:
                found = pending[1]
                pending = next(source, None)
                return found
            return []

        return take

    comments = merged(
        children("SELECT issue, body_text FROM comments WHERE issue > 0 ORDER BY issue, rowid")
    )
    attachments = merged(
        children(
            "SELECT issue, filename, text FROM attachments WHERE issue > 0 ORDER BY issue, rowid"
        )
    )
    fts_rows: list[tuple] = []
    title_rows: list[tuple] = []
    for rowid, summary, description_text, labels, components in conn.execute(
        "SELECT rowid, summary, description_text, labels, components FROM issues ORDER BY rowid"
    ):
        ctext = _comments_text([{"body_text": b} for (b,) in comments(rowid)])
        atext = _attachments_text([{"filename": f, "text": t} for f, t in attachments(rowid)])
        tags = " ".join([*json.loads(labels or "[]"), *json.loads(components or "[]")])
        fts, title = _fts_row(rowid, summary or "", tags, description_text or "", ctext, atext)
        fts_rows.append(fts)
        title_rows.append(title)
        if len(fts_rows) >= 1000:
            _insert_fts(conn, fts_rows, title_rows)
            fts_rows, title_rows = [], []
    if fts_rows:
        _insert_fts(conn, fts_rows, title_rows)


def fts_terms(summary: str, tags: str, desc: str, ctext: str, atext: str) -> tuple[str, ...]:
    """The derived columns of an issue's FTS rows: the `_parts` column of each text
    field, then its `_stems` column (FTS_COLUMNS order)."""
    texts = (summary, tags, desc, ctext, atext)
    return (*(word_parts(t) for t in texts), *(stem_terms(t) for t in texts))


def word_parts(text: str) -> str:
    """A `_parts` column: the pieces of its words unicode61 makes no tokens of (CJK
    bigrams, indexer.camel's parts of `getTimeout`), and the other spellings of
    its words (indexer.spelling: `mueller` for "Müller")."""
    if not text:
        return ""
    camel = camel_terms(text)
    if text.isascii():
        return camel
    cjk = cjk_terms(text)
    # Spellings of the other words, apart from CJK runs (`ＡＰＩのエラー`: `api`).
    spelled = spelling_terms(CJK_RUN.sub(" ", text) if cjk else text)
    return " ".join(part for part in (cjk, camel, spelled) if part)


def issue_tags(record: dict) -> str:
    """The `tags` column: labels then components."""
    return " ".join(
        [*map(str, record.get("labels") or ()), *map(str, record.get("components") or ())]
    )


def fts_texts(record: dict, comments: list[dict], attachments: list[dict]) -> tuple:
    """The texts of an issue's FTS row the derived columns come from:
    (summary, tags, description, comments, attachments)."""
    return (
        record.get("summary") or "",
        issue_tags(record),
        record.get("description_text") or "",
        _comments_text(comments),
        _attachments_text(attachments),
    )


def with_fts_terms(texts: tuple) -> tuple:
    """`texts` (from fts_texts) followed by their fts_terms: what a record's `fts`
    holds for the store to take instead of computing (it checks the texts match)."""
    return (*texts, *fts_terms(*texts))


def precomputed_fts(record: dict, comments: list[dict], attachments: list[dict]) -> tuple:
    """with_fts_terms for this record with these comments and attachments (a sync's
    worker processes call it)."""
    return with_fts_terms(fts_texts(record, comments, attachments))


def _fts_row(
    rowid: int,
    summary: str,
    tags: str,
    desc: str,
    ctext: str,
    atext: str,
    precomputed: tuple | None = None,
) -> tuple[tuple, tuple]:
    """The issue_fts and title_fts rows of one issue. `precomputed` (from
    precomputed_fts) is used when its texts are these texts."""
    if precomputed is not None and precomputed[:5] == (summary, tags, desc, ctext, atext):
        derived = precomputed[5:]
    else:
        derived = fts_terms(summary, tags, desc, ctext, atext)
    return (
        (rowid, summary, tags, desc, ctext, atext, *derived),
        (rowid, summary, tags, derived[0], derived[1], derived[5], derived[6]),
    )


def _insert_fts(conn: sqlite3.Connection, fts_rows: list[tuple], title_rows: list[tuple]) -> None:
    marks = ",".join("?" * (len(FTS_COLUMNS) + 1))
    conn.executemany(
        f"INSERT INTO issue_fts (rowid, {', '.join(FTS_COLUMNS)}) VALUES ({marks})", fts_rows
    )
    marks = ",".join("?" * (len(TITLE_COLUMNS) + 1))
    conn.executemany(
        f"INSERT INTO title_fts (rowid, {', '.join(TITLE_COLUMNS)}) VALUES ({marks})",
        title_rows,
    )


_FTS_TABLES = f"""
CREATE VIRTUAL TABLE issue_fts USING fts5(
    {", ".join(FTS_COLUMNS)},
    tokenize = '{TOKENIZER}',
    prefix = '2 3'
);
CREATE VIRTUAL TABLE title_fts USING fts5(
    {", ".join(TITLE_COLUMNS)},
    tokenize = '{TOKENIZER}'
)
"""


def _no_change(conn: sqlite3.Connection) -> None:
    pass


def _rebuild_fts(conn: sqlite3.Connection) -> None:
    """issue_fts and title_fts dropped, made anew with today's columns and filled
    from the stored issues, comments and attachments: no re-sync needed."""
    conn.execute("DROP TABLE IF EXISTS issue_fts")
    conn.execute("DROP TABLE IF EXISTS title_fts")
    for statement in _FTS_TABLES.split(";\n"):
        conn.execute(statement)
    _refill_fts(conn)


# Migrations that only rebuild the FTS tables from the stored rows with today's code:
# of several pending, the last one's rebuild does the work of all.
FTS_REBUILDS: set[Callable[[sqlite3.Connection], None]] = set()


def _rebuilds_fts(migration: Callable[[sqlite3.Connection], None]):
    """Marks a migration that only rebuilds the FTS tables (see FTS_REBUILDS)."""
    FTS_REBUILDS.add(migration)
    return migration


@_rebuilds_fts
def _migration_3(conn: sqlite3.Connection) -> None:
    """Derived columns per text field (FTS_COLUMNS) instead of shared ones, so that
    `comment:retry` no longer finds "retries" in a description, nor `comment:東京`
    a description in Japanese. Built from the stored rows: no re-sync."""
    _rebuild_fts(conn)


@_rebuilds_fts
def _migration_4(conn: sqlite3.Connection) -> None:
    """The `_parts` columns gain the parts of code identifiers (indexer.camel), so
    `timeout` finds `getTimeout`: refilled from the stored rows."""
    _rebuild_fts(conn)


@_rebuilds_fts
def _migration_5(conn: sqlite3.Connection) -> None:
    """The `_parts` columns gain version numbers glued to a letter (indexer.camel),
    so `1.2.3` finds `v1.2.3`: refilled from the stored rows."""
    _rebuild_fts(conn)


@_rebuilds_fts
def _migration_6(conn: sqlite3.Connection) -> None:
    """The `_parts` columns gain the other spellings of words (indexer.spelling), so
    `Mueller` finds "Müller", `Soren` "Søren", `σοφος` "σοφός": refilled from the
    stored rows."""
    _rebuild_fts(conn)


@_rebuilds_fts
def _migration_7(conn: sqlite3.Connection) -> None:
    """More spellings in the `_parts` columns: å as aa (`Aarhus`: "Århus"), æ as ae
    beside ø as o, full-width letters and digits and ligatures as plain ones
    (`API`: "ＡＰＩ", `file`: "ﬁle"): refilled from the stored rows."""
    _rebuild_fts(conn)


@_rebuilds_fts
def _migration_8(conn: sqlite3.Connection) -> None:
    """The `_parts` columns gain the full-width form of half-width katakana
    (`カタカナ` finds "ｶﾀｶﾅ"): refilled from the stored rows."""
    _rebuild_fts(conn)


@_rebuilds_fts
def _migration_9(conn: sqlite3.Connection) -> None:
    """The `_parts` columns run an identifier's parts on into the dotted name it is
    part of (indexer.camel), so `Client.poll` finds "NetworkClient.poll()":
    refilled from the stored rows."""
    _rebuild_fts(conn)


# Migration N brings a database from user_version N-1 to N. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
    _migration_8,
    _migration_9,
]
SCHEMA_VERSION = len(MIGRATIONS)

_REBUILD_HINT = "run `jiradex index rebuild` to start a fresh index"
# How long opening an index waits for another process's upgrade of it.
UPGRADE_WAIT_MS = 600_000

# During a sync (Store.checkpoints_aside) the WAL starts over past this size, and a
# WAL file left bigger than it is cut back to it (journal_size_limit).
READ_CACHE_KIB = 65536  # SQLite page cache of a connection (KiB)
WRITE_CACHE_KIB = 16384  # ...while a sync writes (Store.lean_cache)
WAL_RESTART_BYTES = 64 * 1024 * 1024

# Says that opening an index is upgrading it (a pause the user should hear of): the
# CLI prints it on stderr, the TUI notifies it; otherwise silent.
UPGRADE_LOG = logging.getLogger("jiradex.upgrade")

# --------------------------------------------------------------------------- text


_CJK = (
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0002ebef"
)
CJK_RUN = re.compile(f"[{_CJK}]+")
_MIXED_TOKEN = re.compile(r"[^\W_]+")


def cjk_bigrams(run: str) -> list[str]:
    """Overlapping bigrams of one CJK run, so any 2+ character word inside it matches."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


# Half-width katakana (ｶﾀｶﾅ, from older Japanese systems): bigrams of their
# full-width form are indexed too, so `カタカナ` finds them (and, the query's run
# taken in that form, `ｶﾀｶﾅ` finds "カタカナ").
_HALF_WIDTH = re.compile("[\uff66-\uff9f]")


def cjk_form(run: str) -> str:
    """A CJK run with its half-width katakana full-width (NFKC: ﾃﾞ is デ)."""
    return unicodedata.normalize("NFKC", run) if _HALF_WIDTH.search(run) else run


def cjk_terms(text: str) -> str:
    """CJK text for a `_parts` column: bigrams of every CJK run, then its last
    character alone (a one-character query matches as a prefix of the bigrams),
    and the non-CJK parts of tokens that mix scripts (`API服务器` -> `API`)."""
    if not text or text.isascii() or not CJK_RUN.search(text):  # isascii: a fast no
        return ""
    out: list[str] = []
    mixed = False
    for match in CJK_RUN.finditer(text):
        run = match.group()
        for form in (run, cjk_form(run)) if _HALF_WIDTH.search(run) else (run,):
            out.extend(cjk_bigrams(form))
            if len(form) > 1:
                out.append(form[-1])
            out.append("|")  # keeps phrases from spanning two runs
        mixed = mixed or _glued(text, match.start(), match.end())
    if mixed:  # else no token mixes scripts: not worth splitting all of the text
        for token in _MIXED_TOKEN.findall(text):
            if not token.isascii() and CJK_RUN.search(token):
                out.extend(part for part in CJK_RUN.split(token) if part)
    return " ".join(out)


def _glued(text: str, start: int, end: int) -> bool:
    """True when the CJK run text[start:end] is part of a token with other letters or
    digits: its first or last character and the one beside it are both token
    characters (what [^\\W_] matches: str.isalnum())."""
    return (start > 0 and text[start].isalnum() and text[start - 1].isalnum()) or (
        end < len(text) and text[end - 1].isalnum() and text[end].isalnum()
    )


def holder_named(holders: list[str], name: str) -> str | None:
    """The one of `holders` (Store.holders) called `name`, names compared as the
    configuration compares them (any case); None when none is."""
    return {h.casefold(): h for h in holders}.get(name.strip().casefold())


def not_held_message(key: str, name: str, holders: list[str]) -> str:
    """`--datasource NAME` names a datasource whose index lacks the key."""
    held = f"it is in {', '.join(holders)}" if holders else "it is not indexed"
    return f'{key} is not in datasource "{name.strip()}" ({held})'


def copies_note(key: str, holders: list[str], taken: str, verb: str) -> str:
    """Several datasources hold the key and one copy was taken (`verb`: "showing",
    "imported")."""
    return (
        f"{key} is in {len(holders)} datasources ({', '.join(holders)}): {verb} "
        f"{taken}'s; --datasource NAME picks another"
    )


# Columns whose distinct values Store.distinct_names lists.
_NAME_COLUMNS = ("assignee", "reporter", "project", "status", "issuetype", "priority", "datasource")
_LIST_COLUMNS = ("labels", "components")


def _list_values(lists: list[Any]) -> list[str]:
    """Each text value of some JSON lists once per ASCII-case spelling (as GROUP BY
    ... COLLATE NOCASE would give), in that order. The distinct lists of a column
    are few (a project reuses its label sets), so this reads far less than taking
    every issue's list apart in SQL: 65 ms against 180-350 at 100k issues."""
    seen: dict[str, str] = {}
    for text in lists:
        try:
            values = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            continue
        for value in values if isinstance(values, list) else ():
            if isinstance(value, str):
                seen.setdefault(value.translate(_ASCII_LOWER), value)
    return [seen[key] for key in sorted(seen)]


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _casefold(value: Any) -> Any:
    """SQL jx_casefold: str.casefold (NOCASE and lower() fold ASCII letters only)."""
    return value.casefold() if isinstance(value, str) else value


def _issue_ref(key_or_id: str) -> tuple[str, list[Any]]:
    """WHERE clause for an issue by key (ABC-12) or Jira id (digits)."""
    ref = str(key_or_id).strip()
    if ref.isdigit():
        return "id = ?", [ref]
    # Keys are stored upper-case; NOCASE lets the issues_key index serve the lookup.
    return "key = ? COLLATE NOCASE", [ref.upper()]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def encode_raw(raw: Any) -> bytes | None:
    """The raw issue JSON, zlib-compressed (Jira issue JSON compresses ~8x).
    Bytes are taken as already encoded (indexer.prepare encodes in its workers)."""
    if raw is None or isinstance(raw, bytes):
        return raw
    if not isinstance(raw, str):
        try:
            return zlib.compress(orjson.dumps(raw), 1)
        except (TypeError, orjson.JSONEncodeError):
            pass  # a lone surrogate (half an emoji) or an odd type: the slow path copes
    text = (
        raw
        if isinstance(raw, str)
        else json.dumps(raw, ensure_ascii=False, separators=(",", ":"), default=str)
    )
    # backslashreplace: a lone surrogate (half an emoji) becomes its JSON escape again.
    return zlib.compress(text.encode("utf-8", "backslashreplace"), 1)


def decode_raw(blob: Any) -> Any:
    if blob is None:
        return None
    if isinstance(blob, bytes):
        blob = zlib.decompress(blob).decode("utf-8")
    try:
        return json.loads(blob)
    except ValueError:
        return blob


def _json_list(value: Any) -> str:
    if not value:
        return "[]"
    if isinstance(value, str):
        value = [value]
    return json.dumps([str(v) for v in value], ensure_ascii=False)


def _comments_text(comments: list[dict]) -> str:
    return "\n\n".join(c.get("body_text") or "" for c in comments if c.get("body_text"))


def _attachments_text(attachments: list[dict]) -> str:
    parts = []
    for a in attachments:
        name = a.get("filename") or ""
        text = a.get("text") or ""
        parts.append(f"{name}\n{text}" if text else name)
    return "\n\n".join(p for p in parts if p)


# --------------------------------------------------------------------------- store


def _translate(exc: sqlite3.Error, path: Path | str) -> StoreError:
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return StoreError(
            f"The index at {path} is busy (another jiradex process is writing); try again"
        )
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return StoreError(f"The index at {path} is damaged ({text}); {_REBUILD_HINT}")
    if "readonly" in low or "read-only" in low:
        return StoreError(
            f"The index at {path} is read-only ({text}): the jiradex home cannot be "
            "written by this user; nothing was written"
        )
    if "unable to open" in low:
        return StoreError(f"The index at {path} cannot be written ({text})")
    if "disk is full" in low:  # SQLITE_FULL: the write was rolled back, nothing is lost
        return StoreError(
            f"The disk holding the index at {path} is full: free some space and try "
            "again (the index keeps what it had)"
        )
    return StoreError(f"Index error ({text}); if it persists, {_REBUILD_HINT}")


def _writable(path: Path) -> bool:
    """Whether this process may write the index file and make files beside it (its
    -wal and -shm): access() also says no on a read-only filesystem, root included."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _cannot_write(exc: sqlite3.Error) -> bool:
    low = str(exc).lower()
    return "readonly" in low or "read-only" in low or "unable to open" in low


def _file_signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _changed(path: Path, signature: tuple[int, int, int]) -> bool:
    try:
        return _file_signature(path) != signature or Path(f"{path}-wal").exists()
    except OSError:
        return True


def _add_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions queries use, on every connection (writable or read-only)."""
    conn.create_function("jx_fold", 1, fold_name, deterministic=True)
    conn.create_function("jx_name_forms", 1, name_forms, deterministic=True)
    conn.create_function("jx_casefold", 1, _casefold, deterministic=True)


# Between two tries at opening an index that another process is creating.
OPEN_RETRY_S = 0.05


class Store:
    """The SQLite index of one jiradex home (see module docstring)."""

    def __init__(self, path: Path | str | None = None, *, busy_timeout_ms: int = 5000):
        self.path = Path(path) if path is not None else paths.index_path()
        self._lock = threading.RLock()
        self._depth = 0
        self._restart_wal_after_commit = False
        self._checkpointing = threading.Lock()  # one checkpoint at a time (see checkpoints_aside)
        self._db: sqlite_utils.Database | None = None
        self._names: dict[str, tuple[tuple[int, int], list[str]]] = {}  # distinct_names
        # Why the index can only be read here (a read-only home: see _open_read_only),
        # or None; and whether that reading is `immutable` (no -wal beside it).
        self.read_only: str | None = None
        self._immutable: tuple[int, int, int] | None = None
        if str(self.path) != ":memory:":
            if self.path.is_file() and not _writable(self.path):
                self._open_read_only(busy_timeout_ms)
                return
            paths.ensure_dir(self.path.parent)
        # SQLite can answer "busy" at once, without its busy handler, while another
        # process is creating the index (its WAL and schema); that is a wait, not an
        # error, so opening is tried again until the busy timeout has gone by.
        deadline = time.monotonic() + busy_timeout_ms / 1000
        while True:
            try:
                self._open(busy_timeout_ms)
                break
            except sqlite3.Error as exc:
                with contextlib.suppress(Exception):
                    self.conn.close()
                busy = "locked" in str(exc).lower() or "busy" in str(exc).lower()
                if not busy and _cannot_write(exc) and self.path.is_file():
                    # os.access said yes, SQLite could not (an ACL, a read-only
                    # filesystem access() does not see): read it as it is.
                    self._open_read_only(busy_timeout_ms)
                    return
                if not busy or time.monotonic() >= deadline:
                    raise _translate(exc, self.path) from None
                time.sleep(OPEN_RETRY_S)

    def _open(self, busy_timeout_ms: int) -> None:
        self._busy_timeout_ms = busy_timeout_ms
        self.conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _add_functions(self.conn)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA temp_store = MEMORY")
        # Some builds (Debian's) zero every freed page: dropping the FTS tables of
        # 100k issues (a migration) then held ~400 MB of dirty pages. FAST zeroes
        # them only where that costs no extra I/O (SQLite's own default is off).
        self.conn.execute("PRAGMA secure_delete = FAST")
        self.conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
        self.conn.execute(f"PRAGMA journal_size_limit = {WAL_RESTART_BYTES}")
        self._migrate()

    def _open_read_only(self, busy_timeout_ms: int) -> None:
        """Open an index this process cannot write (a read-only home: a read-only
        mount or volume, a home made read-only, an index owned by another user that
        a cron job syncs): searches, shows and lists work; writes say it is read-only.

        It never makes a file beside the index. With its -wal and -shm there (a writer
        has it open, or left them), SQLite reads it read-only (`mode=ro`) through them,
        following that writer through their locks as usual. Without them, `mode=ro`
        would make them where it can (a directory shared with the index's owner),
        owned by this user and left behind at close, in the owner's way; and where it
        cannot (a read-only directory) it cannot open the index at all. So without a
        -wal the index is read `immutable=1`, which takes no locks and assumes the file
        never changes. That is sound here because:
        - SQLite makes the -wal when the first connection opens the database and
          removes it when the last one closes, after copying all of it into the
          database file; so no -wal means nobody has the index open and the file
          alone is the whole index, consistent;
        - a writer (the owner of the directory, the host behind a read-only volume)
          first makes the -wal beside the file. _reading() looks for it (and for any
          change to the file) before each read and then opens the index again, the
          `mode=ro` way, following that writer.
        What is left: a writer starting during one read (milliseconds, and a sync's first
        commit comes seconds after it opens the index) may copy pages under it; that
        read can fail, and says to try again, but nothing is written: the index cannot
        be damaged by a read-only connection.
        A -wal without its -shm is no case for immutable (the file alone may be
        mid-checkpoint, and the WAL holds commits): that is an error."""
        self._busy_timeout_ms = busy_timeout_ms
        self._names = {}
        self.read_only = "its directory or file cannot be written by this user"
        wal, shm = Path(f"{self.path}-wal"), Path(f"{self.path}-shm")
        if wal.exists() and not shm.exists():
            # Its -shm is lost (a writer killed, a copy of two of the three files):
            # `mode=ro` would make one, and immutable would miss the WAL's commits.
            raise StoreError(
                f"The index at {self.path} cannot be read here: {wal.name} is beside it "
                f"but {shm.name} is not; open it once as a user who can write there (any "
                "jiradex command), or copy it with both files"
            )
        try:
            if wal.exists():
                self._immutable = None
                self._connect_read_only("mode=ro")
            else:
                self._immutable = _file_signature(self.path)
                self._connect_read_only("immutable=1")
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(Exception):
                self.conn.close()
            if isinstance(exc, OSError):
                raise StoreError(f"The index at {self.path} cannot be read ({exc})") from None
            if wal.exists() and _cannot_write(exc):  # they cannot be read by this user
                raise StoreError(
                    f"The index at {self.path} cannot be read here: {wal.name} and "
                    f"{shm.name} beside it cannot be opened by this user ({exc})"
                ) from None
            raise _translate(exc, self.path) from None
        version = self.schema_version
        if version != SCHEMA_VERSION:
            self.conn.close()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The index at {self.path} was made by a newer jiradex (schema "
                    f"{version}); upgrade jiradex"
                )
            raise StoreError(
                f"The index at {self.path} is read-only and was made by an older jiradex "
                f"(schema {version}): run `jiradex sync` where it can be written, to "
                "upgrade it"
            )

    def _connect_read_only(self, flags: str) -> None:
        self.conn = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?{flags}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        self.conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        _add_functions(self.conn)
        self.conn.execute("PRAGMA temp_store = MEMORY")
        self.conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
        self.conn.execute("PRAGMA user_version").fetchone()  # opens the file (and its WAL)

    def _reopen_if_changed(self) -> None:
        """An immutable reader (see _open_read_only) whose file a writer has opened
        or changed since opens it again, to follow that writer."""
        if self._immutable is None:
            return
        try:
            same = _file_signature(self.path) == self._immutable
        except OSError:
            same = False
        wal = Path(f"{self.path}-wal").exists()
        if wal and not Path(f"{self.path}-shm").exists():
            # A writer between making its -wal and its -shm (it commits nothing
            # before both are there), or a lost -shm: the connection open reads on.
            return
        if same and not wal:
            return
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        self._open_read_only(self._busy_timeout_ms)

    def _read_only_error(self) -> StoreError:
        return StoreError(
            f"The index at {self.path} is read-only ({self.read_only}): nothing was "
            "written; sync, import and other changes need a home this user can write"
        )

    # ----------------------------------------------------------------- plumbing

    @property
    def db(self) -> sqlite_utils.Database:
        """A sqlite-utils view of the connection, made on first use: importing
        sqlite-utils costs ~80 ms, too much for a `jiradex search` process."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The index at {self.path} was made by a newer jiradex (schema {version}); "
                "upgrade jiradex or run `jiradex index rebuild`"
            )
        pending = range(version + 1, SCHEMA_VERSION + 1)
        # Said only of an index with issues: a new one being made by another process
        # (read between two of its migrations) takes no time worth a word.
        if version and pending and self._holds_issues():
            UPGRADE_LOG.warning(
                "upgrading the index at %s to this version of jiradex (once; a large "
                "index takes a minute or so)",
                self.path,
            )
        last_rebuild = max((n for n in pending if MIGRATIONS[n - 1] in FTS_REBUILDS), default=0)
        if pending:
            # Another process may be upgrading it (a minute on a large index): wait
            # for that, not for the busy timeout of a read, then find the work done.
            self.conn.execute(f"PRAGMA busy_timeout = {UPGRADE_WAIT_MS}")
        for number in pending:
            migration = MIGRATIONS[number - 1]
            if migration in FTS_REBUILDS and number < last_rebuild:
                migration = _no_change  # a later rebuild makes the same tables
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process (a second `jiradex sync` on a fresh home) may have
                # run this migration while we waited for the write lock.
                if self.schema_version < number:
                    migration(self.conn)
                    self.conn.execute(f"PRAGMA user_version = {number}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        if pending:
            self.conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")

    def _holds_issues(self) -> bool:
        try:
            return self.conn.execute("SELECT 1 FROM issues LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError:  # no issues table yet
            return False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """One write transaction; nested uses join the outer one (so sync can write
        a page and its checkpoint atomically)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            if self.read_only:
                raise self._read_only_error()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from None
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise _translate(exc, self.path) from None
            if self._restart_wal_after_commit:
                self._restart_big_wal()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._reopen_if_changed()
            try:
                yield self.conn
            except sqlite3.Error as exc:
                if self._immutable is not None and _changed(self.path, self._immutable):
                    raise StoreError(
                        f"The index at {self.path} changed while it was read (a sync "
                        "started); try again"
                    ) from None
                raise _translate(exc, self.path) from None

    def _write(self) -> contextlib.AbstractContextManager:
        return _WriteScope(self)

    @contextlib.contextmanager
    def lean_cache(self, kib: int = WRITE_CACHE_KIB) -> Iterator[None]:
        """A smaller page cache for a long run of writes (a sync). Readers gain from
        a big cache; the writer of a bulk sync barely does (its pages are new), and
        a full 64 MB cache was a fifth of a 100k sync's peak memory. Measured on
        20k issues: the same upsert time with 16 MB, 50 MB less memory."""
        with self._lock:
            self.conn.execute(f"PRAGMA cache_size = -{int(kib)}")
        try:
            yield
        finally:
            with self._lock, contextlib.suppress(sqlite3.Error):
                self.conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")

    @contextlib.contextmanager
    def checkpoints_aside(self, every_s: float = 0.25) -> Iterator[None]:
        """During a long run of writes (a sync), copy the WAL into the database on a
        thread of its own instead of inside the writer's commits.

        SQLite's automatic checkpoint runs in the commit that crosses 1,000 WAL
        pages, with an fsync: a third of a bulk sync's commit time. A PASSIVE
        checkpoint from another connection waits for nobody and SQLite releases
        the GIL while it runs, so the writer goes on meanwhile."""
        if str(self.path) == ":memory:":
            yield
            return
        stop = threading.Event()

        def run() -> None:
            try:
                conn = sqlite3.connect(str(self.path), isolation_level=None)
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA busy_timeout = 10000")
            except sqlite3.Error:
                return  # the writer's own checkpoints still happen at close
            with contextlib.closing(conn):
                while not stop.wait(every_s):
                    with self._checkpointing, contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

        with self._lock:
            self.conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._restart_wal_after_commit = True
        worker = threading.Thread(target=run, name="jiradex-checkpoint", daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join()
            with self._lock, contextlib.suppress(sqlite3.Error):
                self._restart_wal_after_commit = False
                self.conn.execute("PRAGMA wal_autocheckpoint = 1000")

    def _restart_big_wal(self) -> None:
        """After a commit while checkpoints run aside: the side thread's PASSIVE
        checkpoints never find the writer between two commits, so the WAL would grow
        as big as the database. Past WAL_RESTART_BYTES the writer itself checkpoints
        RESTART: little is left to copy, and the WAL starts over."""
        try:
            big = Path(f"{self.path}-wal").stat().st_size > WAL_RESTART_BYTES
        except OSError:
            return
        if big:
            # Two checkpoints at once: the second gets SQLITE_BUSY at once, and a
            # RESTART that fails so leaves the WAL to grow. Wait for the side one.
            with self._checkpointing, contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(RESTART)")

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writes

    def upsert_issues(
        self, records: Iterable[dict], state: dict | None = None, run: dict | None = None
    ) -> int:
        """Insert or update issues by (datasource, id) with their FTS rows, in one
        transaction; with `state` (datasource -> dict) the checkpoint commits with it.
        Comments/attachments are replaced only when the record has the key.

        With `run` (`{"id": run_id, "issues": n, "comments": n, "attachments": n}`)
        those counts are added to that sync run's record in the same transaction (one
        UPDATE): a run killed later (kill -9, power loss) still says what it wrote."""
        records = list(records)
        with self._write():
            count = self._upsert(records) if records else 0
            for datasource, value in (state or {}).items():
                self.set_state(datasource, value)
            if run is not None:
                self.conn.execute(
                    "UPDATE sync_runs SET issues = coalesce(issues, 0) + ?, "
                    "comments = coalesce(comments, 0) + ?, "
                    "attachments = coalesce(attachments, 0) + ? WHERE id = ?",
                    [
                        int(run.get("issues") or 0),
                        int(run.get("comments") or 0),
                        int(run.get("attachments") or 0),
                        run["id"],
                    ],
                )
        return count

    def _upsert(self, records: list[dict]) -> int:
        conn = self.conn
        # The same issue twice in one page (Jira pages shift while paging): last wins.
        unique = {(str(r["datasource"]), str(r["id"])): r for r in records}
        if len(unique) != len(records):
            records = list(unique.values())
        existing: dict[tuple[str, str], int] = {}
        by_ds: dict[str, list[str]] = {}
        for r in records:
            by_ds.setdefault(str(r["datasource"]), []).append(str(r["id"]))
        for ds, ids in by_ds.items():
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                for rid, rowid in conn.execute(
                    f"SELECT id, rowid FROM issues WHERE datasource = ? AND id IN ({marks})",
                    [ds, *chunk],
                ):
                    existing[(ds, rid)] = rowid
        next_rowid = (conn.execute("SELECT max(rowid) FROM issues").fetchone()[0] or 0) + 1

        # Text of comments/attachments kept from the old FTS row when not supplied.
        old_text: dict[int, tuple[str, str]] = {}
        keep = [
            existing[(str(r["datasource"]), str(r["id"]))]
            for r in records
            if ("comments" not in r or "attachments" not in r)
            and (str(r["datasource"]), str(r["id"])) in existing
        ]
        for chunk in _chunks(keep, 500):
            marks = ",".join("?" * len(chunk))
            for rowid, ctext, atext in conn.execute(
                f"SELECT rowid, comments, attachments FROM issue_fts WHERE rowid IN ({marks})",
                chunk,
            ):
                old_text[rowid] = (ctext or "", atext or "")

        issue_rows = []
        fts_rows = []
        title_rows = []
        comment_rows = []
        attachment_rows = []
        replaced_comments = []
        replaced_attachments = []
        old_rowids = []
        moved_children = []
        for r in records:
            ident = (str(r["datasource"]), str(r["id"]))
            # Every write takes a new rowid, rewrites too: rowid order then follows
            # write order, which sync keeps in `updated` order, and the pooled
            # ranking of huge match sets walks the newest rowids (see search._recent).
            old_rowid = existing.get(ident)
            rowid = next_rowid
            next_rowid += 1
            if old_rowid is not None:
                old_rowids.append(old_rowid)
            labels = r.get("labels") or []
            components = r.get("components") or []
            issue_rows.append(
                (
                    rowid,
                    ident[1],
                    ident[0],
                    str(r["key"]).upper(),
                    r.get("project"),
                    r.get("summary") or "",
                    r.get("description"),
                    r.get("description_text"),
                    r.get("issuetype"),
                    r.get("status"),
                    r.get("status_category"),
                    r.get("priority"),
                    r.get("assignee"),
                    r.get("reporter"),
                    _json_list(labels),
                    _json_list(components),
                    r.get("created"),
                    r.get("updated"),
                    r.get("url"),
                    encode_raw(r.get("raw")),
                )
            )
            old_c, old_a = old_text.get(old_rowid, ("", "")) if old_rowid else ("", "")
            if "comments" in r:
                comments = r.get("comments") or []
                if old_rowid is not None:
                    replaced_comments.append((old_rowid,))
                ctext = _comments_text(comments)
                for c in comments:
                    comment_rows.append(
                        (
                            str(c.get("id")) if c.get("id") is not None else None,
                            rowid,
                            c.get("author"),
                            c.get("created"),
                            c.get("updated"),
                            c.get("body"),
                            c.get("body_text"),
                        )
                    )
            else:
                ctext = old_c
                if old_rowid is not None:
                    moved_children.append(("comments", rowid, old_rowid))
            if "attachments" in r:
                attachments = r.get("attachments") or []
                if old_rowid is not None:
                    replaced_attachments.append((old_rowid,))
                atext = _attachments_text(attachments)
                for a in attachments:
                    attachment_rows.append(
                        (
                            str(a.get("id")) if a.get("id") is not None else None,
                            rowid,
                            a.get("filename"),
                            a.get("mimetype"),
                            a.get("size"),
                            a.get("created"),
                            a.get("author"),
                            a.get("content_url"),
                            a.get("text"),
                            1 if a.get("indexed") else 0,
                        )
                    )
            else:
                atext = old_a
                if old_rowid is not None:
                    moved_children.append(("attachments", rowid, old_rowid))
            summary = r.get("summary") or ""
            tags = issue_tags(r)
            desc = r.get("description_text") or ""
            fts, title = _fts_row(rowid, summary, tags, desc, ctext, atext, r.get("fts"))
            fts_rows.append(fts)
            title_rows.append(title)

        if old_rowids:
            olds = [(x,) for x in old_rowids]
            conn.executemany("DELETE FROM issue_fts WHERE rowid = ?", olds)
            conn.executemany("DELETE FROM title_fts WHERE rowid = ?", olds)
            conn.executemany("DELETE FROM issues WHERE rowid = ?", olds)
        if replaced_comments:
            conn.executemany("DELETE FROM comments WHERE issue = ?", replaced_comments)
        if replaced_attachments:
            conn.executemany("DELETE FROM attachments WHERE issue = ?", replaced_attachments)
        for table in ("comments", "attachments"):
            moves = [(new, old) for t, new, old in moved_children if t == table]
            if moves:
                conn.executemany(f"UPDATE {table} SET issue = ? WHERE issue = ?", moves)
        marks = ",".join("?" * (len(ISSUE_FIELDS) + 1))
        conn.executemany(
            f"INSERT INTO issues (rowid, {', '.join(ISSUE_FIELDS)}) VALUES ({marks})",
            issue_rows,
        )
        _insert_fts(conn, fts_rows, title_rows)
        if comment_rows:
            conn.executemany(
                f"INSERT INTO comments ({', '.join(COMMENT_FIELDS)}) VALUES (?,?,?,?,?,?,?)",
                comment_rows,
            )
        if attachment_rows:
            conn.executemany(
                f"INSERT INTO attachments ({', '.join(ATTACHMENT_FIELDS)}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                attachment_rows,
            )
        return len(records)

    def delete_issues(self, datasource: str, ids: Iterable[str]) -> int:
        """Remove issues (and their comments, attachments and FTS rows) by Jira id."""
        ids = [str(i) for i in ids]
        deleted = 0
        with self._write():
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                rowids = [
                    (row[0],)
                    for row in self.conn.execute(
                        f"SELECT rowid FROM issues WHERE datasource = ? AND id IN ({marks})",
                        [datasource, *chunk],
                    )
                ]
                self._delete_rowids(rowids)
                deleted += len(rowids)
        return deleted

    def _delete_rowids(self, rowids: list[tuple[int]]) -> None:
        conn = self.conn
        conn.executemany("DELETE FROM issue_fts WHERE rowid = ?", rowids)
        conn.executemany("DELETE FROM title_fts WHERE rowid = ?", rowids)
        conn.executemany("DELETE FROM comments WHERE issue = ?", rowids)
        conn.executemany("DELETE FROM attachments WHERE issue = ?", rowids)
        conn.executemany("DELETE FROM issues WHERE rowid = ?", rowids)

    def remove_datasource(self, name: str) -> int:
        """Forget every issue, the sync state and the run history of a datasource."""
        with self._write():
            rowids = [
                (r[0],)
                for r in self.conn.execute("SELECT rowid FROM issues WHERE datasource = ?", [name])
            ]
            self._delete_rowids(rowids)
            self.conn.execute("DELETE FROM sync_state WHERE datasource = ?", [name])
            self.conn.execute("DELETE FROM sync_runs WHERE datasource = ?", [name])
        return len(rowids)

    # ----------------------------------------------------------------- sync state

    def get_state(self, datasource: str) -> dict:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT json FROM sync_state WHERE datasource = ?", [datasource]
            ).fetchone()
        return json.loads(row[0]) if row else {}

    def set_state(self, datasource: str, state: dict) -> None:
        with self._write():
            self.conn.execute(
                "INSERT INTO sync_state (datasource, json, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(datasource) DO UPDATE SET json = excluded.json, "
                "updated = excluded.updated",
                [datasource, json.dumps(state, ensure_ascii=False, default=str), _now()],
            )

    def start_run(self, datasource: str) -> int:
        """Record the start of a sync run; returns its id for finish_run.

        The caller holds the datasource's sync lock, so an older run still marked
        running died without finishing (kill -9, power loss): it becomes
        'interrupted'."""
        with self._write():
            self.conn.execute(
                "UPDATE sync_runs SET status = 'interrupted' "
                "WHERE datasource = ? AND status = 'running'",
                [datasource],
            )
            cur = self.conn.execute(
                "INSERT INTO sync_runs (datasource, started, status) VALUES (?, ?, 'running')",
                [datasource, _now()],
            )
            return int(cur.lastrowid)

    def finish_run(
        self,
        run_id: int,
        status: str = "ok",
        *,
        issues: int = 0,
        comments: int = 0,
        attachments: int = 0,
        deleted: int = 0,
        error: str | None = None,
        seconds: float | None = None,
    ) -> None:
        with self._write():
            row = self.conn.execute(
                "SELECT started FROM sync_runs WHERE id = ?", [run_id]
            ).fetchone()
            if row is None:
                raise StoreError(f"Sync run {run_id} is not recorded")
            finished = _now()
            if seconds is None:
                started = _parse_ts(row[0])
                seconds = round(time.time() - started, 3) if started else None
            self.conn.execute(
                "UPDATE sync_runs SET finished = ?, status = ?, issues = ?, comments = ?, "
                "attachments = ?, deleted = ?, error = ?, seconds = ? WHERE id = ?",
                [finished, status, issues, comments, attachments, deleted, error, seconds, run_id],
            )

    def failing_datasources(self) -> list[str]:
        """The datasources whose last sync that ended, ended in an error (a run still
        going, or cancelled, is no failure), by name."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT datasource FROM sync_runs WHERE status = 'error' AND id IN "
                "(SELECT max(id) FROM sync_runs WHERE status IN ('ok', 'error') "
                "GROUP BY datasource) ORDER BY datasource"
            ).fetchall()
        return [row[0] for row in rows]

    def runs(self, datasource: str | None = None, limit: int = 20) -> list[dict]:
        """Sync runs, newest first."""
        sql = "SELECT * FROM sync_runs"
        params: list[Any] = []
        if datasource is not None:
            sql += " WHERE datasource = ?"
            params.append(datasource)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        with self._reading() as conn:
            cur = conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur]

    # ----------------------------------------------------------------- reads

    def attachment_texts(self, datasource: str, issue_ids: list[str]) -> dict[str, str]:
        """Attachment id -> its indexed text, for these issues (by Jira id): what a
        sync keeps when a download fails this time."""
        if not issue_ids:
            return {}
        marks = ",".join("?" * len(issue_ids))
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT a.id, a.text FROM attachments a JOIN issues i ON a.issue = i.rowid "
                f"WHERE i.datasource = ? AND i.id IN ({marks}) AND a.text IS NOT NULL",
                [datasource, *issue_ids],
            )
            return {str(ident): text for ident, text in rows if ident is not None}

    def updated_of(self, datasource: str, ids: list[str]) -> dict[str, str]:
        """Jira id -> updated of those of `ids` the index holds (by its unique index)."""
        found: dict[str, str] = {}
        with self._reading() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    conn.execute(
                        f"SELECT id, updated FROM issues WHERE datasource = ? AND id IN ({marks})",
                        [datasource, *chunk],
                    )
                )
        return found

    def issue_ids(self, datasource: str) -> dict[str, str]:
        """Jira id -> updated of every stored issue of a datasource (for reconciliation)."""
        with self._reading() as conn:
            return dict(
                conn.execute("SELECT id, updated FROM issues WHERE datasource = ?", [datasource])
            )

    def issue_keys(self, datasource: str) -> dict[str, str]:
        """Jira id -> key of every stored issue of a datasource (keys change when a
        project's key is renamed)."""
        with self._reading() as conn:
            return dict(
                conn.execute("SELECT id, key FROM issues WHERE datasource = ?", [datasource])
            )

    def get_issue(self, key_or_id: str, datasource: str | None = None) -> dict | None:
        """One issue with its comments and attachments, by key (ABC-12) or Jira id;
        None when it is not in the index. With several datasources holding the key,
        the given datasource only, else the most recently updated copy (on a tie, the
        first datasource by name: the same copy every time)."""
        where, params = _issue_ref(key_or_id)
        sql = f"SELECT rowid, * FROM issues WHERE {where}"
        if datasource is not None:
            sql += " AND datasource = ?"
            params.append(datasource)
        sql += " ORDER BY updated DESC, datasource LIMIT 1"
        with self._reading() as conn:
            cur = conn.execute(sql, params)
            row = cur.fetchone()
            if row is None:
                return None
            issue = dict(zip([d[0] for d in cur.description], row, strict=True))
            rowid = issue.pop("rowid")
            issue["labels"] = json.loads(issue["labels"] or "[]")
            issue["components"] = json.loads(issue["components"] or "[]")
            issue["raw"] = decode_raw(issue["raw"])
            issue["comments"] = self._children(conn, "comments", COMMENT_FIELDS, rowid)
            issue["attachments"] = self._children(conn, "attachments", ATTACHMENT_FIELDS, rowid)
            for a in issue["attachments"]:
                a["indexed"] = bool(a["indexed"])
            return issue

    def distinct_names(self, column: str) -> list[str]:
        """The distinct values of a filter column (one per ASCII-case spelling): the
        assignees or reporters, for name filters, and the projects, statuses, types,
        priorities or datasources, for a value NOCASE cannot fold (indexer.query);
        also the labels or components, for the search box's suggestions.
        Read by walking the column's index (~25 ms at 300k issues) and kept until
        the index changes (any connection's write)."""
        if column in _NAME_COLUMNS:
            sql = (
                f"SELECT {column} FROM issues WHERE {column} IS NOT NULL "
                f"GROUP BY {column} COLLATE NOCASE"
            )
        elif column in _LIST_COLUMNS:  # JSON lists: the distinct lists, then their values
            sql = f"SELECT DISTINCT {column} FROM issues WHERE {column} NOT IN ('[]', '')"
        else:
            raise ValueError(f"no names in column {column!r}")
        with self._reading() as conn:
            stamp = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
            cached = self._names.get(column)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            names = [row[0] for row in conn.execute(sql)]
            if column in _LIST_COLUMNS:
                names = _list_values(names)
            self._names[column] = (stamp, names)
            return names

    def holders(self, key_or_id: str) -> list[str]:
        """The datasources whose index holds this issue (key or Jira id), by name."""
        where, params = _issue_ref(key_or_id)
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT datasource FROM issues WHERE {where} ORDER BY datasource",
                params,
            ).fetchall()
        return [row[0] for row in rows]

    @staticmethod
    def _children(conn: sqlite3.Connection, table: str, fields: tuple, rowid: int) -> list[dict]:
        names = [f for f in fields if f != "issue"]
        cur = conn.execute(
            f"SELECT {', '.join(names)} FROM {table} WHERE issue = ? ORDER BY created, rowid",
            [rowid],
        )
        return [dict(zip(names, row, strict=True)) for row in cur]

    def stats(self, datasource: str | None = None) -> dict:
        """Counts of issues, comments and attachments, and the last finished sync."""
        with self._reading() as conn:
            if datasource is None:
                issues = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
                comments = conn.execute("SELECT count(*) FROM comments").fetchone()[0]
                attachments = conn.execute("SELECT count(*) FROM attachments").fetchone()[0]
                last = conn.execute(
                    "SELECT max(finished) FROM sync_runs WHERE status = 'ok'"
                ).fetchone()[0]
            else:
                issues = conn.execute(
                    "SELECT count(*) FROM issues WHERE datasource = ?", [datasource]
                ).fetchone()[0]
                comments = conn.execute(
                    "SELECT count(*) FROM comments WHERE issue IN "
                    "(SELECT rowid FROM issues WHERE datasource = ?)",
                    [datasource],
                ).fetchone()[0]
                attachments = conn.execute(
                    "SELECT count(*) FROM attachments WHERE issue IN "
                    "(SELECT rowid FROM issues WHERE datasource = ?)",
                    [datasource],
                ).fetchone()[0]
                last = conn.execute(
                    "SELECT max(finished) FROM sync_runs WHERE status = 'ok' AND datasource = ?",
                    [datasource],
                ).fetchone()[0]
        return {
            "issues": issues,
            "comments": comments,
            "attachments": attachments,
            "last_sync": last,
        }

    def datasources(self) -> list[str]:
        with self._reading() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT datasource FROM issues")]

    def integrity_check(self) -> list[str]:
        """Problems found (empty when healthy): SQLite's quick_check, FTS5's own
        integrity-check, and the FTS row counts matching the issues table.

        FTS5's check is a command written as an INSERT, which a read-only index
        (see _open_read_only) refuses as a write: it is left out there, and said so
        by the caller, rather than reported as damage."""
        problems: list[str] = []
        with self._reading():
            try:
                rows = [r[0] for r in self.conn.execute("PRAGMA quick_check")]
                if rows != ["ok"]:
                    problems.extend(f"sqlite: {r}" for r in rows[:10])
                for table in () if self.read_only else ("issue_fts", "title_fts"):
                    try:
                        self.conn.execute(
                            f"INSERT INTO {table} ({table}) VALUES ('integrity-check')"
                        )
                    except sqlite3.DatabaseError as exc:
                        problems.append(f"{table}: {exc}")
                n_issues = self.conn.execute("SELECT count(*) FROM issues").fetchone()[0]
                for table in ("issue_fts", "title_fts"):
                    n = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    if n != n_issues:
                        problems.append(f"{table} has {n} rows for {n_issues} issues")
                orphans = self.conn.execute(
                    "SELECT count(*) FROM issue_fts WHERE rowid NOT IN (SELECT rowid FROM issues)"
                ).fetchone()[0]
                if orphans:
                    problems.append(f"issue_fts has {orphans} rows without an issue")
            except sqlite3.Error as exc:
                problems.append(str(exc))
        return problems


class _WriteScope:
    """A write joins the caller's transaction or opens its own; errors become StoreError."""

    def __init__(self, store: Store):
        self.store = store
        self._cm: contextlib.AbstractContextManager | None = None

    def __enter__(self) -> Store:
        self._cm = self.store.transaction()
        return self._cm.__enter__()

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._cm is not None
        handled = self._cm.__exit__(exc_type, exc, tb)
        if isinstance(exc, sqlite3.Error):
            raise _translate(exc, self.store.path) from None
        return bool(handled)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parse_ts(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
