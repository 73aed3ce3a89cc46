"""The preview pane beside the results: the facts of one hit and its snippet."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.rule import Rule
from rich.text import Text
from textual.containers import VerticalScroll

from tui.widgets.format import Plain, ago, snippet_text

# (key, label, shorter label): the keys the hint under the preview names
HINT_KEYS = (
    ("⏎", "open", "open"),
    ("i", "import as task", "import"),
    ("o", "browser", "browser"),
    ("y", "copy key", "copy key"),
)
HINT_SEPARATOR = " · "

MATCHED = {
    "comment": "💬 matched in a comment",
    "attachment": "📎 matched in an attachment",
}


class IssuePreview(VerticalScroll):
    """Shows the highlighted hit; the full issue (labels, priority) when loaded."""

    DEFAULT_CSS = """
    IssuePreview { padding: 0 1; }
    IssuePreview > Static { width: 1fr; }
    """

    can_focus = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Held, not queried: the screen mounts the pane and shows a hit at once,
        # before the pane has composed its children.
        self._body = Plain(id="preview-body")

    def compose(self):
        yield self._body

    plain = ""  # what the pane says, as text (for tests and screen readers' sake)

    def clear(self, message: str = "") -> None:
        self._shown = None
        self.plain = message
        self._body.update(Text(message, style="dim"))

    _shown: tuple[Any, dict | None] | None = None

    def refresh_age(self) -> None:
        """Show the same hit again: its "Updated … ago" as of now."""
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, hit: Any, issue: dict | None = None) -> None:
        self._shown = (hit, issue)
        issue = issue or {}
        head = Text()
        head.append(hit.key, style="bold")
        for part in (hit.issuetype, issue.get("priority"), hit.status):
            if part:
                head.append(" · ")
                head.append(str(part))
        title = Text(hit.summary or "", style="bold")
        facts = Text()
        facts.append("Assignee ", style="dim")
        facts.append(hit.assignee or "Unassigned")
        labels = issue.get("labels") or []
        if labels:
            facts.append(" · labels ", style="dim")
            facts.append(", ".join(labels))
        facts.append("\nUpdated ", style="dim")
        facts.append(f"{ago(hit.updated)} · {hit.datasource}")  # not "now ago"
        parts: list[Any] = [head, title, facts, Rule(style="dim")]
        snippet = snippet_text(hit.snippet)
        if snippet.plain.strip():
            parts.append(snippet)
        note = MATCHED.get(hit.matched)
        if hit.matched == "attachment" and hit.attachment:
            note = f"📎 matched in {hit.attachment}"
        counts = []
        if issue.get("comments"):
            counts.append(f"💬 {plural(len(issue['comments']), 'comment')}")
        if issue.get("attachments"):
            counts.append(f"📎 {plural(len(issue['attachments']), 'file')}")
        footer = " · ".join([n for n in [note, *counts] if n])
        if footer:
            parts.append(Text("\n" + footer, style="dim"))
        parts += [Text(""), KeyHint()]
        texts = [
            p.plain if isinstance(p, Text) else str(p) for p in parts if not isinstance(p, Rule)
        ]
        self.plain = "\n".join(texts)
        self._body.update(Group(*parts))


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class KeyHint:
    """The keys of the preview, at the pane's width: on one line when they fit, then
    with the shorter labels, then on lines broken between keys. Wrapped as plain
    text at 100-140 columns it read "… y copy" and "key" on the next line."""

    def __str__(self) -> str:
        return HINT_SEPARATOR.join(f"{key} {label}" for key, label, _ in HINT_KEYS)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text("\n".join(hint_lines(options.max_width)), style="dim")


def hint_lines(width: int) -> list[str]:
    """The key hint as lines of at most `width` cells (a single key wider than that,
    which no pane is, stays whole)."""
    for short in (False, True):
        keys = [f"{key} {shorter if short else label}" for key, label, shorter in HINT_KEYS]
        if cell_len(HINT_SEPARATOR.join(keys)) <= width:
            return [HINT_SEPARATOR.join(keys)]
    lines: list[str] = []
    for part in keys:
        joined = f"{lines[-1]}{HINT_SEPARATOR}{part}" if lines else part
        if lines and cell_len(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(part)
    return lines
