"""Tasks made from Jira issues, and their results posted back as comments.

Tasks live in their own SQLite database (`data_dir()/tasks/tasks.db`), away from
the index, so rebuilding the index never loses work. A task keeps its link to the
issue (key, id, datasource, browse URL), its Markdown result and every comment
posted from it: posting is refused a second time unless forced, and a failed post
keeps the result and records why.

A post is recorded as "in flight" (when it started, and the text sent) before the
request leaves, and that record goes only when the outcome is known. A post cut
short (Ctrl-C, a kill, a lost answer) therefore leaves it behind, and the next post
looks for that comment on the issue before sending anything.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from indexer import paths
from indexer.errors import ConfigError, JiradexError, JiraError, StoreError, TaskError
from indexer.task_format import format_instructions, task_title

KINDS = ("task", "objective")
ISSUE_FIELDS = [
    "summary",
    "description",
    "issuetype",
    "status",
    "priority",
    "assignee",
    "reporter",
    "labels",
    "components",
    "created",
    "updated",
    "project",
]
UNKNOWN_ACCOUNT = "the token's account (Jira would not say which)"
NOT_ENABLED = (
    "Jira integration not enabled: the issue's datasource has no credentials and there is "
    "no global Jira connection (run `jiradex jira connect`)"
)

# --------------------------------------------------------------------------- model


@dataclass
class TaskLink:
    key: str
    issue_id: str
    datasource: str
    url: str


@dataclass
class TaskPost:
    comment_id: str
    url: str
    posted_at: str
    account: str


@dataclass
class TaskAttempt:
    """A post that was sent (or about to be) and whose outcome is not known."""

    started: str  # when it began, by Jira's clock when Jira gave one (UTC, ISO)
    text: str  # the Markdown it sent


@dataclass
class Task:
    id: int
    kind: str
    title: str
    instructions: str
    created: str
    link: TaskLink
    result: str | None = None
    result_updated: str | None = None
    posts: list[TaskPost] = field(default_factory=list)
    unlinked: bool = False
    last_error: str | None = None
    attempt: TaskAttempt | None = None

    @property
    def label(self) -> str:
        return f"T-{self.id}"

    @property
    def posted(self) -> bool:
        return bool(self.posts)

    @property
    def state(self) -> str:
        """One word for lists: unlinked, posted, failed, result, open."""
        if self.unlinked:
            return "unlinked"
        if self.posts and not self.last_error:
            return "posted"
        if self.last_error:
            return "failed"
        return "result" if self.result else "open"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "kind": self.kind,
            "key": self.link.key,
            "title": self.title,
            "url": self.link.url,
            "datasource": self.link.datasource,
            "issue_id": self.link.issue_id,
            "created": self.created,
            "state": self.state,
            "instructions": self.instructions,
            "result": self.result,
            "result_updated": self.result_updated,
            "posts": [asdict(post) for post in self.posts],
            "unlinked": self.unlinked,
            "last_error": self.last_error,
            "post_in_flight": self.attempt.started if self.attempt else None,
        }


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_task_id(text: str | int) -> int:
    """Accept `12`, `T-12`, `t12` or `#12`."""
    match = re.fullmatch(r"\s*(?:[Tt]-?|#)?(\d+)\s*", str(text))
    if not match or int(match.group(1)) == 0:
        raise TaskError(f"Task id must look like 12 or T-12, not {str(text)!r}")
    if int(match.group(1)) >= 2**63:  # past SQLite's integers: no such task can exist
        raise TaskError(f"No task T-{match.group(1)}: `jiradex task list` shows the tasks")
    return int(match.group(1))


# --------------------------------------------------------------------------- storage

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    instructions TEXT NOT NULL,
    created TEXT NOT NULL,
    issue_key TEXT NOT NULL,
    issue_id TEXT NOT NULL,
    datasource TEXT NOT NULL,
    url TEXT NOT NULL,
    result TEXT,
    result_updated TEXT,
    unlinked INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS posts (
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    comment_id TEXT NOT NULL,
    url TEXT NOT NULL,
    posted_at TEXT NOT NULL,
    account TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_by_task ON posts(task_id);
"""
# Columns added after the first release: (name, declaration), added when missing.
LATER_COLUMNS = (("attempt_at", "TEXT"), ("attempt_text", "TEXT"))


