"""One row of the sync monitor: a datasource's phase, progress bar, rate and ETA."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static

from indexer.wording import counted
from tui.sync_controller import SyncJob, format_duration
from tui.widgets.format import Plain

STATUS_STYLE = {
    "running": ("● running", "bold $primary"),
    "ok": ("✔ done", "bold $success"),
    "error": ("✘ failed", "bold $error"),
    "cancelled": ("■ cancelled", "bold $warning"),
}
# A cancel takes effect after the batch in flight: seconds during which the card
# would otherwise still say "running".
CANCELLING = ("◌ cancelling…", "bold $warning")


class SyncRow(Vertical, can_focus=True):
    """A focusable card for one SyncJob; `c` on the monitor cancels the focused one."""

    DEFAULT_CSS = """
    SyncRow {
        height: auto;
        padding: 0 1;
        border: round $panel-lighten-2;
        background: $surface;
    }
    SyncRow:focus { border: round $accent; }
    SyncRow.-error { border: round $error; }
    SyncRow .sync-head { height: 1; }
    SyncRow .sync-name { width: 1fr; text-style: bold; }
    SyncRow .sync-status { width: auto; }
    SyncRow ProgressBar { height: 1; }
    SyncRow ProgressBar Bar { width: 1fr; }
    SyncRow .sync-stats { color: $text-muted; height: 1; }
    SyncRow .sync-error { color: $error; height: auto; }
    """

    def __init__(self, job: SyncJob) -> None:
        super().__init__(id=None, classes="sync-row")
        self.job = job
        self._ready = False

    def compose(self) -> ComposeResult:
        with Horizontal(classes="sync-head"):
            yield Plain(classes="sync-name")
            yield Plain(classes="sync-status", markup=True)  # fixed labels, themed styles
        yield ProgressBar(total=None, show_eta=False, show_percentage=True)
        yield Plain(classes="sync-stats")
        yield Plain(classes="sync-error")

    def on_mount(self) -> None:
        self._ready = True
        self.refresh_job(self.job)

    def refresh_job(self, job: SyncJob) -> None:
        """Redraw from the job's current state (called on every Updated message)."""
        self.job = job
        if not self._ready:
            return  # on_mount draws it, once the children exist
        name = Text(job.name)
        name.append(f"  ·  {job.phase_label}", style="not bold")
        if job.full:
            name.append("  (full)", style="dim not bold")
        self.query_one(".sync-name", Static).update(name)
        label, style = STATUS_STYLE.get(job.status, (job.status, ""))
        if job.running and job.cancelling:
            label, style = CANCELLING
        self.query_one(".sync-status", Static).update(f"[{style}]{label}[/]")
        bar = self.query_one(ProgressBar)
        bar.display = job.running  # then the status and the counts say it all
        if job.total is not None:
            bar.update(total=max(job.total, 1) if job.total else 1, progress=job.done or 0)
            if job.total == 0:
                bar.update(progress=1)
        elif not job.running:
            bar.update(total=1, progress=0 if job.status != "ok" else 1)
        else:
            bar.update(total=None)
        failed = job.status == "error"
        stats = self.query_one(".sync-stats", Static)
        stats.update(self._stats(job))
        stats.display = not failed  # "took 1s": the error is what a failed card needs
        error = self.query_one(".sync-error", Static)
        error.update(Text(job.error or "") if failed else "")
        error.display = failed
        self.set_class(job.status == "error", "-error")

    @staticmethod
    def _stats(job: SyncJob) -> Text:
        parts: list[str] = []
        if job.total is not None:
            parts.append(f"{job.done:,} / {counted(job.total, 'issue', grouped=True)}")
        elif job.phase == "listing" and job.done:
            parts.append(f"{job.done:,} listed")
            if job.written:
                parts.append(f"{job.written:,} written")
        if job.running:
            if job.phase == "fetching" and job.done:
                parts.append(f"{job.rate:,.0f} issues/s")
                parts.append(f"ETA {format_duration(job.eta)}")
            parts.append(f"elapsed {format_duration(job.elapsed)}")
        elif job.summary is not None:
            s = job.summary
            if s.status == "ok":
                parts = [
                    counted(s.issues, "issue", grouped=True),
                    counted(s.comments, "comment", grouped=True),
                    counted(s.attachments, "attachment", grouped=True),
                    f"{s.deleted:,} deleted",
                ]
            parts.append(f"took {format_duration(s.seconds)}")
        return Text(" · ".join(parts))
