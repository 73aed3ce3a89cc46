"""Tasks: the list, import from Jira, and one task's detail with its result.

Everything is indexer.tasks; this module only lays it out. Database and Jira
calls run in thread workers (exit_on_error=False) and come back as one-line
notifications, so a slow or failing Jira never freezes the screen.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Input,
    Label,
    Markdown,
    Static,
    TextArea,
)
from textual.worker import Worker, WorkerState, get_current_worker

from indexer.wording import counted
from tui import keymap
from tui.widgets.editor import Editor
from tui.widgets.fields import Field
from tui.widgets.format import (
    Plain,
    ago,
    cell,
    disable_button,
    enable_button,
    fit,
    relative_age,
)
from tui.widgets.title_bar import TitleBar

# How often the ages shown (Created, "posted 5m ago") are worked out again from what
# was read: they said "now" for as long as the screen stayed open.
AGE_TICK_S = 30.0

EMPTY_TASKS = (
    "No tasks yet.\n\nPress n to import a Jira issue as a task, or press i on a search result."
)


def one_line(error: BaseException | str) -> str:
    return " ".join(str(error).split()) or type(error).__name__


_TASK_STORE_OPEN = threading.Lock()


def task_store() -> Any:
    """indexer.tasks.TaskStore(), opened by one worker thread at a time.

    Opening it creates and migrates the database (check the columns, then add the
    missing ones). The first show of the list loads twice at once (mount and
    resume), and two first opens racing failed with "duplicate column name".
    """
    from indexer.tasks import TaskStore

    with _TASK_STORE_OPEN:
        return TaskStore()


class _WorkerErrors:
    """Mixin: a bug in a worker is a one-line notification, never a crash."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.show_error(event.worker.error)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- list


