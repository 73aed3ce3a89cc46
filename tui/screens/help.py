"""Help: every key binding with its id (remappable in settings.json)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer

from tui import keymap
from tui.widgets.format import Plain


class HelpScreen(ModalScreen[None]):
    BINDINGS = keymap.bindings("help")
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 90%; max-width: 110; height: 85%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #help-intro { height: auto; padding: 0 0 1 0; color: $text-muted; }
    HelpScreen DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        from indexer.paths import settings_path

        with Vertical():
            yield Plain(
                "Keys in effect. Remap any of them by id in "
                f'{settings_path()} under "keymap", e.g. '
                '{"keymap": {"jiradex.search.focus": "ctrl+f"}}. '
                "Ctrl+P opens the command palette (screens, sync, themes).",
                id="help-intro",
            )
            yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Footer()  # how to close it, not the keys of the screen under it

    def on_mount(self) -> None:
        self.query_one(Vertical).border_title = "jiradex keys"
        table = self.query_one(DataTable)
        # Where a key works is a heading row, not a column: with four columns the
        # binding ids (what a remap needs, in full) were cut at 80 columns.
        table.add_columns("Keys", "Does", "Binding id")
        overrides = getattr(self.app, "keymap_overrides", {})
        last_scope = None
        for scope, spec, keys in keymap.effective_keys(overrides):
            if scope != last_scope:
                last_scope = scope
                title = SCOPE_TITLES.get(scope, scope)
                table.add_row(Text(title, style="bold"), Text(""), Text(""), key=f"scope:{scope}")
            table.add_row(*map(Text, (_pretty(keys), spec.description, spec.id)), key=spec.id)
        table.focus()

    def action_close(self) -> None:
        self.dismiss()


SCOPE_TITLES = {
    "app": "Everywhere",
    "search": "Search",
    "issue": "Issue",
    "tasks": "Tasks",
    "task": "Task",
    "import": "Import",
    "help": "Help",
    "datasources": "Datasources",
    "sync": "Sync monitor",
    "settings": "Settings",
    "datasource_form": "Datasource form",
}


def _pretty(keys: str) -> str:
    names = {"question_mark": "?", "slash": "/", "escape": "esc", "enter": "⏎"}
    return ", ".join(names.get(k, k) for k in keys.split(","))
