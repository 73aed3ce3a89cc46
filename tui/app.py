"""The jiradex Textual application (a first screen; the full TUI comes later)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class JiradexApp(App):
    TITLE = "jiradex"
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "jiradex: add a datasource with `jiradex datasource add` or run `jiradex demo`."
        )
        yield Footer()


def run_app() -> None:
    JiradexApp().run()
