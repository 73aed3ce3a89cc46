"""A TextArea that leaves the app's go-to-screen keys to the app."""

from __future__ import annotations

from textual import events
from textual.widgets import TextArea

from tui import keymap
from tui.widgets.fields import KeysInOrder


class Editor(KeysInOrder, TextArea):
    """TextArea binds f6 (select line) and f7 (select all), and bindings are looked
    up from the focused widget outwards: in an editor F6 selected a line instead of
    opening Settings. Here the app's screen keys ("jiradex.go.*", remaps included)
    go to the app first; a printable one is still typed, as in any text box."""

    def _screen_action(self, key: str) -> str | None:
        overrides = getattr(self.app, "keymap_overrides", {})
        for scope, spec, keys in keymap.effective_keys(overrides):
            if scope == "app" and spec.id.startswith("jiradex.go.") and key in keys.split(","):
                return spec.action
        return None

    async def on_key(self, event: events.Key) -> None:
        action = None if event.is_printable else self._screen_action(event.key)
        if action is not None:
            event.stop()
            event.prevent_default()
            await self.app.run_action(action)
