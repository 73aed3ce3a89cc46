"""A one-line title bar: the screen's title and sub-title, centred.

Textual's Header is four widgets (icon, title, clock space and the bar) with
their own CSS; on the first frame every node and rule counts, so this draws the
same line as a single widget. Clicking the icon at the left opens the palette.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.widget import Widget

ICON = "⭘"
SIDE = 8  # the icon's cells on the left
RIGHT = 10  # kept free on the right (where Textual's header keeps its clock)


class TitleBar(Widget):
    DEFAULT_CSS = """
    TitleBar { dock: top; width: 100%; height: 1; background: $panel; color: $foreground; }
    """

    def on_mount(self) -> None:
        for node, name in (
            (self.app, "title"),
            (self.app, "sub_title"),
            (self.screen, "title"),
            (self.screen, "sub_title"),
        ):
            self.watch(node, name, self._changed, init=False)

    def _changed(self) -> None:
        self.refresh()

    @property
    def words(self) -> tuple[str, str]:
        screen = self.screen
        title = screen.title if screen.title is not None else self.app.title
        sub = screen.sub_title if screen.sub_title is not None else self.app.sub_title
        return str(title or ""), str(sub or "")

    def render(self) -> Text:
        title, sub = self.words
        middle = Text(title)
        if sub:
            middle.append(" — ", style="dim")
            middle.append(sub, style="dim")
        width = self.size.width
        room = max(0, width - SIDE - RIGHT)
        middle.truncate(room, overflow="ellipsis")
        left = (room - cell_len(middle.plain)) // 2
        line = Text(f" {ICON}".ljust(SIDE) + " " * left)
        line.append_text(middle)
        return line

    async def on_click(self, event: events.Click) -> None:
        if event.x < SIDE and self.app.ENABLE_COMMAND_PALETTE:
            event.stop()
            await self.run_action("app.command_palette")
