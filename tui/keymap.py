"""Key bindings with stable ids, remappable from settings.json.

Every binding has an id like ``jiradex.search.focus``. A user remaps it in
``settings.json`` (indexer.paths.settings_path) with::

    {"keymap": {"jiradex.search.focus": "ctrl+f", "jiradex.go.tasks": "f5,ctrl+t"}}

Textual applies the keymap by id (App.set_keymap), so screens only declare
defaults here and the help screen lists the effective keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from textual.binding import Binding


class KeySpec(NamedTuple):
    """One default binding (a NamedTuple: cheaper to define at import than a dataclass).

    `short`: the footer's label where `description` (the help's, and the footer's
    tooltip) would not leave room at 80 columns for every key a screen shows."""

    id: str
    key: str
    action: str
    description: str
    show: bool = True
    priority: bool = False
    short: str = ""


# scope -> bindings. "app" bindings work everywhere.
DEFAULTS: dict[str, list[KeySpec]] = {
    "app": [
        KeySpec("jiradex.app.help", "f1,question_mark", "app.show_help", "Help"),
        KeySpec("jiradex.go.search", "f2", "app.go('search')", "Search", show=False),
        KeySpec("jiradex.go.datasources", "f3", "app.go('datasources')", "Sources", show=False),
        KeySpec("jiradex.go.sync", "f4", "app.go('sync')", "Sync", show=False),
        KeySpec("jiradex.go.tasks", "f5", "app.go('tasks')", "Tasks", show=False),
        KeySpec("jiradex.go.settings", "f6", "app.go('settings')", "Settings", show=False),
        KeySpec("jiradex.app.quit", "ctrl+q", "app.quit", "Quit", show=False, priority=True),
    ],
    "search": [
        # priority: see SearchScreen.BINDINGS (in the box, where / is typed, it is off)
        KeySpec("jiradex.search.focus", "slash", "focus_search", "Search", priority=True),
        # priority: the issue is on screen before the keys typed behind Enter are handed out
        KeySpec("jiradex.search.open", "enter", "enter_key", "Open", show=False, priority=True),
        KeySpec("jiradex.search.import", "i", "import_task", "Import as task", short="Import"),
        # In the issue's footer (Enter); the results' footer keeps 80 columns for the
        # ways to the other screens.
        KeySpec("jiradex.search.browser", "o", "open_browser", "Browser", show=False),
        KeySpec("jiradex.search.copy_key", "y", "copy_key", "Copy key", show=False),
        KeySpec("jiradex.search.copy_url", "Y", "copy_url", "Copy URL", show=False),
        KeySpec("jiradex.search.sync", "s", "sync_all", "Sync"),
        KeySpec("jiradex.search.tasks", "t", "app.go('tasks')", "Tasks"),
        KeySpec("jiradex.search.datasources", "d", "app.go('datasources')", "Sources"),
    ],
    "issue": [
        # priority: back on the results before the keys typed behind it are handed out
        KeySpec("jiradex.issue.close", "escape,q", "close", "Back", priority=True),
        KeySpec("jiradex.issue.import", "i", "import_task", "Import as task"),
        KeySpec("jiradex.issue.browser", "o", "open_browser", "Browser"),
        KeySpec("jiradex.issue.copy_key", "y", "copy_key", "Copy key"),
        KeySpec("jiradex.issue.copy_url", "Y", "copy_url", "Copy URL", show=False),
    ],
    "tasks": [
        KeySpec("jiradex.tasks.new", "n", "new_task", "Import"),
        # priority: the task is on screen before the keys typed behind Enter are handed out
        KeySpec("jiradex.tasks.open", "enter", "enter_key", "Open", show=False, priority=True),
        KeySpec("jiradex.tasks.refresh", "r", "refresh", "Refresh", show=False),
        KeySpec("jiradex.tasks.search", "escape", "app.go('search')", "Search"),
    ],
    "task": [
        KeySpec("jiradex.task.close", "escape", "close", "Back"),
        KeySpec("jiradex.task.save", "ctrl+s", "save", "Save result", priority=True),
        KeySpec("jiradex.task.post", "ctrl+t", "post", "Post to Jira", priority=True),
        KeySpec("jiradex.task.browser", "ctrl+o", "open_browser", "Open issue", priority=True),
        KeySpec("jiradex.task.unlink", "ctrl+l", "unlink", "Unlink", priority=True),
    ],
    "import": [
        KeySpec("jiradex.import.cancel", "escape", "cancel", "Cancel"),
        KeySpec("jiradex.import.confirm", "ctrl+s", "confirm", "Create task", priority=True),
    ],
    "help": [
        # priority: closed before the keys typed behind it are handed out
        KeySpec("jiradex.help.close", "escape,q,f1", "close", "Close", priority=True),
        KeySpec("jiradex.help.keys", "k", "show_tab('help-keys')", "Keys"),
        KeySpec("jiradex.help.syntax", "s", "show_tab('help-syntax')", "Search syntax"),
    ],
    # Datasources, sync monitor and settings (owned by the TUI-B screens).
    "datasources": [
        KeySpec("jiradex.datasources.add", "a", "add", "Add"),
        KeySpec("jiradex.datasources.edit", "e", "edit", "Edit"),
        KeySpec(
            "jiradex.datasources.toggle",
            "space",
            "toggle_enabled",
            "Enable/disable",
            short="On/off",
        ),
        KeySpec("jiradex.datasources.test", "t", "test", "Test"),
        KeySpec("jiradex.datasources.sync", "s", "sync_now", "Sync now", short="Sync"),
        KeySpec("jiradex.datasources.full_sync", "S", "sync_now(True)", "Full sync", show=False),
        KeySpec("jiradex.datasources.delete", "x,delete", "delete", "Delete"),
        KeySpec("jiradex.datasources.refresh", "r", "refresh", "Refresh", show=False),
        KeySpec("jiradex.datasources.search", "escape", "app.go('search')", "Search", show=False),
    ],
    "sync": [
        KeySpec("jiradex.sync.all", "s", "sync_all", "Sync all", short="Sync"),
        KeySpec("jiradex.sync.full", "S", "sync_all(True)", "Full sync"),
        KeySpec("jiradex.sync.cancel", "c", "cancel", "Cancel"),
        KeySpec("jiradex.sync.cancel_all", "C", "cancel_all", "Cancel all"),
        KeySpec("jiradex.sync.clear", "x", "clear_finished", "Clear finished", short="Clear"),
        KeySpec("jiradex.sync.search", "escape", "app.go('search')", "Search", show=False),
    ],
    "settings": [
        KeySpec("jiradex.settings.save", "ctrl+s", "save", "Save", priority=True),
        KeySpec("jiradex.settings.test", "ctrl+t", "test", "Test connection", priority=True),
        KeySpec("jiradex.settings.search", "escape", "app.go('search')", "Search", show=False),
    ],
    "datasource_form": [
        KeySpec("jiradex.datasource_form.save", "ctrl+s", "save", "Save", priority=True),
        KeySpec("jiradex.datasource_form.test", "ctrl+t", "test", "Test", priority=True),
        KeySpec("jiradex.datasource_form.cancel", "escape", "cancel", "Cancel"),
    ],
}


def bindings(scope: str) -> list[Binding]:
    """The Textual bindings of one scope, each with its id."""
    return [_binding(spec) for spec in DEFAULTS[scope]]


def shown(scope: str, ids: list[str]) -> list[Binding]:
    """Bindings of `scope` listed in a footer where their scope hides them (same ids,
    so a remap in settings.json moves these too)."""
    specs = {spec.id: spec for spec in DEFAULTS[scope]}
    return [_binding(specs[binding_id]._replace(show=True)) for binding_id in ids]


def _binding(s: KeySpec) -> Binding:
    return Binding(
        s.key,
        s.action,
        s.short or s.description,
        show=s.show,
        id=s.id,
        priority=s.priority,
        tooltip=s.description if s.short else "",
    )


def all_specs() -> list[tuple[str, KeySpec]]:
    return [(scope, spec) for scope, specs in DEFAULTS.items() for spec in specs]


def known_ids() -> set[str]:
    return {spec.id for _, spec in all_specs()}


def load_keymap(settings: dict) -> tuple[dict[str, str], list[str]]:
    """(keymap, problems) from the settings' "keymap" object; unknown ids are reported."""
    raw = settings.get("keymap") or {}
    if not isinstance(raw, dict):
        return {}, ['settings "keymap" must be an object of binding id -> keys']
    keymap: dict[str, str] = {}
    problems: list[str] = []
    ids = known_ids()
    for binding_id, keys in raw.items():
        if binding_id not in ids:
            problems.append(f"unknown binding id {binding_id!r} in settings keymap")
        elif not isinstance(keys, str) or not keys.strip():
            problems.append(f"keymap {binding_id!r} must be a key string like 'ctrl+f'")
        elif not all(_pressable(key) for key in keys.replace(" ", "").split(",")):
            # "f5,," or "ctrl+" bound nothing, and the help listed "f5, ,"
            problems.append(
                f"keymap {binding_id!r}: {keys!r} names an empty key; "
                "write keys like 'ctrl+f' or 'f5,ctrl+t'"
            )
        else:
            keymap[binding_id] = keys.replace(" ", "")
    return keymap, problems


