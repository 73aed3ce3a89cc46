"""The jiradex Textual application: one app, five modes, no logic of its own.

Modes (each keeps its own screen stack, so switching never loses a half-typed
query or a form): "search" (home), "datasources", "sync", "tasks", "settings".
Screen modules are imported only when their mode is first shown, which keeps
the first frame fast.

Contract with the screens of other modules:

* ``app.store``: the UI's read connection to the index (opened lazily; WAL lets
  it read while a sync writes through its own Store).
* ``app.start_sync(names, full=False)``: shows the sync monitor and asks it to
  start one thread worker per datasource (``SyncMonitorScreen.start_syncs``).
* The sync monitor posts ``tui.messages.IndexUpdated`` and, when every sync of a
  batch has ended, ``tui.messages.SyncsFinished`` to the app; after a start with
  ``run_app(start_sync=...)`` the app then goes back to search.
* ``tui.messages.ConfigChanged`` (posted to the app) refreshes what depends on the
  datasources or the Jira connection. The app posts it too when datasources.json
  changes under it (``jiradex datasource add`` in another terminal).
* ``app.show_error(exc_or_text)``: a one-line error notification.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.theme import Theme

from tui import keymap
from tui.messages import ConfigChanged, IndexUpdated, SyncsFinished
from tui.typeahead import TypeAhead

if TYPE_CHECKING:
    from indexer.store import Store

# How often the app looks at datasources.json for changes made outside it (a stat).
CONFIG_POLL_S = 2.0
# Scheduled syncs while the TUI is open (tui.auto_sync): the first look for due
# datasources this soon after start, then every JiradexApp.AUTO_SYNC_EVERY_S.
AUTO_SYNC_FIRST_S = 5.0


def _setting_on(value: Any) -> bool:
    """A settings.json switch: false, or "false", "no", "0" as config reads them."""
    if isinstance(value, str):
        from indexer.config import parse_bool_text
        from indexer.errors import ConfigError

        try:
            return parse_bool_text(value, "setting")
        except ConfigError:
            return True  # unreadable: the default
    return bool(value)


# mode -> (module under tui.screens, class name, title)
SCREENS: dict[str, tuple[str, str, str]] = {
    "search": ("search", "SearchScreen", "Search"),
    "datasources": ("datasources", "DatasourcesScreen", "Datasources"),
    "sync": ("sync_monitor", "SyncMonitorScreen", "Sync monitor"),
    "tasks": ("tasks", "TasksScreen", "Tasks"),
    "settings": ("settings", "SettingsScreen", "Settings › Jira"),
}

JIRADEX_THEME = Theme(
    name="jiradex",
    primary="#4C9AFF",
    secondary="#79E2F2",
    accent="#FFAB00",
    warning="#FFAB00",
    error="#FF5630",
    success="#36B37E",
    background="#101418",
    surface="#171C22",
    panel="#1F2630",
    dark=True,
)


def screen_class(mode: str) -> type[Screen]:
    """Import a mode's screen class on first use."""
    module_name, class_name, _ = SCREENS[mode]
    module = importlib.import_module(f"tui.screens.{module_name}")
    return getattr(module, class_name)


