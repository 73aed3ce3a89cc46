"""What a shell offers on Tab: datasource names, task ids, issue keys.

A shell asks on every Tab press, so these read only: the index and the task
database are opened read-only (nothing is created, upgraded or locked for long),
and any failure (no index yet, a broken config file, a busy database) offers
nothing rather than printing an error into the user's command line.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from indexer import paths

# A shell lists every candidate it gets: past this many, typing more is quicker.
MOST_OFFERED = 50
# How long to wait for a database a sync is writing (WAL readers rarely wait).
BUSY_WAIT_MS = 200


def datasource_names(prefix: str) -> list[str]:
    """Configured datasource names starting with `prefix` (any case)."""
    from indexer.config import load_datasources

    try:
        names = [ds.name for ds in load_datasources()]
    except Exception:  # a config error is the command's to report, not Tab's
        return []
    folded = prefix.casefold()
    return [name for name in names if name.casefold().startswith(folded)]


def task_ids(prefix: str) -> list[tuple[str, str]]:
    """(id, "KEY title") of the tasks whose id starts with `prefix`, newest first."""
    rows = _read(
        paths.tasks_path(),
        "SELECT id, issue_key, title FROM tasks WHERE CAST(id AS TEXT) LIKE ? "
        "ORDER BY id DESC LIMIT ?",
        (_like_prefix(prefix.strip()), MOST_OFFERED),
    )
    return [(str(ident), f"{key} {title}") for ident, key, title in rows]


def issue_keys(prefix: str) -> list[tuple[str, str]]:
    """(key, summary) of indexed issues whose key starts with `prefix`.

    With a project and a dash typed (`ABC-12`), the shortest keys first (ABC-12,
    ABC-120, ...); before that (`AB`, or nothing), the most recently updated issues,
    which are usually the ones a person is about to open."""
    typed = prefix.strip().upper()
    if "-" in typed:
        rows = _read(paths.index_path(), SHORTEST_KEYS_SQL, (_like_prefix(typed), MOST_OFFERED))
    else:  # a key several datasources hold comes once, its newest copy first
        rows = _read(paths.index_path(), NEWEST_KEYS_SQL, (_like_prefix(typed), 4 * MOST_OFFERED))
    offered: dict[str, str] = {}
    for key, summary in rows:
        offered.setdefault(key, " ".join(str(summary or "").split()))
    return list(offered.items())[:MOST_OFFERED]


SHORTEST_KEYS_SQL = (
    "SELECT key, summary FROM issues WHERE key LIKE ? ESCAPE '\\' "
    "GROUP BY key ORDER BY length(key), key LIMIT ?"
)
# Walks the `updated` index and stops at the limit: a GROUP BY key sorted all the
# issues first (300 ms for `jiradex show <Tab>` at 100k issues, on every Tab).
NEWEST_KEYS_SQL = (
    "SELECT key, summary FROM issues WHERE key LIKE ? ESCAPE '\\' ORDER BY updated DESC LIMIT ?"
)


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching strings that start with `text` as typed."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _read(path: Path, sql: str, params: tuple) -> list[tuple]:
    """Rows of one query on a database opened read-only; [] when it cannot be read."""
    if not path.is_file():
        return []
    try:
        db = sqlite3.connect(_read_only_uri(path), uri=True, timeout=BUSY_WAIT_MS / 1000)
    except (OSError, ValueError, sqlite3.Error):
        return []
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.Error:  # busy, not a jiradex database, an older layout
        return []
    finally:
        db.close()


def _read_only_uri(path: Path) -> str:
    """How to open `path` so the directory is left as it was found.

    `mode=ro` on a WAL database (the index) with no -wal and -shm beside it makes
    them, and a read-only connection can neither checkpoint nor remove them when it
    closes: every Tab left index.db-wal and index.db-shm behind. So a WAL database
    without both is opened `immutable=1` (no locks, no files made). No -wal means no
    connection has the index open (SQLite makes it on the first open and removes it
    on the last close), so the file alone is the whole index; a sync that starts
    during these few milliseconds could at worst make this read fail or miss a key,
    and Tab then offers nothing or a key less: it never writes. With -wal and -shm
    there (a sync is running, or a reader keeps them), `mode=ro` reads through them
    and makes nothing. A rollback-journal database (tasks.db) makes no files when
    read, so it is read the ordinary read-only way, with its locks."""
    uri = path.resolve().as_uri()
    with path.open("rb") as file:
        header = file.read(20)
    wal_mode = header[18:20] == b"\x02\x02"  # file format versions: 2 is WAL
    if wal_mode and not (Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()):
        return f"{uri}?immutable=1"
    return f"{uri}?mode=ro"
