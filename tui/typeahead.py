"""Type-ahead: keys typed faster than the app handles them go where they would go if
it were infinitely fast.

Textual hands each key to the widget focused when the key *arrives*, and the keys
of a burst all arrive before the first has done its work. A key that opens a screen
(Enter, n, a, i …) lost the keys behind it: they went to the screen being left (a
list's letter binding runs only once the key has bubbled up to the app, after the
keys behind it were handed to the list), or, with the new screen up but its field
not yet focused (on_mount's focus() goes through the app's queue, behind them), to
no widget at all. A key a text field does not type, but passes on to a binding of
its screen (Esc on a form, F6 in the search box), had the letters behind it typed
into the field being left: into the form Esc closed (a task's result, saved as it
closed), or into the search box F6 left.

So the app holds the keys that arrive while (a) the key before them, handed to a
widget that does not type it, is still on its way up to the app's bindings, or (b)
a screen just shown (pushed, popped to, a mode switched to) has not yet handled
what was queued for it (its mount, on_mount's focus, its resume). Then it hands the
held keys out, in order, to whatever has the focus. A printable key handed to a text
field is not waited for: it is typed in, in order with the keys behind it.

A paste (bracketed paste: one event, not keys) is held and handed out the same way,
in its place among the keys: typed fast behind `a` on the datasources, it went to
the list being left while the letters around it went into the form's first field.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from textual import events
from textual.app import App

# A hold never outlasts this: a widget removed with our note in its queue must not
# swallow the keyboard. (A heavy screen can take a second to mount on a busy machine;
# past this limit the keys go out as they did without the hold.)
HOLD_LIMIT_S = 2.0


class Hold:
    """One reason to keep keys back; `app.release_keys(hold)` ends it."""

    __slots__ = ("timer",)

    def __init__(self) -> None:
        self.timer: asyncio.TimerHandle | None = None


class TypeAhead(App):
    """The App mixin (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holds: set[Hold] = set()
        self._held: list[events.Key | events.Paste] = []
        self._screen_hold: Hold | None = None

    def follow_screens(self) -> None:
        """Start holding keys on screen changes (call from on_mount)."""
        self.screen_change_signal.subscribe(self, self._screen_shown, immediate=True)

    # ------------------------------------------------------------------ holds

    def hold_keys(self) -> Hold:
        """Keep the keys that arrive from now on until `release_keys(hold)`."""
        hold = Hold()
        self._holds.add(hold)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return hold
        hold.timer = loop.call_later(HOLD_LIMIT_S, self.release_keys, hold)
        return hold

    def release_keys(self, hold: Hold) -> None:
        """End `hold`; the held keys are handed out (on the app's own queue, behind
        what was posted to it before) once no hold is left."""
        if hold not in self._holds:
            return
        self._holds.discard(hold)
        if hold.timer is not None:
            hold.timer.cancel()
        if not self._holds and self._held:
            self.call_later(self._hand_out)

    def release_when_handled(self, hold: Hold, node: Any) -> None:
        """Release `hold` once `node` and each of its ancestors up to the app have
        handled what is in their queues now (a key handed to `node`, and bubbling up)."""

        def step(at: Any) -> None:
            parent = None if at is self else at._parent
            if parent is None or not parent.call_later(step, parent):
                self.release_keys(hold)

        if node is self or not node.call_later(step, node):
            self.call_later(self.release_keys, hold)

    def after_refresh_holding(self, callback: Any, *args: Any) -> None:
        """`callback(*args)` after the next refresh (a screen of a mode just switched
        to), holding the keys typed meanwhile for the screen it opens."""
        hold = self.hold_keys()

        def run() -> None:
            try:
                callback(*args)
            finally:
                self.release_keys(hold)

        self.call_after_refresh(run)

    async def _hand_out(self) -> None:
        while self._held and not self._holds:
            await self._arrived(self._held.pop(0))

    # ------------------------------------------------------------------ triggers

    def _screen_shown(self, screen: Any) -> None:
        """A screen came on top: hold the keys until it has handled its mount and
        resume (and, through the app's queue, the focus its on_mount gave). It
        replaces the hold of a screen shown before it (pushed and closed at once,
        that one may never handle the note)."""
        hold = self.hold_keys()
        if self._screen_hold is not None:
            self.release_keys(self._screen_hold)
        self._screen_hold = hold

        def settled() -> None:
            self.call_later(self.release_keys, hold)

        if not screen.call_later(settled):
            self.call_later(self.release_keys, hold)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.Paste) and not event.is_forwarded:
            if self._holds or self._held:
                self._held.append(event)
                return
            await self._arrived(event)
            return
        await super().on_event(event)

    async def _arrived(self, event: events.Key | events.Paste) -> None:
        await super().on_event(event)
        if not event.is_forwarded:
            return  # a priority binding ran it: done
        target = self.focused or self.screen
        typed = isinstance(event, events.Paste) or event.is_printable
        if typed and is_text_field(target):
            return  # typed in, in order with the keys behind it
        self.release_when_handled(self.hold_keys(), target)


def is_text_field(widget: Any) -> bool:
    """An Input or a TextArea (whose module, big, is not imported for the question:
    while it is not loaded there is no TextArea)."""
    from textual.widgets import Input

    text_area = sys.modules.get("textual.widgets._text_area")
    return isinstance(widget, Input) or (
        text_area is not None and isinstance(widget, text_area.TextArea)
    )