class JiradexCommands(Provider):
    """Command palette: go to each screen, sync, import, help."""

    def _commands(self) -> list[tuple[str, str, Any]]:
        app: JiradexApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, str, Any]] = [
            (f"Go to {title}", f"Open the {title} screen", lambda m=mode: app.go(m))
            for mode, (_, _, title) in SCREENS.items()
        ]
        commands += [
            ("Sync all datasources", "Incremental sync of every enabled datasource",
             lambda: app.sync_enabled(full=False)),
            ("Full sync of all datasources", "Re-read everything and drop deleted issues",
             lambda: app.sync_enabled(full=True)),
            ("Import issue as task", "Make a task from a Jira issue", app.action_import_task),
            ("Keys and help", "List every key binding and its id", app.action_show_help),
        ]  # fmt: skip
        return commands

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class JiradexApp(TypeAhead):
    """The whole TUI. See the module docstring for what screens may rely on."""

    TITLE = "jiradex"
    CSS_PATH = Path(__file__).parent / "theme" / "jiradex.tcss"
    MODES = {
        mode: (lambda mode=mode: screen_class(mode)()) for mode in SCREENS
    }  # fmt: skip
    DEFAULT_MODE = "search"
    COMMANDS = App.COMMANDS | {JiradexCommands}
    # Tab and Shift+Tab as Textual's screens bind them, but handled by the app as the
    # key arrives (priority): a screen's binding runs only once the key has gone through
    # the focused widget, and the keys typed behind it (an auto-typed "name<Tab>url")
    # were by then handed to that widget too: the whole line went into the first field.
    BINDINGS = [
        *keymap.bindings("app"),
        Binding("tab", "move_focus(1)", show=False, priority=True),
        Binding("shift+tab", "move_focus(-1)", show=False, priority=True),
    ]
    NOTIFICATION_TIMEOUT = 6
    AUTO_SYNC_EVERY_S: float | None = 30.0  # None: no scheduled syncs (the tests' default)

    def __init__(self, start_sync: list[str] | None = None, *, store: Store | None = None):
        super().__init__()
        self._store = store
        self._store_lock = threading.Lock()
        self._owns_store = store is None
        self._start_sync = list(start_sync or [])
        self._return_home_after_sync = bool(self._start_sync)
        self._jx_started = False
        self._auto_sync = None
        self.register_theme(JIRADEX_THEME)
        settings, problems = keymap.read_settings()
        self.settings = settings
        self._settings_problems = problems
        theme = settings.get("theme")
        self._apply_initial_theme(
            theme if isinstance(theme, str) and theme in self.available_themes else "jiradex"
        )
        keys, key_problems = keymap.load_keymap(settings)
        self._settings_problems += key_problems
        self.keymap_overrides = keys
        if keys:
            self.set_keymap(keys)

    def _apply_initial_theme(self, name: str) -> None:
        """Set the start theme without Textual's theme watcher.

        Assigning ``self.theme`` queues a full CSS re-parse and re-style of every
        node for the first frame (the stylesheet was built for the default theme);
        before the app runs, swapping the variables and classes is enough.
        """
        self.set_reactive(App.theme, name)
        theme = self.current_theme
        classes = {cls: False for cls in self.classes if cls.startswith("-theme-")}
        classes[f"-theme-{name}"] = True
        classes["-dark-mode"] = theme.dark
        classes["-light-mode"] = not theme.dark
        self.update_classes(classes, update=False)
        self._refresh_truecolor_filter(self.ansi_theme)
        self.stylesheet.set_variables(self.get_css_variables())

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        self._jx_started = True
        self.follow_screens()
        self._config_stamp = _datasources_stamp()
        self.set_interval(CONFIG_POLL_S, self._check_datasources_file)
        if self.AUTO_SYNC_EVERY_S and _setting_on(self.settings.get("background_sync", True)):
            self.set_timer(AUTO_SYNC_FIRST_S, self.check_auto_sync)
            self.set_interval(self.AUTO_SYNC_EVERY_S, self.check_auto_sync)
        for problem in self._settings_problems:
            self.notify(problem, title="Settings", severity="warning")
        if self._start_sync:
            names, self._start_sync = self._start_sync, []
            self.start_sync(names)

    def on_unmount(self) -> None:
        # Worker threads reading from a server that never answers would hold the exit
        # (the process waits for them) until their timeout; a post is let finish.
        client = sys.modules.get("indexer.jira.client")
        if client is not None:
            client.end_reads_in_flight()
        if self._store is not None and self._owns_store:
            self._store.close()

    def watch_theme(self, theme: str) -> None:
        """Remember the chosen theme (from the palette) for the next start."""
        if self._jx_started and self.settings.get("theme") != theme:
            self.settings["theme"] = theme
            self._save_settings()

    def _save_settings(self) -> None:
        import json

        from indexer.errors import JiradexError
        from indexer.paths import ensure_dir, settings_path

        path = settings_path()
        try:
            ensure_dir(path.parent)  # JiradexError when it cannot be made
            current, problems = keymap.read_settings()
            if problems:
                return  # a file with a typo is the user's to fix, not to overwrite
            current["theme"] = self.settings.get("theme")
            path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
        except (OSError, JiradexError):
            pass  # a theme that is not remembered is not worth an error

    # ------------------------------------------------------------------ services

    @property
    def store(self) -> Store:
        """The UI's read connection to the index; raises StoreError if unusable."""
        with self._store_lock:  # workers may ask first, from several threads
            if self._store is None:
                from indexer.store import UPGRADE_LOG, Store

                # An index from an older jiradex is upgraded on opening (seconds to a
                # minute): say so on screen, not on a stderr the TUI is drawn over.
                handlers = UPGRADE_LOG.handlers
                UPGRADE_LOG.handlers = [_NotifyHandler(self)]
                try:
                    self._store = Store()
                finally:
                    UPGRADE_LOG.handlers = handlers
            return self._store

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications show their text as written, whoever asks for markup.

        Widget.notify passes markup=True by default, and messages here carry Jira
        text, queries and engine errors: "[/b]" in one would raise MarkupError.
        """
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def show_error(self, error: BaseException | str, title: str = "Error") -> None:
        """One line, never a traceback (tokens are redacted by the engine)."""
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        self.notify(text, title=title, severity="error", timeout=10)

    def go(self, mode: str) -> None:
        if mode not in SCREENS:
            return
        if self.current_mode != mode:
            self.switch_mode(mode)

    def mode_screen(self, mode: str) -> Screen:
        """The base screen of a mode (created if the mode was never shown)."""
        stack = self._screen_stacks.get(mode)
        if not stack:
            self._init_mode(mode)
            stack = self._screen_stacks[mode]
        return stack[0]

    # ------------------------------------------------------------------ sync

    def start_sync(self, names: list[str], full: bool = False) -> None:
        """Show the sync monitor and start syncing these datasources."""
        from indexer.errors import JiradexError

        try:
            # Open (and create or migrate) the index here, once, before sync threads
            # open their own connections: two first opens racing would both migrate.
            self.store  # noqa: B018
        except JiradexError as exc:
            self.show_error(exc)
            return
        monitor = self.mode_screen("sync")
        self.go("sync")
        monitor.start_syncs(list(names), full=full)  # type: ignore[attr-defined]

    def sync_enabled(self, full: bool = False) -> None:
        """Sync every enabled datasource, or say how to add one."""
        from indexer import config
        from indexer.errors import JiradexError

        try:
            names = [ds.name for ds in config.load_datasources() if ds.enabled]
        except JiradexError as exc:
            self.show_error(exc)
            return
        if not names:
            self.notify(
                "No enabled datasource: add one on the Datasources screen (F3) "
                "or run `jiradex demo`",
                severity="warning",
            )
            return
        self.start_sync(names, full=full)

    def check_auto_sync(self) -> None:
        """Sync, in the background, the datasources whose interval has passed."""
        from tui.auto_sync import AutoSync

        if self._auto_sync is None:
            self._auto_sync = AutoSync(self)
        self._auto_sync.check()

    def on_index_updated(self, message: IndexUpdated) -> None:
        self._tell_search("index_changed")

    def on_syncs_finished(self, message: SyncsFinished) -> None:
        self._tell_search("index_changed")
        # The syncs the app was started with, not a scheduled one that ended first.
        if self._return_home_after_sync and not message.background:
            self._return_home_after_sync = False
            failed = [s for s in message.summaries if getattr(s, "status", "ok") != "ok"]
            if not failed and self.current_mode == "sync":
                self.go("search")

    def on_config_changed(self, message: ConfigChanged) -> None:
        self._tell_search("config_changed")

    def _check_datasources_file(self) -> None:
        """A datasource added or removed from the command line while the TUI runs:
        the search header kept the old count until a sync."""
        stamp = _datasources_stamp()
        if stamp != self._config_stamp:
            self._config_stamp = stamp
            self.post_message(ConfigChanged())

    def _tell_search(self, method: str) -> None:
        """Call `method` on the search screen and on what is open over it (an issue),
        where they have it."""
        for screen in self._screen_stacks.get("search") or ():
            getattr(screen, method, lambda: None)()

    # ------------------------------------------------------------------ actions

    def action_go(self, mode: str) -> None:
        self.go(mode)

    def action_move_focus(self, step: int) -> None:
        """Tab to the next field (Shift+Tab back) now; a text area that indents on Tab
        keeps the key."""
        from textual.actions import SkipAction
        from textual.widgets import TextArea

        focused = self.focused
        if isinstance(focused, TextArea) and focused.tab_behavior == "indent":
            raise SkipAction()
        if step > 0:
            self.screen.focus_next()
        else:
            self.screen.focus_previous()

    def action_show_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_import_task(self, key: str = "") -> None:
        """Open the import form (prefilled with `key`) on the tasks screen; cancelled,
        it goes back where it was asked for (the search results, an issue)."""
        came_from = self.current_mode
        tasks = self.mode_screen("tasks")
        self.go("tasks")
        back_to = came_from if came_from != "tasks" else None
        # the keys typed behind (the instructions) wait for the form, not the list
        self.after_refresh_holding(tasks.open_import, key, back_to)  # type: ignore[attr-defined]


class _NotifyHandler(logging.Handler):
    """A log record as a notification, from any thread."""

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        message = message[:1].upper() + message[1:]
        try:
            if threading.get_ident() == self.app._thread_id:
                self.app.notify(message, timeout=10)
            else:
                self.app.call_from_thread(self.app.notify, message, timeout=10)
        except RuntimeError:  # the app is not running (yet, or any more)
            pass


def _datasources_stamp() -> tuple[int, int] | None:
    """(mtime, size) of datasources.json; None while there is none."""
    from indexer.paths import datasources_path

    try:
        stat = datasources_path().stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def run_app(start_sync: list[str] | None = None) -> None:
    """Run the TUI; with `start_sync`, open the sync monitor on those datasources first."""
    JiradexApp(start_sync=start_sync).run()
