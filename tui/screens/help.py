"""Help: every key binding with its id (remappable in settings.json), and the search
syntax (the README's, short: what a person types in the search box)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Markdown, TabbedContent, TabPane

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
    HelpScreen TabbedContent, HelpScreen TabPane { height: 1fr; }
    HelpScreen TabPane { padding: 0; }
    HelpScreen #help-intro { height: auto; padding: 0 0 1 0; color: $text-muted; }
    HelpScreen DataTable { height: 1fr; }
    HelpScreen #help-syntax-scroll { height: 1fr; }
    HelpScreen Markdown { margin: 0; }
    """

    def compose(self) -> ComposeResult:
        from indexer.paths import settings_path

        with Vertical(), TabbedContent(initial="help-keys"):
            with TabPane("Keys", id="help-keys"):
                yield Plain(
                    "Keys in effect. Remap any of them by id in "
                    f'{settings_path()} under "keymap", e.g. '
                    '{"keymap": {"jiradex.search.focus": "ctrl+f"}}. '
                    "Ctrl+P opens the command palette (screens, sync, themes).",
                    id="help-intro",
                )
                yield DataTable(cursor_type="row", zebra_stripes=True)
            with (
                TabPane("Search syntax", id="help-syntax"),
                VerticalScroll(id="help-syntax-scroll"),
            ):
                yield Markdown(SEARCH_SYNTAX)
        yield Footer()  # how to close it, not the keys of the screen under it

    def on_mount(self) -> None:
        self.query_one(Vertical).border_title = "jiradex help"
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

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        # The keys can be scrolled at once, and so can the syntax.
        target = DataTable if tab == "help-keys" else VerticalScroll
        self.query_one(f"#{tab}").query_one(target).focus()


# What a person types in the search box (README "Search syntax" has the details).
SEARCH_SYNTAX = """| Type | Finds |
|---|---|
| `pool timeout` | issues with both words, also inflected (*timeouts*) and inside identifiers (*getTimeout*) |
| `"connection pool"` | the phrase, words side by side |
| `time*` | words starting with *time* |
| `crash OR hang` | either word (OR binds tighter than the space) |
| `crash OR (hang login)` | *crash*, or *hang* and *login* together |
| `-flaky`, `NOT flaky`, `-(a b)` | leaves out issues with *flaky*; with both *a* and *b* |
| `summary:crash`, `comment:(retry OR backoff)` | a word in that part of the issue only (also `description:`, `attachment:`) |
| `status:"In Progress"`, `status:(Open Done)` | issues in that status; any of them |
| `type:Bug priority:High label:ui component:api project:ABC` | other fields, whole values, any case |
| `assignee:ann`, `reporter:josé`, `assignee:none` | part of a name, accents ignored; unassigned |
| `updated:-7d`, `created:>=2024-01-01`, `updated:2024-05` | by age or date, in your time zone |
| `ABC-123` | that issue first, then issues that mention it |

Filters are ANDed with the words; `status:Open,Done` or `status:Done OR priority:High`
ORs filters, and `crash OR label:crash` a word and a filter. Words ignore case and accents (ß and
ss find each other); filter values ignore case. While you type a filter value the box
suggests the rest from the index (`label:bac` → `backend`; type the quote first for a
value with a space, `status:"in`); press → to take it.
"""


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
