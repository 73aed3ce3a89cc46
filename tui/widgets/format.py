"""Small display helpers: relative ages, width-aware truncation, snippet marks.

Widths are terminal cells (CJK and most emoji take two), so long summaries are
cut on cell boundaries and never push a column out of line.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from indexer.localtime import parse_utc as parse_stamp

MATCH_STYLE = "bold reverse"


def relative_age(stamp: str | None, now: datetime | None = None) -> str:
    """`now`, `5m`, `3h`, `2d`, `1w`, `3mo`, `2y`: what a column of dates needs."""
    when = parse_stamp(stamp)
    if when is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    for limit, size, unit in (
        (60, 1, "now"),
        (3600, 60, "m"),
        (86400, 3600, "h"),
        (7 * 86400, 86400, "d"),
        (30 * 86400, 7 * 86400, "w"),
        (365 * 86400, 30 * 86400, "mo"),
    ):
        if seconds < limit:
            return "now" if unit == "now" else f"{seconds // size}{unit}"
    return f"{seconds // (365 * 86400)}y"


def fit(text: str | None, width: int) -> str:
    """Cut to `width` cells with an ellipsis; one line only."""
    text = " ".join(str(text or "").split())
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        size = cell_len(char)
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + "…"


def snippet_text(snippet: str) -> Text:
    """The engine's `[[match]]` snippet as Rich text with the matches marked."""
    from indexer.search import split_highlights  # lazy: keeps sqlite_utils off startup

    text = Text()
    for part, marked in split_highlights(snippet or ""):
        text.append(part, style=MATCH_STYLE if marked else "")
    return text


def ago_phrase(stamp: str | None) -> str:
    """`synced 2 min ago`-style words for the header."""
    age = relative_age(stamp)
    if not age:
        return "never synced"
    return "synced just now" if age == "now" else f"synced {age} ago"


def ago(stamp: str | None) -> str:
    """`just now`, `3d ago`; `?` when the time is unknown."""
    age = relative_age(stamp)
    if not age:
        return "?"
    return "just now" if age == "now" else f"{age} ago"


# button -> where Textual sent the focus when disable_button took it away
_FOCUS_WENT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def disable_button(button: Any) -> None:
    """Disable a button while its work runs; enable_button gives it the focus back.

    Textual moves the focus off a disabled widget, to the next button or to nothing:
    Enter pressed again after Test connection saved the form, and Tab after Fetch
    started from the top of the page.
    """
    had_focus = button.has_focus
    button.disabled = True
    if had_focus:
        _FOCUS_WENT[button] = button.screen.focused


def enable_button(button: Any) -> None:
    """Re-enable a button that was disabled while its work ran.

    Textual drops the timer that ends a button's 0.2 s pressed look when the button
    is disabled meanwhile, and a button that still looks pressed ignores clicks:
    without clearing it, Test connection would work once only. The focus comes back
    to it unless the user moved it meanwhile.
    """
    button.disabled = False
    button.remove_class("-active")
    if button in _FOCUS_WENT:
        went = _FOCUS_WENT.pop(button)
        if button.is_attached and button.screen.focused is went:
            button.focus()


def cell(text: str | None) -> Text:
    """A DataTable cell shown as written.

    DataTable reads a plain str cell as Rich markup, so a Jira summary such as
    "Parser drops [/b]" would raise MarkupError (and "[red]x" would turn red).
    """
    return Text(str(text or ""), no_wrap=True, overflow="ellipsis", end="")


class Plain(Static):
    """A Static that shows its text as written.

    Static reads strings as markup: a query such as "[/b]" echoed in a message, or
    a Jira summary or error holding brackets, would raise MarkupError and end the
    app. Every Static in the TUI is a Plain; fixed texts of our own opt in with
    markup=True.
    """

    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        super().__init__(content, **kwargs)