class TaskStore:
    """The task database. Every call opens a short transaction; safe across processes."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else paths.tasks_path()
        # No task database and none can be made: a read-only home where no task was
        # ever imported. It reads as no tasks (`task list`, the Tasks screen) rather
        # than failing to make the directory; a write says it is read-only.
        self._none_here = not self.path.exists() and not paths.can_make_in(self.path.parent)
        if self._none_here:
            return
        try:
            paths.ensure_dir(self.path.parent)
            with self._connect() as db:
                db.executescript(SCHEMA)
                # One opener at a time looks for the later columns and adds them: two
                # (a TUI worker and a CLI command) would both add the same column.
                db.execute("BEGIN IMMEDIATE")
                have = {row["name"] for row in db.execute("PRAGMA table_info(tasks)")}
                for name, declaration in LATER_COLUMNS:
                    if name not in have:
                        db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {declaration}")
                if "attempt_at" not in have:
                    # A post that failed before attempts were recorded may have made
                    # its comment all the same: treat it as in flight since the result.
                    db.execute(
                        "UPDATE tasks SET attempt_at = COALESCE(result_updated, created),"
                        " attempt_text = result WHERE last_error IS NOT NULL"
                        " AND result IS NOT NULL"
                    )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"Cannot open the task database {self.path}: {exc}") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = _empty_read_only() if self._none_here else sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        except sqlite3.Error as exc:
            if "readonly" in str(exc).lower():
                raise StoreError(
                    f"The task database {self.path} is read-only ({exc}): the jiradex home "
                    "cannot be written by this user; nothing was changed"
                ) from None
            raise StoreError(f"The task database {self.path} failed: {exc}") from None
        finally:
            db.close()

    def create(self, kind: str, title: str, instructions: str, link: TaskLink) -> Task:
        if kind not in KINDS:
            raise TaskError(f"Task kind must be one of {', '.join(KINDS)}")
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO tasks (kind, title, instructions, created, issue_key, issue_id,"
                " datasource, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    title,
                    instructions,
                    now_iso(),
                    link.key,
                    link.issue_id,
                    link.datasource,
                    link.url,
                ),
            )
            task_id = int(cursor.lastrowid or 0)
        return self.get(task_id)

    def get(self, task_id: int | str) -> Task:
        number = parse_task_id(task_id)
        with self._connect() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (number,)).fetchone()
            if row is None:
                raise TaskError(f"No task T-{number}: `jiradex task list` shows the tasks")
            posts = db.execute(
                "SELECT * FROM posts WHERE task_id = ? ORDER BY rowid", (number,)
            ).fetchall()
        return _task_from_row(row, posts)

    def list(self) -> list[Task]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM tasks ORDER BY id").fetchall()
            posts = db.execute("SELECT * FROM posts ORDER BY rowid").fetchall()
        by_task: dict[int, list[sqlite3.Row]] = {}
        for post in posts:
            by_task.setdefault(post["task_id"], []).append(post)
        return [_task_from_row(row, by_task.get(row["id"], [])) for row in rows]

    def set_result(self, task_id: int | str, markdown: str) -> Task:
        task = self.get(task_id)
        with self._connect() as db:
            db.execute(
                "UPDATE tasks SET result = ?, result_updated = ? WHERE id = ?",
                (markdown, now_iso(), task.id),
            )
        return self.get(task.id)

    def add_post(self, task_id: int, post: TaskPost) -> Task:
        with self._connect() as db:
            db.execute(
                "INSERT INTO posts (task_id, comment_id, url, posted_at, account)"
                " VALUES (?, ?, ?, ?, ?)",
                (task_id, post.comment_id, post.url, post.posted_at, post.account),
            )
            db.execute(
                "UPDATE tasks SET last_error = NULL, attempt_at = NULL, attempt_text = NULL"
                " WHERE id = ?",
                (task_id,),
            )
        return self.get(task_id)

    def comment_ids_on(self, key: str) -> set[str]:
        """Ids of the comments on issue `key` that some task (any task) is linked to."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT posts.comment_id FROM posts JOIN tasks ON tasks.id = posts.task_id"
                " WHERE upper(tasks.issue_key) = upper(?)",
                (key,),
            ).fetchall()
        return {str(row["comment_id"]) for row in rows if row["comment_id"]}

    def begin_attempt(self, task_id: int, started: str, text: str) -> None:
        """Record a post as in flight; committed before the request is sent."""
        with self._connect() as db:
            db.execute(
                "UPDATE tasks SET attempt_at = ?, attempt_text = ? WHERE id = ?",
                (started, text, task_id),
            )

    def end_attempt(self, task_id: int, message: str | None) -> None:
        """The post certainly made no comment: no longer in flight; `message` says why."""
        with self._connect() as db:
            db.execute(
                "UPDATE tasks SET last_error = ?, attempt_at = NULL, attempt_text = NULL"
                " WHERE id = ?",
                (message, task_id),
            )

    def set_error(self, task_id: int, message: str | None) -> None:
        """Why the last post failed; an attempt in flight stays recorded."""
        with self._connect() as db:
            db.execute("UPDATE tasks SET last_error = ? WHERE id = ?", (message, task_id))

    def unlink(self, task_id: int | str) -> Task:
        task = self.get(task_id)
        with self._connect() as db:
            db.execute("UPDATE tasks SET unlinked = 1 WHERE id = ?", (task.id,))
        return self.get(task.id)