def _pressable(key: str) -> bool:
    """A key name a binding can answer to: not empty, no modifier left without a key."""
    return bool(key) and not key.endswith("+") and "++" not in key


def read_settings() -> tuple[dict, list[str]]:
    """settings.json as a dict (empty when missing), and a problem line if unreadable."""
    from indexer.paths import settings_path

    path = settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [f"cannot read {path}: {exc.strerror or exc}"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return {}, [f"{path} is not valid JSON (line {exc.lineno}): keymap and theme ignored"]
    if not isinstance(data, dict):
        return {}, [f"{path} must hold a JSON object"]
    return data, []


def effective_keys(keymap: dict[str, str]) -> list[tuple[str, KeySpec, str]]:
    """(scope, spec, keys in effect) for the help screen."""
    return [(scope, spec, keymap.get(spec.id, spec.key)) for scope, spec in all_specs()]


def on_arrival(action: str, keys: dict[str, str]) -> list[Binding]:
    """Priority bindings running a widget's own key actions as each key arrives: `keys`
    maps a key to the widget's action, passed to the screen's `action` (which calls
    run_for_focused). Left to the focused widget, a key runs only after the keys typed
    behind it were handed out, to the widget a fast burst was leaving."""
    return [
        Binding(key, f"{action}('{name}')", show=False, priority=True) for key, name in keys.items()
    ]


def run_for_focused(screen: Any, widget: Any, action: str) -> None:
    """`widget`'s action_<action> when it has the screen's focus; otherwise the key
    goes on to the focused widget. (`screen.focused`, not `has_focus`: the widget
    learns of its focus from an event, after the keys behind the one that moved it.)"""
    from textual.actions import SkipAction

    if screen.focused is not widget:
        raise SkipAction()
    getattr(widget, f"action_{action}")()


def after_keys_ahead(screen: Any, callback: Callable[[], Any]) -> None:
    """Run `callback` once the focused widget has handled the keys that came before
    the key calling this. A priority key (Ctrl+S, Ctrl+T) runs as it reaches the app,
    while the letters typed just ahead of it still wait in the field's queue:
    "…done<Ctrl+S>" typed fast saved the result without its last letters, and a
    form tested or saved what its fields held a moment before. `call_later` runs
    behind what is already queued for the widget. (The fields left earlier had their
    keys queued before those of the focused one, and are done with them first.)"""
    focused = screen.focused
    if focused is None or not focused.is_attached:
        callback()
        return
    focused.call_later(callback)