class TasksScreen(_WorkerErrors, Screen):
    """All tasks, newest first; Enter opens one, n imports a new one."""

    # Enter opens the task as the key arrives (a priority binding), before the keys
    # typed behind it are handed out: opened once the list had handled Enter, "Enter"
    # then the first words of a result sent them to the list, where n opened the import
    # form. The list's cursor keys are handled the same way, so a fast "Down Enter"
    # still opens the row the cursor reached.
    BINDINGS = [
        *keymap.bindings("tasks"),
        *keymap.on_arrival(
            "in_list",
            {
                "down": "cursor_down",
                "up": "cursor_up",
                "pagedown": "page_down",
                "pageup": "page_up",
                "ctrl+home": "scroll_top",
                "ctrl+end": "scroll_bottom",
            },
        ),
    ]
    AUTO_FOCUS = "#tasks-table"
    DEFAULT_CSS = """
    TasksScreen #tasks-bar { height: auto; padding: 0 1; }
    TasksScreen #tasks-bar Button { margin-right: 1; }
    TasksScreen #tasks-count { padding: 1 1 0 1; color: $text-muted; }
    TasksScreen #tasks-table { height: 1fr; }
    TasksScreen #tasks-empty { padding: 1 2; color: $text-muted; height: 1fr; }
    """

    # (label, key, width); the title takes what the others leave
    COLUMNS = (
        ("Task", "id", 6),
        ("Issue", "key", 11),
        ("State", "state", 9),
        ("Kind", "kind", 9),
        ("Title", "title", 0),
        ("Created", "created", 7),
    )

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[Any] = []
        self._title_width = 0

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Horizontal(id="tasks-bar"):
            yield Button("Import from Jira", id="tasks-import", variant="primary")
            yield Plain("", id="tasks-count")
        yield DataTable(id="tasks-table", cursor_type="row", zebra_stripes=True)
        yield Plain(EMPTY_TASKS, id="tasks-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Tasks"
        self._columns(self.query_one("#tasks-table", DataTable))
        self.query_one("#tasks-empty").display = False
        self.action_refresh()
        self.set_interval(AGE_TICK_S, self._tick_ages)

    def _tick_ages(self) -> None:
        """The Created ages again, from the tasks already read: cell by cell, as the
        list built again jumped back to its cursor when scrolled away from it."""
        table = self.query_one("#tasks-table", DataTable)
        for task in self.tasks:  # the rows _fill added, keyed by task id
            table.update_cell(str(task.id), "created", relative_age(task.created))

    def _wanted_title_width(self, table: DataTable) -> int:
        fixed = sum(width for *_, width in self.COLUMNS) + 2 * len(self.COLUMNS)
        return max(20, (table.size.width or 100) - fixed - 2)  # 2: the scrollbar

    def _columns(self, table: DataTable) -> None:
        """The columns for the table's width: the title column was sized once, for
        the first width, and a narrower terminal pushed Created out of sight."""
        self._title_width = self._wanted_title_width(table)
        table.clear(columns=True)
        for label, key, width in self.COLUMNS:
            table.add_column(label, width=width or self._title_width, key=key)

    def on_resize(self) -> None:
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        table = self.query_one("#tasks-table", DataTable)
        if self.tasks and self._wanted_title_width(table) != self._title_width:
            self._fill(table)

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.action_refresh()

    def action_refresh(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="tasks-list", exit_on_error=False)
    def _load(self) -> None:
        from indexer.errors import JiradexError

        try:
            tasks = task_store().list()
        except JiradexError as exc:
            self.app.call_from_thread(self.app.show_error, exc)  # type: ignore[attr-defined]
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, tasks)

    def _show(self, tasks: list[Any]) -> None:
        self.tasks = list(reversed(tasks))
        table = self.query_one("#tasks-table", DataTable)
        self._fill(table)
        table.display = bool(self.tasks)
        self.query_one("#tasks-empty").display = not self.tasks
        count = len(self.tasks)
        self.query_one("#tasks-count", Static).update(counted(count, "task"))
        if self.app.screen is self:
            (table if self.tasks else self.query_one("#tasks-import")).focus()

    def _fill(self, table: DataTable) -> None:
        keep = table.cursor_row
        if self._wanted_title_width(table) != self._title_width:
            self._columns(table)
        else:
            table.clear()
        for task in self.tasks:
            state = Text(task.state, style=STATE_STYLES.get(task.state, ""))
            table.add_row(
                cell(task.label),
                cell(task.link.key),
                state,
                cell(task.kind),
                cell(fit(task.title, self._title_width)),
                relative_age(task.created),
                key=str(task.id),
            )
        if self.tasks:
            table.move_cursor(row=min(keep, len(self.tasks) - 1), animate=False)

    @on(Button.Pressed, "#tasks-import")
    def action_new_task(self) -> None:
        self.open_import("")

    def open_import(self, key: str = "", back_to: str | None = None) -> None:
        """Contract with the app: open the import form prefilled with an issue key;
        cancelled, it goes back to the mode `back_to` (where it was asked for)."""
        self.app.push_screen(ImportScreen(key), lambda task_id: self._imported(task_id, back_to))

    def _imported(self, task_id: int | None, back_to: str | None = None) -> None:
        self.action_refresh()
        if task_id:
            self.app.push_screen(TaskScreen(task_id))
        elif back_to:
            self.app.go(back_to)  # type: ignore[attr-defined]

    def action_in_list(self, action: str) -> None:
        """A cursor key of the list, done as it arrives (see BINDINGS)."""
        keymap.run_for_focused(self, self.query_one("#tasks-table", DataTable), action)

    def action_enter_key(self) -> None:
        """Enter in the list opens the task under the cursor (elsewhere, on a button,
        it presses it)."""
        if self.focused is not self.query_one("#tasks-table", DataTable):
            raise SkipAction()
        self.action_open_task()

    @on(DataTable.RowSelected, "#tasks-table")
    def action_open_task(self) -> None:
        table = self.query_one("#tasks-table", DataTable)
        if not self.tasks:
            return
        row = table.cursor_row
        if 0 <= row < len(self.tasks):
            self.app.push_screen(TaskScreen(self.tasks[row].id))


STATE_STYLES = {
    "open": "",
    "result": "bold",
    "posted": "green",
    "failed": "bold red",
    "unlinked": "dim",
}


# ---------------------------------------------------------------------- import


