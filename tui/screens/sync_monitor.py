"""Sync monitor: one progress card per sync, a live log, cancel.

The screen holds no sync state of its own: `tui.sync_controller` runs the workers
and keeps the jobs, so leaving the screen (or opening it after a sync started) shows
the same picture.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static

from tui import keymap
from tui.sync_controller import SyncController, SyncJob, controller_for
from tui.widgets.format import Plain
from tui.widgets.sync_progress import SyncRow
from tui.widgets.title_bar import TitleBar

HOW_TO_SYNC = (
    "Press [b]s[/] to sync every enabled datasource, [b]S[/] for a full sync, "
    "or open Datasources ([b]F3[/]) to add one or sync a single datasource."
)
EMPTY_TEXT = "No sync has run since jiradex started.\n" + HOW_TO_SYNC
# after x (Clear finished) syncs did run: only their cards are gone
CLEARED_TEXT = "No sync is running; finished ones were cleared.\n" + HOW_TO_SYNC


class SyncMonitorScreen(Screen):
    """Live view of every sync of this session (see module docstring)."""

    TITLE = "Sync monitor"
    BINDINGS = keymap.bindings("sync")
    DEFAULT_CSS = """
    SyncMonitorScreen #sync-rows { height: auto; max-height: 60%; padding: 0 1; }
    SyncMonitorScreen #sync-empty { padding: 1 2; color: $text-muted; }
    SyncMonitorScreen #sync-log {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        margin: 0 1;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._rows: dict[str, SyncRow] = {}
        self._replayed = False
        self._shown_seq = 0  # the newest log line (Logged.seq) in the RichLog

    @property
    def controller(self) -> SyncController:
        return controller_for(self.app)

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with VerticalScroll(id="sync-rows"):
            yield Plain(EMPTY_TEXT, id="sync-empty", markup=True)
        # min_width: RichLog wraps at 78 cells at least, wider than the log at 80
        # columns, where each line lost its end under the border
        log = RichLog(
            id="sync-log", wrap=True, markup=False, highlight=False, max_lines=2000, min_width=20
        )
        log.border_title = "Log"
        yield log
        yield Footer()

    def on_mount(self) -> None:
        controller = self.controller
        controller.subscribe(self)
        for job in controller.jobs.values():
            self._row_for(job)
        failed = [row for row in self._rows.values() if row.job.status == "error"]
        if failed:
            self.call_after_refresh(failed[0].scroll_visible, animate=False)
        # Replay earlier lines once the log has its real width (it wraps on write).
        self.call_after_refresh(self._replay_log)
        self._update_summary()
        self.set_interval(1.0, self._tick)

    def on_resize(self) -> None:
        """A RichLog keeps its lines wrapped at the old width and its scroll offset,
        so after a resize it showed older lines: write them again, at the new width,
        which also scrolls to the newest."""
        if self._replayed:
            self.call_after_refresh(self._replay_log)

    def _replay_log(self) -> None:
        log = self.query_one(RichLog)
        log.clear()
        lines = sorted(
            ((line, job) for job in self.controller.jobs.values() for line in job.log),
            key=lambda item: item[0][:8],  # HH:MM:SS, stable for equal stamps
        )
        for line, job in lines:
            log.write(self._log_text(job, line), expand=True)
        self._replayed = True
        # Logged messages still queued carry lines written just now
        self._shown_seq = self.controller.log_seq

    def on_unmount(self) -> None:
        self.controller.unsubscribe(self)

    # ------------------------------------------------------------------ contract

    def start_syncs(self, names: list[str] | None, full: bool = False) -> list[SyncJob]:
        """Start one thread worker per datasource (the contract of tui/app.py)."""
        jobs = self.controller.start(names, full=full)
        if names is not None and not jobs:
            self.notify("Already syncing: " + ", ".join(names), severity="warning")
        return jobs

    # ------------------------------------------------------------------ messages

    def on_sync_controller_updated(self, message: SyncController.Updated) -> None:
        self._row_for(message.job).refresh_job(message.job)
        self._update_summary()

    def on_sync_controller_logged(self, message: SyncController.Logged) -> None:
        # Before the replay, it will show the line; after it, a line it showed
        # already (a resize replays while lines are still queued) is not written twice.
        if self._replayed and message.seq > self._shown_seq:
            self._shown_seq = message.seq
            self.query_one(RichLog).write(self._log_text(message.job, message.line), expand=True)

    def on_sync_controller_finished(self, message: SyncController.Finished) -> None:
        row = self._row_for(message.job)
        row.refresh_job(message.job)
        self._update_summary()
        if message.job.status == "error":
            # the cards scroll: a failure below the fold must still be seen
            self.call_after_refresh(row.scroll_visible, animate=False)

    # ------------------------------------------------------------------ actions

    def action_sync_all(self, full: bool = False) -> None:
        sync_enabled = getattr(self.app, "sync_enabled", None)
        if sync_enabled is not None:
            sync_enabled(full=full)
        else:
            self.start_syncs(None, full=full)

    def action_cancel(self) -> None:
        # a sync already asked to stop is not a choice left to make
        running = [job for job in self.controller.running if not job.cancelling]
        focused = self.focused if isinstance(self.focused, SyncRow) else None
        if focused is not None and focused.job.running:
            target = focused.job
        elif len(running) == 1:
            target = running[0]
        elif not running:
            self._nothing_to_cancel()
            return
        else:
            self.notify("Several syncs are running: select one (Tab) or press C to cancel all")
            return
        if self.controller.cancel(target.name):
            self.notify(f'Cancelling the sync of "{target.name}"…')
        else:
            self.notify(f'The sync of "{target.name}" is already stopping')

    def action_cancel_all(self) -> None:
        count = self.controller.cancel_all()
        if count:
            self.notify(f"Cancelling {count} sync(s)…")
        else:
            self._nothing_to_cancel()

    def _nothing_to_cancel(self) -> None:
        stopping = [job.name for job in self.controller.running]
        if stopping:
            names = ", ".join(f'"{name}"' for name in stopping)
            self.notify(f"Already stopping: {names}")
        else:
            self.notify("No sync is running", severity="information")

    def action_clear_finished(self) -> None:
        cleared = False
        for name, row in list(self._rows.items()):
            if not row.job.running:
                row.remove()
                del self._rows[name]
                self.controller.jobs.pop(name, None)
                cleared = True
        empty = self.query_one("#sync-empty", Static)
        if cleared:
            empty.update(CLEARED_TEXT)
        empty.display = not self._rows
        self._update_summary()

    # ------------------------------------------------------------------ drawing

    def _row_for(self, job: SyncJob) -> SyncRow:
        row = self._rows.get(job.name)
        if row is None:
            row = SyncRow(job)
            self._rows[job.name] = row
            self.query_one("#sync-rows").mount(row)
            self.query_one("#sync-empty").display = False
        return row

    def _tick(self) -> None:
        """Keep elapsed/ETA moving between progress events."""
        for row in self._rows.values():
            if row.job.running:
                row.refresh_job(row.job)

    def _update_summary(self) -> None:
        jobs = list(self.controller.jobs.values())
        counts = {
            status: sum(1 for j in jobs if j.status == status)
            for status in ("running", "ok", "error", "cancelled")
        }
        if not jobs:
            text = "Idle"
        else:
            labels = {
                "running": "running",
                "ok": "done",
                "error": "failed",
                "cancelled": "cancelled",
            }
            text = " · ".join(f"{n} {labels[s]}" for s, n in counts.items() if n)
        self.sub_title = text

    @staticmethod
    def _log_text(job: SyncJob, line: str) -> Table:
        """The time, then the datasource and what happened: a line too long for the
        log wraps under its own start, not under the time (it read as a new line)."""
        stamp, _, rest = line.partition(" ")
        message = Text(job.name, style="bold")
        message.append(" " + rest, style="red" if rest.startswith("error") else "")
        row = Table.grid()
        row.add_column(no_wrap=True)
        row.add_column(ratio=1)
        row.add_row(Text(stamp + " ", style="dim"), message)
        return row
