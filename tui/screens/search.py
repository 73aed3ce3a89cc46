"""Search, the home screen: type, see results and a preview, open an issue.

Typing never waits on the database: each change (after a 40 ms pause, which only
merges a burst of keys) starts a thread worker in the exclusive "search" group, so
the previous one is cancelled and its late result dropped. Errors from the engine
(a query it cannot read, a damaged index) become one line under the box.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from indexer.wording import counted
from tui import keymap
from tui.widgets.fields import Field
from tui.widgets.filter_suggester import FilterValueSuggester
from tui.widgets.format import Plain, ago_phrase
from tui.widgets.results import ResultsTable
from tui.widgets.title_bar import TitleBar

if TYPE_CHECKING:
    from tui.widgets.preview import IssuePreview

DEBOUNCE_S = 0.04
PREVIEW_MIN_WIDTH = 100
SHOW_TIMING = True  # snapshot tests turn the milliseconds off
LIMIT = 200
# The header's "synced 5m ago" is worked out again this often, from what the last
# overview read (no database access): it said "synced just now" for hours.
OVERVIEW_TICK_S = 30.0
# With an empty box the home screen lists what changed last (a filter-only query).
RECENT_QUERY = "updated:>=1970-01-01"

NO_DATASOURCE = (
    "No datasources yet.\n\n"
    "Press F3 (or click the button) to add one: a name, your Jira site and a project key.\n"
    "Or quit (Ctrl+Q) and run `jiradex demo` to try jiradex on generated data."
)


def one_line(error: BaseException | str) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def overview_words(
    count: int, issues: int, last_sync: str | None, failing: tuple[str, ...] = ()
) -> str:
    """The header: `3 datasources · 4,100 issues · synced 2m ago`, then the
    datasources whose last sync failed (a background sync says so once in a
    notification; this stays until one succeeds)."""
    words = f"{counted(count, 'datasource')} · {counted(issues, 'issue', grouped=True)}"
    if count:
        words += f" · {ago_phrase(last_sync)}"
    if failing:  # first: at 80 columns the end of the header is cut
        names = ", ".join(failing[:2]) + (f" +{len(failing) - 2}" if len(failing) > 2 else "")
        words = f"sync failed: {names} · {words}"
    return words


class SearchBox(Field):
    """The query box: a paste of several lines is one query, not its first line.

    Its footer lists the function keys to the other screens: the letters the
    results' footer shows (d, t) are typed here."""

    BINDINGS = keymap.shown(
        "app",
        ["jiradex.go.datasources", "jiradex.go.sync", "jiradex.go.tasks", "jiradex.go.settings"],
    )

    def _on_paste(self, event: Any) -> None:
        # Input keeps the first line of a paste only: the rest of a stack trace or
        # of an error copied from a log was dropped from the query without a word.
        text = " ".join(event.text.split())
        if text:
            if self.selection.is_empty:
                self.insert_text_at_cursor(text)
            else:
                self.replace(text, *self.selection)
        event.prevent_default()  # Input's own handler would add the first line again
        event.stop()


