"""Datasources: the configured Jira projects, their last sync and counts, and actions.

The list reads `datasources.json` (cheap) and the index counts in a thread worker,
so opening the screen never waits on SQLite. Add/edit go through the form in
tui/widgets/datasource_form.py (the CLI's validators); Sync now hands over to the
sync monitor through `app.start_sync`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import ColumnKey
from textual.worker import get_current_worker

from indexer import config
from indexer.errors import JiradexError
from indexer.wording import counted
from tui import keymap
from tui.messages import ConfigChanged, IndexUpdated
from tui.sync_controller import SyncController, controller_for, format_duration, one_line
from tui.widgets.datasource_form import (
    ClientFactory,
    ConfirmScreen,
    DatasourceFormScreen,
    default_client_factory,
    describe_test,
    test_datasource,
)
from tui.widgets.format import Plain, cell, fit, relative_age
from tui.widgets.title_bar import TitleBar

EMPTY_TEXT = (
    "No datasource yet.\n\n"
    "Press [b]a[/] to add one: a name, your Jira site URL and a project key "
    "(plus an e-mail and API token unless the project is public).\n"
    "Or quit and run [b]jiradex demo[/] to try jiradex on generated data."
)

# (key, label). What tells whether a datasource is fine comes first: with Status
# last, at 80 columns it read "never s" or "cancell" (the table scrolls sideways, so
# the settings at the end are cut instead).
COLUMNS = (
    ("name", "Name"),
    ("enabled", "Enabled"),
    ("status", "Status"),
    ("last_sync", "Last sync"),
    ("issues", "Issues"),
    ("comments", "Comments"),
    ("files", "Files"),
    ("project", "Project"),
    ("every", "Every"),
)


# The name column's width, as the table's width allows (DatasourcesScreen._name_width).
NAME_MIN, NAME_MAX = 10, 28


def _plain(value: Any) -> str:
    return value.plain if isinstance(value, Text) else str(value)


# How often the ages shown ("Last sync 5m ago", "Last run: ok, 5m ago") are worked out
# again from what the list last read: they said "just now" for as long as it was shown.
AGE_TICK_S = 30.0


@dataclass
class Row:
    """One datasource and what the index knows about it."""

    ds: config.Datasource
    stats: dict[str, Any]
    last_run: dict[str, Any] | None


def load_rows(store_factory=None) -> list[Row]:
    """Datasources with index counts and their latest run (runs in a worker thread)."""
    datasources = config.load_datasources()
    if not datasources:
        return []
    if store_factory is None:
        from indexer.store import Store

        store_factory = Store
    from indexer.sync import recent_runs  # the sync engine loads only when listed

    store = store_factory()
    try:
        rows = []
        for ds in datasources:
            runs = recent_runs(store, ds.name, limit=1)
            rows.append(Row(ds, store.stats(ds.name), runs[0] if runs else None))
        return rows
    finally:
        store.close()


def _ago(stamp: str | None) -> str:
    age = relative_age(stamp)
    if not age:
        return "never"
    return "just now" if age == "now" else f"{age} ago"


class DatasourcesScreen(Screen):
    """List, add, edit, test, enable/disable, delete and sync datasources."""

    TITLE = "Datasources"
    BINDINGS = [
        *keymap.bindings("datasources"),
    ]
    DEFAULT_CSS = """
    DatasourcesScreen #ds-table { height: 1fr; min-height: 5; }
    DatasourcesScreen #ds-empty { height: 1fr; padding: 1 2; color: $text-muted; }
    DatasourcesScreen #ds-details {
        height: auto; min-height: 6; max-height: 12;
        border: round $panel-lighten-2; border-title-color: $text-muted;
        padding: 0 1; margin: 0 0;
    }
    DatasourcesScreen #ds-error { height: auto; color: $error; padding: 0 1; }
    """

    def __init__(
        self,
        *,
        client_factory: ClientFactory | None = None,
        store_factory=None,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.client_factory = client_factory or default_client_factory
        self.store_factory = store_factory
        self.rows: list[Row] = []
        self._tests: dict[str, Text] = {}
        self.loaded = False
        self._select_next: str | None = None  # the row the next load puts the cursor on
        self._deleting: set[str] = set()  # datasources a worker is removing
        self._name_room = NAME_MAX  # the width the names were cut to

    def compose(self) -> ComposeResult:
        yield TitleBar()
        table = DataTable(id="ds-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        empty = Plain(EMPTY_TEXT, id="ds-empty", markup=True)  # our own [b] marks
        empty.display = False
        yield empty
        yield Plain("", id="ds-error")
        details = Plain("", id="ds-details")
        details.border_title = "Details"
        yield details
        yield Footer()

    def on_mount(self) -> None:
        controller_for(self.app).subscribe(self)
        self.action_refresh()
        self.set_interval(AGE_TICK_S, self._tick_ages)

    def _tick_ages(self) -> None:
        """The ages again, from the rows already read (no database access)."""
        table = self.query_one(DataTable)
        for row in self.rows:
            with contextlib.suppress(Exception):  # the row went away meanwhile
                table.update_cell(row.ds.name, "last_sync", cell(_ago(row.stats.get("last_sync"))))
        self._show_details()

    def on_unmount(self) -> None:
        controller_for(self.app).unsubscribe(self)

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.action_refresh()

    # ------------------------------------------------------------------ loading

    def action_refresh(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="datasources-load", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        try:
            rows, error = load_rows(self.store_factory), None
        except JiradexError as exc:
            rows, error = None, one_line(exc)
        except Exception as exc:  # never a crash screen for a list
            rows, error = None, one_line(exc)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, rows, error)

    def _show(self, rows: list[Row] | None, error: str | None) -> None:
        if not self.is_attached:
            return
        self.loaded = True
        self.query_one("#ds-error", Static).update(Text(error or ""))
        if rows is None:
            return
        table = self.query_one(DataTable)
        selected = self.selected.ds.name if self.selected else None
        if self._select_next is not None:
            selected, self._select_next = self._select_next, None
        self.rows = rows
        self._fill(table)
        empty = not rows
        table.display = not empty
        self.query_one("#ds-empty").display = empty
        self.query_one("#ds-details").display = not empty
        if selected is not None:
            for index, row in enumerate(rows):
                if row.ds.name == selected:
                    table.move_cursor(row=index)
        if not empty and self.app.focused is None:
            table.focus()
        self._show_details()

    def _fill(self, table: DataTable) -> None:
        table.clear()
        cells = [self._cells(row) for row in self.rows]
        name_width = self._name_width(table, cells)
        for row, row_cells in zip(self.rows, cells, strict=True):
            row_cells[0] = cell(fit(row.ds.name, name_width))
            table.add_row(*row_cells, key=row.ds.name)
        self._name_room = name_width
        self._size_name_column(table, name_width)

    def _size_name_column(self, table: DataTable, name_width: int) -> None:
        """The Name column as wide as its widest name cut to `name_width`, set here: left
        to the table, it is measured when idle, and until then drawn as wide as "Name"
        ("Pla…"; a snapshot on a loaded machine caught it)."""
        column = table.columns[ColumnKey("name")]
        widest = max((cell_len(fit(row.ds.name, name_width)) for row in self.rows), default=0)
        column.width, column.auto_width = max(widest, cell_len(str(column.label))), False
        table.refresh()

    def _name_width(self, table: DataTable, cells: list[list[Any]]) -> int:
        """The names get what the table leaves once the columns up to the counts have
        their room (the settings after them may scroll off): a long name pushed
        "21,946" comments out to "21,94" at 80 columns."""
        counts_end = [key for key, _ in COLUMNS].index("files") + 1
        width = 0
        for index in range(1, counts_end):
            texts = [COLUMNS[index][1], *(_plain(row[index]) for row in cells)]
            width += max(cell_len(text) for text in texts) + 2  # a cell's padding
        room = (table.size.width or 80) - table.styles.scrollbar_size_vertical - width - 2
        return max(NAME_MIN, min(NAME_MAX, room))

    def on_resize(self) -> None:
        """The names cut again to the new width, in their cells (refilled, the table
        lost its cursor and scroll for a resize)."""
        table = self.query_one(DataTable)
        if self.rows and table.display:
            cells = [self._cells(row) for row in self.rows]
            width = self._name_width(table, cells)
            if width != self._name_room:
                for row in self.rows:
                    table.update_cell(row.ds.name, "name", cell(fit(row.ds.name, width)))
                self._name_room = width
                self._size_name_column(table, width)

    def _cells(self, row: Row) -> list[Any]:
        ds, stats = row.ds, row.stats
        enabled = Text("yes", style="green") if ds.enabled else Text("no", style="dim")
        every = ds.interval if ds.sync_enabled else Text(f"{ds.interval} (off)", style="dim")
        last = _ago(stats.get("last_sync"))
        return [  # in the order of COLUMNS
            cell(fit(ds.name, NAME_MAX)),
            enabled,
            self._status(row),
            cell(last) if isinstance(last, str) else last,
            Text(f"{stats.get('issues', 0):,}", justify="right"),
            Text(f"{stats.get('comments', 0):,}", justify="right"),
            Text(f"{stats.get('attachments', 0):,}", justify="right"),
            cell(ds.project_key),
            cell(every) if isinstance(every, str) else every,
        ]

    def _status(self, row: Row) -> Text:
        job = controller_for(self.app).jobs.get(row.ds.name)
        if job is not None and job.running:
            if job.cancelling:
                return Text("cancelling…", style="bold yellow")
            if job.total:
                return Text(f"syncing {100 * job.done // max(job.total, 1)}%", style="bold")
            return Text(f"syncing ({job.phase_label})", style="bold")
        run = row.last_run
        if run is None:
            return Text("never synced", style="dim")
        status = run.get("status") or "?"
        style = {"ok": "green", "error": "red", "cancelled": "yellow", "interrupted": "yellow"}.get(
            status, ""
        )
        return Text(status, style=style)

    # ------------------------------------------------------------------ selection

    @property
    def selected(self) -> Row | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None:
            return None
        if 0 <= table.cursor_row < len(self.rows):
            return self.rows[table.cursor_row]
        return None

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_details()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_edit()

    def _show_details(self) -> None:
        row = self.selected
        details = self.query_one("#ds-details", Static)
        if row is None:
            details.update("")
            return
        ds = row.ds
        text = Text()
        text.append(ds.name, style="bold")
        text.append(f"  {ds.endpoint}  ·  project {ds.project_key}\n")
        auth = {
            "basic": f"e-mail + API token ({ds.username}, token {ds.token_masked})",
            "bearer": f"personal access token ({ds.token_masked})",
            "anonymous": "anonymous (public project)",
            "service_account": f"service account {ds.username} via cloud id {ds.cloud_id}",
        }[ds.auth_mode]
        text.append(f"Auth: {auth}\n")
        indexed = ["issues"]
        if ds.index_comments:
            indexed.append("comments")
        if ds.index_attachments:
            indexed.append("attachment text")
        text.append(f"Indexes {', '.join(indexed)}")
        if ds.jql:
            text.append(f"  ·  JQL: {ds.jql}")
        text.append("\n")
        run = row.last_run
        if run is not None:
            took = format_duration(run.get("seconds")) if run.get("seconds") is not None else "—"
            text.append(
                f"Last run: {run.get('status')}, {_ago(run.get('finished') or run.get('started'))}"
                f" ({counted(run.get('issues'), 'issue', grouped=True)} written in {took})\n"
            )
            if run.get("error"):
                text.append(f"  {run['error']}\n", style="red")
        if ds.name in self._tests:
            text.append_text(self._tests[ds.name])
        text.rstrip()
        details.update(text)

    # ------------------------------------------------------------------ sync events

    def on_sync_controller_updated(self, message: SyncController.Updated) -> None:
        table = self.query_one(DataTable)
        for row in self.rows:
            if row.ds.name == message.job.name:
                with contextlib.suppress(Exception):  # the row went away meanwhile
                    table.update_cell(row.ds.name, "status", self._status(row))

    def on_sync_controller_finished(self, message: SyncController.Finished) -> None:
        self.action_refresh()

    # ------------------------------------------------------------------ actions

    def action_add(self) -> None:
        names = [row.ds.name for row in self.rows]
        form = DatasourceFormScreen(other_names=names, client_factory=self.client_factory)
        self.app.push_screen(form, self._saved)

    def action_edit(self) -> None:
        row = self.selected
        if row is None:
            self.action_add()
            return
        names = [r.ds.name for r in self.rows if r is not row]
        form = DatasourceFormScreen(row.ds, other_names=names, client_factory=self.client_factory)
        self.app.push_screen(form, self._saved)

    def _saved(self, ds: config.Datasource | None) -> None:
        if ds is None:
            return
        self.notify(f'Saved datasource "{ds.name}"')
        for line in config.same_issues_warnings(ds, config.load_datasources()):
            self.notify(line, severity="warning", timeout=10)
        # the next key (s, t, e) is about the datasource just saved, not the row
        # the cursor was on before the form opened
        self._select_next = ds.name
        self.app.post_message(ConfigChanged())
        self.action_refresh()

    def action_toggle_enabled(self) -> None:
        row = self.selected
        if row is None:
            return
        try:
            ds = config.set_datasource_enabled(row.ds.name, not row.ds.enabled)
        except JiradexError as exc:
            self.notify(one_line(exc), severity="error")
            return
        self.notify(f'"{ds.name}" {"enabled" if ds.enabled else "disabled"}')
        self.app.post_message(ConfigChanged())
        self.action_refresh()

    def action_sync_now(self, full: bool = False) -> None:
        row = self.selected
        if row is None:
            self.notify("Add a datasource first (press a)", severity="warning")
            return
        if row.ds.name in self._deleting:
            self.notify(f'"{row.ds.name}" is being deleted', severity="warning")
            return
        start = getattr(self.app, "start_sync", None)
        if start is not None:
            start([row.ds.name], full=full)
        else:
            controller_for(self.app).start([row.ds.name], full=full)

    def action_test(self) -> None:
        row = self.selected
        if row is None:
            return
        self._tests[row.ds.name] = Text(f"Testing {row.ds.endpoint} …", style="dim")
        self._show_details()
        self._test(row.ds)

    @work(thread=True, group="datasources-test", exit_on_error=False)
    def _test(self, ds: config.Datasource) -> None:
        try:
            ok, line = describe_test(test_datasource(ds, self.client_factory))
        except Exception as exc:
            ok, line = False, Text(f"✘ {one_line(exc)}", style="red")
        self.app.call_from_thread(self._tested, ds.name, ok, line)

    def _tested(self, name: str, ok: bool, line: Text) -> None:
        if not self.is_attached:
            return
        self._tests[name] = line
        self._show_details()
        self.notify(
            line.plain.lstrip("✔✘ "),
            title=f'Test of "{name}"',
            severity="information" if ok else "error",
        )

    def action_delete(self) -> None:
        row = self.selected
        if row is None:
            return
        name = row.ds.name
        if name in self._deleting:
            self.notify(f'"{name}" is being deleted', severity="warning")
            return
        if controller_for(self.app).is_running(name):
            self.notify(f'"{name}" is syncing: cancel the sync first', severity="warning")
            return
        issues = row.stats.get("issues", 0)
        checkbox = (
            f"Also remove its {counted(issues, 'indexed issue', grouped=True)} from the index"
            if issues
            else None
        )
        screen = ConfirmScreen(
            f'Delete the datasource "{name}" ({row.ds.endpoint}, project {row.ds.project_key})?',
            "Delete",
            checkbox,
        )
        self.app.push_screen(screen, lambda answer: self._delete(name, answer))

    def _delete(self, name: str, answer: dict | None) -> None:
        if answer is None:
            return
        with_issues = bool(answer.get("checked"))
        if with_issues:
            self.notify(f'Deleting "{name}" and its issues…')
        self._deleting.add(name)
        self._remove(name, with_issues)

    @work(thread=True, group="datasources-delete", exit_on_error=False)
    def _remove(self, name: str, with_issues: bool) -> None:
        """Off the UI thread: forgetting a large project's issues took seconds, during
        which the whole TUI froze."""
        from indexer.locks import SyncBusy
        from indexer.removal import remove_datasource

        try:
            remove_datasource(name, with_issues=with_issues, open_store=self.store_factory)
        except SyncBusy:
            self.app.call_from_thread(
                self._not_removed,
                name,
                f'"{name}" is syncing in another process: let it finish, then delete it',
                "warning",
            )
            return
        except Exception as exc:  # the datasource stays, with its issues
            self.app.call_from_thread(self._not_removed, name, one_line(exc))
            return
        self.app.call_from_thread(self._removed, name, with_issues)

    def _not_removed(self, name: str, message: str, severity: str = "error") -> None:
        self._deleting.discard(name)
        self.notify(message, severity=severity)  # type: ignore[arg-type]

    def _removed(self, name: str, with_issues: bool) -> None:
        self._deleting.discard(name)
        if with_issues:
            self.app.post_message(IndexUpdated(name))
        self.notify(f'Deleted datasource "{name}"')
        self.app.post_message(ConfigChanged())
        if self.is_attached:
            self.action_refresh()