class ImportScreen(_WorkerErrors, Screen[int | None]):
    """Find an issue (index words or a key, live from Jira when not indexed),
    preview it, add instructions, confirm. Dismisses with the new task id."""

    # Priority: the app moves the focus as the key arrives, before it hands out the
    # keys behind it; moved by a key handler, "deploy<Down><Enter>" typed fast sent
    # Enter to the box, which only stepped into the hits instead of picking one.
    BINDINGS = [
        *keymap.bindings("import"),
        Binding("down", "enter_hits", show=False, priority=True),
        Binding("up", "leave_hits", show=False, priority=True),
    ]
    DEFAULT_CSS = """
    ImportScreen #import-find { height: auto; }
    ImportScreen #import-find Input { width: 1fr; }
    ImportScreen #import-hits { height: 8; }
    ImportScreen #import-main { height: 1fr; }
    ImportScreen #import-preview { width: 1fr; border: round $panel-lighten-2; padding: 0 1; }
    ImportScreen #import-preview-title {
        margin: 2 0 1 0; padding: 0 2; color: $markdown-h2-color;
        background: $markdown-h2-background; text-style: $markdown-h2-text-style;
    }
    ImportScreen #import-preview-facts { padding: 0 2 1 2; }
    ImportScreen #import-form { width: 1fr; padding: 0 1; }
    ImportScreen #import-form TextArea { height: 1fr; }
    ImportScreen Checkbox { margin: 0 0 1 0; }
    ImportScreen #import-error { color: $error; height: auto; padding: 0 1; }
    ImportScreen #import-buttons { height: auto; }
    ImportScreen #import-buttons Button { margin-right: 1; }
    """

    def __init__(self, key: str = "") -> None:
        super().__init__()
        self.initial = key
        self.record: dict | None = None
        self._record_for = ""  # the key typed for it (Jira may answer a moved issue)
        self._record_source = ""  # "index", or "live from <site>"
        self._pending = ""  # the key a lookup worker is resolving
        # the key last looked up, while the box still names it: its answer is shown
        self._looked_up = ""
        self._comments_known = False  # the record holds the issue's comments
        self.hits: list[Any] = []
        self._typed_ahead: Any = None  # the keys held while the task is created

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Horizontal(id="import-find"):
            yield Field(
                value=self.initial,
                placeholder="Issue key (ABC-12) or words to search the index",
                id="import-query",
            )
        yield DataTable(id="import-hits", cursor_type="row")
        yield Plain("", id="import-error")
        with Horizontal(id="import-main"):
            with VerticalScroll(id="import-preview"):
                for name in ("title", "facts"):  # shown with an issue
                    part = Static("", id=f"import-preview-{name}")
                    part.display = False
                    yield part
                yield Markdown("_Pick an issue to preview it._", id="import-preview-md")
            with Vertical(id="import-form"):
                # compact: a focused full-size checkbox grows a border that, at
                # height 1, hid its own label
                yield Checkbox("Include comments", id="import-comments", compact=True)
                yield Checkbox(
                    "Objective (a goal, not one task)", id="import-objective", compact=True
                )
                yield Label("Instructions (added to the task)")
                yield Editor(id="import-instructions", soft_wrap=True)
                with Horizontal(id="import-buttons"):
                    yield Button("Create task", id="import-confirm", variant="primary")
                    yield Button("Cancel", id="import-cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Import from Jira"
        hits = self.query_one("#import-hits", DataTable)
        hits.add_column("Key", width=10)
        hits.add_column("Summary")
        hits.display = False
        self.query_one("#import-confirm", Button).disabled = True
        if self.initial:
            # the key is already there: what is left to type is the instructions
            self.query_one("#import-instructions", TextArea).focus()
            self._resolve(self.initial)
        else:
            self.query_one("#import-query", Input).focus()

    def _box_key(self) -> str:
        """The key in the box as a lookup would normalise it ("" when not a key)."""
        from indexer.search import is_issue_key

        text = self.query_one("#import-query", Input).value.strip()
        return text.upper() if is_issue_key(text) else ""

    def _record_matches_box(self) -> bool:
        """Create imports the previewed issue, so it must be the one the box names."""
        return self.record is not None and self._record_for == self._box_key()

    # -------------------------------------------------------------- finding

    @on(Input.Changed, "#import-query")
    def _typed(self, event: Input.Changed) -> None:
        from indexer.search import is_issue_key

        text = event.value.strip()
        if self._pending != text.upper():
            self._pending = ""  # what it finds is no longer what the box names
        if self._looked_up != text.upper():
            self._looked_up = ""
        if self.record is not None and not self._record_matches_box():
            self._forget_record()
        if not text or is_issue_key(text):
            self.workers.cancel_group(self, "import-search")
            self.query_one("#import-hits").display = False
            # The Changed of a key set by the program (the prefilled key, a picked
            # hit) arrives after its lookup started, and may arrive after its
            # "not found": that answer stays, it is not asked for again.
            if text and self.record is None and not self._pending and not self._looked_up:
                self._error(
                    f"Press Enter to look up {text.upper()} (in the index, else live from Jira)"
                )
            elif not text:
                self._error("")
            return
        self._search_index(text)

    @on(Input.Submitted, "#import-query")
    def _submitted(self, event: Input.Submitted) -> None:
        from indexer.search import is_issue_key

        text = event.value.strip()
        if is_issue_key(text):
            self._resolve(text)
        elif self.hits:
            self.query_one("#import-hits", DataTable).focus()

    # `self.focused`, not `has_focus`: the widget learns of its focus from an event,
    # after the keys that follow the one that moved it.
    def action_enter_hits(self) -> None:
        """Down steps from the box into the hits, as on the search screen."""
        hits = self.query_one("#import-hits", DataTable)
        in_box = self.focused is self.query_one("#import-query", Input)
        if not (in_box and hits.display and hits.row_count):
            raise SkipAction()
        self.set_focus(hits)

    def action_leave_hits(self) -> None:
        """Up on the first hit goes back to the box."""
        hits = self.query_one("#import-hits", DataTable)
        if self.focused is not hits or hits.cursor_row != 0:
            raise SkipAction()
        self.set_focus(self.query_one("#import-query", Input))

    @work(thread=True, exclusive=True, group="import-search", exit_on_error=False)
    def _search_index(self, text: str) -> None:
        from indexer.errors import JiradexError
        from indexer.search import search

        try:
            hits = search(self.app.store, text, limit=20)  # type: ignore[attr-defined]
        except JiradexError as exc:
            self.app.call_from_thread(self._error, one_line(exc))
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_hits, hits)

    def _show_hits(self, hits: list[Any]) -> None:
        self.hits = hits
        table = self.query_one("#import-hits", DataTable)
        table.clear()
        for hit in hits:
            table.add_row(cell(hit.key), cell(fit(hit.summary, 90)))
        table.display = bool(hits)
        self._error("" if hits else "No indexed issue matches; type a key to fetch it from Jira")

    @on(DataTable.RowSelected, "#import-hits")
    def _picked(self, event: DataTable.RowSelected) -> None:
        row = event.cursor_row
        if 0 <= row < len(self.hits):
            key = self.hits[row].key
            self.query_one("#import-query", Input).value = key
            self._resolve(key)

    def _resolve(self, key: str) -> None:
        self._pending = self._looked_up = key.strip().upper()
        self._error(f"Looking up {self._pending}…")
        self._lookup(self._pending)

    @work(thread=True, exclusive=True, group="import-lookup", exit_on_error=False)
    def _lookup(self, key: str) -> None:
        """The issue from the index, or live from Jira when the index lacks it."""
        from indexer import tasks
        from indexer.errors import JiradexError

        requested = key
        try:
            key = tasks.check_issue_key(key)
            # The copy `import_task` would take (a configured datasource's, of a key
            # several hold), and the one it is then told to take.
            record, _ = tasks.indexed_record(key, store=self.app.store)  # type: ignore[attr-defined]
            source = "index"
            # comments the preview can show: none stored may be none indexed
            comments_known = record is not None and (
                bool(record.get("comments")) or tasks.comments_indexed(record)
            )
            if record is None:
                record, site, _ = tasks.fetch_live(key, False)
                source = f"live from {site}"
        except JiradexError as exc:
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._not_found, requested, one_line(exc))
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._preview, requested, record, source, comments_known)

    def _forget_record(self) -> None:
        """The box no longer names the previewed issue: nothing to create until Enter."""
        self.record = None
        self.query_one("#import-confirm", Button).disabled = True
        self._show_preview("", [], "_Nothing to import yet._")

    def _not_found(self, requested: str, message: str) -> None:
        if requested != self._pending:
            return  # the box was edited while it was looked up
        self._pending = ""
        self._forget_record()
        self._error(message)

    def _preview(self, requested: str, record: dict, source: str, comments_known: bool) -> None:
        if requested != self._pending:
            return  # the box was edited while it was looked up
        self._pending = ""
        self.record, self._record_for, self._record_source = record, requested, source
        self._comments_known = comments_known
        self._error("")
        hits = self.query_one("#import-hits")
        picked_from_list = hits.has_focus
        hits.display = False
        if picked_from_list:
            # the hidden list would leave the focus nowhere: what is left to type
            # is the instructions, as after an import opened with the key
            self.query_one("#import-instructions", TextArea).focus()
        enable_button(self.query_one("#import-confirm", Button))
        self._show_record()

    def _show_record(self) -> None:
        if self.record is None:
            return
        with_comments = self.query_one("#import-comments", Checkbox).value
        comments = self._comments_known if with_comments else None
        self._show_preview(*preview_parts(self.record, self._record_source, comments))

    @on(Checkbox.Changed, "#import-comments")
    def _comments_toggled(self) -> None:
        """The preview shows what the task will hold: its comments too, when asked."""
        self._show_record()

    def _show_preview(self, title: str, facts: list[tuple[str, str]], markdown: str) -> None:
        """The title and the facts as two texts, the description's first part at once
        and the rest one part per frame: Textual builds a widget per Markdown block
        (the facts list alone some twenty): a long description took 1.5 s to show."""
        from indexer.issue_view import first_and_rest
        from tui.screens.issue import CHUNK_CHARS, FIRST_PAINT_CHARS, facts_content

        for name, content in (("title", Content(title)), ("facts", facts_content(facts))):
            widget = self.query_one(f"#import-preview-{name}", Static)
            widget.update(content)
            widget.display = bool(content)
        # most descriptions have no headings: cut between paragraphs too
        head, rest = first_and_rest(markdown, FIRST_PAINT_CHARS, CHUNK_CHARS, paragraphs=True)
        self.query_one("#import-preview").scroll_home(animate=False)
        self.run_worker(
            self._show_markdown(head, rest),
            group="import-preview",
            exclusive=True,
            exit_on_error=False,
        )

    async def _show_markdown(self, head: str, rest: list[str]) -> None:
        from tui.screens.issue import next_paint

        markdown = self.query_one("#import-preview-md", Markdown)
        await markdown.update(head)
        for part in rest:
            await next_paint(self)
            await markdown.append(part)

    def _error(self, message: str) -> None:
        self.query_one("#import-error", Static).update(message)

    # -------------------------------------------------------------- confirming

    @on(Button.Pressed, "#import-confirm")
    def action_confirm(self) -> None:
        """Ctrl+S creates the task once the instructions have the keys typed ahead of
        it; the keys typed behind it are for the task it opens (its result), not this
        form: they are held from now on (and handed back if no task is made)."""
        self._release_typed_ahead()
        self._typed_ahead = self.app.hold_keys()  # type: ignore[attr-defined]
        keymap.after_keys_ahead(self, self._confirm_now)

    def on_unmount(self) -> None:
        self._release_typed_ahead()  # closed while the task was made: no 2 s pause

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.state == WorkerState.ERROR and event.worker.group == "import-create":
            # a bug, not a refusal (_create_failed): the keys go back to the form now
            self._release_typed_ahead()
            enable_button(self.query_one("#import-confirm", Button))

    def _release_typed_ahead(self) -> None:
        if self._typed_ahead is not None:
            self.app.release_keys(self._typed_ahead)  # type: ignore[attr-defined]
            self._typed_ahead = None

    def _confirm_now(self) -> None:
        if not self._record_matches_box():
            self._release_typed_ahead()
            key = self._box_key()
            self._error(
                f"Press Enter to look up {key} first" if key
                else "Pick an issue first: type its key and press Enter"
            )  # fmt: skip
            return
        disable_button(self.query_one("#import-confirm", Button))
        self._error(f"Creating a task from {self.record.get('key')}…")
        self._create(
            str(self.record.get("key")),
            self.query_one("#import-comments", Checkbox).value,
            self.query_one("#import-objective", Checkbox).value,
            self.query_one("#import-instructions", TextArea).text,
            self._record_source == "index" and self.record.get("datasource") or None,
        )

    @work(thread=True, exclusive=True, group="import-create", exit_on_error=False)
    def _create(
        self, key: str, comments: bool, objective: bool, instructions: str, datasource: str | None
    ) -> None:
        """`datasource`: that of the copy previewed, when it came from the index (a key
        several datasources hold is imported as shown)."""
        from indexer.errors import JiradexError
        from indexer.tasks import import_task

        try:
            outcome = import_task(
                key,
                comments=comments,
                instructions=instructions.strip() or None,
                objective=objective,
                tasks=task_store(),
                datasource=datasource,
            )
        except JiradexError as exc:
            self.app.call_from_thread(self._create_failed, one_line(exc))
            return
        self.app.call_from_thread(self._created, outcome)

    def _create_failed(self, message: str) -> None:
        self._release_typed_ahead()
        enable_button(self.query_one("#import-confirm", Button))
        self._error(message)
        self.app.show_error(message, title="Import failed")  # type: ignore[attr-defined]

    def _created(self, outcome: Any) -> None:
        task = outcome.task
        lines = [f"Created {task.label} from {task.link.key}", *outcome.notes]
        self.notify("\n".join(lines), title="Task imported")
        self.dismiss(task.id)  # the task's screen, pushed next, holds them from here
        self._release_typed_ahead()

    @on(Button.Pressed, "#import-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def preview_parts(
    record: dict, source: str, comments: bool | None = None
) -> tuple[str, list[tuple[str, str]], str]:
    """What the person is about to import: its title and the facts the task will
    carry, as written, and its description (Markdown). `comments`: None when they
    are left out, else whether the record holds them all (when not, the task
    fetches them from Jira as it is made)."""
    from indexer.task_format import comments_markdown

    facts = [
        ("Type", record.get("issuetype")),
        ("Status", record.get("status")),
        ("Priority", record.get("priority")),
        ("Assignee", record.get("assignee") or "Unassigned"),
        ("Labels", ", ".join(record.get("labels") or []) or None),
        ("Source", source),
    ]
    title = f"{record.get('key')}: {record.get('summary') or ''}"
    markdown = (record.get("description") or "").strip() or "_No description._"
    if comments is not None:
        if record.get("comments"):
            thread = comments_markdown(record["comments"])
        elif comments:
            thread = "_No comments._"
        else:
            thread = "_The comments are fetched from Jira when the task is created._"
        markdown = f"{markdown}\n\n## Comments\n\n{thread}"
    return title, [(name, str(value)) for name, value in facts if value], markdown


