"""Keeps the index fresh while the TUI is open.

Every half minute (JiradexApp.AUTO_SYNC_EVERY_S) the app asks the engine which enabled datasources are due (their
`sync.interval` has passed since their last sync started, whoever ran it: see
indexer.scheduler.due_datasources) and syncs those in the background: the sync
monitor and the datasources list show them, the screen the user is on stays, and the
search results refresh when they end. A datasource with `sync.enabled` false, or
`"background_sync": false` in settings.json, turns this off (see tui.app).

A home this user cannot write (a read-only mount or volume; an index that another
user's cron job syncs) is left to whoever syncs it: no scheduled sync starts there,
since each would only fail (the first said "Sync failed" as the TUI opened). The
index is read as that writer leaves it, and a sync asked for (F4, s) says it is
read-only.

A background sync that fails says so once, not at every interval while the network
is down: the next failure of that datasource is quiet until one succeeds, and the
search header names it ("sync failed: work") until then.
"""

from __future__ import annotations

from typing import Any

from indexer import config, paths
from indexer.errors import JiradexError
from indexer.scheduler import due_datasources
from tui.sync_controller import SyncJob, controller_for


class AutoSync:
    """Starts due syncs; owned by the app, which calls `check` on a timer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def check(self) -> None:
        """Look for due datasources off the UI thread (the index and the lock files
        are read); start them on it."""
        self.app.run_worker(
            self._find_due,
            name="auto-sync",
            group="auto-sync",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _find_due(self) -> None:
        if not paths.can_make_in(paths.data_dir()):
            return  # a read-only home: see the module docstring
        try:
            datasources = config.load_datasources()
            due = due_datasources(datasources, self.app.store)
        except JiradexError:
            return  # a broken config or index is reported where the user acts on it
        if due:
            self.app.call_from_thread(self.start, due)

    def start(self, names: list[str]) -> list[SyncJob]:
        controller = controller_for(self.app)
        names = [name for name in names if not controller.is_running(name)]
        if not names:
            return []
        return controller.start(names, background=True)