def _task_from_row(row: sqlite3.Row, posts: list[sqlite3.Row]) -> Task:
    return Task(
        id=row["id"],
        kind=row["kind"],
        title=row["title"],
        instructions=row["instructions"],
        created=row["created"],
        link=TaskLink(row["issue_key"], row["issue_id"], row["datasource"], row["url"]),
        result=row["result"],
        result_updated=row["result_updated"],
        posts=[TaskPost(p["comment_id"], p["url"], p["posted_at"], p["account"]) for p in posts],
        unlinked=bool(row["unlinked"]),
        last_error=row["last_error"],
        attempt=(
            TaskAttempt(row["attempt_at"], row["attempt_text"] or "") if row["attempt_at"] else None
        ),
    )


def _empty_read_only() -> sqlite3.Connection:
    """An empty task database that cannot be written (see TaskStore._none_here)."""
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    for name, declaration in LATER_COLUMNS:
        db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {declaration}")
    db.execute("PRAGMA query_only = ON")
    return db


@contextmanager
def posting_lock(task_id: int) -> Iterator[None]:
    """One post of a task at a time, across processes (the OS drops it if we die)."""
    lock_path = paths.ensure_dir(paths.tasks_path().parent) / f"post-{task_id}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # a read-only home; a full file system with no inode left
        raise TaskError(
            f"cannot post T-{task_id}: cannot open {lock_path}: {paths.write_refused(exc)}"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TaskError(
                f"Task T-{task_id} is being posted right now by another process"
            ) from None
        yield
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- import


@dataclass
class ImportOutcome:
    task: Task
    source: str  # "index" or "live"
    site: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.task.to_json()
        data["source"] = self.source
        return data


def check_issue_key(key: str) -> str:
    """The key, or the CoderFlow message for a malformed one (before any request)."""
    from indexer.config import validate_issue_key

    return validate_issue_key(key)


def not_found_message(key: str) -> str:
    return f"Issue {key} does not exist or you do not have permission to see it"


def indexed_record(
    key: str, datasource: str | None = None, store: Any = None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The issue from the index (None when it, or the index, is not there) and the
    datasources whose index holds it. `datasource`: that one's copy, or none.
    `store`: an open Store to read (the TUI's), else one is opened for this."""
    if store is None and not paths.index_path().exists():
        return None, []
    from indexer.store import Store, holder_named

    own = store is None
    if own:
        store = Store()
    try:
        holders = store.holders(key)
        if datasource is not None:
            chosen = holder_named(holders, datasource)
            return (store.get_issue(key, datasource=chosen) if chosen else None), holders
        # Copies of one issue kept from a removed datasource (`--keep-issues`) tie with
        # the configured datasource's on `updated`: the task must link the one it can
        # post through, a configured datasource's (with credentials, if one has them).
        best, best_rank = None, None
        for ds in _configured_datasources():
            if ds.name not in holders:
                continue
            record = store.get_issue(key, datasource=ds.name)
            if record is not None:
                rank = (record.get("updated") or "", ds.auth_mode != "anonymous")
                if best_rank is None or rank > best_rank:
                    best, best_rank = record, rank
        return best or store.get_issue(key), holders
    finally:
        close = getattr(store, "close", None)
        if own and callable(close):
            close()


def _configured_datasources() -> list[Any]:
    from indexer import config

    try:
        return config.load_datasources()
    except ConfigError:  # a broken datasources.json must not hide the index
        return []


@dataclass
class LiveSource:
    """A way to reach Jira for one issue: a datasource or the global connection."""

    label: str
    datasource: str
    make_client: Callable[[], Any]


def live_sources(key: str) -> list[LiveSource]:
    """Datasources whose project matches the key, then the global connection."""
    from indexer import config
    from indexer.jira import client_for_connection, client_for_datasource

    project = key.rsplit("-", 1)[0].upper()
    sources: list[LiveSource] = []
    for ds in config.load_datasources():
        projects = {p.strip().upper() for p in (ds.project_key or "").split(",")}
        if ds.connector_id == "jira" and project in projects:
            sources.append(
                LiveSource(
                    f'datasource "{ds.name}"',
                    ds.name,
                    lambda ds=ds: client_for_datasource(ds, interactive=True),
                )
            )
    conn = config.load_jira_connection()
    if conn.enabled and conn.base_url:
        sources.append(
            LiveSource(
                "the global Jira connection",
                "",
                lambda: client_for_connection(conn, interactive=True),
            )
        )
    return sources


def fetch_live(key: str, with_comments: bool) -> tuple[dict[str, Any], str, list[str]]:
    """(record, site, notes) fetched from the first source that can see the issue."""
    from indexer.jira.errors import IssueNotFoundError
    from indexer.normalize import normalize_comment, normalize_issue

    sources = live_sources(key)
    if not sources:
        project = key.rsplit("-", 1)[0].upper()
        off = _connection_switched_off()
        if off:
            raise TaskError(
                f"Issue {key} is not in the index, no datasource of {project} can fetch "
                f"it, and {off}"
            )
        raise TaskError(
            f"Issue {key} is not in the index, and no datasource of "
            f"{project} or Jira connection can fetch it"
        )
    failures: list[str] = []
    for source in sources:
        client = None
        try:
            client = source.make_client()
            raw = client.get_issue(key, ISSUE_FIELDS)
            # A moved issue answers under its new key (Jira follows the old one).
            url = client.browse_url(str(raw.get("key") or key))
            record = normalize_issue(raw, datasource=source.datasource, site_url="")
            record["url"] = url
            if with_comments:
                record["comments"] = [normalize_comment(c) for c in client.comments(key)]
            return record, site_of(url), failures
        except IssueNotFoundError:
            failures.append(f"{source.label}: not found")
        except JiraError as exc:
            failures.append(f"{source.label}: {exc}")
        finally:
            close_client(client)
    if all(failure.endswith(": not found") for failure in failures):
        raise TaskError(not_found_message(key))
    raise TaskError(f"Could not fetch {key} from Jira: {'; '.join(failures)}")


def _connection_switched_off() -> str | None:
    """Why the global connection is not used although it has a site, if it is so."""
    from indexer import config

    return config.load_jira_connection().switched_off()


def site_of(browse_url: str) -> str:
    return browse_url.rsplit("/browse/", 1)[0] if "/browse/" in browse_url else browse_url


def import_task(
    key: str,
    *,
    comments: bool = False,
    instructions: str | None = None,
    objective: bool = False,
    tasks: TaskStore | None = None,
    datasource: str | None = None,
) -> ImportOutcome:
    """Make a task (or objective) from an issue in the index, or live from Jira.
    `datasource`: the copy of that datasource's index (of an issue several hold)."""
    key = check_issue_key(key)
    if instructions:
        try:
            instructions.encode("utf-8")  # argv keeps bytes that are not UTF-8 as surrogates
        except UnicodeEncodeError:
            raise TaskError(
                "The additional instructions are not UTF-8 text: nothing imported"
            ) from None
    notes: list[str] = []
    unreadable = None
    try:
        record, holders = indexed_record(key, datasource)
    except StoreError as exc:  # Jira still has the issue: the task need not wait
        if datasource is not None:
            raise TaskError(f"{str(exc).rstrip('.')}: {key} was not imported") from None
        record, holders, unreadable = None, [], str(exc).rstrip(".")
    if datasource is not None and record is None:
        from indexer.store import not_held_message

        raise TaskError(not_held_message(key, datasource, holders))
    if datasource is None and record is not None and len(holders) > 1:
        from indexer.store import copies_note

        notes.append(copies_note(key, holders, record.get("datasource"), "imported"))
    source, site = "index", ""
    if record is None:
        try:
            record, site, _ = fetch_live(key, comments)
        except TaskError:
            if unreadable:  # "not in the index" would hide what is wrong, and its fix
                raise TaskError(f"{unreadable}; {key} could not be fetched live either") from None
            raise
        source = "live"
        if unreadable:
            notes.append(f"The index cannot be read ({unreadable}): {key} fetched live from {site}")
        else:
            notes.append(f"{key} is not in the index: fetched live from {site}")
    elif comments and not record.get("comments") and not comments_indexed(record):
        notes.extend(add_live_comments(record, key))
    url = record.get("url") or ""
    text = format_instructions(
        record, url=url, include_comments=comments, extra=instructions, objective=objective
    )
    link = TaskLink(
        key=record.get("key") or key,
        issue_id=str(record.get("id") or ""),
        datasource=record.get("datasource") or "",
        url=url,
    )
    store = tasks or TaskStore()
    task = store.create("objective" if objective else "task", task_title(record), text, link)
    return ImportOutcome(task=task, source=source, site=site or site_of(url), notes=notes)


def comments_indexed(record: dict[str, Any]) -> bool:
    """Whether the record's datasource indexes comments (so none stored means none)."""
    from indexer import config

    if "comments" not in record:
        return False
    try:
        return bool(config.get_datasource(record.get("datasource") or "").index_comments)
    except ConfigError:
        return False


def close_client(client: Any) -> None:
    close = getattr(client, "close", None)
    if callable(close):
        close()


def add_live_comments(record: dict[str, Any], key: str) -> list[str]:
    """The index holds no comments for this issue: fetch them, or say why not."""
    from indexer.normalize import normalize_comment

    why = "neither its datasource nor a Jira connection can reach Jira"
    for source in live_sources(key):
        if record.get("datasource") and source.datasource not in ("", record["datasource"]):
            continue
        client = None
        try:
            client = source.make_client()
            record["comments"] = [normalize_comment(c) for c in client.comments(key)]
            return [f"comments of {key} are not indexed: fetched live from {source.label}"]
        except JiraError as exc:
            why = f"{source.label}: {exc}"
            continue
        finally:
            close_client(client)
    # Not "no comments": the instructions must not tell the agent there are none.
    record["comments"] = []
    record["comments_unavailable"] = True
    return [f"comments of {key} are not indexed and could not be fetched live ({why})"]


# --------------------------------------------------------------------------- post


@dataclass
class PostOutcome:
    task: Task
    post: TaskPost
    service_account: bool = False
    found: bool = False  # the comment of an attempt whose answer was lost, not a new one

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.task.id,
            "key": self.task.link.key,
            "comment_id": self.post.comment_id,
            "url": self.post.url,
            "account": self.post.account,
            "service_account": self.service_account,
            "found": self.found,
        }

    @property
    def account_line(self) -> str:
        if self.service_account:
            return (
                f"Posted as {self.post.account} (a service account: the comment shows "
                "under its name, not yours)"
            )
        return f"Posted as {self.post.account}"

    @property
    def done_line(self) -> str:
        """What happened, in one line: posted, or found from an earlier attempt."""
        task, key = self.task, self.task.link.key
        if self.found:
            return (
                f"{task.label} was already on {key}: an earlier attempt posted it and its "
                f"answer was lost; nothing posted twice: {self.post.url}"
            )
        return f"Posted {task.label} to {key}: {self.post.url}"


def poster_client(link: TaskLink) -> tuple[Any, bool]:
    """(client, is_service_account) for posting to the linked issue.

    The issue's datasource when it has credentials; otherwise the global connection.
    """
    from indexer import config
    from indexer.jira import client_for_connection, client_for_datasource

    ds = None
    if link.datasource:
        try:
            ds = config.get_datasource(link.datasource)
        except ConfigError:
            ds = None
        if ds is not None and ds.auth_mode != "anonymous":
            issue_site = site_of(link.url) if link.url else ""
            if issue_site and ds.endpoint and not same_site(issue_site, ds.endpoint):
                # The datasource now points at another Jira: DEMO-3 there is not ours.
                raise TaskError(
                    f'{link.key} is on {issue_site}, but datasource "{ds.name}" is '
                    f"{ds.endpoint.rstrip('/')}: nothing posted; import the issue again "
                    "from the right site"
                )
            return client_for_datasource(ds, interactive=True), ds.auth_mode == "service_account"
    conn = config.load_jira_connection()
    if conn.enabled and conn.base_url:
        issue_site = site_of(link.url) if link.url else ""
        if issue_site and not same_site(issue_site, conn.base_url):
            # Keys repeat across sites: DEMO-3 there is another issue than DEMO-3 here.
            raise TaskError(
                f"{link.key} is on {issue_site}, but the Jira connection is "
                f"{conn.base_url.rstrip('/')}: give its datasource credentials, or "
                f"connect to {issue_site} with `jiradex jira connect`"
            )
        return client_for_connection(conn, interactive=True), bool(conn.cloud_id)
    off = conn.switched_off()
    if off:
        if link.datasource and ds is None:
            whose = f'the issue\'s datasource "{link.datasource}" is no longer configured'
        elif link.datasource:
            whose = f'the issue\'s datasource "{link.datasource}" has no credentials'
        else:
            whose = "the task came through the Jira connection"
        raise TaskError(f"Jira integration not enabled: {whose}, and {off}")
    if link.datasource and ds is None:
        raise TaskError(
            f'Jira integration not enabled: the issue\'s datasource "{link.datasource}" is no '
            "longer configured and there is no global Jira connection (run `jiradex jira "
            "connect`, or import the issue again from a configured datasource)"
        )
    raise TaskError(NOT_ENABLED)


def same_site(a: str, b: str) -> bool:
    """Whether two site URLs name the same Jira (host, port and context path)."""

    def parts(url: str) -> tuple:
        split = urlsplit(url.strip())
        port = split.port or {"http": 80, "https": 443}.get(split.scheme.lower())
        return (split.hostname or "").lower(), port, split.path.rstrip("/").lower()

    try:
        return parts(a) == parts(b)
    except ValueError:
        return False


def whoami(client: Any) -> dict[str, Any]:
    """`/myself`, or {} when this token may not read it (a scoped token without the
    user scope): that must not stop the post. A 401 still stops it, before posting."""
    from indexer.jira.errors import JiraNotFoundError, JiraPermissionError

    try:
        return client.myself() or {}
    except (JiraPermissionError, JiraNotFoundError):
        return {}


def account_of(myself: dict[str, Any]) -> tuple[str, bool]:
    """Display name of the posting account, and whether Jira says it is an app/bot."""
    name = ""
    for field_name in ("displayName", "name", "emailAddress", "accountId"):
        value = myself.get(field_name)
        if isinstance(value, str) and value:
            name = value
            break
    return name or UNKNOWN_ACCOUNT, myself.get("accountType") == "app"


# How far before an attempt's recorded start its comment may seem made: the start is
# by Jira's clock when its Date header gave it (whole seconds), else by ours.
ATTEMPT_SKEW = timedelta(minutes=5)

INTERRUPTED = (
    "interrupted while the comment was being sent: the next post looks for it on the "
    "issue before posting again"
)


def attempt_window(attempt: TaskAttempt) -> datetime | None:
    """The earliest creation time a comment of `attempt` can show (None: unknown)."""
    try:
        started = datetime.fromisoformat(attempt.started.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    return started - ATTEMPT_SKEW


def jira_now(client: Any) -> str:
    """Now by Jira's clock (its last Date header) when the client knows it, else ours."""
    server_now = getattr(client, "server_now", None)
    moment = server_now() if callable(server_now) else None
    if not isinstance(moment, datetime):
        moment = datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def may_have_posted(exc: BaseException) -> bool:
    """Whether a failed post may have made the comment all the same. Only a refusal
    (HTTP 4xx) or a connection never made say for sure that it did not."""
    import httpx

    if getattr(exc, "reply_lost", False):
        return True
    status = getattr(exc, "status", None)
    if isinstance(status, int) and 400 <= status < 500:
        return False
    cause = exc.__cause__ or exc.__context__
    return not isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout))


# Jira refuses a comment body past this many characters ("The entered text is too long.
# It exceeds the allowed limit of 32767 characters", HTTP 400).
COMMENT_LIMIT = 32767


def check_body(client: Any, markdown: str) -> None:
    """Refuse, before anything is sent, a result whose comment would be empty or over
    Jira's limit, counted on the body as posted (wiki markup, or the ADF JSON)."""
    render = getattr(client, "comment_body", None)
    if not callable(render):
        return
    body = render(markdown)
    if rendered_empty(body):
        raise TaskError(
            "the result makes an empty comment (nothing in it that Jira would show): nothing posted"
        )
    if isinstance(body, str):
        text, unit = body, "characters of wiki markup"
    else:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        unit = "characters of ADF JSON"
    # Jira counts Java characters (UTF-16 units): an emoji or other character past
    # U+FFFF is two of them.
    size = len(text.encode("utf-16-le")) // 2
    if size > COMMENT_LIMIT:
        raise TaskError(
            f"the comment would be {size:,} {unit}, over Jira's limit of "
            f"{COMMENT_LIMIT:,}: shorten the result; nothing posted"
        )


def rendered_empty(body: Any) -> bool:
    """Whether a comment body shows nothing: blank wiki text, or ADF of empty
    paragraphs (any other node, a rule or a table, shows something)."""
    if isinstance(body, str):
        return not body.strip()
    if not isinstance(body, dict):
        return body is None
    kind = body.get("type")
    if kind == "text":
        return not str(body.get("text") or "").strip()
    if kind not in ("doc", "paragraph", "hardBreak", None):
        return False
    return all(rendered_empty(child) for child in body.get("content") or [])


def answer_lost(exc: BaseException) -> bool:
    """Whether the post went out and its answer never came (a read timeout, a dropped
    connection, a lost reply the client reported), rather than a refusal or an error."""
    import httpx

    return bool(getattr(exc, "reply_lost", False)) or isinstance(
        exc.__cause__, httpx.TransportError
    )


def post_task(
    task_id: int | str, *, force: bool = False, tasks: TaskStore | None = None
) -> PostOutcome:
    """Post the task's result as a comment on its issue, once unless `force`."""
    store = tasks or TaskStore()
    task = store.get(task_id)
    if task.unlinked:
        raise TaskError(f"Task {task.label} is unlinked from {task.link.key}: nothing to post to")
    if not (task.result or "").strip():
        raise TaskError(
            f"Task {task.label} has no result yet: store one with "
            f"`jiradex task result {task.id} FILE`"
        )
    with posting_lock(task.id):
        task = store.get(task.id)  # another process may have posted meanwhile
        if task.posts and not force:
            last = task.posts[-1]
            raise TaskError(
                f"Task {task.label} was already posted to {task.link.key} at {last.posted_at} "
                f"({last.url}): use --force to post it again"
            )
        client, service_account = poster_client(task.link)
        # Comments that are some task's already (this one's earlier posts, or another
        # task's with the same text) are never taken for this attempt's.
        known = {post.comment_id for post in task.posts} | store.comment_ids_on(task.link.key)
        found = None
        try:
            account, is_app = account_of(whoami(client))
            if task.attempt is not None:
                # An earlier attempt may have reached Jira (its answer lost, or this
                # program stopped while it was in flight): find it, never post a twin.
                # Only comments made since that attempt began can be its own.
                wanted = task.attempt.text or task.result
                found = client.find_comment(
                    task.link.key, wanted, exclude=known, after=attempt_window(task.attempt)
                )
            if found is None:
                check_body(client, task.result)
                started = task.attempt.started if task.attempt else jira_now(client)
                store.begin_attempt(task.id, started, task.result)  # before the request
                try:
                    created = client.add_comment(task.link.key, task.result, known=known)
                except JiradexError as exc:
                    if not may_have_posted(exc):
                        store.end_attempt(task.id, str(exc))
                        raise
                    # Never conclude "not posted" here, even when a look right after
                    # did not show it: Jira may still be saving it. The attempt stays
                    # in flight, so the next post looks again before sending. (Other
                    # failures, an HTTP 5xx, keep it too without saying so: rarely made.)
                    if not answer_lost(exc):
                        raise
                    reason = getattr(exc, "unnoted", None) or str(exc)
                    raise TaskError(
                        f"{reason} (Jira may have made the comment all the same: the next "
                        f"post looks for it on {task.link.key} before sending again)"
                    ) from exc
                except BaseException:  # Ctrl-C or exit while the request was out
                    store.set_error(task.id, INTERRUPTED)
                    raise
            else:
                created = found
        except JiradexError as exc:
            message = str(exc)
            store.set_error(task.id, message)
            raise TaskError(
                f"Posting task {task.label} to {task.link.key} failed, the result is kept: "
                f"{message}"
            ) from None
        finally:
            close_client(client)
        post = TaskPost(
            comment_id=str(created.get("id") or ""),
            url=str(created.get("url") or ""),
            posted_at=now_iso(),
            account=account,
        )
        task = store.add_post(task.id, post)
    return PostOutcome(
        task=task,
        post=post,
        service_account=service_account or is_app,
        found=found is not None,
    )


# A result becomes one Jira comment (COMMENT_LIMIT characters at most): reading more
# than this is a wrong file (a build log, /dev/zero), never a result to store.
RESULT_MAX_BYTES = 1024 * 1024


def read_result_text(source: str, stdin_text: Callable[[int], str | bytes]) -> str:
    """The Markdown result from FILE, or stdin for `-` (`stdin_text(n)` reads at most
    n bytes, or characters of text already decoded)."""
    if source == "-":
        raw, where = stdin_text(RESULT_MAX_BYTES + 1), "the result on stdin"
    else:
        where = f"the result file {source}"
        try:
            with open(source, "rb") as handle:
                raw = handle.read(RESULT_MAX_BYTES + 1)
        except OSError as exc:
            raise TaskError(f"Cannot read {where}: {exc.strerror or exc}") from None
    if len(raw) > RESULT_MAX_BYTES:
        raise TaskError(
            f"{where[0].upper()}{where[1:]} is over 1 MB, and a Jira comment holds at most "
            f"{COMMENT_LIMIT:,} characters: nothing stored"
        )
    text = decode_result(raw, where)
    # A byte order mark (Notepad, PowerShell) would be posted, and would make a first
    # "# Heading" plain text: CommonMark sees no heading after it.
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise TaskError("The result is empty: nothing to store")
    return text


def decode_result(raw: str | bytes, where: str) -> str:
    """UTF-8 (or UTF-16 with its byte order mark, as PowerShell writes) with lines
    ending in \\n; anything else is refused in one line, never stored half-decoded."""
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")  # stdin read as text keeps bad bytes as surrogates
        except UnicodeEncodeError:
            raise TaskError(f"Cannot read {where}: it is not UTF-8 text") from None
        text = raw
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise TaskError(f"Cannot read {where}: it is not valid UTF-16 text") from None
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TaskError(
                f"Cannot read {where}: it is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                f"offset {exc.start}); save it as UTF-8"
            ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def describe(task: Task) -> str:
    """The human view of a task for `task show`: facts, instructions, result, posts."""
    lines = [
        f"{task.label} ({task.kind}, {task.state}): {task.title}",
        f"Issue:   {task.link.key}  {task.link.url}" + ("  [unlinked]" if task.unlinked else ""),
        f"Created: {task.created}",
    ]
    if task.link.datasource:
        lines.append(f"Source:  datasource {task.link.datasource}")
    for post in task.posts:
        lines.append(f"Posted:  {post.posted_at} as {post.account}: {post.url}")
    if task.last_error:
        lines.append(f"Last post failed: {task.last_error}")
    if task.attempt:
        lines.append(
            f"Post in flight since {task.attempt.started}, outcome unknown: the next post "
            "looks for that comment on the issue first"
        )
    lines += ["", "--- instructions ---", task.instructions.rstrip("\n"), ""]
    if task.result:
        lines += [f"--- result ({task.result_updated}) ---", task.result.rstrip("\n"), ""]
    else:
        lines += ["--- no result yet ---", ""]
    return "\n".join(lines)
