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
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_WAIT_MS / 1000)
    except sqlite3.Error:
        return []
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.Error:  # busy, not a jiradex database, an older layout
        return []
    finally:
        db.close()