# ---------------------------------------------------------------------- detail


def posted_when(stamp: str | None) -> str:
    """`2026-11-23 13:07 CET (5m ago)`: local time, as the issue screen shows times."""
    from indexer.localtime import parse_utc, shown_time

    if parse_utc(stamp) is None:
        return str(stamp or "an unknown time")
    return f"{shown_time(stamp)} ({ago(stamp)})"


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no, for what cannot be undone from the TUI."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; height: auto; border: round $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; }
    ConfirmScreen .confirm-keys { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [Binding("y", "yes", "Confirm"), Binding("escape,n", "no", "Cancel")]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        # the footer names the answer as its button does: "y Post again"
        self._bindings.key_to_bindings["y"] = [Binding("y", "yes", yes)]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Plain(self.question)
            with Horizontal():
                yield Button(self.yes, id="confirm-yes", variant="warning")
                yield Button("Cancel", id="confirm-no")
            yield Plain("y confirms · n or Esc cancels", classes="confirm-keys")
        yield Footer()  # its own keys: the task screen's showed through

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_no(self) -> None:
        self.dismiss(False)

    def action_yes(self) -> None:
        self.dismiss(True)


class TaskScreen(_WorkerErrors, Screen):
    """One task: issue badge, instructions, the result editor and Post to Jira."""

    BINDINGS = keymap.bindings("task")
    AUTO_FOCUS = "#task-result"
    DEFAULT_CSS = """
    TaskScreen #task-head { height: auto; padding: 0 1; }
    TaskScreen #task-badge { margin-right: 1; min-width: 10; }
    TaskScreen #task-title { width: 1fr; padding: 1 0 0 0; text-style: bold; }
    TaskScreen #task-facts { height: auto; padding: 0 1; color: $text-muted; }
    TaskScreen #task-error { height: auto; padding: 0 1; color: $error; }
    TaskScreen #task-body { height: 1fr; }
    TaskScreen #task-instructions { width: 1fr; border: round $panel-lighten-2; padding: 0 1; }
    TaskScreen #task-result-pane { width: 1fr; }
    TaskScreen #task-result { height: 1fr; }
    TaskScreen #task-buttons { height: auto; }
    /* min-width 0: at 80 columns three 16-cell buttons left "Unlink" as "U" */
    TaskScreen #task-buttons Button { margin-right: 1; min-width: 0; }
    """

    def __init__(self, task_id: int) -> None:
        super().__init__()
        self.task_id = task_id
        self.current_task: Any = None
        self._saved_text = ""
        self._editor_text = ""  # what the editor holds, kept for when it is gone
        self._loading: Any = None  # the keys held until the result is in the editor

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Horizontal(id="task-head"):
            yield Button("…", id="task-badge", variant="primary", tooltip="Open in Jira")
            yield Plain("", id="task-title")
        yield Plain("", id="task-facts")
        yield Plain("", id="task-error")
        with Horizontal(id="task-body"):
            with VerticalScroll(id="task-instructions"):
                yield Markdown("", id="task-instructions-md")
            with Vertical(id="task-result-pane"):
                yield Label("Result (Markdown, posted as a comment)")
                yield Editor(id="task-result", soft_wrap=True)
                with Horizontal(id="task-buttons"):
                    yield Button("Save", id="task-save")
                    yield Button("Post to Jira", id="task-post", variant="primary")
                    yield Button("Unlink", id="task-unlink", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"T-{self.task_id}"
        # The result is loaded into the editor once read: letters typed meanwhile
        # (right behind the key that opened the task) were wiped by it.
        hold = getattr(self.app, "hold_keys", None)
        self._loading = hold() if hold is not None else None
        self._load()
        self.set_interval(AGE_TICK_S, self._show_facts)

    @work(thread=True, exclusive=True, group="task-load", exit_on_error=False)
    def _load(self) -> None:
        from indexer.errors import JiradexError

        try:
            task = task_store().get(self.task_id)
        except JiradexError as exc:
            self.app.call_from_thread(self._load_failed, one_line(exc))
            return
        self.app.call_from_thread(self._show, task, True)

    def _load_failed(self, message: str) -> None:
        self._set_error(message)
        self._stop_holding()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.state == WorkerState.ERROR and event.worker.group == "task-load":
            self._stop_holding()  # a bug, not a refusal: no 2 s pause on top of it

    def _stop_holding(self) -> None:
        if self._loading is not None:
            self.app.release_keys(self._loading)  # type: ignore[attr-defined]
            self._loading = None

    def _show(self, task: Any, fill_editor: bool = False) -> None:
        self.current_task = task
        self.sub_title = f"{task.kind} · {task.state}"
        badge = self.query_one("#task-badge", Button)
        badge.label = task.link.key + (" (unlinked)" if task.unlinked else "")
        badge.disabled = task.unlinked
        self.query_one("#task-title", Static).update(task.title)
        self._show_facts()
        self._set_error(f"Last post failed: {task.last_error}" if task.last_error else "")
        self.query_one("#task-instructions-md", Markdown).update(task.instructions)
        if fill_editor:
            self._saved_text = task.result or ""
            editor = self.query_one("#task-result", TextArea)
            editor.load_text(self._saved_text)
            editor.focus()
            self._stop_holding()
        self.query_one("#task-post", Button).disabled = task.unlinked
        self.query_one("#task-unlink", Button).disabled = task.unlinked
        self.refresh_bindings()  # check_action: the footer drops Post and Unlink

    def _show_facts(self) -> None:
        """`T-3 · created 5m ago · datasource work · posted 2m ago as Zoë`; again every
        AGE_TICK_S, so that the ages keep up with the clock."""
        task = self.current_task
        if task is None:
            return
        facts = [f"{task.label} · created {ago(task.created)}"]
        if task.link.datasource:
            facts.append(f"datasource {task.link.datasource}")
        for post in task.posts:
            facts.append(f"posted {ago(post.posted_at)} as {post.account}")
        self.query_one("#task-facts", Static).update(" · ".join(facts))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """An unlinked task can be neither posted nor unlinked again: the footer
        offered both, and each only answered with an error."""
        if action in ("post", "unlink") and self.current_task is not None:
            return not self.current_task.unlinked
        return True

    def _set_error(self, message: str) -> None:
        self.query_one("#task-error", Static).update(message)

    @property
    def dirty(self) -> bool:
        return self.query_one("#task-result", TextArea).text != self._saved_text

    # -------------------------------------------------------------- actions

    def action_close(self) -> None:
        if self.dirty:  # Escape reached the screen after the keys ahead of it
            self._save_now()
        self.app.pop_screen()

    @on(TextArea.Changed, "#task-result")
    def _typed(self, event: TextArea.Changed) -> None:
        self._editor_text = event.text_area.text

    def on_unmount(self) -> None:
        """Leaving by quitting the app (Ctrl-Q, here or from another screen while this
        task stayed open) is no reason to lose a typed result: save it, right here, as
        no worker runs once the app is going (and the editor is already gone)."""
        from indexer.errors import JiradexError

        self._stop_holding()

        text = self._editor_text
        if self.current_task is None or not text.strip():
            return
        if text in (self._saved_text, self.current_task.result or ""):
            return
        with contextlib.suppress(JiradexError):  # closing: no one is left to tell
            task_store().set_result(self.task_id, text)

    @on(Button.Pressed, "#task-save")
    def action_save(self) -> None:
        """Ctrl+S saves the result once the editor has the keys typed ahead of it."""
        keymap.after_keys_ahead(self, self._save_now)

    def _save_now(self) -> None:
        if self.current_task is None:
            return
        text = self.query_one("#task-result", TextArea).text
        if not text.strip():
            self.notify("The result is empty: nothing to save", severity="warning")
            return
        self._save(text, then_post=False, force=False)

    @work(thread=True, exclusive=True, group="task-write", exit_on_error=False)
    def _save(self, text: str, then_post: bool, force: bool) -> None:
        from indexer.errors import JiradexError
        from indexer.tasks import post_task

        tasks = task_store()
        try:
            if text != (self.current_task.result or ""):
                task = tasks.set_result(self.task_id, text)
                self.app.call_from_thread(self._saved, task, text, not then_post)
            if then_post:
                outcome = post_task(self.task_id, force=force, tasks=tasks)
                self.app.call_from_thread(self._posted, outcome)
        except JiradexError as exc:
            message = one_line(exc)
            try:
                task = tasks.get(self.task_id)
                self.app.call_from_thread(self._show, task)
            except JiradexError:
                pass
            self.app.call_from_thread(self._failed, message)

    def _saved(self, task: Any, text: str, say: bool) -> None:
        self._saved_text = text
        self._show(task)
        if say:
            self.notify(f"Saved the result of {task.label}")

    def _posted(self, outcome: Any) -> None:
        self._show(outcome.task)
        where = f": {outcome.post.url}" if outcome.post.url else ""
        if outcome.found:
            self.notify(outcome.done_line, title="Already on Jira", timeout=10)
            return
        self.notify(
            f"{outcome.account_line}. Comment added to {outcome.task.link.key}{where}",
            title="Posted to Jira",
            timeout=10,
        )

    def _failed(self, message: str) -> None:
        self._set_error(message)
        self.app.show_error(message)  # type: ignore[attr-defined]

    @on(Button.Pressed, "#task-post")
    def action_post(self) -> None:
        """Ctrl+T posts the result once the editor has the keys typed ahead of it."""
        keymap.after_keys_ahead(self, self._post_now)

    def _post_now(self) -> None:
        if self.current_task is None:
            return
        text = self.query_one("#task-result", TextArea).text
        if not text.strip():
            self.notify("Write a result first: it is what gets posted", severity="warning")
            return
        if self.current_task.posts:
            last = self.current_task.posts[-1]
            question = (
                f"{self.current_task.label} was already posted to {self.current_task.link.key} at "
                f"{posted_when(last.posted_at)}. Post it again as a new comment?"
            )

            def answer(yes: bool | None) -> None:
                if yes:
                    self._save(text, then_post=True, force=True)

            self.app.push_screen(ConfirmScreen(question, "Post again"), answer)
            return
        self._save(text, then_post=True, force=False)

    @on(Button.Pressed, "#task-badge")
    def action_open_browser(self) -> None:
        from tui.screens.search import open_in_browser

        if self.current_task is not None:
            open_in_browser(self, self.current_task.link.key, self.current_task.link.url)

    @on(Button.Pressed, "#task-unlink")
    def action_unlink(self) -> None:
        if self.current_task is None or self.current_task.unlinked:
            return
        question = (
            f"Unlink {self.current_task.label} from {self.current_task.link.key}? The task and its result "
            "stay, but it can no longer be posted to Jira."
        )

        def answer(yes: bool | None) -> None:
            if yes:
                self._unlink()

        self.app.push_screen(ConfirmScreen(question, "Unlink"), answer)

    @work(thread=True, exclusive=True, group="task-write", exit_on_error=False)
    def _unlink(self) -> None:
        from indexer.errors import JiradexError

        try:
            task = task_store().unlink(self.task_id)
        except JiradexError as exc:
            self.app.call_from_thread(self._failed, one_line(exc))
            return
        self.app.call_from_thread(self._show, task)
        self.app.call_from_thread(self.notify, f"{task.label} unlinked from {task.link.key}")
