"""Issue detail: the stored issue as Markdown (facts, description, comments,
attachments), loaded off the UI thread; keys to open, copy or import it."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.style import Style
from textual.widgets import Footer, LoadingIndicator, Markdown, Static
from textual.worker import Worker, WorkerState

from indexer.issue_view import first_and_rest
from tui import keymap
from tui.widgets.format import Plain
from tui.widgets.title_bar import TitleBar

# Textual builds a widget per Markdown block, ~10 ms a comment: a long thread took
# a second to appear. The first part shows at once, the rest is added after it.
FIRST_PAINT_CHARS = 1200
CHUNK_CHARS = 4000


def facts_content(facts: list[tuple[str, str]]) -> Content:
    """The issue's facts as one text, drawn as the Markdown list they were (a
    bullet, the name in bold): ten list items cost Markdown some thirty widgets and
    ~130 ms, half of what opening a small issue took. The link opens in the browser."""
    lines = []
    for name, value in facts:
        shown = Content.styled(value, "underline") if name == "Link" else Content(value)
        if name == "Link":
            shown = shown.stylize(Style.from_meta({"@click": "screen.open_browser"}))
        lines.append(Content.assemble(("• ", "$text-primary"), (f"{name}:", "bold"), " ", shown))
    return Content("\n").join(lines)


async def next_paint(node: Any) -> None:
    """Returns once the screen of `node` has been painted again."""
    done = asyncio.get_running_loop().create_future()
    node.call_after_refresh(lambda: done.done() or done.set_result(None))
    await done


class IssueScreen(Screen):
    """One issue from the index (works offline)."""

    # Back (Esc, q) is handled as the key arrives, so the keys typed behind it reach
    # the results; the scroll keys are too, or a fast "Down Down q" closed the issue
    # first and the Downs, still on their way, moved the results' cursor.
    BINDINGS = [
        *keymap.bindings("issue"),
        *keymap.on_arrival(
            "in_scroll",
            {
                "down": "scroll_down",
                "up": "scroll_up",
                "pagedown": "page_down",
                "pageup": "page_up",
                "home": "scroll_home",
                "end": "scroll_end",
            },
        ),
    ]
    DEFAULT_CSS = """
    IssueScreen #issue-scroll { padding: 0 2; }
    IssueScreen #issue-error { padding: 1 2; color: $error; }
    IssueScreen Markdown { margin: 0; }
    IssueScreen #issue-title {
        margin: 2 2 1 2; width: 1fr; text-align: center;
        color: $markdown-h1-color; background: $markdown-h1-background;
        text-style: $markdown-h1-text-style;
    }
    IssueScreen #issue-facts { padding: 0 2; }
    """

    def __init__(self, key: str, datasource: str | None = None) -> None:
        super().__init__()
        self.key = key
        self.datasource = datasource
        self.issue: dict | None = None
        self._shown: tuple | None = None  # (title, facts, Markdown) on screen

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with VerticalScroll(id="issue-scroll"):
            yield LoadingIndicator()
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.key
        self.sub_title = "issue"
        self.query_one("#issue-scroll").focus()
        self._load()

    def index_changed(self) -> None:
        """Called by the app when a sync wrote to the index: show the issue as it is
        now (a sync may have changed its status, added comments or removed it)."""
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        from indexer.errors import JiradexError
        from indexer.issue_view import issue_header, issue_markdown_body

        try:
            issue = self.app.store.get_issue(self.key, self.datasource)
        except JiradexError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        if issue is None:
            self.app.call_from_thread(
                self._failed, f"{self.key} is not in the index (a sync may have removed it)"
            )
            return
        title, facts = issue_header(issue)
        body = issue_markdown_body(issue, escape=True)  # a summary's __init__ as written
        self.app.call_from_thread(self._loaded, issue, (title, facts, body))

    async def _loaded(self, issue: dict, shown: tuple) -> None:
        first = self.issue is None
        self.issue = issue
        self.sub_title = " · ".join(
            str(p) for p in (issue.get("issuetype"), issue.get("status")) if p
        )
        if shown == self._shown:
            return  # a sync that left this issue as it was: no flicker, no scroll
        self._shown = shown
        title, facts, markdown = shown
        scroll = self.query_one("#issue-scroll")
        # Reloaded after a sync: the reader keeps their place (as near as the new
        # text allows).
        keep = 0.0 if first else scroll.scroll_y
        await scroll.remove_children()
        head, rest = first_and_rest(markdown, FIRST_PAINT_CHARS, CHUNK_CHARS)
        widget = Markdown(head, id="issue-markdown")
        await scroll.mount(
            Static(Content(title), id="issue-title"),
            Static(facts_content(facts), id="issue-facts"),
            widget,
        )
        if not keep:
            scroll.scroll_home(animate=False)
        if rest or keep:
            self.run_worker(
                self._add_rest(widget, rest, keep),
                group="issue-render",
                exclusive=True,
                exit_on_error=False,
            )

    async def _add_rest(self, widget: Markdown, rest: list[str], keep: float) -> None:
        """The parts after the first, one per frame (the screen is painted, and keys
        are read, between them); then the reader's place, if any."""
        for part in rest:
            await self._painted()
            await widget.append(part)
        if keep:
            self.call_after_refresh(
                self.query_one("#issue-scroll").scroll_to, y=keep, animate=False
            )

    async def _painted(self) -> None:
        await next_paint(self)

    async def _failed(self, message: str) -> None:
        self._shown = None
        scroll = self.query_one("#issue-scroll")
        await scroll.remove_children()
        await scroll.mount(Plain(" ".join(message.split()), id="issue-error"))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.show_error(event.worker.error)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ actions

    def action_in_scroll(self, action: str) -> None:
        """A scroll key, done as it arrives (see BINDINGS)."""
        keymap.run_for_focused(self, self.query_one("#issue-scroll", VerticalScroll), action)

    def action_close(self) -> None:
        self.app.pop_screen()

    def _url(self) -> str | None:
        return (self.issue or {}).get("url")

    def action_open_browser(self) -> None:
        from tui.screens.search import open_in_browser

        open_in_browser(self, self.key, self._url())

    def action_copy_key(self) -> None:
        from tui.screens.search import copy_text

        copy_text(self, self.key)

    def action_copy_url(self) -> None:
        from tui.screens.search import copy_text

        url = self._url()
        if url:
            copy_text(self, url)
        else:
            self.notify(f"{self.key} has no URL in the index", severity="warning")

    def action_import_task(self) -> None:
        self.app.action_import_task(self.key)  # type: ignore[attr-defined]