class SearchScreen(Screen):
    """Home: search box, results table, preview pane."""

    # Between the box and the results the focus moves as the key arrives (priority
    # bindings, handled by the app before it hands out the keys behind): moved by a key
    # handler, it moved after those keys had gone to the widget it left, and "/tide"
    # typed fast in the results opened Tasks (t), the import form (i) and Sources (d).
    BINDINGS = [
        *keymap.bindings("search"),
        Binding("down", "enter_results", show=False, priority=True),
        Binding("up", "leave_results('up')", show=False, priority=True),
        Binding("escape", "leave_results('escape')", show=False, priority=True),
        # The cursor keys of the results too, so a fast "Down Down Enter" moves the
        # cursor before Enter (itself handled as it arrives) opens the row under it.
        *keymap.on_arrival(
            "in_results",
            {
                "pageup": "page_up",
                "pagedown": "page_down",
                "ctrl+home": "scroll_top",
                "ctrl+end": "scroll_bottom",
            },
        ),
    ]
    DEFAULT_CSS = """
    SearchScreen #search-box { margin: 0 0; border: tall $primary 60%; }
    SearchScreen #search-box:focus { border: tall $primary; }
    SearchScreen #status { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    SearchScreen #status.-error { color: $error; }
    SearchScreen #body { height: 1fr; }
    SearchScreen #results-pane { width: 3fr; }
    SearchScreen IssuePreview {
        width: 36%; min-width: 30; max-width: 70; border-left: vkey $panel-lighten-2;
    }
    SearchScreen #empty { height: 1fr; padding: 1 2; color: $text-muted; }
    SearchScreen #empty Static { height: auto; }
    SearchScreen #empty Button { margin-top: 1; }
    SearchScreen #footer-slot { dock: bottom; height: 1; background: $footer-background; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._debounce: Timer | None = None
        self._generation = 0
        self._has_data: bool | None = None
        self._datasource_count = 0
        # count, issues, last sync, datasources whose last sync failed
        self._overview: tuple[int, int, str | None, tuple[str, ...]] | None = None
        self.last_search_ms: float | None = None
        self._keep_cursor = False
        self.search_pending = True  # a search is waiting (the first one runs after mount)
        self._empty: Vertical | None = None
        self._shown: tuple[str, list, str | None] | None = None  # last results shown
        self._open_generation = 0  # Enter came before this search's results
        self._open_hold: Any = None  # the keys typed behind that Enter, for the issue
        self._empty_text: Static
        self._empty_button: Widget

    def compose(self) -> ComposeResult:
        # Only what the first frame shows: the footer comes one refresh later (its
        # line is reserved), the preview and the empty state when first needed.
        yield TitleBar()
        yield SearchBox(
            placeholder='Search: words, "a phrase", ABC-12, status:"In Progress", -word …',
            id="search-box",
            suggester=FilterValueSuggester(lambda: self.app.store),
        )
        yield Plain("", id="status")
        with Horizontal(id="body"), Vertical(id="results-pane"):
            yield ResultsTable(id="results")
        yield Plain("", id="footer-slot")

    def on_resize(self) -> None:
        self._layout_preview()

    def _preview(self) -> IssuePreview | None:
        """The preview pane, or None while nothing needed it yet."""
        found = self.query("#preview")
        return found.first() if found else None  # type: ignore[return-value]

    def _layout_preview(self) -> None:
        """Below 100 columns the results get the whole width (the detail is Enter
        away); with nothing to preview the message gets it."""
        table = self.query_one(ResultsTable)
        wanted = table.display and bool(table.hits) and self.size.width >= PREVIEW_MIN_WIDTH
        preview = self._preview()
        if preview is None and wanted:
            from tui.widgets.preview import IssuePreview

            preview = IssuePreview(id="preview")
            self.query_one("#body").mount(preview)
        if preview is not None:
            preview.display = wanted

    def on_mount(self) -> None:
        self.query_one("#search-box", Input).focus()
        # Paint first, then touch the database: the first frame never waits on it.
        self.call_after_refresh(self._mount_footer)
        self.call_after_refresh(self.refresh_overview)
        self.call_after_refresh(self._schedule, 0)
        self.set_interval(OVERVIEW_TICK_S, self._tick_overview)

    async def _mount_footer(self) -> None:
        from textual.widgets import Footer

        await self.query_one("#footer-slot").remove()
        await self.mount(Footer())
        self.refresh_bindings()  # the footer lists keys when bindings change: now

    # ------------------------------------------------------------------ app hooks

    def index_changed(self) -> None:
        """Called by the app when a sync wrote to the index: re-run the search,
        keeping the cursor on the issue the user was looking at."""
        self.refresh_overview()
        self._keep_cursor = True
        self._search_again()

    def config_changed(self) -> None:
        self.refresh_overview()
        self._search_again()

    def _search_again(self) -> None:
        """The same words once more. An Enter waiting for the answer on its way
        waits for this one instead: a sync writing meanwhile made it do nothing."""
        waiting = self._open_generation != 0 and self._open_generation == self._generation
        self._schedule(0)
        if waiting:
            self._open_generation = self._generation

    # ------------------------------------------------------------------ overview

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False)
    def refresh_overview(self) -> None:
        """Datasource count and last sync for the header, off the UI thread."""
        from indexer import config
        from indexer.errors import JiradexError

        try:
            configured = {ds.name for ds in config.load_datasources()}
        except JiradexError:
            configured = set()
        try:
            stats = self.app.store.stats()
            names = configured | set(self.app.store.datasources())
            failing = tuple(n for n in self.app.store.failing_datasources() if n in configured)
        except JiradexError as exc:
            self.app.call_from_thread(self._set_status, one_line(exc), True)
            return
        overview = (len(names), stats["issues"], stats.get("last_sync"), failing)
        words = overview_words(*overview)
        self.app.call_from_thread(self._set_overview, words, *overview)

    def _set_overview(
        self,
        words: str,
        count: int,
        issues: int,
        last_sync: str | None = None,
        failing: tuple[str, ...] = (),
    ) -> None:
        self.sub_title = words
        self._overview = (count, issues, last_sync, failing)
        self._datasource_count = count
        self._has_data = issues > 0
        if self._shown is not None:
            # the empty-state message depends on these counts: when the first search
            # answered before this overview did, say it again with the real counts
            self._update_empty(*self._shown)

    def _tick_overview(self) -> None:
        if self._overview is not None:
            self.sub_title = overview_words(*self._overview)
        self.query_one(ResultsTable).refresh_ages()  # "now" in Upd, an hour on
        preview = self._preview()
        if preview is not None:
            preview.refresh_age()  # and "Updated just now" beside it

    # ------------------------------------------------------------------ searching

    @property
    def query_text(self) -> str:
        return self.query_one("#search-box", Input).value

    @on(Input.Changed, "#search-box")
    def _typed(self, event: Input.Changed) -> None:
        self._schedule(DEBOUNCE_S)

    def _schedule(self, delay: float) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._generation += 1
        generation = self._generation
        if delay <= 0:
            self._start_search(generation)
        else:
            self.search_pending = True
            self._debounce = self.set_timer(delay, lambda: self._start_search(generation))

    def _start_search(self, generation: int) -> None:
        self.search_pending = False
        self._search(self.query_text, generation)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search(self, query: str, generation: int) -> None:
        from indexer.errors import JiradexError
        from indexer.search import search

        worker = get_current_worker()
        started = time.perf_counter()
        text = query.strip()
        try:
            if text:
                hits = search(self.app.store, text, limit=LIMIT)
            else:
                hits = search(self.app.store, RECENT_QUERY, limit=50, sort="updated")
            error = None
        except JiradexError as exc:
            hits, error = [], one_line(exc)
        elapsed = (time.perf_counter() - started) * 1000
        if worker.is_cancelled:
            return
        self.app.call_from_thread(self._show_results, generation, text, hits, error, elapsed)

    def _show_results(
        self, generation: int, text: str, hits: list, error: str | None, elapsed_ms: float
    ) -> None:
        if generation != self._generation:
            return  # a newer keystroke already asked for something else
        self.last_search_ms = elapsed_ms
        table = self.query_one(ResultsTable)
        table.set_hits(hits, keep_cursor=self._keep_cursor)
        self._keep_cursor = False
        if error:
            self._set_status(error, True)
        elif text:
            count = len(hits)
            more = "+" if count >= LIMIT else ""
            timing = f" · {elapsed_ms:.0f} ms" if SHOW_TIMING else ""
            self._set_status(f"{count}{more} result{'s' if count != 1 else ''}{timing}")
        else:
            self._set_status("Recently updated" if hits else "")
        self._shown = (text, hits, error)
        self._update_empty(text, hits, error)
        self._preview_current()
        if self._open_generation == generation:
            self._open_generation = 0
            if hits and table.display:
                self.action_open_issue()
            self._release_open_hold()  # to the issue's screen (it holds them on), or here

    def _release_open_hold(self) -> None:
        if self._open_hold is not None:
            self.app.release_keys(self._open_hold)  # type: ignore[attr-defined]
            self._open_hold = None

    def _set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def _show_empty(self, message: str, show_button: bool) -> None:
        """The teaching message under the box (built the first time it is needed)."""
        if self._empty is None:
            if not message:
                return
            from textual.widgets import Button

            self._empty_text = Plain(message, id="empty-text")
            self._empty_button = Button("Add a datasource", id="add-datasource", variant="primary")
            self._empty = Vertical(self._empty_text, self._empty_button, id="empty")
            self.query_one("#results-pane").mount(self._empty)
        self._empty.display = bool(message)
        self._empty_text.update(message)
        self._empty_button.display = show_button

    def _update_empty(self, text: str, hits: list, error: str | None) -> None:
        table = self.query_one(ResultsTable)
        message = ""
        show_button = False
        if not hits and not error:
            # words typed into an empty index told to "try fewer words"
            nothing = not text or self._has_data is False
            if nothing and not self._datasource_count and not self._has_data:
                message, show_button = NO_DATASOURCE, True
            elif nothing:
                # the cursor is in the search box, where "s" is a letter
                message = (
                    "The index is empty. Sync your datasources: Ctrl+P › Sync all datasources, "
                    "or s on the Datasources screen (F3). F4 shows the progress."
                )
            else:
                message = (
                    f"No issues match “{text}”.\n\n"
                    "Try fewer words, a prefix like `time*`, or drop a filter. "
                    "F1, then s, shows the query syntax."
                )
        table.display = not message
        self._show_empty(message, show_button)
        self._layout_preview()

    # ------------------------------------------------------------------ preview

    @on(DataTable.RowHighlighted, "#results")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._preview_current()

    def _preview_current(self) -> None:
        hit = self.query_one(ResultsTable).current_hit
        preview = self._preview()
        if preview is None:
            return  # not shown (narrow terminal, or nothing to preview yet)
        if hit is None:
            preview.clear("")
            return
        preview.show(hit)
        self._load_preview(hit)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _load_preview(self, hit: Any) -> None:
        from indexer.errors import JiradexError

        worker = get_current_worker()
        try:
            issue = self.app.store.get_issue(hit.key, hit.datasource)
        except JiradexError:
            return  # the preview keeps what the hit already says
        if issue is not None and not worker.is_cancelled:
            self.app.call_from_thread(self._show_preview, hit, issue)

    def _show_preview(self, hit: Any, issue: dict) -> None:
        preview = self._preview()
        if preview is not None and self.query_one(ResultsTable).current_hit is hit:
            preview.show(hit, issue)

    # ------------------------------------------------------------------ workers

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A bug in a worker is a one-line notification, never a crash screen."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.show_error(event.worker.error)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ navigation

    def action_enter_key(self) -> None:
        """Enter in the results, as it arrives: the issue opens before the keys typed
        behind it are handed out (opened by the table's own Enter, "Enter Down Down"
        moved the results' cursor instead of scrolling the issue). In the box Enter
        waits its turn behind the letters typed before it, which the box has not
        typed in yet: "pool<Enter>" typed fast must search for "pool"."""
        if self.focused is not self.query_one(ResultsTable):
            raise SkipAction()
        self.action_open_issue()

    @on(Input.Submitted, "#search-box")
    def _submitted(self) -> None:
        """Enter opens the highlighted result. When the results on screen are not yet
        those of the box (typed faster than the search), it opens the top one of the
        answer that is on its way, never a result of the previous words."""
        table = self.query_one(ResultsTable)
        text = self.query_text.strip()
        if not text:  # the recently updated list: Enter steps into it
            if table.row_count and table.display:
                self.set_focus(table)
            return
        shown = self._shown is not None and self._shown[0] == text
        if self.search_pending or not shown:
            self._open_generation = self._generation
            # The keys typed behind Enter are for the issue it opens: typed into the
            # box, they asked for another search and the issue never opened.
            hold = getattr(self.app, "hold_keys", None)
            if hold is not None and self._open_hold is None:
                self._open_hold = hold()
        elif table.row_count and table.display:
            self.action_open_issue()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#search-box", Input)
        if event.key == "escape" and box.has_focus and box.value:
            box.value = ""
            event.stop()

    # `self.focused`, not `has_focus`: the widget learns of its focus from an event,
    # after the keys that follow the one that moved it.
    def action_enter_results(self) -> None:
        """Down in the box steps into the results; in them, to the next row."""
        table = self.query_one(ResultsTable)
        if self.focused is table:
            table.action_cursor_down()
            return
        in_box = self.focused is self.query_one("#search-box", Input)
        if not (in_box and table.row_count and table.display):
            raise SkipAction()
        self.set_focus(table)

    def action_leave_results(self, key: str) -> None:
        """Escape in the results, or Up on their first row, goes back to the box; Up
        on another row goes to the row above."""
        table = self.query_one(ResultsTable)
        if self.focused is not table:
            raise SkipAction()
        if key == "up" and table.cursor_row != 0:
            table.action_cursor_up()
            return
        self.set_focus(self.query_one("#search-box", Input))

    def action_in_results(self, action: str) -> None:
        """A cursor key of the results, done as it arrives (see BINDINGS)."""
        keymap.run_for_focused(self, self.query_one(ResultsTable), action)

    @on(DataTable.RowSelected, "#results")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_issue()

    def on_button_pressed(self, event: Any) -> None:
        if event.button.id == "add-datasource":
            self._add_datasource()

    def _add_datasource(self) -> None:
        """The button says "Add a datasource": open the form (over the list), not
        just the list."""
        sources = self.app.mode_screen("datasources")  # type: ignore[attr-defined]
        self.app.go("datasources")  # type: ignore[attr-defined]
        self.app.after_refresh_holding(sources.action_add)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """`/ Search` is not offered in the box, where / is typed."""
        if action == "focus_search":
            return self.focused is not self.query_one("#search-box", Input)
        return True

    def _hit(self) -> Any | None:
        hit = self.query_one(ResultsTable).current_hit
        if hit is None:
            self.notify("No issue selected", severity="warning")
        return hit

    def action_focus_search(self) -> None:
        self.set_focus(self.query_one("#search-box", Input))

    def action_open_issue(self) -> None:
        from tui.screens.issue import IssueScreen

        hit = self._hit()
        if hit is not None:
            self.app.push_screen(IssueScreen(hit.key, hit.datasource))

    def action_open_browser(self) -> None:
        hit = self._hit()
        if hit is not None:
            open_in_browser(self, hit.key, hit.url)

    def action_copy_key(self) -> None:
        hit = self._hit()
        if hit is not None:
            copy_text(self, hit.key)

    def action_copy_url(self) -> None:
        hit = self._hit()
        if hit is not None:
            if hit.url:
                copy_text(self, hit.url)
            else:
                self.notify(f"{hit.key} has no URL in the index", severity="warning")

    def action_import_task(self) -> None:
        hit = self._hit()
        if hit is not None:
            self.app.action_import_task(hit.key)  # type: ignore[attr-defined]

    def action_sync_all(self) -> None:
        self.app.sync_enabled()  # type: ignore[attr-defined]


def open_in_browser(node: Any, key: str, url: str | None) -> None:
    """Open the issue's Jira page; say so when there is nowhere to go."""
    if not url:
        node.notify(f"{key} has no URL in the index", severity="warning")
        return
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except webbrowser.Error as exc:
        node.app.show_error(f"Cannot open a browser: {exc}")
        return
    if opened:
        node.notify(f"Opened {key} in the browser")
    else:
        node.notify(f"No browser available; the URL is {url}", severity="warning")


def copy_text(node: Any, text: str) -> None:
    """Copy through the terminal (OSC 52), which also works over SSH."""
    node.app.copy_to_clipboard(text)
    node.notify(f"Copied {text}")
