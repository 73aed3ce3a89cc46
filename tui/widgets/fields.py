"""Text fields whose editing keys keep their place among the letters typed around them."""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class KeysInOrder:
    """A text widget that runs its own key bindings (End, Home, Left, Backspace …)
    as it reads each key, not once the key has gone up to the app.

    Textual looks bindings up when a key reaches the app, after the widget has typed
    in the letters queued behind it: "End abc" typed fast into a field selected on
    focus (Tab) replaced its text with "abc", and "abc Backspace d" left "abc". The
    widget's own bindings come first in the app's lookup anyway, so running them
    here changes when, not what."""

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable:
            return  # typed by the widget class itself
        for binding in self._bindings.key_to_bindings.get(event.key, ()):  # type: ignore[attr-defined]
            if binding.priority:
                continue  # the app already offered it to the priority bindings
            if await self.app.run_action(binding.action, self):  # type: ignore[attr-defined]
                event.stop()
                event.prevent_default()
                return


class Field(KeysInOrder, Input):
    """The Input of every form and box in the TUI."""
